package theory

import (
	"bytes"
	"image/png"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"gonum.org/v1/gonum/stat/distuv"
)

func near(t *testing.T, name string, got, want, tol float64) {
	t.Helper()
	if math.Abs(got-want) > tol*math.Max(1, math.Abs(want)) {
		t.Errorf("%s = %.10g, want %.10g", name, got, want)
	}
}

func TestBoundFormulas(t *testing.T) {
	// Lemma 1 is continuous at S = 2/sqrt(3), where both branches are 1/6.
	s0 := 2 / math.Sqrt(3)
	near(t, "Lemma1(2/sqrt3)", Lemma1(s0), 1.0/6, 1e-12)
	near(t, "Lemma1(2/sqrt3+)", Lemma1(s0+1e-12), 1.0/6, 1e-9)
	near(t, "Lemma1(0)", Lemma1(0), 0.5, 0)
	near(t, "Lemma1(3)", Lemma1(3), 2.0/81, 1e-15)
	near(t, "Lemma1(1)", Lemma1(1), 0.5-1/(2*math.Sqrt(3)), 1e-15)
	near(t, "Lemma1bis(1)", Lemma1bis(1), 0.5, 0)
	near(t, "Lemma1bis(0.5)", Lemma1bis(0.5), 2, 0)
	near(t, "Cantelli(1)", Cantelli(1), 0.5, 0)
	near(t, "Cantelli(3)", Cantelli(3), 0.1, 1e-15)
	near(t, "Phi(0)", Phi(0), 0.5, 0)
	near(t, "Phi(1.959964)", Phi(1.959963984540054), 0.975, 1e-12)

	// Clopper-Pearson has closed forms at k = 0 and k = n.
	lo, hi := ClopperPearson(0, 10, Level99)
	near(t, "CP(0,10) lo", lo, 0, 0)
	near(t, "CP(0,10) hi", hi, 1-math.Pow(0.005, 0.1), 1e-12)
	lo, hi = ClopperPearson(10, 10, Level99)
	near(t, "CP(10,10) lo", lo, math.Pow(0.005, 0.1), 1e-12)
	near(t, "CP(10,10) hi", hi, 1, 0)
	lo, _ = ClopperPearson(1, 200000, Level99)
	near(t, "CP(1,200000) lo", lo, -math.Expm1(math.Log(0.995)/200000), 1e-6)
	// Textbook value: 5 of 20 at 95% is [0.0866, 0.4910].
	lo, hi = ClopperPearson(5, 20, 0.95)
	near(t, "CP(5,20) lo", lo, 0.0866, 1e-4)
	near(t, "CP(5,20) hi", hi, 0.4910, 1e-4)
	for _, c := range [][2]int{{0, 0}, {-1, 5}, {6, 5}} {
		if lo, hi := ClopperPearson(c[0], c[1], Level99); lo != 0 || hi != 1 {
			t.Errorf("ClopperPearson(%d, %d) = [%g, %g], want [0, 1]", c[0], c[1], lo, hi)
		}
	}
	if lo, hi := ClopperPearson(1, 5, 1); lo != 0 || hi != 1 {
		t.Errorf("ClopperPearson at level 1 = [%g, %g], want [0, 1]", lo, hi)
	}

	near(t, "BinomialCDF(1,3,0.5)", BinomialCDF(1, 3, 0.5), 0.5, 1e-14)
	near(t, "BinomialCDF(2,10,0.3)", BinomialCDF(2, 10, 0.3), 0.3827827864, 1e-9)
	near(t, "BinomialCDF(-1,3,0.5)", BinomialCDF(-1, 3, 0.5), 0, 0)
	near(t, "BinomialCDF(0,3,0)", BinomialCDF(0, 3, 0), 1, 0)
	near(t, "BinomialCDF(2,3,1)", BinomialCDF(2, 3, 1), 0, 0)
	near(t, "BinomialCDF(3,3,0.5)", BinomialCDF(3, 3, 0.5), 1, 0)

	// M = 10, alpha = 0, p = 0.8: E = 8, Var = 1.6, E - M/2 = 3.
	b := Vote(10, 0, 0.8, 1)
	if !b.Condition {
		t.Fatal("Vote(10, 0, 0.8): condition false, want true")
	}
	near(t, "Cantelli step", b.Cantelli, 1.6/(1.6+9), 1e-14)
	near(t, "sqrt form", b.Sqrt, 0.5*math.Sqrt(1.6)/3, 1e-14)
	near(t, "sqrt(1-p) form", b.SqrtOneMinusP, 0.5*math.Sqrt(0.2)/0.3/math.Sqrt(10), 1e-14)
	near(t, "final line", b.Final, 1/(2*math.Sqrt2)/0.3/math.Sqrt(10), 1e-14)
	// alpha < 1 - 1/(2p) = 0.375 fails at alpha = 0.4.
	b = Vote(10, 0.4, 0.8, 1)
	if b.Condition || !math.IsNaN(b.Cantelli) || !math.IsNaN(b.Final) {
		t.Errorf("Vote(10, 0.4, 0.8) = %+v, want condition false and NaN bounds", b)
	}
}

// TestNoiseLaws checks that every noise has mean 0 and variance 1, and the
// exact sign-error formulas against independent computations.
func TestNoiseLaws(t *testing.T) {
	st := distuv.StudentsT{Mu: 0, Sigma: 1, Nu: 3}
	for _, s := range []float64{0.1, 0.7, 1.5, 4} {
		near(t, "Student-t exact", noises[1].wrong(s), st.CDF(-s*math.Sqrt(3)), 1e-12)
		a, q := twoPoint(s)
		near(t, "two-point mean", -q*a+(1-q)/a, 0, 1e-14)
		near(t, "two-point variance", q*a*a+(1-q)/(a*a), 1, 1e-14)
		near(t, "two-point exact", noises[3].wrong(s), 1/(1+(1+TwoPointEps)*(1+TwoPointEps)*s*s), 1e-14)
	}
	near(t, "mixture variance", MixtureMu*MixtureMu+mixtureS*mixtureS, 1, 1e-15)
	// Sample moments. The Student-t law is left out: its fourth moment is
	// infinite, so its sample variance converges too slowly to test; its
	// scale is checked through the sign-error probabilities in
	// TestMonteCarloMatchesExact.
	const n = 200000
	for i, nz := range noises {
		if nz.key == "student3" {
			continue
		}
		r := rand.New(rand.NewPCG(1, uint64(i)))
		sample := nz.sampler(1.3)
		var sum, sum2 float64
		for range n {
			x := sample(r)
			sum += x
			sum2 += x * x
		}
		mean, variance := sum/n, sum2/n-(sum/n)*(sum/n)
		if math.Abs(mean) > 0.02 || math.Abs(variance-1) > 0.03 {
			t.Errorf("%s: sample mean %.4f, variance %.4f, want 0 and 1", nz.name, mean, variance)
		}
	}
}

// level4 gives intervals wide enough for assertions that must not fail by
// chance when the seed changes.
const level4 = 0.9999

func TestMonteCarloMatchesExact(t *testing.T) {
	g := grid{
		lemmaS: []float64{0.1, 0.5, 1, 2},
		voteM:  []int{3, 11, 21},
		alpha:  []float64{0, 0.2},
		voteS:  []float64{0.5, 1},
	}
	opt := Options{Draws: 20000, Seed: 7}
	for _, p := range simulateLemma(g, opt) {
		if p.noise == 0 {
			near(t, "Gaussian exact", p.exact, Phi(-p.s), 1e-15)
		}
		lo, hi := ClopperPearson(p.wrong, p.draws, level4)
		if p.exact < lo || p.exact > hi {
			t.Errorf("%s: measured %g, interval [%g, %g] misses exact %g", p.where(), p.measured, lo, hi, p.exact)
		}
	}
	for _, p := range simulateVote(g, opt) {
		lo, hi := ClopperPearson(p.fails, p.draws, level4)
		if p.exact < lo || p.exact > hi {
			t.Errorf("vote %s: measured %g, interval [%g, %g] misses binomial %g", p.where(), p.measured, lo, hi, p.exact)
		}
		lo, hi = ClopperPearson(p.correct, p.votes, level4)
		if p.p < lo || p.p > hi {
			t.Errorf("vote %s: p estimate %g, interval [%g, %g] misses Phi(S) = %g", p.where(), p.pHat, lo, hi, p.p)
		}
	}
}

func TestDeterministic(t *testing.T) {
	g := newGrid(true)
	opt := Options{Draws: 2000, Seed: 3}
	a, b := simulateVote(g, opt), simulateVote(g, opt)
	for i := range a {
		if a[i].fails != b[i].fails || a[i].correct != b[i].correct {
			t.Fatalf("vote point %d differs between runs with the same seed", i)
		}
	}
}

func TestRunQuick(t *testing.T) {
	dir := t.TempDir()
	rep, err := Run(Options{Out: dir, Draws: 20000, Quick: true})
	if err != nil {
		t.Fatal(err)
	}
	g := newGrid(true)
	if rep.LemmaPoints != len(noises)*len(g.lemmaS) {
		t.Errorf("LemmaPoints = %d, want %d", rep.LemmaPoints, len(noises)*len(g.lemmaS))
	}
	if rep.VotePoints != len(g.voteM)*len(g.alpha)*len(g.voteS) {
		t.Errorf("VotePoints = %d, want %d", rep.VotePoints, len(g.voteM)*len(g.alpha)*len(g.voteS))
	}
	if rep.VoteInCondition == 0 || rep.VoteInCondition == rep.VotePoints {
		t.Errorf("VoteInCondition = %d of %d, want some points on each side", rep.VoteInCondition, rep.VotePoints)
	}
	if rep.Draws != 20000 || rep.Seed != DefaultSeed {
		t.Errorf("Draws, Seed = %d, %d; want 20000, %d", rep.Draws, rep.Seed, DefaultSeed)
	}

	want := []string{"theory.csv", "vote.csv", "drift.csv", "report.md", "lemma.png", "lemma.svg", "vote.png", "vote.svg", "drift.png", "drift.svg"}
	if len(rep.Files) != len(want) {
		t.Errorf("Files = %v, want %d files", rep.Files, len(want))
	}
	for _, name := range want {
		data, err := os.ReadFile(filepath.Join(dir, name))
		if err != nil {
			t.Fatal(err)
		}
		if len(data) == 0 {
			t.Errorf("%s is empty", name)
		}
		switch filepath.Ext(name) {
		case ".png":
			img, err := png.Decode(bytes.NewReader(data))
			if err != nil {
				t.Errorf("%s: %v", name, err)
			} else if b := img.Bounds(); b.Dx() < 100 || b.Dy() < 100 {
				t.Errorf("%s: %v image, want a full figure", name, b)
			}
		case ".svg":
			if !bytes.Contains(data, []byte("<svg")) || !bytes.Contains(data, []byte("</svg>")) {
				t.Errorf("%s is not a complete SVG", name)
			}
		case ".csv":
			lines := strings.Count(string(data), "\n")
			n := rep.LemmaPoints
			switch name {
			case "vote.csv":
				n = rep.VotePoints
			case "drift.csv":
				n = len(rep.Drift) * len(DriftAttacks)
			}
			if lines != n+1 {
				t.Errorf("%s has %d lines, want %d", name, lines, n+1)
			}
		}
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(entries) != len(want) {
		t.Errorf("output folder holds %d entries, want %d (leftover temporary files?)", len(entries), len(want))
	}

	// Qualitative claims.
	twoPointBis := 0
	for _, v := range rep.Violations {
		switch {
		case strings.HasPrefix(v.Where, noises[0].name+","):
			t.Errorf("Gaussian noise violates %s: %+v", v.Bound, v)
		case v.Part == "vote":
			t.Errorf("vote bound violated with Gaussian honest noise: %+v", v)
		case strings.HasPrefix(v.Bound, "Cantelli"):
			t.Errorf("Cantelli's bound, valid for every law, is violated: %+v", v)
		case strings.HasPrefix(v.Where, noises[3].name+",") && v.Bound == "Lemma 1bis":
			twoPointBis++
			if v.Exact <= v.Limit {
				t.Errorf("two-point violation not confirmed by the exact value: %+v", v)
			}
		case strings.HasPrefix(v.Where, noises[1].name+",") || strings.HasPrefix(v.Where, noises[2].name+","):
			t.Errorf("symmetric noise violates %s: %+v", v.Bound, v)
		}
	}
	if twoPointBis == 0 {
		t.Error("the asymmetric two-point law does not violate Lemma 1bis at any S")
	}
	// The proof's steps hold exactly for Gaussian noise; for the two-point
	// law the Lemma 1bis substitution fails somewhere.
	for _, s := range rep.Steps {
		if s.Noise == "Gaussian" && s.Failed > 0 {
			t.Errorf("Gaussian: step %q fails at %d points", s.Step, s.Failed)
		}
		if s.Noise != "Gaussian" && strings.HasSuffix(s.Step, "(Lemma 1bis)") && s.Failed == 0 {
			t.Errorf("two-point: step %q never fails", s.Step)
		}
	}
	md, err := os.ReadFile(filepath.Join(dir, "report.md"))
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Contains(md, []byte("Confirmed")) {
		t.Error("report.md does not confirm the Lemma 1bis finding")
	}
}

func TestRunBadOptions(t *testing.T) {
	file := filepath.Join(t.TempDir(), "file")
	if err := os.WriteFile(file, []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		opt  Options
		want string
	}{
		{Options{}, "Out"},
		{Options{Out: t.TempDir(), Draws: -1}, "Draws"},
		{Options{Out: t.TempDir(), Draws: MaxDraws + 1}, "Draws"},
		{Options{Out: filepath.Join(file, "sub"), Draws: 10, Quick: true}, "Out"},
	} {
		_, err := Run(c.opt)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("Run(%+v) error = %v, want one naming %s", c.opt, err, c.want)
		}
	}
}

func TestWriteAtomicNamesFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "missing", "x.csv")
	err := writeLemmaCSV(path, nil)
	if err == nil || !strings.Contains(err.Error(), path) {
		t.Errorf("error = %v, want one naming %s", err, path)
	}
}

// TestFullRun writes a full run to $THEORY_FULL_OUT; it is skipped unless
// that variable is set.
func TestFullRun(t *testing.T) {
	out := os.Getenv("THEORY_FULL_OUT")
	if out == "" {
		t.Skip("THEORY_FULL_OUT not set")
	}
	rep, err := Run(Options{Out: out})
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("%d lemma points, %d vote points (%d in condition), %d violations, %d out of scope, %d mismatches, %s",
		rep.LemmaPoints, rep.VotePoints, rep.VoteInCondition, len(rep.Violations), len(rep.OutOfScope), len(rep.Mismatches), rep.Elapsed)
	for _, v := range rep.Violations {
		t.Logf("violation: %+v", v)
	}
}
