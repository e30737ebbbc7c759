package kernels

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"
)

var testLengths = []int{0, 1, 63, 64, 65, 127, 128, 129, 1000}

func lengths(rng *rand.Rand) []int {
	ls := append([]int(nil), testLengths...)
	for range 4 {
		ls = append(ls, rng.IntN(3000))
	}
	return ls
}

// randomSigns draws a canonical ternary vector; zeroFrac of the coordinates abstain.
func randomSigns(rng *rand.Rand, n int, zeroFrac float64) Signs {
	s := NewSigns(n)
	for i := 0; i < n; i++ {
		switch {
		case rng.Float64() < zeroFrac:
		case rng.IntN(2) == 0:
			s.Set(i, 1)
		default:
			s.Set(i, -1)
		}
	}
	return s
}

func equalSigns(a, b Signs) (int, bool) {
	if a.N != b.N {
		return -1, false
	}
	for i := 0; i < a.N; i++ {
		if a.At(i) != b.At(i) {
			return i, false
		}
	}
	for w := range a.NZ {
		if a.NZ[w] != b.NZ[w] || a.Neg[w] != b.Neg[w] {
			return w * 64, false
		}
	}
	return 0, true
}

func randomFloats(rng *rand.Rand, n int) []float32 {
	g := make([]float32, n)
	special := []float32{0, float32(math.Copysign(0, -1)), float32(math.NaN()), float32(math.Inf(1)), float32(math.Inf(-1)), math.SmallestNonzeroFloat32, -math.SmallestNonzeroFloat32, math.MaxFloat32}
	for i := range g {
		if rng.IntN(8) == 0 {
			g[i] = special[rng.IntN(len(special))]
		} else {
			g[i] = float32(rng.NormFloat64())
		}
	}
	return g
}

func TestPackSignsMatchesNaive(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	for _, n := range lengths(rng) {
		g := randomFloats(rng, n)
		fast, naive := NewSigns(n), NewSigns(n)
		// dirty the output so stale bits would show
		for i := range fast.NZ {
			fast.NZ[i], fast.Neg[i] = ^uint64(0), ^uint64(0)
		}
		PackSigns(fast, g)
		PackSignsNaive(naive, g)
		if i, ok := equalSigns(fast, naive); !ok {
			t.Fatalf("n=%d: PackSigns differs from naive at %d (value %v)", n, i, g[min(i, n-1)])
		}
	}
}

func TestPackSignsSpecialValues(t *testing.T) {
	g := []float32{0, float32(math.Copysign(0, -1)), float32(math.NaN()), float32(math.Inf(1)), float32(math.Inf(-1)), 1e-45, -1e-45, 3, -3}
	want := []int{0, 0, 0, 1, -1, 1, -1, 1, -1}
	s := NewSigns(len(g))
	PackSigns(s, g)
	for i, w := range want {
		if s.At(i) != w {
			t.Errorf("sign(%v) = %d, want %d", g[i], s.At(i), w)
		}
	}
}

func TestVoteMatchesNaive(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	for m := 1; m <= 65; m++ {
		for _, n := range lengths(rng) {
			for _, tie := range []TieRule{TieZero, TiePlus, TieRandom} {
				voters := make([]Signs, m)
				zero := rng.Float64() * 0.5
				for i := range voters {
					voters[i] = randomSigns(rng, n, zero)
				}
				opt := VoteOptions{Tie: tie, Seed: rng.Uint64()}
				fast, naive := NewSigns(n), NewSigns(n)
				Vote(fast, voters, opt)
				VoteNaive(naive, voters, opt)
				if i, ok := equalSigns(fast, naive); !ok {
					t.Fatalf("M=%d n=%d tie=%v: Vote differs from naive at coordinate %d", m, n, tie, i)
				}
			}
		}
	}
}

func TestVoteTiesAndAbstentions(t *testing.T) {
	// Two voters that disagree everywhere tie; all abstaining ties too.
	n := 130
	a, b := NewSigns(n), NewSigns(n)
	for i := 0; i < n; i++ {
		a.Set(i, 1)
		b.Set(i, -1)
	}
	out := NewSigns(n)
	Vote(out, []Signs{a, b}, VoteOptions{Tie: TieZero})
	for i := 0; i < n; i++ {
		if out.At(i) != 0 {
			t.Fatalf("tie zero: coordinate %d = %d", i, out.At(i))
		}
	}
	Vote(out, []Signs{NewSigns(n), NewSigns(n)}, VoteOptions{Tie: TiePlus})
	for i := 0; i < n; i++ {
		if out.At(i) != 1 {
			t.Fatalf("tie plus, all abstain: coordinate %d = %d", i, out.At(i))
		}
	}
	if out.NZ[2]>>2 != 0 {
		t.Fatalf("bits past N set in the last word: %#x", out.NZ[2])
	}
	Vote(out, []Signs{a, b}, VoteOptions{Tie: TieRandom, Seed: 7})
	plus := 0
	for i := 0; i < n; i++ {
		if out.At(i) == 0 {
			t.Fatalf("tie random gave 0 at %d", i)
		}
		if out.At(i) == 1 {
			plus++
		}
	}
	if plus < n/4 || plus > 3*n/4 {
		t.Fatalf("tie random: %d of %d ties went +1", plus, n)
	}
	// 3 for, 2 against, 4 abstain: +1.
	vs := []Signs{NewSigns(1), NewSigns(1), NewSigns(1), NewSigns(1), NewSigns(1), NewSigns(1), NewSigns(1), NewSigns(1), NewSigns(1)}
	vs[0].Set(0, 1)
	vs[1].Set(0, 1)
	vs[2].Set(0, 1)
	vs[3].Set(0, -1)
	vs[4].Set(0, -1)
	one := NewSigns(1)
	Vote(one, vs, VoteOptions{})
	if one.At(0) != 1 {
		t.Fatalf("3 for, 2 against: got %d", one.At(0))
	}
}

func TestEncodeDecodeCanonicalizes(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 6))
	for _, n := range lengths(rng) {
		s := randomSigns(rng, n, 0.3)
		b := s.Encode(nil)
		if len(b) != EncodedLen(n) {
			t.Fatalf("n=%d: encoded %d bytes, want %d", n, len(b), EncodedLen(n))
		}
		// set every Neg bit and the tail: decode must drop what NZ does not allow
		for i := 8 * Words(n); i < len(b); i++ {
			b[i] = 0xff
		}
		if Words(n) > 0 {
			b[8*Words(n)-1] |= 0x80
		}
		got := NewSigns(n)
		if err := got.Decode(b); err != nil {
			t.Fatal(err)
		}
		for i := 0; i < n; i++ {
			want := s.At(i)
			if want == 1 {
				want = -1 // every Neg bit was set where NZ is
			}
			if got.At(i) != want {
				t.Fatalf("n=%d: coordinate %d decoded %d, want %d", n, i, got.At(i), want)
			}
		}
		for w := range got.NZ {
			if got.Neg[w]&^got.NZ[w] != 0 {
				t.Fatalf("n=%d: Neg bit without NZ in word %d", n, w)
			}
		}
		if err := got.Decode(b[:len(b)/2]); n > 0 && err == nil {
			t.Fatalf("n=%d: short buffer accepted", n)
		}
	}
}

func TestApplySignStepMatchesNaive(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 8))
	for _, n := range lengths(rng) {
		for _, wd := range []float32{0, 1e-4, 0.5} {
			s := randomSigns(rng, n, 0.3)
			x := randomFloats(rng, n)
			for i := range x { // no NaN in parameters
				if x[i] != x[i] {
					x[i] = 1
				}
			}
			y := append([]float32(nil), x...)
			ApplySignStep(x, s, 1e-3, wd)
			ApplySignStepNaive(y, s, 1e-3, wd)
			for i := range x {
				if math.Float32bits(x[i]) != math.Float32bits(y[i]) && !(x[i] != x[i] && y[i] != y[i]) {
					t.Fatalf("n=%d wd=%v: coordinate %d: fast %v naive %v", n, wd, i, x[i], y[i])
				}
			}
		}
	}
	// x - lr*sign exactly: 1 - 0.5*(+1) = 0.5
	s := NewSigns(3)
	s.Set(0, 1)
	s.Set(1, -1)
	x := []float32{1, 1, 1}
	ApplySignStep(x, s, 0.5, 0)
	if x[0] != 0.5 || x[1] != 1.5 || x[2] != 1 {
		t.Fatalf("ApplySignStep: got %v, want [0.5 1.5 1]", x)
	}
}

func TestSumFloat32MatchesNaive(t *testing.T) {
	rng := rand.New(rand.NewPCG(9, 10))
	for _, n := range append(lengths(rng), sumBlock-1, sumBlock+1, 3*sumBlock+7) {
		for _, m := range []int{0, 1, 2, 5, 16} {
			vecs := make([][]float32, m)
			for i := range vecs {
				vecs[i] = make([]float32, n)
				for j := range vecs[i] {
					vecs[i][j] = float32(rng.NormFloat64())
				}
			}
			a, b := make([]float32, n), make([]float32, n)
			for i := range a {
				a[i], b[i] = 42, 43
			}
			SumFloat32(a, vecs)
			SumFloat32Naive(b, vecs)
			for i := range a {
				if a[i] != b[i] {
					t.Fatalf("n=%d M=%d: coordinate %d: fast %v naive %v", n, m, i, a[i], b[i])
				}
			}
		}
	}
}

func TestSignSums(t *testing.T) {
	rng := rand.New(rand.NewPCG(11, 12))
	for _, n := range lengths(rng) {
		voters := make([]Signs, 1+rng.IntN(9))
		for i := range voters {
			voters[i] = randomSigns(rng, n, 0.3)
		}
		out := make([]int32, n)
		SignSums(out, voters)
		for i := 0; i < n; i++ {
			want := 0
			for _, v := range voters {
				want += v.At(i)
			}
			if int(out[i]) != want {
				t.Fatalf("n=%d: sum at %d = %d, want %d", n, i, out[i], want)
			}
		}
	}
}

// FuzzVote cross-checks the bit-sliced vote against the integer count on
// arbitrary (canonicalized) bit planes.
func FuzzVote(f *testing.F) {
	f.Add(uint8(3), uint16(65), uint8(0), uint64(1), []byte{0xff, 0x0f, 0x33})
	f.Add(uint8(16), uint16(1000), uint8(2), uint64(9), []byte{1, 2, 3, 4, 5})
	f.Add(uint8(1), uint16(0), uint8(1), uint64(0), []byte{})
	f.Fuzz(func(t *testing.T, m uint8, n uint16, tie uint8, seed uint64, raw []byte) {
		voters := make([]Signs, int(m)%70)
		nn := int(n) % 4096
		pos := 0
		next := func() uint64 {
			var w uint64
			for range 8 {
				w <<= 8
				if len(raw) > 0 {
					w |= uint64(raw[pos%len(raw)] ^ byte(pos*131))
				}
				pos++
			}
			return w
		}
		for i := range voters {
			voters[i] = NewSigns(nn)
			for w := range voters[i].NZ {
				voters[i].NZ[w], voters[i].Neg[w] = next(), next()
			}
			voters[i].Canonicalize()
		}
		opt := VoteOptions{Tie: TieRule(tie % 3), Seed: seed}
		fast, naive := NewSigns(nn), NewSigns(nn)
		Vote(fast, voters, opt)
		VoteNaive(naive, voters, opt)
		if i, ok := equalSigns(fast, naive); !ok {
			t.Fatalf("M=%d n=%d tie=%v: differs at %d", len(voters), nn, opt.Tie, i)
		}
	})
}

// FuzzPackSigns cross-checks the packing of arbitrary float32 bit patterns.
func FuzzPackSigns(f *testing.F) {
	f.Add([]byte{0, 0, 0x80, 0x7f, 0, 0, 0xc0, 0x7f, 1, 0, 0, 0x80})
	f.Fuzz(func(t *testing.T, raw []byte) {
		g := make([]float32, len(raw)/4)
		for i := range g {
			g[i] = math.Float32frombits(uint32(raw[4*i]) | uint32(raw[4*i+1])<<8 | uint32(raw[4*i+2])<<16 | uint32(raw[4*i+3])<<24)
		}
		fast, naive := NewSigns(len(g)), NewSigns(len(g))
		PackSigns(fast, g)
		PackSignsNaive(naive, g)
		if i, ok := equalSigns(fast, naive); !ok {
			t.Fatalf("differs at %d (%v)", i, g[min(i, len(g)-1)])
		}
		// The same bits as momenta, with the gradient the bytes reversed.
		v, vRef := append([]float32(nil), g...), append([]float32(nil), g...)
		gr := make([]float32, len(g))
		for i := range gr {
			gr[i] = g[len(g)-1-i]
		}
		MomentumSigns(fast, v, gr, 0.9)
		Momentum(vRef, gr, 0.9)
		PackSignsNaive(naive, vRef)
		if i, ok := sameFloats(v, vRef); !ok {
			t.Fatalf("momentum differs at %d: %v, want %v", i, v[i], vRef[i])
		}
		if i, ok := equalSigns(fast, naive); !ok {
			t.Fatalf("momentum signs differ at %d (%v)", i, vRef[i])
		}
	})
}

// FuzzDecodeSigns feeds untrusted bytes to the wire decoder: it must never
// panic, and what it accepts must be canonical.
func FuzzDecodeSigns(f *testing.F) {
	f.Add(uint16(70), make([]byte, 32))
	f.Add(uint16(1), []byte{1})
	f.Fuzz(func(t *testing.T, n uint16, b []byte) {
		s := NewSigns(int(n))
		if err := s.Decode(b); err != nil {
			return
		}
		for w := range s.NZ {
			if s.Neg[w]&^s.NZ[w] != 0 {
				t.Fatalf("non-canonical word %d", w)
			}
		}
		if w := len(s.NZ); w > 0 && (s.NZ[w-1]&^tailMask(s.N)) != 0 {
			t.Fatal("bits past N survived")
		}
	})
}

// benchVoters draws m sign vectors of n coordinates. With zeros = 0 they are
// the signs of float gradients (no coordinate exactly zero, as a dense
// gradient's are); otherwise each coordinate is 0 with probability 1/zeros
// (ReLU-heavy gradients), which takes the vote's general path.
func benchVoters(m, n, zeros int) []Signs {
	rng := rand.New(rand.NewPCG(uint64(m), uint64(n)))
	voters := make([]Signs, m)
	for i := range voters {
		voters[i] = NewSigns(n)
		for w := range voters[i].NZ {
			nz := ^uint64(0)
			if zeros > 0 {
				for j := range 64 {
					if rng.IntN(zeros) == 0 {
						nz &^= 1 << uint(j)
					}
				}
			}
			voters[i].NZ[w] = nz
			voters[i].Neg[w] = rng.Uint64() & nz
		}
		voters[i].Canonicalize()
	}
	return voters
}

// BenchmarkVote counts a majority vote; bytes are the packed input read.
// voters=M/d=N is float-gradient signs; /zero=1in4 has a quarter of the
// coordinates abstaining. /kernel=avx2 and /kernel=go time the AVX2 and
// portable kernels on a CPU that would pick a faster one.
func BenchmarkVote(b *testing.B) {
	for _, m := range []int{4, 16, 64} {
		for _, n := range []int{1 << 20, 25600000} {
			for _, zeros := range []int{0, 4} {
				for _, kernel := range []string{"", "avx2", "go"} {
					if kernel != "" && (m != 16 || n != 25600000) {
						continue
					}
					name := fmt.Sprintf("voters=%d/d=%d", m, n)
					if zeros > 0 {
						name += fmt.Sprintf("/zero=1in%d", zeros)
					}
					if kernel != "" {
						name += "/kernel=" + kernel
					}
					b.Run(name, func(b *testing.B) {
						defer setUseAVX512(kernel == "")()
						defer withKernel(kernel)()
						voters := benchVoters(m, n, zeros)
						dst := NewSigns(n)
						b.SetBytes(int64(m * EncodedLen(n)))
						b.ReportAllocs()
						b.ResetTimer()
						for range b.N {
							Vote(dst, voters, VoteOptions{})
						}
					})
				}
			}
		}
	}
}

// BenchmarkVoteNaive is the per-bit reference, on a smaller vector.
func BenchmarkVoteNaive(b *testing.B) {
	m, n := 16, 1<<20
	voters := benchVoters(m, n, 4)
	dst := NewSigns(n)
	b.SetBytes(int64(m * EncodedLen(n)))
	for range b.N {
		VoteNaive(dst, voters, VoteOptions{})
	}
}

// BenchmarkSumFloat32 is the float32 sum SGD's server does over the same
// number of voters; bytes are the float32 input read. d = 11689512 is
// ResNet-18's size, at which BenchmarkRobust times the robust aggregators
// on the same vectors.
func BenchmarkSumFloat32(b *testing.B) {
	for _, m := range []int{4, 16} {
		for _, n := range []int{1 << 20, 11689512, 25600000} {
			b.Run(fmt.Sprintf("voters=%d/d=%d", m, n), func(b *testing.B) {
				vecs := benchFloatVectors(m, n)
				dst := make([]float32, n)
				b.SetBytes(int64(m * 4 * n))
				b.ReportAllocs()
				b.ResetTimer()
				for range b.N {
					SumFloat32(dst, vecs)
				}
				reportMillis(b)
			})
		}
	}
}

// benchFloats holds the last vectors benchFloatVectors made (they take up
// to 1.6 GB, so only one set is kept).
var benchFloats struct {
	m, n int
	vecs [][]float32
}

// benchFloatVectors returns m float32 gradients of length n, different per
// vector: a hash of (vector, coordinate) mapped to [-4, 4) in steps of 1/512.
func benchFloatVectors(m, n int) [][]float32 {
	if benchFloats.m == m && benchFloats.n == n {
		return benchFloats.vecs
	}
	benchFloats.vecs = nil
	vecs := make([][]float32, m)
	for i := range vecs {
		vecs[i] = make([]float32, n)
		for j := range vecs[i] {
			h := uint32(j)*0x9e3779b1 ^ uint32(i)*0x85ebca77
			h ^= h >> 15
			h *= 0x2c1b3c6d
			h ^= h >> 12
			vecs[i][j] = float32(int32(h>>20))/512 - 4
		}
	}
	benchFloats.m, benchFloats.n, benchFloats.vecs = m, n, vecs
	return vecs
}

// reportMillis reports the time per operation in milliseconds.
func reportMillis(b *testing.B) {
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/1e6/float64(b.N), "ms/op")
}

// signBenchKernels are the kernel choices the pack and update benchmarks
// time: the one Threads() and the CPU pick, and the portable Go.
var signBenchKernels = []string{"best", "go"}

func BenchmarkPackSigns(b *testing.B) {
	n := 1 << 22
	g := randomFloats(rand.New(rand.NewPCG(1, 1)), n)
	s := NewSigns(n)
	for _, kernel := range signBenchKernels {
		b.Run("kernel="+kernel, func(b *testing.B) {
			defer withKernel(kernel)()
			b.SetBytes(int64(4 * n))
			for range b.N {
				PackSigns(s, g)
			}
		})
	}
}

// BenchmarkMomentumSigns is SIGNUM's worker step at ResNet-18's size, fused
// (MomentumSigns) and as Momentum then PackSigns; bytes are the gradient's.
func BenchmarkMomentumSigns(b *testing.B) {
	n := 11689512
	rng := rand.New(rand.NewPCG(1, 1))
	g, v := randomFloats(rng, n), make([]float32, n)
	s := NewSigns(n)
	for _, kernel := range signBenchKernels {
		b.Run("fused/kernel="+kernel, func(b *testing.B) {
			defer withKernel(kernel)()
			b.SetBytes(int64(4 * n))
			for range b.N {
				MomentumSigns(s, v, g, 0.9)
			}
		})
	}
	b.Run("momentum+pack", func(b *testing.B) {
		b.SetBytes(int64(4 * n))
		for range b.N {
			Momentum(v, g, 0.9)
			PackSigns(s, v)
		}
	})
}

func BenchmarkApplySignStep(b *testing.B) {
	n := 11689512
	rng := rand.New(rand.NewPCG(1, 1))
	s := randomSigns(rng, n, 0.1)
	x := make([]float32, n)
	for _, kernel := range signBenchKernels {
		b.Run("kernel="+kernel, func(b *testing.B) {
			defer withKernel(kernel)()
			b.SetBytes(int64(4 * n))
			for range b.N {
				ApplySignStep(x, s, 1e-4, 0)
			}
		})
	}
}

// TestVotePortableMatchesAsm runs the vote with the assembly kernel off, so
// the portable Go is checked too on machines that have the assembly.
func TestVotePortableMatchesAsm(t *testing.T) {
	rng := rand.New(rand.NewPCG(13, 14))
	for _, m := range []int{1, 2, 3, 4, 5, 6, 7, 8, 9, 15, 16, 17, 31, 32, 33, 63, 64, 65, 127, 128, 255, 256, 300} {
		for _, n := range []int{0, 1, 64, 255, 256, 257, 64*256 + 64*5 + 3} {
			voters := make([]Signs, m)
			// Dense voters (no zero sign), as float gradients give, take
			// the AVX-512 kernel's shortcut; sparse words in a few voters
			// make some groups take it and others not.
			dense := rng.IntN(2) == 0
			for i := range voters {
				zero := rng.Float64() * 0.5
				if dense {
					zero = 0
				}
				voters[i] = randomSigns(rng, n, zero)
			}
			if dense && n > 64*40 {
				voters[m/2].Set(64*37+5, 0)
			}
			for _, tie := range []TieRule{TieZero, TiePlus, TieRandom} {
				opt := VoteOptions{Tie: tie, Seed: uint64(m)}
				fast, avx2, portable := NewSigns(n), NewSigns(n), NewSigns(n)
				Vote(fast, voters, opt)
				func() { defer setUseAVX512(false)(); Vote(avx2, voters, opt) }()
				func() { defer setUseAsm(false)(); Vote(portable, voters, opt) }()
				if i, ok := equalSigns(fast, portable); !ok {
					t.Fatalf("M=%d n=%d dense=%v tie=%v: asm and portable differ at %d", m, n, dense, tie, i)
				}
				if i, ok := equalSigns(avx2, portable); !ok {
					t.Fatalf("M=%d n=%d dense=%v tie=%v: AVX2 kernel and portable differ at %d", m, n, dense, tie, i)
				}
				if m <= 65 || n < 300 {
					naive := NewSigns(n)
					VoteNaive(naive, voters, opt)
					if i, ok := equalSigns(fast, naive); !ok {
						t.Fatalf("M=%d n=%d tie=%v: Vote and naive differ at %d", m, n, tie, i)
					}
				}
			}
		}
	}
}
