package job

// The stochastic sign of Jin et al. 2021 ("Stochastic-Sign SGD for
// Federated Learning with Theoretical Guidelines", the paper's [10]): a
// worker sends, for each coordinate of its vector v,
//
//	+1 with probability (1 + v_i/B)/2, else -1,
//
// B = max_i |v_i| (or --sto-b, |v_i|/B then clamped to 1), so that
// E[B s_i] = v_i: the sign is an unbiased estimate of the gradient whatever
// the distribution of the workers' data, where sign(v_i) is biased when the
// workers' gradients differ (no Assumption 4 needed). Its price is
// variance: B^2 - v_i^2 per coordinate. The vote, the wire, the blind and
// Byzantine ranks are signsgd's (signOpt); sto-signum draws the signs of
// the momentum instead of the gradient.
//
// A vector of zeros (B = 0) sends zeros: every coordinate abstains, as
// sign(0) does. Draws come from a PCG seeded by (--seed, rank, step), so a
// run is reproducible.

import (
	"math"
	"math/rand/v2"

	"signsgd/kernels"
)

// stoSign draws the stochastic signs of one rank.
type stoSign struct {
	b    float32 // --sto-b; 0: each vector's max |v|
	seed uint64
	rank int
}

// rng is the draw's source at a step.
func (s *stoSign) rng(step int) *rand.Rand {
	return rand.New(rand.NewPCG(s.seed^0x570c5195, uint64(s.rank)<<32|uint64(uint32(step))))
}

// bound is B for v: --sto-b, or max |v_i| (NaNs ignored).
func (s *stoSign) bound(v []float32) float64 {
	if s.b > 0 {
		return float64(s.b)
	}
	var b float64
	for _, x := range v {
		if a := math.Abs(float64(x)); a > b { // a NaN is never > b
			b = a
		}
	}
	return b
}

// pack writes the stochastic signs of v into dst, drawn for step.
func (s *stoSign) pack(dst kernels.Signs, v []float32, step int) {
	b := s.bound(v)
	if b == 0 {
		clear(dst.NZ)
		clear(dst.Neg)
		return
	}
	rng := s.rng(step)
	for w := range dst.NZ {
		lo, hi := 64*w, min(64*w+64, len(v))
		var neg uint64
		for i := lo; i < hi; i++ {
			if rng.Float64() >= plusProb(v[i], b) {
				neg |= 1 << uint(i-lo)
			}
		}
		dst.NZ[w] = 1<<uint(hi-lo) - 1
		if hi-lo == 64 {
			dst.NZ[w] = ^uint64(0)
		}
		dst.Neg[w] = neg
	}
}

// plusProb is P(+1) for x under the bound b > 0: (1 + x/b)/2 with x/b
// clamped to [-1, 1] (a NaN counts as 0).
func plusProb(x float32, b float64) float64 {
	r := float64(x) / b
	switch {
	case r > 1:
		r = 1
	case r < -1:
		r = -1
	case r != r:
		r = 0
	}
	return (1 + r) / 2
}

// stoSignsNaive is pack written from the definition, one coordinate at a
// time through Signs.Set: the reference of the tests.
func stoSignsNaive(dst kernels.Signs, v []float32, bFlag float32, rng *rand.Rand) {
	b := float64(bFlag)
	if b <= 0 {
		for _, x := range v {
			if a := math.Abs(float64(x)); a > b {
				b = a
			}
		}
	}
	for i, x := range v {
		switch {
		case b == 0:
			dst.Set(i, 0)
		case rng.Float64() < (1+max(-1, min(1, float64(x)/b)))/2:
			dst.Set(i, 1)
		default:
			dst.Set(i, -1)
		}
	}
}

// checkStoB: --sto-b is finite, >= 0, and read only by the stochastic
// signs.
func (c *Config) checkStoB(kind optimizerKind) error {
	switch {
	case c.set["sto-b"] && !kind.stochastic:
		return badFlag("--sto-b is read by --opt sto-signsgd and sto-signum only, not --opt %s", c.Opt)
	case !(c.StoB >= 0) || math.IsInf(c.StoB, 0):
		return badFlag("--sto-b: %v; need a finite B >= 0 (0: each vector's max |v|)", c.StoB)
	}
	return nil
}
