package theory

import (
	"fmt"
	"math"

	"signsgd/job"
)

// DriftAttacks are the Byzantine strategies whose drift Run tabulates:
// job's two rules ("paper", "oppose"; job.ByzantineVotes) and the proof's
// worst case ("truth": every Byzantine votes against the true sign).
var DriftAttacks = []string{"paper", "oppose", "truth"}

// DriftMs are the numbers of workers of the drift table; every f from 0
// to (M-1)/2 is listed for each.
var DriftMs = []int{5, 9, 21}

// Drift is the expected vote E[sign(total)] times the sign of the true
// gradient at a coordinate, when m workers vote, f of them Byzantine under
// attack, and each of the m-f honest workers' signs is right with
// probability p, independently of the others. A tied total counts 0
// (`--tie zero`, the default). The paper's rule is not symmetric where the
// honest signs cancel (it then adds +1 with an odd f), so Drift is the
// smaller of the values for a positive and a negative true gradient. The
// update moves the coordinate by -lr times the vote, so a positive drift
// descends on average and a negative one climbs.
func Drift(m, f int, attack string, p float64) float64 {
	return min(drift(m, f, attack, p, 1), drift(m, f, attack, p, -1))
}

// drift is Drift for a true gradient of sign truth (+1 or -1).
func drift(m, f int, attack string, p float64, truth int) float64 {
	h := m - f
	var e float64
	for k := 0; k <= h; k++ { // k honest signs right
		a := (2*k - h) * truth
		t := a
		switch attack {
		case "truth":
			t -= f * truth
		default:
			plus, abstain := job.ByzantineVotes(attack, a, f)
			if !abstain {
				t += 2*plus - f
			}
		}
		switch {
		case t*truth > 0:
			e += binomialPMF(k, h, p)
		case t*truth < 0:
			e -= binomialPMF(k, h, p)
		}
	}
	return e
}

// Crossover is the smallest honest sign accuracy p* in [1/2, 1] such that
// Drift is positive for every p in (p*, 1]: coordinates on which each honest
// worker is right less often than p* are pushed uphill on average. It is 1
// when the drift is not positive even at p = 1 (the Byzantines outvote the
// honest workers), and 1/2 when it is positive for every p > 1/2.
func Crossover(m, f int, attack string) float64 {
	const step = 1.0 / 1024
	if Drift(m, f, attack, 1) <= 0 {
		return 1
	}
	hi := 1.0
	for hi-step > 0.5 && Drift(m, f, attack, hi-step) > 0 {
		hi -= step
	}
	lo := hi - step
	if lo <= 0.5 {
		return 0.5
	}
	// Drift(lo) <= 0 < Drift(hi): bisect to float64 resolution.
	for range 60 {
		mid := (lo + hi) / 2
		if Drift(m, f, attack, mid) > 0 {
			hi = mid
		} else {
			lo = mid
		}
	}
	return hi
}

// GaussianSNR is the signal-to-noise ratio S = g/sigma at which a worker
// with Gaussian noise is right with probability p: Phi^-1(p).
func GaussianSNR(p float64) float64 { return math.Sqrt2 * math.Erfinv(2*p-1) }

// DriftRow is one row of the drift table: the crossover of each attack in
// DriftAttacks, for m workers of which f are Byzantine.
type DriftRow struct {
	M, F int
	// P[i] is Crossover(M, F, DriftAttacks[i]) and S[i] its GaussianSNR.
	P, S []float64
}

func driftTable() []DriftRow {
	var rows []DriftRow
	for _, m := range DriftMs {
		for f := 0; 2*f < m; f++ {
			r := DriftRow{M: m, F: f}
			for _, a := range DriftAttacks {
				p := Crossover(m, f, a)
				r.P = append(r.P, p)
				r.S = append(r.S, GaussianSNR(p))
			}
			rows = append(rows, r)
		}
	}
	return rows
}

func writeDriftCSV(path string, rows []DriftRow) error {
	var out [][]string
	for _, r := range rows {
		for i, a := range DriftAttacks {
			out = append(out, []string{fmt.Sprint(r.M), fmt.Sprint(r.F), a, num(r.P[i]), num(r.S[i])})
		}
	}
	return writeCSV(path, []string{"M", "f", "attack", "crossover_p", "crossover_gaussian_snr"}, out)
}

// binomialPMF is P(X = k) for X ~ Binomial(n, p).
func binomialPMF(k, n int, p float64) float64 {
	switch {
	case k < 0 || k > n:
		return 0
	case p <= 0:
		return b2f(k == 0)
	case p >= 1:
		return b2f(k == n)
	}
	ln, _ := math.Lgamma(float64(n + 1))
	lk, _ := math.Lgamma(float64(k + 1))
	lr, _ := math.Lgamma(float64(n - k + 1))
	return math.Exp(ln - lk - lr + float64(k)*math.Log(p) + float64(n-k)*math.Log1p(-p))
}

func b2f(b bool) float64 {
	if b {
		return 1
	}
	return 0
}
