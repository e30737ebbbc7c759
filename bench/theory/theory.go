package theory

import (
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"runtime"
	"sync"
	"time"
)

// Defaults for Options.
const (
	DefaultDraws = 200000
	DefaultSeed  = 8005
	// MaxDraws caps Options.Draws so that vote counts fit comfortably in
	// an int and a run stays within hours.
	MaxDraws = 100_000_000
)

// Options configures Run.
type Options struct {
	// Out is the output folder; it is created if missing. Run writes
	// theory.csv (sign-error points), vote.csv (majority-vote points),
	// drift.csv (the vote's drift under each attack), report.md, and
	// lemma.png/.svg, vote.png/.svg and drift.png/.svg.
	Out string
	// Draws is the number of Monte Carlo draws per point; 0 means
	// DefaultDraws. It must lie in [0, MaxDraws].
	Draws int
	// Seed seeds every point's generator; 0 means DefaultSeed. Each point
	// has its own PCG stream, so results do not depend on scheduling.
	Seed uint64
	// Quick selects small grids, for tests.
	Quick bool
}

// Violation is a point where a Monte Carlo estimate is significantly above
// a bound: the lower end of its 99% Clopper-Pearson interval exceeds the
// bound, which is below 1.
type Violation struct {
	// Part is "lemma" (single-worker sign error) or "vote" (majority vote).
	Part string
	// Where names the point, e.g. "Two-point asymmetric, S=1.27".
	Where string
	// Bound names the bound, e.g. "Lemma 1bis".
	Bound string
	// Measured is the Monte Carlo estimate and Lower the lower end of its
	// 99% Clopper-Pearson interval.
	Measured, Lower float64
	// Limit is the bound's value and Exact the exact probability.
	Limit, Exact float64
}

// Mismatch is a point whose exact probability falls outside the 99%
// Clopper-Pearson interval of its Monte Carlo estimate (at most about 1% of
// points are expected to by chance).
type Mismatch struct {
	// Where names the point and the quantity.
	Where string
	// Measured is the estimate, [Lower, Upper] its 99% interval and
	// Exact the exact value.
	Measured, Lower, Upper, Exact float64
}

// StepCheck is the exact check of one inequality of the proof of Theorem
// 2bis over the vote grid, for one law of the honest workers' noise.
type StepCheck struct {
	// Noise is the honest workers' noise law.
	Noise string
	// Step states the inequality, left <= right.
	Step string
	// Checked counts the points where the proof's condition
	// alpha < 1 - 1/(2p) holds; Failed those where left > right.
	Checked, Failed int
	// Worst is the point with the largest left/right ratio, and
	// WorstLeft, WorstRight its two sides.
	Worst                 string
	WorstLeft, WorstRight float64
}

// Report summarises a Run.
type Report struct {
	// Violations lists points where a bound claimed for that point is
	// significantly exceeded.
	Violations []Violation
	// OutOfScope lists exceedances of Lemma 1 on noises outside its
	// assumption (unimodal and symmetric); they are not violations.
	OutOfScope []Violation
	// Mismatches lists points where the exact value is outside the
	// Monte Carlo confidence interval (including the estimate of p).
	Mismatches []Mismatch
	// Steps is the exact check of each line of the proof's chain.
	Steps []StepCheck
	// Drift is the crossover table of the vote's drift under each attack
	// (exact; see Crossover).
	Drift []DriftRow
	// LemmaPoints and VotePoints count the simulated points; VoteInCondition
	// counts the vote points where alpha < 1 - 1/(2p), the others having
	// no applicable bound.
	LemmaPoints, VotePoints, VoteInCondition int
	// Draws and Seed are the values used.
	Draws int
	Seed  uint64
	// Files lists the written files.
	Files []string
	// Elapsed is the wall time of the run.
	Elapsed time.Duration
}

// grid is the set of points of one run.
type grid struct {
	lemmaS []float64
	voteM  []int
	alpha  []float64
	voteS  []float64
}

func newGrid(quick bool) grid {
	if quick {
		return grid{
			lemmaS: logSpace(0.05, 5, 10),
			voteM:  []int{3, 5, 11, 21},
			alpha:  []float64{0, 0.2, 0.4},
			voteS:  []float64{0.5, 2},
		}
	}
	return grid{
		lemmaS: logSpace(0.05, 5, 30),
		voteM:  []int{3, 5, 7, 9, 11, 15, 21, 31, 51, 75, 101},
		alpha:  []float64{0, 0.1, 0.2, 0.3, 0.4, 0.45},
		voteS:  []float64{0.25, 0.5, 1, 2},
	}
}

// logSpace returns n points from a to b, evenly spaced in log.
func logSpace(a, b float64, n int) []float64 {
	out := make([]float64, n)
	for i := range out {
		out[i] = a * math.Pow(b/a, float64(i)/float64(n-1))
	}
	out[n-1] = b
	return out
}

// lemmaPoint is one (noise, S) point of the sign-error experiment.
type lemmaPoint struct {
	noise         int // index in noises
	s             float64
	draws, wrong  int
	measured      float64
	lo, hi        float64
	exact         float64
	lemma1        float64
	lemma1Applies bool
	lemma1bis     float64
	cantelli      float64
}

// votePoint is one (M, alpha, S) point of the majority-vote experiment.
type votePoint struct {
	m        int
	alpha    float64 // nominal fraction
	f        int     // Byzantine workers, floor(alpha M)
	alphaEff float64 // f/M, used in the bounds
	honest   int
	s        float64
	p        float64 // exact Phi(S)
	votes    int     // honest votes simulated
	correct  int     // of which correct
	pHat     float64
	pLo, pHi float64
	draws    int
	fails    int
	measured float64
	lo, hi   float64
	exact    float64
	bounds   VoteBounds
}

func (p *lemmaPoint) where() string {
	return fmt.Sprintf("%s, S=%.4g", noises[p.noise].name, p.s)
}

func (p *votePoint) where() string {
	return fmt.Sprintf("M=%d, alpha=%.2g (f=%d), S=%.4g", p.m, p.alpha, p.f, p.s)
}

// Run simulates both experiments, checks the bounds and writes the files
// named in Options.Out. It returns an error, naming the option or file, if
// the options are invalid or a file cannot be written; bound violations are
// findings, reported in Report, not errors.
func Run(opt Options) (Report, error) {
	start := time.Now()
	if opt.Out == "" {
		return Report{}, errors.New("theory: Options.Out is empty")
	}
	if opt.Draws < 0 || opt.Draws > MaxDraws {
		return Report{}, fmt.Errorf("theory: Options.Draws = %d, want 0 (default %d) to %d", opt.Draws, DefaultDraws, MaxDraws)
	}
	if opt.Draws == 0 {
		opt.Draws = DefaultDraws
	}
	if opt.Seed == 0 {
		opt.Seed = DefaultSeed
	}
	if err := os.MkdirAll(opt.Out, 0o755); err != nil {
		return Report{}, fmt.Errorf("theory: Options.Out: %w", err)
	}
	g := newGrid(opt.Quick)
	lemma := simulateLemma(g, opt)
	vote := simulateVote(g, opt)

	rep := Report{Draws: opt.Draws, Seed: opt.Seed, LemmaPoints: len(lemma), VotePoints: len(vote)}
	checkLemma(&rep, lemma)
	checkVote(&rep, vote)
	rep.Steps = checkSteps(vote)
	rep.Drift = driftTable()

	files := []struct {
		name  string
		write func(string) error
	}{
		{"theory.csv", func(path string) error { return writeLemmaCSV(path, lemma) }},
		{"vote.csv", func(path string) error { return writeVoteCSV(path, vote) }},
		{"drift.csv", func(path string) error { return writeDriftCSV(path, rep.Drift) }},
		{"lemma.png", func(path string) error { return writeLemmaFigure(path, lemma, g) }},
		{"lemma.svg", func(path string) error { return writeLemmaFigure(path, lemma, g) }},
		{"vote.png", func(path string) error { return writeVoteFigure(path, vote, g) }},
		{"vote.svg", func(path string) error { return writeVoteFigure(path, vote, g) }},
		{"drift.png", writeDriftFigure},
		{"drift.svg", writeDriftFigure},
	}
	for _, f := range files {
		path := filepath.Join(opt.Out, f.name)
		if err := f.write(path); err != nil {
			return rep, err
		}
		rep.Files = append(rep.Files, path)
	}
	path := filepath.Join(opt.Out, "report.md")
	rep.Files = append(rep.Files, path)
	rep.Elapsed = time.Since(start)
	if err := writeReport(path, &rep, lemma, vote, g); err != nil {
		rep.Files = rep.Files[:len(rep.Files)-1]
		return rep, err
	}
	return rep, nil
}

// parallel runs job(i) for i in [0, n) on GOMAXPROCS goroutines.
func parallel(n int, job func(i int)) {
	workers := min(runtime.GOMAXPROCS(0), n)
	next := make(chan int)
	var wg sync.WaitGroup
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range next {
				job(i)
			}
		}()
	}
	for i := range n {
		next <- i
	}
	close(next)
	wg.Wait()
}

// Stream identifiers of the two experiments, so that every point has its
// own generator.
const (
	streamLemma = 1 << 32
	streamVote  = 2 << 32
)

func simulateLemma(g grid, opt Options) []lemmaPoint {
	pts := make([]lemmaPoint, 0, len(noises)*len(g.lemmaS))
	for ni, nz := range noises {
		for _, s := range g.lemmaS {
			pts = append(pts, lemmaPoint{
				noise: ni, s: s, draws: opt.Draws,
				exact:         nz.wrong(s),
				lemma1:        Lemma1(s),
				lemma1Applies: nz.unimodalSymmetric,
				lemma1bis:     Lemma1bis(s),
				cantelli:      Cantelli(s),
			})
		}
	}
	parallel(len(pts), func(i int) {
		p := &pts[i]
		r := rand.New(rand.NewPCG(opt.Seed, streamLemma|uint64(i)))
		sample := noises[p.noise].sampler(p.s)
		wrong := 0
		for range p.draws {
			if p.s+sample(r) <= 0 {
				wrong++
			}
		}
		p.wrong = wrong
		p.measured = float64(wrong) / float64(p.draws)
		p.lo, p.hi = ClopperPearson(wrong, p.draws, Level99)
	})
	return pts
}

func simulateVote(g grid, opt Options) []votePoint {
	var pts []votePoint
	for _, s := range g.voteS {
		for _, a := range g.alpha {
			for _, m := range g.voteM {
				// floor(alpha M), robust to alpha*M landing just below an
				// integer in floating point.
				f := int(math.Floor(a*float64(m) + 1e-9))
				ae := float64(f) / float64(m)
				p := Phi(s)
				pts = append(pts, votePoint{
					m: m, alpha: a, f: f, alphaEff: ae, honest: m - f, s: s,
					p: p, draws: opt.Draws,
					exact:  BinomialCDF(m/2, m-f, p),
					bounds: Vote(m, ae, p, s),
				})
			}
		}
	}
	parallel(len(pts), func(i int) {
		p := &pts[i]
		r := rand.New(rand.NewPCG(opt.Seed, streamVote|uint64(i)))
		fails, correct := 0, 0
		for range p.draws {
			// Byzantine workers all vote -sign(g): only honest votes can
			// be correct, and the vote fails when they are at most M/2.
			z := 0
			for range p.honest {
				if p.s+r.NormFloat64() > 0 {
					z++
				}
			}
			correct += z
			if 2*z <= p.m {
				fails++
			}
		}
		p.votes = p.draws * p.honest
		p.correct = correct
		p.pHat = float64(correct) / float64(p.votes)
		p.pLo, p.pHi = ClopperPearson(correct, p.votes, Level99)
		p.fails = fails
		p.measured = float64(fails) / float64(p.draws)
		p.lo, p.hi = ClopperPearson(fails, p.draws, Level99)
	})
	return pts
}

func checkLemma(rep *Report, pts []lemmaPoint) {
	for i := range pts {
		p := &pts[i]
		if p.exact < p.lo || p.exact > p.hi {
			rep.Mismatches = append(rep.Mismatches, Mismatch{
				Where: "sign error: " + p.where(), Measured: p.measured,
				Lower: p.lo, Upper: p.hi, Exact: p.exact,
			})
		}
		for _, b := range []struct {
			name  string
			limit float64
			scope bool
		}{
			{"Lemma 1", p.lemma1, p.lemma1Applies},
			{"Lemma 1bis", p.lemma1bis, true},
			{"Cantelli 1/(1+S^2)", p.cantelli, true},
		} {
			if b.limit >= 1 || p.lo <= b.limit {
				continue
			}
			v := Violation{Part: "lemma", Where: p.where(), Bound: b.name,
				Measured: p.measured, Lower: p.lo, Limit: b.limit, Exact: p.exact}
			if b.scope {
				rep.Violations = append(rep.Violations, v)
			} else {
				rep.OutOfScope = append(rep.OutOfScope, v)
			}
		}
	}
}

func checkVote(rep *Report, pts []votePoint) {
	for i := range pts {
		p := &pts[i]
		if p.exact < p.lo || p.exact > p.hi {
			rep.Mismatches = append(rep.Mismatches, Mismatch{
				Where: "vote P(fail): " + p.where(), Measured: p.measured,
				Lower: p.lo, Upper: p.hi, Exact: p.exact,
			})
		}
		if p.p < p.pLo || p.p > p.pHi {
			rep.Mismatches = append(rep.Mismatches, Mismatch{
				Where: "honest p = Phi(S): " + p.where(), Measured: p.pHat,
				Lower: p.pLo, Upper: p.pHi, Exact: p.p,
			})
		}
		if !p.bounds.Condition {
			continue
		}
		rep.VoteInCondition++
		for _, b := range voteBoundList(p.bounds) {
			if b.limit >= 1 || p.lo <= b.limit {
				continue
			}
			rep.Violations = append(rep.Violations, Violation{Part: "vote",
				Where: p.where(), Bound: b.name, Measured: p.measured,
				Lower: p.lo, Limit: b.limit, Exact: p.exact})
		}
	}
}

type namedBound struct {
	name  string
	limit float64
}

// voteBoundList names the lines of the proof's chain.
func voteBoundList(b VoteBounds) []namedBound {
	return []namedBound{
		{"Cantelli step Var/(Var+(E-M/2)^2)", b.Cantelli},
		{"(1/2)sqrt(p(1-p)(1-a))/(p(1-a)-1/2)/sqrt(M)", b.Sqrt},
		{"(1/2)sqrt(1-p)/(p(1-a)-1/2)/sqrt(M)", b.SqrtOneMinusP},
		{"final line 1/(2sqrt2)/(p(1-a)-1/2)/(S sqrt(M))", b.Final},
	}
}

// checkSteps checks each inequality of the proof's chain exactly, for
// Gaussian honest noise (the simulated case) and for the two-point law of
// the sign-error experiment, at every vote grid point.
func checkSteps(pts []votePoint) []StepCheck {
	laws := []struct {
		name string
		p    func(s float64) float64
	}{
		{"Gaussian", func(s float64) float64 { return Phi(s) }},
		{"Two-point asymmetric", func(s float64) float64 { return 1 - noises[3].wrong(s) }},
	}
	steps := []string{
		"P(Z <= M/2) <= Var/(Var+(E-M/2)^2) (Cantelli's inequality)",
		"Var/(Var+(E-M/2)^2) <= (1/2)sqrt(Var)/(E-M/2) (1+x^2 >= 2x)",
		"(1/2)sqrt(p(1-p)(1-a))/(p(1-a)-1/2)/sqrt(M) <= (1/2)sqrt(1-p)/(p(1-a)-1/2)/sqrt(M) (p(1-a) <= 1)",
		"(1/2)sqrt(1-p)/(p(1-a)-1/2)/sqrt(M) <= 1/(2sqrt2)/(p(1-a)-1/2)/(S sqrt(M)) (Lemma 1bis)",
		"P(Z <= M/2) <= final line (end to end)",
	}
	var out []StepCheck
	for _, law := range laws {
		checks := make([]StepCheck, len(steps))
		for i := range checks {
			checks[i] = StepCheck{Noise: law.name, Step: steps[i]}
		}
		worst := make([]float64, len(steps))
		for i := range pts {
			pt := &pts[i]
			p := law.p(pt.s)
			b := Vote(pt.m, pt.alphaEff, p, pt.s)
			if !b.Condition {
				continue
			}
			exact := BinomialCDF(pt.m/2, pt.honest, p)
			pairs := [][2]float64{
				{exact, b.Cantelli},
				{b.Cantelli, b.Sqrt},
				{b.Sqrt, b.SqrtOneMinusP},
				{b.SqrtOneMinusP, b.Final},
				{exact, b.Final},
			}
			for k, lr := range pairs {
				c := &checks[k]
				c.Checked++
				if lr[0] > lr[1]*(1+1e-12) {
					c.Failed++
				}
				ratio := lr[0] / lr[1]
				if c.Checked == 1 || ratio > worst[k] {
					worst[k] = ratio
					c.Worst = pt.where()
					c.WorstLeft, c.WorstRight = lr[0], lr[1]
				}
			}
		}
		out = append(out, checks...)
	}
	return out
}
