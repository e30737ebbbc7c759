package collective

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"math/bits"
	"math/rand/v2"
	"testing"

	"github.com/klauspost/compress/s2"
	"github.com/klauspost/compress/zstd"

	"signsgd/kernels"
)

// gatherSignBitsNaive is the reference for gatherSignBits: one coordinate
// at a time.
func gatherSignBitsNaive(out []uint64, s kernels.Signs) {
	k := 0
	for i := 0; i < s.N; i++ {
		switch s.At(i) {
		case 0:
			continue
		case -1:
			out[k/64] |= 1 << uint(k%64)
		}
		k++
	}
}

// scatterSignBitsNaive is the reference for scatterSignBits.
func scatterSignBitsNaive(s kernels.Signs, in []uint64) {
	k := 0
	for i := 0; i < s.N; i++ {
		if s.At(i) == 0 {
			continue
		}
		if in[k/64]>>uint(k%64)&1 == 1 {
			s.Set(i, -1)
		} else {
			s.Set(i, 1)
		}
		k++
	}
}

// randomSigns returns n signs, each zero with probability zero and
// otherwise +1 or -1 with equal odds; runs > 0 makes the zeros come in runs
// of about that many coordinates (dead units), as in ReLU gradients.
func randomSigns(rng *rand.Rand, n int, zero float64, runs int) kernels.Signs {
	s := kernels.NewSigns(n)
	off := false
	for i := 0; i < n; i++ {
		if runs > 0 {
			if rng.IntN(runs) == 0 {
				off = rng.Float64() < zero
			}
		} else {
			off = rng.Float64() < zero
		}
		if !off {
			s.Set(i, 1-2*rng.IntN(2))
		}
	}
	return s
}

func equalSigns(a, b kernels.Signs) error {
	if a.N != b.N {
		return fmt.Errorf("lengths %d and %d", a.N, b.N)
	}
	for i := 0; i < a.N; i++ {
		if a.At(i) != b.At(i) {
			return fmt.Errorf("coordinate %d: %d, want %d", i, a.At(i), b.At(i))
		}
	}
	for w := range a.NZ {
		if a.NZ[w] != b.NZ[w] || a.Neg[w] != b.Neg[w] {
			return fmt.Errorf("word %d: planes %x/%x, want %x/%x", w, a.NZ[w], a.Neg[w], b.NZ[w], b.Neg[w])
		}
	}
	return nil
}

func TestBitExtractDeposit(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 1))
	for it := 0; it < 10000; it++ {
		v, m := rng.Uint64(), rng.Uint64()
		switch it % 4 {
		case 1:
			m &= rng.Uint64() // sparse masks
		case 2:
			m |= rng.Uint64() // dense masks
		case 3:
			m = ^uint64(0) << uint(rng.IntN(64))
		}
		var want uint64
		k := 0
		for i := 0; i < 64; i++ {
			if m>>uint(i)&1 == 1 {
				want |= (v >> uint(i) & 1) << uint(k)
				k++
			}
		}
		for _, f := range []struct {
			name             string
			extract, deposit func(v, m uint64) uint64
		}{{"table", extractBits, depositBits}, {"naive", extractBitsNaive, depositBitsNaive}} {
			if got := f.extract(v, m); got != want {
				t.Fatalf("%s extract(%x, %x) = %x, want %x", f.name, v, m, got, want)
			}
			if got := f.deposit(want|rng.Uint64()<<uint(k)<<1, m); got != v&m { // bits past the k-th are ignored
				t.Fatalf("%s deposit(%x, %x) = %x, want %x", f.name, want, m, got, v&m)
			}
		}
	}
}

func TestSignBitsAgainstNaive(t *testing.T) {
	rng := rand.New(rand.NewPCG(2, 2))
	for _, n := range []int{0, 1, 5, 63, 64, 65, 127, 128, 129, 1000, 4097} {
		for _, zero := range []float64{0, 0.01, 0.5, 0.99, 1} {
			for _, runs := range []int{0, 100} {
				s := randomSigns(rng, n, zero, runs)
				nnz := 0
				for i := 0; i < n; i++ {
					if s.At(i) != 0 {
						nnz++
					}
				}
				// raw is s with garbage past N, which gather must ignore;
				// scatter works on the canonical (masked) NZ of s.
				raw := kernels.NewSigns(n)
				copy(raw.NZ, s.NZ)
				copy(raw.Neg, s.Neg)
				if n%64 != 0 {
					raw.NZ[len(raw.NZ)-1] |= ^uint64(0) << uint(n%64)
					raw.Neg[len(raw.Neg)-1] |= rng.Uint64() << uint(n%64)
				}
				want := make([]uint64, kernels.Words(nnz))
				gatherSignBitsNaive(want, raw)
				b := kernels.NewSigns(n)
				copy(b.NZ, s.NZ)
				scatterSignBitsNaive(b, want)
				for _, impl := range []struct {
					name    string
					gather  func([]uint64, kernels.Signs)
					scatter func(kernels.Signs, []uint64)
				}{{"best", gatherSignBits, scatterSignBits}, {"go", gatherSignBitsGo, scatterSignBitsGo}} {
					got := make([]uint64, kernels.Words(nnz)+1)[:kernels.Words(nnz)]
					impl.gather(got, raw)
					for w := range got {
						if got[w] != want[w] {
							t.Fatalf("%s: n=%d zero=%v: gather word %d = %x, want %x", impl.name, n, zero, w, got[w], want[w])
						}
					}
					if extra := got[:len(got)+1][len(got)]; extra != 0 {
						t.Fatalf("%s: n=%d zero=%v: gather wrote past its %d words", impl.name, n, zero, len(got))
					}
					a := kernels.NewSigns(n)
					copy(a.NZ, s.NZ)
					for w := range a.Neg { // stale bits that scatter must overwrite
						a.Neg[w] = rng.Uint64()
					}
					impl.scatter(a, got)
					if err := equalSigns(a, s); err != nil {
						t.Fatalf("%s: n=%d zero=%v: scatter: %v", impl.name, n, zero, err)
					}
				}
				if err := equalSigns(b, s); err != nil {
					t.Fatalf("n=%d zero=%v: naive scatter: %v", n, zero, err)
				}
			}
		}
	}
}

func TestSignsWireRoundTrip(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 3))
	for _, n := range []int{0, 1, 7, 8, 9, 63, 64, 65, 200, 1000, 4096, 100003} {
		for _, zero := range []float64{0, 0.001, 0.3, 0.9, 1} {
			for _, runs := range []int{0, 500} {
				for _, c := range []Compression{CompressAuto, CompressNone} {
					s := randomSigns(rng, n, zero, runs)
					b := EncodeSignsWire([]byte("prefix"), s, c)
					if string(b[:6]) != "prefix" {
						t.Fatal("EncodeSignsWire overwrote the front of b")
					}
					b = b[6:]
					if len(b) > MaxSignsWireLen(n) {
						t.Fatalf("n=%d zero=%v: %d bytes, more than the bound %d", n, zero, len(b), MaxSignsWireLen(n))
					}
					nz, sg, _ := signsPlanes(s)
					if raw := SignsWireHeaderSize + len(nz) + len(sg); c == CompressNone && len(b) != raw {
						t.Fatalf("n=%d zero=%v raw: %d bytes, want %d", n, zero, len(b), raw)
					}
					got := kernels.NewSigns(n)
					for w := range got.NZ { // garbage the decoder must overwrite
						got.NZ[w], got.Neg[w] = rng.Uint64(), rng.Uint64()
					}
					if err := DecodeSignsWire(got, b); err != nil {
						t.Fatalf("n=%d zero=%v compression=%d: %v", n, zero, c, err)
					}
					if err := equalSigns(got, s); err != nil {
						t.Fatalf("n=%d zero=%v compression=%d: %v", n, zero, c, err)
					}
				}
			}
		}
	}
	// The cases that must shrink: an all-ones mask (not stored), and runs of zeros.
	for _, tc := range []struct {
		zero     float64
		runs     int
		maxOfD8  float64 // of d/8
		nzPlanes byte
	}{{0, 0, 1.001, planeOnes}, {0.5, 1000, 0.65, planeZstd}} {
		n := 1 << 16
		s := randomSigns(rng, n, tc.zero, tc.runs)
		b := EncodeSignsWire(nil, s, CompressAuto)
		if frac := float64(len(b)) / float64(n/8); frac > tc.maxOfD8 || b[1] != tc.nzPlanes || b[2] != planeRaw {
			t.Errorf("zero=%v runs=%d: %.3f of d/8, planes stored as %d and %d", tc.zero, tc.runs, frac, b[1], b[2])
		}
	}
}

// TestSignsWireNonCanonical: bits past N and Neg bits without NZ never
// reach the wire.
func TestSignsWireNonCanonical(t *testing.T) {
	s := kernels.NewSigns(70)
	s.Set(3, -1)
	s.Set(69, 1)
	s.Neg[0] |= 1 << 10       // Neg without NZ
	s.NZ[1] |= 1 << 20        // past N
	s.Neg[1] |= 1<<20 | 1<<63 // past N
	want := kernels.NewSigns(70)
	want.Set(3, -1)
	want.Set(69, 1)
	for _, c := range []Compression{CompressAuto, CompressNone} {
		got := kernels.NewSigns(70)
		if err := DecodeSignsWire(got, EncodeSignsWire(nil, s, c)); err != nil {
			t.Fatal(err)
		}
		if err := equalSigns(got, want); err != nil {
			t.Fatal(err)
		}
	}
}

// zstdFrame compresses b into one zstd frame that announces its size.
func zstdFrame(t testing.TB, b []byte) []byte {
	enc, err := zstd.NewWriter(nil, zstd.WithEncoderLevel(zstd.SpeedFastest), zstd.WithSingleSegment(true))
	if err != nil {
		t.Fatal(err)
	}
	return enc.EncodeAll(b, nil)
}

// zstdStream compresses b into one zstd frame that does not announce its
// size.
func zstdStream(t testing.TB, b []byte) []byte {
	var out bytes.Buffer
	enc, err := zstd.NewWriter(&out, zstd.WithEncoderLevel(zstd.SpeedFastest))
	if err != nil {
		t.Fatal(err)
	}
	enc.Write(b)
	if err := enc.Close(); err != nil {
		t.Fatal(err)
	}
	return out.Bytes()
}

// zstdLiar compresses b into a frame whose header claims fcs bytes.
func zstdLiar(t testing.TB, b []byte, fcs uint32) []byte {
	z := zstdFrame(t, b)
	var h zstd.Header
	if err := h.Decode(z); err != nil || !h.HasFCS || h.FrameContentSize < 1<<16 {
		t.Fatalf("frame header %+v: %v", h, err)
	}
	// A size of 64 KiB or more takes 4 bytes, the header's last field.
	binary.LittleEndian.PutUint32(z[h.HeaderSize-4:], fcs)
	return z
}

// wireOf builds a wire form from its parts.
func wireOf(format, nzHow, signHow byte, nzPlane, signPlane []byte) []byte {
	b := []byte{format, nzHow, signHow, 0, 0, 0, 0}
	binary.LittleEndian.PutUint32(b[3:], uint32(len(nzPlane)))
	return append(append(b, nzPlane...), signPlane...)
}

func TestSignsWireRejects(t *testing.T) {
	const n = 1000 // 125 bytes per plane when every sign is non-zero
	ones := bytes.Repeat([]byte{0xff}, 125)
	good := EncodeSignsWire(nil, randomSigns(rand.New(rand.NewPCG(4, 4)), n, 0, 0), CompressNone)
	bomb := zstdStream(t, make([]byte, 64<<20)) // 64 MiB of zeros, size not announced
	liar := zstdLiar(t, make([]byte, 64<<20), 125)
	cases := []struct {
		name string
		b    []byte
		want string
	}{
		{"empty", nil, "shorter than their 7-byte header"},
		{"header only", good[:6], "shorter than their 7-byte header"},
		{"format", append([]byte{2}, good[1:]...), "format 2"},
		{"nz method", wireOf(1, 7, 0, ones, ones), "stored as 7"},
		{"sign method", wireOf(1, 0, 9, ones, ones), "stored as 9"},
		{"nz length past the end", append(append([]byte{1, 0, 0}, 0xff, 0xff, 0xff, 0x7f), ones...), "non-zero plane of"},
		{"short nz plane", wireOf(1, 0, 0, ones[:124], ones), "raw non-zero plane of 124 bytes, want 125"},
		{"long sign plane", wireOf(1, 0, 0, ones, append(ones, 0)), "raw sign plane of 126 bytes, want 125"},
		{"short sign plane", good[:len(good)-1], "raw sign plane of 124 bytes"},
		{"zstd garbage", wireOf(1, 1, 0, []byte("not zstd at all"), ones), "zstd non-zero plane"},
		{"zstd without size", wireOf(1, 1, 0, bomb, ones), "size given: false"},
		{"zstd wrong size", wireOf(1, 0, 1, ones, zstdFrame(t, ones[:100])), "announces 100 bytes"},
		{"zstd bomb announcing the right size", wireOf(1, 1, 0, liar, ones), "zstd non-zero plane"},
		{"zstd trailing frame", wireOf(1, 1, 0, append(zstdFrame(t, ones), zstdFrame(t, ones)...), ones), "zstd non-zero plane"},
	}
	for _, tc := range cases {
		err := DecodeSignsWire(kernels.NewSigns(n), tc.b)
		if !errors.Is(err, ErrBadFrame) || !bytes.Contains([]byte(err.Error()), []byte(tc.want)) {
			t.Errorf("%s: got %v, want ErrBadFrame with %q", tc.name, err, tc.want)
		}
	}
	// A well-formed compressed plane of the right size is accepted.
	if err := DecodeSignsWire(kernels.NewSigns(n), wireOf(1, 1, 1, zstdFrame(t, ones), zstdFrame(t, ones))); err != nil {
		t.Errorf("valid zstd planes: %v", err)
	}
}

// checkView holds viewSignsWire of b to DecodeSignsWire's: the same
// error, or the same signs; with aligned, b is first copied so that its
// sign plane lies 8-byte aligned (where the view reads it in place).
//
// The reference decodes a copy of b with no capacity past it, where no
// plane is read in place past its end; aligned, b is also given a word of
// garbage past its end, as postVote's buffers have, which DecodeSignsWire's
// in-place scatter (planeWords) must not use.
func checkView(t *testing.T, n int, b []byte, aligned bool) {
	t.Helper()
	want := kernels.NewSigns(n)
	werr := DecodeSignsWire(want, append(make([]byte, 0, len(b)), b...))
	if aligned {
		buf := make([]byte, 1+len(b)+8)
		for i := range buf {
			buf[i] = 0xa5
		}
		b = buf[1 : 1+copy(buf[1:], b)]
		again := kernels.NewSigns(n)
		err := DecodeSignsWire(again, b)
		if (err == nil) != (werr == nil) || err != nil && err.Error() != werr.Error() {
			t.Fatalf("n=%d: decode in place: error %v, want %v", n, err, werr)
		}
		if err == nil {
			if err := equalSigns(again, want); err != nil {
				t.Fatalf("n=%d: decode in place differs: %v", n, err)
			}
		}
	}
	var sc scratch
	got, err := viewSignsWire(kernels.NewSigns(n), b, sc.onesFor(kernels.NewSigns(n)))
	if (err == nil) != (werr == nil) || err != nil && err.Error() != werr.Error() {
		t.Fatalf("n=%d: view error %v, decode error %v", n, err, werr)
	}
	if err != nil {
		return
	}
	if err := equalSigns(got, want); err != nil {
		t.Fatalf("n=%d: view and decode differ: %v", n, err)
	}
	if got.N != n || len(got.NZ) != kernels.Words(n) || len(got.Neg) != kernels.Words(n) {
		t.Fatalf("n=%d: view of %d coordinates, %d and %d words", n, got.N, len(got.NZ), len(got.Neg))
	}
}

// TestViewSignsWire: the zero-copy view of a received vote equals its
// decoding: dense whole-word votes aligned (viewed in place) or not,
// tails, zeros, compressed planes, truncated and corrupt payloads.
func TestViewSignsWire(t *testing.T) {
	rng := rand.New(rand.NewPCG(21, 4))
	for _, n := range []int{0, 1, 64, 100, 128, 4096, 64*300 + 5, 64 * 1000} {
		for _, zero := range []float64{0, 0.3} {
			for _, c := range []Compression{CompressAuto, CompressNone} {
				b := EncodeSignsWire(nil, randomSigns(rng, n, zero, 50), c)
				for _, aligned := range []bool{false, true} {
					checkView(t, n, b, aligned)
					if len(b) > 0 {
						checkView(t, n, b[:len(b)-1], aligned)
						bad := append([]byte(nil), b...)
						bad[rng.IntN(len(bad))] ^= 1 << rng.IntN(8)
						checkView(t, n, bad, aligned)
					}
				}
			}
		}
	}
	// The view reads the plane in place, no copy, a partial last word
	// too (the last chunk's), whose bits past N (here the buffer's spare
	// bytes, set) it clears.
	var sc scratch
	for _, n := range []int{64 * 10, 64*10 + 5, 64*10 + 63} {
		s := randomSigns(rng, n, 0, 50)
		enc := EncodeSignsWire(nil, s, CompressAuto)
		buf := make([]byte, 1+SignsWireHeaderSize+8*kernels.Words(n))
		for i := range buf {
			buf[i] = 0xff
		}
		b := buf[1 : 1+copy(buf[1:], enc)]
		ones := sc.onesFor(s)
		v, err := viewSignsWire(kernels.NewSigns(n), b, ones)
		if err != nil || &wordBytes(v.Neg)[0] != &b[SignsWireHeaderSize] || &v.NZ[0] != &ones[0] {
			t.Fatalf("n=%d: a dense aligned vote was not viewed in place (%v)", n, err)
		}
		if err := equalSigns(v, s); err != nil {
			t.Fatalf("n=%d: the view differs from the signs sent: %v", n, err)
		}
	}
	n := 64 * 10
	// A result with ties, received as postVote receives one: its sign
	// plane is scattered in place.
	r := EncodeSignsWire(nil, randomSigns(rng, n, 0.3, 0), CompressNone)
	buf := make([]byte, 1+len(r)+8)
	b := buf[1 : 1+copy(buf[1:], r)]
	nzLen := int(binary.LittleEndian.Uint32(b[3:]))
	plane := b[SignsWireHeaderSize+nzLen:]
	if planeWords(plane, (8*len(plane)+63)/64) == nil {
		t.Fatal("a result's raw sign plane, one byte into a buffer with a spare word, is not read in place")
	}
}

func FuzzDecodeSignsWire(f *testing.F) {
	rng := rand.New(rand.NewPCG(5, 5))
	for _, n := range []int{0, 1, 64, 100, 1000} {
		for _, zero := range []float64{0, 0.5} {
			for _, c := range []Compression{CompressAuto, CompressNone} {
				f.Add(uint16(n), EncodeSignsWire(nil, randomSigns(rng, n, zero, 50), c))
			}
		}
	}
	f.Fuzz(func(t *testing.T, n uint16, b []byte) {
		// The zero-copy view (rank 0's server vote) says what the decoder
		// says, wherever the payload lies.
		checkView(t, int(n), b, false)
		checkView(t, int(n), b, true)
		s := kernels.NewSigns(int(n))
		if err := DecodeSignsWire(s, b); err != nil {
			if !errors.Is(err, ErrBadFrame) {
				t.Fatalf("error does not wrap ErrBadFrame: %v", err)
			}
			return
		}
		// Accepted input decodes to canonical signs that survive a round
		// trip through both encodings.
		canon := kernels.NewSigns(int(n))
		canon.CopyFrom(s)
		canon.Canonicalize()
		if err := equalSigns(s, canon); err != nil {
			t.Fatalf("decoded signs are not canonical: %v", err)
		}
		for _, c := range []Compression{CompressAuto, CompressNone} {
			again := kernels.NewSigns(int(n))
			if err := DecodeSignsWire(again, EncodeSignsWire(nil, s, c)); err != nil {
				t.Fatalf("re-encoded signs: %v", err)
			}
			if err := equalSigns(again, s); err != nil {
				t.Fatalf("round trip: %v", err)
			}
		}
	})
}

// benchGradient returns a realistic gradient of about d coordinates:
// "float", dense Gaussian values (a non-zero mask of all ones, random
// signs); "relu", the weight gradients of ReLU layers, dW = sum over a
// batch of 8 of delta x^T, where a third of the output units are dead for
// the whole batch, every unit is off for half the samples, and a fifth of the
// inputs are zero everywhere (MNIST's border pixels): many zeros, in rows
// and columns, and sign bits correlated along rows; "tied", half the
// coordinates zero at random (the result of an even vote, where ties give
// 0): a mask that does not compress.
func benchGradient(kind string, d int) []float32 {
	rng := rand.New(rand.NewPCG(8005, uint64(d)))
	g := make([]float32, d)
	if kind == "tied" { // an even vote's result: half the coordinates tied at 0
		for i := range g {
			if rng.IntN(2) == 0 {
				g[i] = float32(rng.NormFloat64())
			}
		}
		return g
	}
	if kind == "float" {
		for i := range g {
			g[i] = float32(rng.NormFloat64())
		}
		return g
	}
	const batch, cols = 8, 1024
	rows := (d + cols - 1) / cols
	x := make([]float32, batch*cols)
	for j := 0; j < cols; j++ {
		if rng.IntN(5) == 0 {
			continue
		}
		for b := 0; b < batch; b++ {
			x[b*cols+j] = float32(math.Max(0, rng.NormFloat64()))
		}
	}
	for r := 0; r < rows; r++ {
		if rng.IntN(3) == 0 {
			continue
		}
		var delta [batch]float32
		for b := range delta {
			if rng.IntN(2) == 0 {
				delta[b] = float32(rng.NormFloat64())
			}
		}
		for j := 0; j < cols && r*cols+j < d; j++ {
			var v float32
			for b, db := range delta {
				v += db * x[b*cols+j]
			}
			g[r*cols+j] = v
		}
	}
	return g
}

func benchSigns(kind string, d int) kernels.Signs {
	s := kernels.NewSigns(d)
	kernels.PackSigns(s, benchGradient(kind, d))
	return s
}

// BenchmarkSignsWirePlanes compares the compressors on the two planes of
// realistic sign vectors, each plane stored raw when compression does not
// pay: of-d/8 is the payload as a fraction of d/8 bytes (1 bit per
// coordinate), MB/s counts the 2d/8 bytes of the two raw bit planes.
func BenchmarkSignsWirePlanes(b *testing.B) {
	zf, _ := zstd.NewWriter(nil, zstd.WithEncoderLevel(zstd.SpeedFastest), zstd.WithEncoderCRC(false), zstd.WithEncoderConcurrency(1), zstd.WithSingleSegment(true))
	zd, _ := zstd.NewWriter(nil, zstd.WithEncoderLevel(zstd.SpeedDefault), zstd.WithEncoderCRC(false), zstd.WithEncoderConcurrency(1), zstd.WithSingleSegment(true))
	zr, _ := zstd.NewReader(nil, zstd.WithDecoderConcurrency(1))
	s2dec := func(dst, src []byte) ([]byte, error) { return s2.Decode(dst[:cap(dst)], src) }
	zdec := func(dst, src []byte) ([]byte, error) { return zr.DecodeAll(src, dst) }
	compressors := []struct {
		name string
		enc  func(dst, src []byte) []byte
		dec  func(dst, src []byte) ([]byte, error)
	}{
		{"s2", s2.Encode, s2dec},
		{"s2-better", s2.EncodeBetter, s2dec},
		{"zstd-fastest", func(dst, src []byte) []byte { return zf.EncodeAll(src, dst[:0]) }, zdec},
		{"zstd-default", func(dst, src []byte) []byte { return zd.EncodeAll(src, dst[:0]) }, zdec},
	}
	for _, kind := range []string{"float", "relu"} {
		for _, d := range []int{1 << 20, 25_600_000} {
			s := benchSigns(kind, d)
			nz, sg, _ := signsPlanes(s)
			for _, cp := range compressors {
				bufs := [2][]byte{make([]byte, 0, len(nz)+1024), make([]byte, 0, len(sg)+1024)}
				outs := [2][]byte{make([]byte, 0, len(nz)), make([]byte, 0, len(sg))}
				var stored [2][]byte
				size := 0
				for i, p := range [2][]byte{nz, sg} {
					z := cp.enc(bufs[i], p)
					if len(z) < len(p) {
						stored[i] = z
						size += len(z)
					} else {
						size += len(p)
					}
				}
				name := fmt.Sprintf("grad=%s/d=%d/%s", kind, d, cp.name)
				b.Run(name+"/op=encode", func(b *testing.B) {
					b.SetBytes(int64(2 * ((d + 7) / 8)))
					b.ReportAllocs()
					for b.Loop() {
						cp.enc(bufs[0], nz)
						cp.enc(bufs[1], sg)
					}
					b.ReportMetric(float64(size)/float64(d/8), "of-d/8")
				})
				b.Run(name+"/op=decode", func(b *testing.B) {
					b.SetBytes(int64(2 * ((d + 7) / 8)))
					b.ReportAllocs()
					for b.Loop() {
						for i, z := range stored {
							if z != nil {
								if _, err := cp.dec(outs[i], z); err != nil {
									b.Fatal(err)
								}
							}
						}
					}
				})
			}
		}
	}
}

// BenchmarkSignsWire is the codec as the vote uses it: planes, compression,
// raw fallback, and the untrusted decode with its checks.
func BenchmarkSignsWire(b *testing.B) {
	for _, kind := range []string{"float", "relu", "tied"} {
		for _, d := range []int{1 << 20, 25_600_000} {
			s := benchSigns(kind, d)
			wire := EncodeSignsWire(nil, s, CompressAuto)
			name := fmt.Sprintf("grad=%s/d=%d", kind, d)
			b.Run(name+"/op=encode", func(b *testing.B) {
				b.SetBytes(int64(2 * ((d + 7) / 8)))
				b.ReportAllocs()
				buf := make([]byte, 0, MaxSignsWireLen(d)) // as encodeVote's pooled buffer
				for b.Loop() {
					EncodeSignsWire(buf[:0], s, CompressAuto)
				}
				b.ReportMetric(float64(len(wire))/float64(d/8), "of-d/8")
			})
			b.Run(name+"/op=decode", func(b *testing.B) {
				b.SetBytes(int64(2 * ((d + 7) / 8)))
				b.ReportAllocs()
				got := kernels.NewSigns(d)
				for b.Loop() {
					if err := DecodeSignsWire(got, wire); err != nil {
						b.Fatal(err)
					}
				}
			})
		}
	}
}

// TestPextPdep cross-checks the instructions (where the CPU has them) and
// the table versions against the naive loops.
func TestPextPdep(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 6))
	for i := 0; i < 100000; i++ {
		v, m := rng.Uint64(), rng.Uint64()
		switch i % 4 {
		case 1:
			m &= rng.Uint64()
		case 2:
			m = 0
		case 3:
			m = ^uint64(0)
		}
		if got, want := pext64(v, m), extractBitsNaive(v, m); got != want {
			t.Fatalf("pext64(%#x, %#x) = %#x, want %#x", v, m, got, want)
		}
		if got, want := pdep64(v, m), depositBitsNaive(v, m); got != want {
			t.Fatalf("pdep64(%#x, %#x) = %#x, want %#x", v, m, got, want)
		}
		if got, want := extractBits(v, m), extractBitsNaive(v, m); got != want {
			t.Fatalf("extractBits(%#x, %#x) = %#x, want %#x", v, m, got, want)
		}
		if got, want := depositBits(v, m), depositBitsNaive(v, m); got != want {
			t.Fatalf("depositBits(%#x, %#x) = %#x, want %#x", v, m, got, want)
		}
	}
	t.Logf("BMI2 used: %v", useBMI2)
}

// signsPlanes returns the raw non-zero plane and sign plane of s, and its
// number of non-zero signs: the planes EncodeSignsWire stores, before any
// compression, built the plain way for the tests and benchmarks.
func signsPlanes(s kernels.Signs) (nzPlane, signPlane []byte, nnz int) {
	for w, x := range s.NZ {
		nnz += bits.OnesCount64(x & tailMask(s, w))
	}
	signWords := make([]uint64, kernels.Words(nnz))
	gatherSignBits(signWords, s)
	return appendWords(nil, s.NZ, s.N), appendWords(nil, signWords, nnz), nnz
}

// TestSlicePools: a pooled slice has the length asked and a power-of-two
// capacity that covers it, also after smaller and odd-capacity slices were
// handed back.
func TestSlicePools(t *testing.T) {
	var p slicePools[uint64]
	p.put(make([]uint64, 64))
	p.put(make([]uint64, 10, 100)) // goes to the class it covers whole: 64
	for _, n := range []int{0, 1, 2, 3, 63, 64, 65, 100, 120, 1000} {
		b := p.get(n)
		if len(b) != n || cap(b) < n || cap(b)&(cap(b)-1) != 0 && cap(b) != 100 {
			t.Fatalf("get(%d): len %d cap %d", n, len(b), cap(b))
		}
	}
}

// TestOnesCount: the vector popcount (AVX-512 where the CPU has it) equals
// the word-at-a-time count at every length and offset around its blocks of
// 16 words.
func TestOnesCount(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	w := make([]uint64, 200)
	for i := range w {
		w[i] = rng.Uint64() & rng.Uint64()
	}
	for off := 0; off < 3; off++ {
		for n := 0; off+n <= len(w); n++ {
			if got, want := onesCount(w[off:off+n]), onesCountGo(w[off:off+n]); got != want {
				t.Fatalf("offset %d, %d words: %d bits, want %d", off, n, got, want)
			}
		}
	}
}

// TestEncodeVoteParts: the vote's payload in parts (the planes left in the
// vote's own words) is encodeVote's, byte for byte: dense or with zeros,
// masks that compress or not, whole words or a tail, both compressions.
func TestEncodeVoteParts(t *testing.T) {
	rng := rand.New(rand.NewPCG(21, 5))
	for _, n := range []int{0, 1, 64, 100, 64 * 5, 64 * 1000, 64*1000 + 3} {
		for _, zero := range []float64{0, 0.001, 0.3, 0.9} {
			for _, runs := range []int{0, 50} {
				for _, c := range []Compression{CompressAuto, CompressNone} {
					withCompression(c, func() {
						s := randomSigns(rng, n, zero, runs)
						want := encodeVote(s)
						p, buf := encodeVoteParts(s)
						if got := p.appendTo(nil); string(got) != string(want) {
							t.Fatalf("n=%d zero=%v runs=%d compression=%d: parts differ from encodeVote (%d and %d bytes)", n, zero, runs, c, len(got), len(want))
						}
						if p.len() != len(want) {
							t.Fatalf("n=%d: parts say %d bytes, want %d", n, p.len(), len(want))
						}
						putBytes(buf)
						putBytes(want)
					})
				}
			}
		}
	}
}
