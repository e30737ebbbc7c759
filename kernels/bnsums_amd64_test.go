//go:build amd64 && !noasm

package kernels

import (
	"math"
	"math/rand/v2"
	"testing"
)

// The AVX-512 batch norm sums give bit for bit the Go lanes' sums, on
// values with special cases in them (signed zeros, infinities, NaN, tiny
// and huge), on values spread over 2^-30..2^30 (whose float64 sums round,
// so that an order other than the lanes' shows), and on lengths with and
// without a tail.
func TestBNSumsMatchGo(t *testing.T) {
	if !haveAVX512 {
		t.Skip("no AVX-512 on this CPU")
	}
	defer func() { useAsm = true }()
	rng := rand.New(rand.NewPCG(47, 48))
	special := []float32{0, float32(math.Copysign(0, -1)), 1e-40, -1e-40, 3e38, -3e38, float32(math.Inf(1)), float32(math.Inf(-1)), float32(math.NaN())}
	vec := func(n int, withSpecial bool) []float32 {
		v := make([]float32, n)
		for i := range v {
			v[i] = float32(math.Ldexp(rng.NormFloat64(), rng.IntN(61)-30))
			if withSpecial && rng.IntN(7) == 0 {
				v[i] = special[rng.IntN(len(special))]
			}
		}
		return v
	}
	same := func(a, b float64) bool {
		return math.Float64bits(a) == math.Float64bits(b) || math.IsNaN(a) && math.IsNaN(b)
	}
	for _, n := range []int{0, 5, 16, 31, 48, 1000, 3136} {
		for _, sp := range []bool{false, true} {
			x, g, y := vec(n, sp), vec(n, sp), vec(n, true)
			var got, want [3][2]float64
			for _, asm := range []bool{true, false} {
				useAsm = asm
				r := &got
				if !asm {
					r = &want
				}
				r[0][0], r[0][1] = shiftedSums(x, 0.75)
				r[1][0], r[1][1] = dotCentered(g, x, 0.25)
				r[2][0], r[2][1] = dotCenteredMasked(g, y, x, 0.25)
			}
			for f, name := range []string{"shiftedSums", "dotCentered", "dotCenteredMasked"} {
				for j := range 2 {
					if !same(got[f][j], want[f][j]) {
						t.Fatalf("%s n %d special %v: sum %d = %v, Go %v", name, n, sp, j, got[f][j], want[f][j])
					}
				}
			}
		}
	}
}
