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
				func() {
					defer setUseAsm(asm)()
					r := &got
					if !asm {
						r = &want
					}
					r[0][0], r[0][1] = shiftedSums(x, 0.75)
					r[1][0], r[1][1] = dotCentered(g, x, 0.25)
					r[2][0], r[2][1] = dotCenteredMasked(g, y, x, 0.25)
				}()
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

// The batch norm backward passes give bit for bit the same with the
// AVX-512 apply kernel as with the Go loops, plain and through the ReLU's
// mask, with and without a tail of fewer than 16 values, and in place.
func TestBNBackwardApplyMatchesGo(t *testing.T) {
	if !haveAVX512 {
		t.Skip("no AVX-512 on this CPU")
	}
	rng := rand.New(rand.NewPCG(49, 50))
	for _, hw := range []int{5, 16, 37, 64} {
		const b, c = 2, 3
		n := b * c * hw
		in, dOut, out, gamma := randSlice(rng, n), randSlice(rng, n), randSlice(rng, n), randSlice(rng, c)
		out[0] = float32(math.Copysign(0, -1))
		sm, si := randSlice(rng, c), randSlice(rng, c)
		for i := range si {
			si[i] = 1 + float32(math.Abs(float64(si[i])))
		}
		for _, relu := range []bool{false, true} {
			for _, inPlace := range []bool{false, true} {
				var got, want []float32
				for _, asm := range []bool{false, true} {
					func() {
						defer setUseAsm(asm)()
						dx := make([]float32, n)
						dy := append([]float32(nil), dOut...)
						if inPlace {
							dx = dy
						}
						dg, db := make([]float32, c), make([]float32, c)
						if relu {
							BatchNormReluBackward(dx, dg, db, dy, out, in, gamma, sm, si, b, c, hw)
						} else {
							BatchNormBackward(dx, dg, db, dy, in, gamma, sm, si, b, c, hw)
						}
						r := append(append(dx, dg...), db...)
						if asm {
							got = r
						} else {
							want = r
						}
					}()
				}
				for i := range got {
					if math.Float32bits(got[i]) != math.Float32bits(want[i]) {
						t.Fatalf("hw %d relu %v in place %v: [%d] = %v, Go %v", hw, relu, inPlace, i, got[i], want[i])
					}
				}
			}
		}
	}
}

// The batch norm forward passes (with and without ReLU, and the residual
// join with either shortcut) give bit for bit the same with the AVX-512
// apply kernels as with the Go loops, on inputs with NaN, infinities and
// -0 (which, in channel 0, normalises to -0: the ReLU must make it +0).
func TestBNForwardApplyMatchesGo(t *testing.T) {
	if !haveAVX512 {
		t.Skip("no AVX-512 on this CPU")
	}
	rng := rand.New(rand.NewPCG(51, 52))
	negZero := float32(math.Copysign(0, -1))
	special := []float32{float32(math.NaN()), float32(math.Inf(1)), float32(math.Inf(-1)), negZero, 0, 0.5}
	for _, hw := range []int{7, 16, 50} {
		const b, c = 2, 3
		n := b * c * hw
		x, s := randSlice(rng, n), randSlice(rng, n)
		for i := range x {
			if rng.IntN(5) == 0 {
				x[i] = special[rng.IntN(len(special))]
			}
			if rng.IntN(5) == 0 {
				s[i] = special[rng.IntN(len(special))]
			}
		}
		// Channel 0: mean 0, gamma > 0, beta -0, so -0 - 0 = -0 scaled and
		// shifted by -0 stays -0.
		run := BatchNormState{Mean: []float32{0, 0.5, -1}, Var: []float32{1, 4, 0.25}}
		gamma, beta := []float32{2, -1, 3}, []float32{negZero, 0.25, -1}
		p := BatchNormParams{Gamma: gamma, Beta: beta, Run: run, Momentum: BatchNormMomentum, Eps: BatchNormEps}
		sp := p
		sp.Gamma = []float32{1, -1, 2}
		type result [4][]float32
		var res [2]result
		for k, asm := range []bool{false, true} {
			func() {
				defer setUseAsm(asm)()
				var r result
				for j := range r {
					r[j] = make([]float32, n)
				}
				BatchNormForward(r[0], x, gamma, beta, b, c, hw, false, run, BatchNormMomentum, BatchNormEps, nil, nil)
				BatchNormReluForward(r[1], x, gamma, beta, b, c, hw, false, run, BatchNormMomentum, BatchNormEps, nil, nil)
				BatchNormAddReluForward(r[2], x, p, s, nil, b, c, hw, false)
				BatchNormAddReluForward(r[3], x, p, s, &sp, b, c, hw, false)
				res[k] = r
			}()
		}
		sawNegZero := false
		for j, name := range []string{"BatchNormForward", "BatchNormReluForward", "BatchNormAddReluForward", "BatchNormAddReluForward (batch-normed shortcut)"} {
			for i := range res[0][j] {
				got, want := res[1][j][i], res[0][j][i]
				if math.Float32bits(got) != math.Float32bits(want) {
					t.Fatalf("hw %d %s [%d] = %v (%#x), Go %v (%#x); x %#x s %#x", hw, name, i, got, math.Float32bits(got), want, math.Float32bits(want), math.Float32bits(x[i]), math.Float32bits(s[i]))
				}
				sawNegZero = sawNegZero || j == 0 && math.Float32bits(want) == math.Float32bits(negZero)
			}
		}
		if hw == 50 && !sawNegZero {
			t.Fatal("no -0 output: the case the ReLU must turn into +0 went untested")
		}
	}
}
