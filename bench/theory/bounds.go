package theory

import (
	"math"

	"gonum.org/v1/gonum/mathext"
)

// Level99 is the confidence level of the intervals used throughout: a
// two-sided 99% interval, each end being a one-sided 99.5% bound.
const Level99 = 0.99

// Lemma1 is the sign-error bound of Lemma 1 (Bernstein et al., 2018) at
// signal-to-noise ratio s: 2/(9 s^2) when s > 2/sqrt(3), 1/2 - s/(2 sqrt(3))
// otherwise. It is claimed only for unimodal noise symmetric about its mean.
func Lemma1(s float64) float64 {
	if s > 2/math.Sqrt(3) {
		return 2 / (9 * s * s)
	}
	return 0.5 - s/(2*math.Sqrt(3))
}

// Lemma1bis is the sign-error bound 1/(2 s^2) of the paper's Lemma 1bis,
// claimed there for any noise of bounded variance. It exceeds 1 for
// s < 1/sqrt(2).
func Lemma1bis(s float64) float64 { return 1 / (2 * s * s) }

// Cantelli is the one-sided Chebyshev (Cantelli) bound 1/(1+s^2) on
// P(X <= -g) for a zero-mean X of standard deviation sigma and s = g/sigma.
// It holds for every distribution and is attained by a two-point law.
func Cantelli(s float64) float64 { return 1 / (1 + s*s) }

// Phi is the standard normal cumulative distribution function.
func Phi(x float64) float64 { return 0.5 * math.Erfc(-x/math.Sqrt2) }

// ClopperPearson returns the exact (Clopper-Pearson) two-sided confidence
// interval at the given level for a binomial proportion with k successes in
// n trials. It is conservative: its coverage is at least level for every
// true proportion, including near 0 and 1 where the normal-approximation
// intervals (Wald, Wilson) under-cover. For n <= 0, k outside [0, n] or a
// level outside (0, 1) it returns [0, 1].
func ClopperPearson(k, n int, level float64) (lo, hi float64) {
	if n <= 0 || k < 0 || k > n || !(level > 0 && level < 1) {
		return 0, 1
	}
	a := (1 - level) / 2
	kf, nf := float64(k), float64(n)
	lo, hi = 0, 1
	if k > 0 {
		lo = mathext.InvRegIncBeta(kf, nf-kf+1, a)
	}
	if k < n {
		hi = mathext.InvRegIncBeta(kf+1, nf-kf, 1-a)
	}
	return lo, hi
}

// BinomialCDF returns P(X <= k) for X ~ Binomial(n, p).
func BinomialCDF(k, n int, p float64) float64 {
	if k < 0 {
		return 0
	}
	if k >= n {
		return 1
	}
	var sum float64
	for i := 0; i <= k; i++ {
		sum += binomialPMF(i, n, p)
	}
	return min(sum, 1)
}

// VoteBounds holds, for one majority-vote configuration, the successive
// right-hand sides of the chain of inequalities in the proof of Theorem
// 2bis. All are computed with the Byzantine fraction alpha = f/M actually
// used, so that (1-alpha) M is the number of honest workers.
type VoteBounds struct {
	// Condition reports E(Z_g) = p (1-alpha) M > M/2, i.e.
	// alpha < 1 - 1/(2p). The bounds below only apply when it holds;
	// otherwise they are NaN.
	Condition bool
	// Cantelli is Var/(Var + (E - M/2)^2), the Cantelli step.
	Cantelli float64
	// Sqrt is (1/2) sqrt(p(1-p)(1-alpha)) / (p(1-alpha) - 1/2) / sqrt(M),
	// the proof's closed form after 1 + x^2 >= 2x.
	Sqrt float64
	// SqrtOneMinusP is (1/2) sqrt(1-p) / (p(1-alpha) - 1/2) / sqrt(M),
	// after p(1-alpha) <= 1.
	SqrtOneMinusP float64
	// Final is 1/(2 sqrt 2) / (p(1-alpha) - 1/2) / (S sqrt(M)), the last
	// line, which substitutes Lemma 1bis (1-p <= 1/(2 S^2)).
	Final float64
}

// Vote computes the proof's bounds for m workers of which a fraction alpha
// is Byzantine, honest workers being right with probability p at
// signal-to-noise ratio s.
func Vote(m int, alpha, p, s float64) VoteBounds {
	nan := math.NaN()
	b := VoteBounds{Cantelli: nan, Sqrt: nan, SqrtOneMinusP: nan, Final: nan}
	mf := float64(m)
	honest := (1 - alpha) * mf
	e := p * honest
	v := p * (1 - p) * honest
	if !(e > mf/2) {
		return b
	}
	b.Condition = true
	gap := e - mf/2
	b.Cantelli = v / (v + gap*gap)
	den := p*(1-alpha) - 0.5
	b.Sqrt = 0.5 * math.Sqrt(p*(1-p)*(1-alpha)) / den / math.Sqrt(mf)
	b.SqrtOneMinusP = 0.5 * math.Sqrt(1-p) / den / math.Sqrt(mf)
	b.Final = 1 / (2 * math.Sqrt2) / den / (s * math.Sqrt(mf))
	return b
}
