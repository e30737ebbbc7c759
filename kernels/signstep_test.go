package kernels

import (
	"math"
	"math/rand/v2"
	"testing"
)

// sameFloats reports the first coordinate where a and b differ in their
// bits (any NaN equals any NaN).
func sameFloats(a, b []float32) (int, bool) {
	for i := range a {
		if math.Float32bits(a[i]) != math.Float32bits(b[i]) && !(a[i] != a[i] && b[i] != b[i]) {
			return i, false
		}
	}
	return -1, true
}

// forKernels runs f with the assembly kernels on, then off, at one and at
// two threads, so each path (and the split across goroutines) is compared
// with the reference.
func forKernels(t *testing.T, f func(t *testing.T, name string)) {
	defer SetThreads(0)
	for _, asm := range []bool{true, false} {
		for _, th := range []int{1, 2} {
			func() {
				defer setUseAsm(asm)()
				SetThreads(th)
				name := "portable"
				if asm {
					name = "asm"
				}
				f(t, name)
			}()
		}
	}
}

// signTestLengths are the lengths the pack and update kernels are checked
// at: partial words, whole words, and past signGrain words so that the
// work splits across goroutines.
func signTestLengths(rng *rand.Rand) []int {
	return append(lengths(rng), 64, 64*5, 64*7+63, 64*signGrain*2+77)
}

func TestMomentumSignsMatchesReference(t *testing.T) {
	rng := rand.New(rand.NewPCG(21, 22))
	forKernels(t, func(t *testing.T, kernel string) {
		for _, n := range signTestLengths(rng) {
			for _, beta := range []float32{0, 0.9, 0.99} {
				g, v0 := randomFloats(rng, n), randomFloats(rng, n)
				v, vRef := append([]float32(nil), v0...), append([]float32(nil), v0...)
				got, want := NewSigns(n), NewSigns(n)
				MomentumSigns(got, v, g, beta)
				Momentum(vRef, g, beta)
				PackSignsNaive(want, vRef)
				if i, ok := sameFloats(v, vRef); !ok {
					t.Fatalf("%s n=%d beta=%v: momentum %d is %v, want %v", kernel, n, beta, i, v[i], vRef[i])
				}
				if i, ok := equalSigns(got, want); !ok {
					t.Fatalf("%s n=%d beta=%v: sign %d is %d, want %d (v=%v)", kernel, n, beta, i, got.At(i), want.At(i), v[i])
				}
			}
		}
	})
}

func TestPackSignsKernels(t *testing.T) {
	rng := rand.New(rand.NewPCG(23, 24))
	forKernels(t, func(t *testing.T, kernel string) {
		for _, n := range signTestLengths(rng) {
			g := randomFloats(rng, n)
			got, want := NewSigns(n), NewSigns(n)
			PackSigns(got, g)
			PackSignsNaive(want, g)
			if i, ok := equalSigns(got, want); !ok {
				t.Fatalf("%s n=%d: sign %d of %v is %d, want %d", kernel, n, i, g[i], got.At(i), want.At(i))
			}
		}
	})
}

// TestApplySignStepKernels checks every path bit for bit against the
// naive step, with words of all-zero signs (skipped when wd is zero) and
// finite special parameter values (+-0, the smallest and largest floats).
func TestApplySignStepKernels(t *testing.T) {
	rng := rand.New(rand.NewPCG(25, 26))
	forKernels(t, func(t *testing.T, kernel string) {
		for _, n := range signTestLengths(rng) {
			for _, wd := range []float32{0, 1e-4, float32(math.Copysign(0, -1))} {
				s := randomSigns(rng, n, 0.3)
				for w := range s.NZ {
					if rng.IntN(4) == 0 {
						s.NZ[w], s.Neg[w] = 0, 0
					}
				}
				x := randomFloats(rng, n)
				for i := range x {
					if math.IsNaN(float64(x[i])) || math.IsInf(float64(x[i]), 0) {
						x[i] = 1 // a skipped word would keep them; the reference does not skip
					}
				}
				y := append([]float32(nil), x...)
				ApplySignStep(x, s, 1e-3, wd)
				ApplySignStepNaive(y, s, 1e-3, wd)
				if i, ok := sameFloats(x, y); !ok {
					t.Fatalf("%s n=%d wd=%v: coordinate %d (sign %d) is %v, want %v", kernel, n, wd, i, s.At(i), x[i], y[i])
				}
			}
		}
	})
}
