package theory

import (
	"math"
	"math/rand/v2"
	"testing"

	"signsgd/job"
)

// simulateDrift is the naive reference for drift: it draws every honest
// worker's vote, casts each Byzantine's vote one by one (plus of them +1,
// the rest -1, or all against the true sign for "truth"), adds them up and
// averages sign(total) times the true sign.
func simulateDrift(r *rand.Rand, m, f int, attack string, p float64, truth, draws int) float64 {
	var sum int
	for range draws {
		honest := 0
		for range m - f {
			if r.Float64() < p {
				honest += truth
			} else {
				honest -= truth
			}
		}
		total := honest
		switch attack {
		case "truth":
			for range f {
				total -= truth
			}
		default:
			plus, abstain := job.ByzantineVotes(attack, honest, f)
			for i := range f {
				switch {
				case abstain:
				case i < plus:
					total++
				default:
					total--
				}
			}
		}
		switch {
		case total*truth > 0:
			sum++
		case total*truth < 0:
			sum--
		}
	}
	return float64(sum) / float64(draws)
}

// The exact drift equals the simulated one for every attack, both true
// signs and a range of accuracies, within 5 standard errors.
func TestDriftMatchesSimulation(t *testing.T) {
	const draws = 40000
	r := rand.New(rand.NewPCG(8005, 1))
	for _, c := range []struct{ m, f int }{{9, 4}, {9, 3}, {9, 0}, {5, 1}, {21, 9}, {8, 3}} {
		for _, attack := range DriftAttacks {
			for _, p := range []float64{0.5, 0.6, 0.75, 0.87, 0.95} {
				for _, truth := range []int{1, -1} {
					exact := drift(c.m, c.f, attack, p, truth)
					got := simulateDrift(r, c.m, c.f, attack, p, truth, draws)
					if se := 1 / math.Sqrt(draws); math.Abs(got-exact) > 5*se {
						t.Errorf("M=%d f=%d %s p=%g truth %+d: exact drift %.4f, simulated %.4f", c.m, c.f, attack, p, truth, exact, got)
					}
				}
			}
		}
	}
}

// Closed forms: without Byzantines (odd M) and against the proof's worst
// case the vote is right exactly when more than M/2 workers are.
func TestDriftClosedForms(t *testing.T) {
	for _, m := range []int{3, 9, 21} {
		for _, p := range []float64{0.5, 0.55, 0.8, 0.99} {
			for _, attack := range DriftAttacks {
				want := 1 - 2*BinomialCDF(m/2, m, p)
				if got := Drift(m, 0, attack, p); math.Abs(got-want) > 1e-12 {
					t.Errorf("M=%d f=0 %s p=%g: drift %.15g, want %.15g", m, attack, p, got, want)
				}
			}
			for f := 1; 2*f < m; f++ {
				want := 1 - 2*BinomialCDF(m/2, m-f, p)
				if got := Drift(m, f, "truth", p); math.Abs(got-want) > 1e-12 {
					t.Errorf("M=%d f=%d truth p=%g: drift %.15g, want %.15g", m, f, p, got, want)
				}
			}
		}
	}
}

// The crossover separates climbing from descending, and takes the values
// worked out by hand.
func TestCrossover(t *testing.T) {
	// Against the proof's worst case with 4 of 9, the vote is right only
	// when all 5 honest workers are: p^5 = 1/2.
	if got, want := Crossover(9, 4, "truth"), math.Pow(0.5, 0.2); math.Abs(got-want) > 1e-9 {
		t.Errorf("Crossover(9, 4, truth) = %.12f, want %.12f", got, want)
	}
	// The paper's rule at 4 of 9 flips every coordinate whose 5 honest
	// signs are not unanimous, either way: with q = 1-p the drift is
	// p^5 - 5p^4q - 10p^3q^2 + 10p^2q^3 + 5pq^4 - q^5, which crosses 0 near
	// 0.863.
	if got := Crossover(9, 4, "paper"); got < 0.86 || got > 0.87 {
		t.Errorf("Crossover(9, 4, paper) = %.4f, want 0.86-0.87", got)
	}
	for _, c := range []struct{ m, f int }{{9, 0}, {9, 2}, {9, 3}, {9, 4}, {21, 7}, {21, 10}} {
		for _, attack := range DriftAttacks {
			ps := Crossover(c.m, c.f, attack)
			if ps < 0.5 || ps > 1 {
				t.Fatalf("Crossover(%d, %d, %s) = %g, outside [1/2, 1]", c.m, c.f, attack, ps)
			}
			for q := ps + 1e-6; q <= 1; q += 1e-3 {
				if d := Drift(c.m, c.f, attack, q); d <= 0 {
					t.Errorf("M=%d f=%d %s: drift %.3g at p=%.4f, above the crossover %.6f", c.m, c.f, attack, d, q, ps)
					break
				}
			}
			if ps > 0.5 {
				if d := Drift(c.m, c.f, attack, ps-1e-6); d > 0 {
					t.Errorf("M=%d f=%d %s: drift %.3g just below the crossover %.6f, want <= 0", c.m, c.f, attack, d, ps)
				}
			}
		}
	}
	// Byzantines that outvote the honest workers leave nothing to descend.
	if got := Crossover(4, 2, "truth"); got != 1 {
		t.Errorf("Crossover(4, 2, truth) = %g, want 1", got)
	}
	if got := GaussianSNR(Phi(1.25)); math.Abs(got-1.25) > 1e-9 {
		t.Errorf("GaussianSNR(Phi(1.25)) = %g", got)
	}
}
