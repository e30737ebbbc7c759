package theory

import (
	"math"
	"math/rand/v2"
)

// Parameters of the noise families. All noises are scaled to sigma = 1, so
// the true gradient of a point with signal-to-noise ratio S is g = S.
const (
	// MixtureMu is the location +-mu of the two components of the
	// symmetric bimodal mixture, in units of sigma.
	MixtureMu = 0.95
	// TwoPointEps moves the negative atom of the two-point law to
	// -(1+eps) g, strictly beyond -g, so that g + X = 0 never happens and
	// the law is a fixed distribution per S a little inside Cantelli's
	// extreme case.
	TwoPointEps = 0.05
)

// noise is one zero-mean, unit-variance noise family.
type noise struct {
	key  string // short name for files and tables
	name string // human-readable name
	desc string // definition, for the report
	// unimodalSymmetric reports whether Lemma 1's assumption 4 holds.
	unimodalSymmetric bool
	// symmetric reports symmetry about 0 (Lemma 1bis then follows from
	// Chebyshev).
	symmetric bool
	// sampler returns a sampler of the noise for the point at SNR s (only
	// the two-point law depends on s).
	sampler func(s float64) func(r *rand.Rand) float64
	// wrong returns the exact P(X <= -s), the probability that
	// sign(s + X) != sign(s) = +1 (a zero sum counts as wrong).
	wrong func(s float64) float64
}

// mixtureS is the within-component standard deviation of the bimodal
// mixture: mu^2 + s^2 = 1.
var mixtureS = math.Sqrt(1 - MixtureMu*MixtureMu)

// twoPoint returns the atoms and the mass of the negative atom of the
// two-point law at SNR s: X = -a with probability q, X = 1/a otherwise,
// with a = (1+eps) s and q = 1/(1+a^2). Mean q(-a) + (1-q)/a = 0 and
// variance q a^2 + (1-q)/a^2 = 1.
func twoPoint(s float64) (a, q float64) {
	a = (1 + TwoPointEps) * s
	return a, 1 / (1 + a*a)
}

// noises lists the four families in report order.
var noises = []noise{
	{
		key:               "gaussian",
		name:              "Gaussian",
		desc:              "N(0, sigma^2): unimodal, symmetric",
		unimodalSymmetric: true,
		symmetric:         true,
		sampler: func(float64) func(*rand.Rand) float64 {
			return func(r *rand.Rand) float64 { return r.NormFloat64() }
		},
		wrong: func(s float64) float64 { return Phi(-s) },
	},
	{
		key:  "student3",
		name: "Student-t, 3 d.o.f.",
		desc: "sigma T/sqrt(3), T ~ Student-t with 3 degrees of freedom " +
			"(variance 3, so the scaled law has variance sigma^2): unimodal, " +
			"symmetric, heavy-tailed (finite variance, infinite fourth moment)",
		unimodalSymmetric: true,
		symmetric:         true,
		sampler: func(float64) func(*rand.Rand) float64 {
			// T/sqrt(3) = Z/sqrt(chi2_3) with chi2_3 a sum of three squared
			// standard normals.
			return func(r *rand.Rand) float64 {
				z := r.NormFloat64()
				a, b, c := r.NormFloat64(), r.NormFloat64(), r.NormFloat64()
				return z / math.Sqrt(a*a+b*b+c*c)
			}
		},
		// P(T <= -s sqrt 3) = (atan(1/s) - s/(1+s^2))/pi.
		wrong: func(s float64) float64 {
			return (math.Atan(1/s) - s/(1+s*s)) / math.Pi
		},
	},
	{
		key:  "bimodal",
		name: "Bimodal symmetric mixture",
		desc: "equal mixture of N(-mu, s^2) and N(+mu, s^2) with mu = 0.95 sigma " +
			"and s = sqrt(1 - 0.95^2) sigma = 0.312 sigma: symmetric, not unimodal",
		symmetric: true,
		sampler: func(float64) func(*rand.Rand) float64 {
			return func(r *rand.Rand) float64 {
				x := MixtureMu + mixtureS*r.NormFloat64()
				if r.Uint64()&1 == 0 {
					return -x
				}
				return x
			}
		},
		wrong: func(s float64) float64 {
			return 0.5 * (Phi((MixtureMu-s)/mixtureS) + Phi((-MixtureMu-s)/mixtureS))
		},
	},
	{
		key:  "twopoint",
		name: "Two-point asymmetric",
		desc: "for the point at S = g/sigma: X = -a with probability q and " +
			"X = sigma^2/a otherwise, with a = (1+eps) g, eps = 0.05 and " +
			"q = sigma^2/(sigma^2 + a^2) (mean 0, variance sigma^2). g + X is " +
			"negative exactly on the first atom, so P(wrong sign) = " +
			"1/(1 + (1+eps)^2 S^2), just under Cantelli's 1/(1+S^2): " +
			"asymmetric, not unimodal, Cantelli's extreme case as eps -> 0",
		sampler: func(s float64) func(*rand.Rand) float64 {
			a, q := twoPoint(s)
			return func(r *rand.Rand) float64 {
				if r.Float64() < q {
					return -a
				}
				return 1 / a
			}
		},
		wrong: func(s float64) float64 {
			_, q := twoPoint(s)
			return q
		},
	},
}
