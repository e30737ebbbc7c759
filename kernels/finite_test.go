package kernels

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"
)

// specialFloats are the values the finite rule must tell apart: NaNs with
// payloads and signs, the infinities, signed zeros, subnormals, the largest
// finite values.
var specialFloats = []float32{
	float32(math.NaN()), math.Float32frombits(0x7fc00001), math.Float32frombits(0xffc00000),
	math.Float32frombits(0x7f800001), // a signalling NaN
	float32(math.Inf(1)), float32(math.Inf(-1)), 0, float32(math.Copysign(0, -1)),
	math.Float32frombits(1), math.Float32frombits(0x807fffff), math.MaxFloat32, -math.MaxFloat32,
	1, -1, 0.5, 3e-39,
}

// finiteInput is a vector of n values: mostly ordinary, a third special.
func finiteInput(rng *rand.Rand, n int) []float32 {
	x := make([]float32, n)
	for i := range x {
		if rng.IntN(3) == 0 {
			x[i] = specialFloats[rng.IntN(len(specialFloats))]
		} else {
			x[i] = float32(rng.NormFloat64() * math.Pow(10, float64(rng.IntN(9)-4)))
		}
	}
	return x
}

// sameBits says where two vectors differ in any bit (-1: nowhere).
func sameBits(a, b []float32) int {
	for i := range a {
		if math.Float32bits(a[i]) != math.Float32bits(b[i]) {
			return i
		}
	}
	return -1
}

// TestFiniteKernelsMatchNaive: AddFinite, AddBothFinite and ZeroNonFinite
// equal their naive twins bit for bit, with and without assembly, at odd
// lengths and offsets, scale 1 and not, and write nothing outside dst
// (guard words around it).
func TestFiniteKernelsMatchNaive(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 6))
	const guard = 7
	for _, asm := range []bool{true, false} {
		func() {
			defer setUseAsm(asm)()
			for _, n := range []int{0, 1, 15, 16, 17, 31, 64, 100, 1000, 4099} {
				for _, off := range []int{0, 1, 3} {
					for _, scale := range []float32{1, 0.25, 1 / float32(3)} {
						src := finiteInput(rng, n+off)[off:]
						base := finiteInput(rng, n+off+2*guard)
						for _, k := range []struct {
							name       string
							fast, want func(dst, src []float32, scale float32)
						}{
							{"AddFinite", AddFinite, AddFiniteNaive},
							{"AddBothFinite", AddBothFinite, AddBothFiniteNaive},
							{"ZeroNonFinite", func(d, _ []float32, _ float32) { ZeroNonFinite(d) }, func(d, _ []float32, _ float32) { ZeroNonFiniteNaive(d) }},
						} {
							got := append([]float32(nil), base...)
							want := append([]float32(nil), base...)
							k.fast(got[off+guard:off+guard+n], src, scale)
							k.want(want[off+guard:off+guard+n], src, scale)
							if i := sameBits(got, want); i >= 0 {
								t.Fatalf("%s asm=%v n=%d off=%d scale=%v: index %d (dst from %d) is %#x, want %#x",
									k.name, asm, n, off, scale, i, off+guard, math.Float32bits(got[i]), math.Float32bits(want[i]))
							}
						}
					}
				}
			}
		}()
	}
}

// AddFiniteSum equals AddFiniteNaive of each source in turn (scale on the
// last) bit for bit, with and without assembly, for one to five sources and
// for more than its table of sixteen holds, at lengths around its step of
// sixteen, and writes nothing outside dst.
func TestAddFiniteSumMatchesNaive(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 8))
	const guard = 5
	for _, asm := range []bool{true, false} {
		func() {
			defer setUseAsm(asm)()
			for _, k := range []int{1, 2, 3, 5, 17} {
				for _, n := range []int{0, 1, 16, 17, 100, 1000} {
					for _, scale := range []float32{1, 0.25, 1 / float32(3)} {
						srcs := make([][]float32, k)
						for i := range srcs {
							srcs[i] = finiteInput(rng, n)
						}
						base := finiteInput(rng, n+2*guard)
						got := append([]float32(nil), base...)
						want := append([]float32(nil), base...)
						AddFiniteSum(got[guard:guard+n], srcs, scale)
						for i, s := range srcs {
							sc := float32(1)
							if i == k-1 {
								sc = scale
							}
							AddFiniteNaive(want[guard:guard+n], s, sc)
						}
						if i := sameBits(got, want); i >= 0 {
							t.Fatalf("asm=%v k=%d n=%d scale=%v: index %d (dst from %d) is %#x, want %#x",
								asm, k, n, scale, i, guard, math.Float32bits(got[i]), math.Float32bits(want[i]))
						}
					}
				}
			}
		}()
	}
}

// TestFiniteRule pins the rule itself on each special value: a non-finite
// src counts as +0, a finite one as itself, and AddFinite keeps dst's own
// non-finite values while AddBothFinite zeroes them.
func TestFiniteRule(t *testing.T) {
	negZero := float32(math.Copysign(0, -1))
	for _, v := range specialFloats {
		finite := !math.IsNaN(float64(v)) && !math.IsInf(float64(v), 0)
		z := []float32{v}
		ZeroNonFinite(z)
		if finite && math.Float32bits(z[0]) != math.Float32bits(v) || !finite && math.Float32bits(z[0]) != 0 {
			t.Errorf("ZeroNonFinite(%#x) = %#x", math.Float32bits(v), math.Float32bits(z[0]))
		}
		d := []float32{negZero}
		AddFinite(d, []float32{v}, 1)
		want := negZero + v
		if !finite {
			want = 0 // -0 + +0
		}
		if math.Float32bits(d[0]) != math.Float32bits(want) && !(math.IsNaN(float64(d[0])) && math.IsNaN(float64(want))) {
			t.Errorf("AddFinite(-0, %#x) = %#x, want %#x", math.Float32bits(v), math.Float32bits(d[0]), math.Float32bits(want))
		}
		d = []float32{v}
		AddFinite(d, []float32{1}, 1)
		if finite != (!math.IsNaN(float64(d[0])) && !math.IsInf(float64(d[0]), 0)) {
			t.Errorf("AddFinite(%#x, 1) = %v: dst's own value must be kept", math.Float32bits(v), d[0])
		}
		d = []float32{v}
		AddBothFinite(d, []float32{1}, 1)
		if math.IsNaN(float64(d[0])) || math.IsInf(float64(d[0]), 0) {
			t.Errorf("AddBothFinite(%#x, 1) = %v, want finite", math.Float32bits(v), d[0])
		}
	}
}

// BenchmarkAddFinite is the fp32 mean's sum of one received vector into
// the local one, on a 1 MiB segment (in cache, as the collectives use it)
// and on a ResNet-18 gradient; /kernel=go is the portable loop.
func BenchmarkAddFinite(b *testing.B) {
	for _, n := range []int{1 << 18, 11689512} {
		for _, kernel := range []string{"", "go"} {
			for _, both := range []bool{false, true} {
				name := fmt.Sprintf("d=%d/both=%v", n, both)
				if kernel != "" {
					name += "/kernel=" + kernel
				}
				b.Run(name, func(b *testing.B) {
					defer setUseAsm(kernel == "")()
					rng := rand.New(rand.NewPCG(1, 2))
					dst, src := finiteInput(rng, n), finiteInput(rng, n)
					b.SetBytes(int64(8 * n))
					b.ReportAllocs()
					b.ResetTimer()
					for range b.N {
						if both {
							AddBothFinite(dst, src, 1)
						} else {
							AddFinite(dst, src, 1)
						}
					}
				})
			}
		}
	}
}

// BenchmarkAddFiniteSum is the server mean's sum of three workers'
// segments into rank 0's (M = 4): one AddFiniteSum pass (/sum) against
// AddFinite of each in turn (/each), on a 1 MiB segment and on a
// ResNet-18 gradient.
func BenchmarkAddFiniteSum(b *testing.B) {
	for _, n := range []int{1 << 18, 11689512} {
		for _, how := range []string{"sum", "each"} {
			b.Run(fmt.Sprintf("d=%d/%s", n, how), func(b *testing.B) {
				rng := rand.New(rand.NewPCG(1, 2))
				dst := finiteInput(rng, n)
				srcs := [][]float32{finiteInput(rng, n), finiteInput(rng, n), finiteInput(rng, n)}
				b.SetBytes(int64(4 * 4 * n))
				b.ReportAllocs()
				b.ResetTimer()
				for range b.N {
					if how == "sum" {
						AddFiniteSum(dst, srcs, 0.25)
						continue
					}
					for i, s := range srcs {
						AddFinite(dst, s, []float32{1, 1, 0.25}[i])
					}
				}
			})
		}
	}
}
