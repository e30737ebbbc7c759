package job

import (
	"fmt"
	"math"
	"math/rand/v2"
	"strconv"
	"strings"

	"signsgd/collective"
	"signsgd/kernels"
)

// An aggregator is how SGD's server turns the M workers' gradients into the
// update: a function of the M vectors (plus, for cclip, the previous
// step's aggregate), run by rank 0 under --topology server. Every value a
// peer sends that is not finite counts as 0 before any aggregator sees it
// (as the mean always did), so the robust kernels work on finite values;
// the vote is the sign optimizers' aggregator. The kernels and their naive
// twins are in package kernels (Median, TrimmedMean, Krum, GeoMedian,
// CenteredClip, NearestNeighborMix).
type aggregator struct {
	run func(a *aggState, dst []float32, vecs [][]float32)
	// params are the flags this aggregator reads.
	params []string
	// coordinatewise: each coordinate of the result depends on that
	// coordinate of the inputs only, so slices can be combined apart
	// (ef-signsgd over the shard topology).
	coordinatewise bool
}

// aggState is an aggregator's settings and state.
type aggState struct {
	f           int // Byzantine ranks assumed (--byzantine)
	trim        int // trimmed-mean's f
	krumM       int // multi-krum's m (0: M - f)
	geoIters    int
	geoTol      float64
	cclipRadius float64 // 0: adaptive
	cclipIters  int
	center      []float32 // cclip: the previous step's aggregate
}

// aggregators is the aggregator registry: --aggregator.
var aggregators = &registry[aggregator]{flag: "aggregator", items: []choice[aggregator]{
	{"mean", "the coordinate-wise mean (plain distributed SGD)", "", aggregator{run: aggMean, coordinatewise: true}},
	{"median", "the coordinate-wise median (even M: the mean of the middle two)", "Yin et al. 2018", aggregator{
		run: func(_ *aggState, dst []float32, vecs [][]float32) { kernels.Median(dst, vecs) }, coordinatewise: true}},
	{"trimmed-mean", "per coordinate, drops the --trim largest and smallest, averages the rest", "Yin et al. 2018", aggregator{
		run: func(a *aggState, dst []float32, vecs [][]float32) {
			kernels.TrimmedMean(dst, vecs, min(a.trim, (len(vecs)-1)/2))
		}, params: []string{"trim"}, coordinatewise: true}},
	{"krum", "the vector with the least sum of squared distances to its M-f-2 nearest", "Blanchard et al. 2017", aggregator{
		run: func(a *aggState, dst []float32, vecs [][]float32) { kernels.Krum(dst, vecs, a.f, 1) }}},
	{"multi-krum", "the mean of the --krum-m vectors Krum ranks best", "Blanchard et al. 2017", aggregator{
		run: func(a *aggState, dst []float32, vecs [][]float32) {
			m := a.krumM
			if m <= 0 {
				m = len(vecs) - a.f
			}
			kernels.Krum(dst, vecs, a.f, max(min(m, len(vecs)), 1))
		}, params: []string{"krum-m"}}},
	{"geomed", "the geometric median, by smoothed Weiszfeld iterations", "Pillutla et al. 2022 (RFA)", aggregator{
		run: func(a *aggState, dst []float32, vecs [][]float32) {
			kernels.GeoMedian(dst, vecs, a.geoIters, a.geoTol, geomedEps)
		}, params: []string{"geomed-iters", "geomed-tol"}}},
	{"cclip", "centered clipping around the previous aggregate (radius adapts to the spread unless --cclip-radius)", "Karimireddy et al. 2021", aggregator{
		run: func(a *aggState, dst []float32, vecs [][]float32) {
			kernels.CenteredClip(dst, vecs, a.center, a.cclipRadius, a.cclipIters)
		}, params: []string{"cclip-radius", "cclip-iters"}}},
}}

// geomedEps is the smoothing of the geometric median's weights: a distance
// below it counts as it, so an iterate on an input vector does not divide
// by zero.
const geomedEps = 1e-8

// aggMean sums in rank order and scales, exactly as the server mean does.
func aggMean(_ *aggState, dst []float32, vecs [][]float32) {
	kernels.SumFloat32(dst, vecs)
	kernels.Scale(dst, 1/float32(len(vecs)))
}

// A preAggregator mixes the M vectors before the aggregator: --pre.
type preAggregator struct {
	// run returns the vectors the aggregator sees (arg: bucket's S).
	run func(p *preState, vecs [][]float32) [][]float32
	// arg says the value takes ":N" (bucket:S).
	arg string
}

// preState is a pre-aggregator's settings and buffers.
type preState struct {
	f, arg int
	seed   uint64
	step   int
	out    [][]float32
}

// preAggregators is the pre-aggregator registry: --pre.
var preAggregators = &registry[preAggregator]{flag: "pre", items: []choice[preAggregator]{
	{"nnm", "nearest-neighbour mixing: each vector becomes the mean of its M-f nearest", "Allouah et al. 2023", preAggregator{run: preNNM}},
	{"bucket", "bucket:S, random buckets of S vectors averaged first (seeded per step)", "Karimireddy et al. 2022", preAggregator{run: preBucket, arg: "S"}},
}}

// parsePre reads --pre: "" (none), a name, or name:N.
func parsePre(v string) (preAggregator, int, error) {
	if v == "" {
		return preAggregator{}, 0, nil
	}
	name, arg, hasArg := strings.Cut(v, ":")
	p, err := preAggregators.parse(name)
	if err != nil {
		return p, 0, err
	}
	if p.arg == "" {
		if hasArg {
			return p, 0, badFlag("--pre %s: %s takes no argument", v, name)
		}
		return p, 0, nil
	}
	n, err := strconv.Atoi(arg)
	if !hasArg || err != nil || n < 1 {
		return p, 0, badFlag("--pre %s: want %s:%s with %s a positive integer", v, name, p.arg, p.arg)
	}
	return p, n, nil
}

func preNNM(p *preState, vecs [][]float32) [][]float32 {
	if len(p.out) != len(vecs) {
		p.out = makeVectors(len(vecs), len(vecs[0]))
	}
	kernels.NearestNeighborMix(p.out, vecs, min(p.f, len(vecs)-1))
	return p.out
}

// preBucket shuffles the vectors (seeded by the run's seed and the step)
// and averages them S at a time; the last bucket may hold fewer.
func preBucket(p *preState, vecs [][]float32) [][]float32 {
	m, s := len(vecs), p.arg
	nb := (m + s - 1) / s
	if len(p.out) != nb {
		p.out = makeVectors(nb, len(vecs[0]))
	}
	perm := rand.New(rand.NewPCG(p.seed^0xb5ad4eceda1ce2a9, uint64(p.step))).Perm(m)
	for b := range nb {
		group := make([][]float32, 0, s)
		for _, i := range perm[b*s : min((b+1)*s, m)] {
			group = append(group, vecs[i])
		}
		aggMean(nil, p.out[b], group)
	}
	return p.out
}

// serverAggregate is SGD's exchange under --topology server when rank 0
// aggregates itself (a robust aggregator, or adversaries whose effect is
// measured): every worker sends its gradient to rank 0
// (collective.GatherFloat32s: the server mean's frames and bytes), rank 0
// zeroes the non-finite values, pre-aggregates and aggregates, measures how
// far the result lies from the honest ranks' mean, and sends it back
// (collective.BroadcastFloat32s). g is replaced by the aggregate on
// every rank.
type serverAggregate struct {
	agg  aggregator
	st   aggState
	pre  preAggregator
	ps   preState
	rl   []Role
	vecs [][]float32 // rank 0: every rank's gradient
	out  []float32
	hm   []float32 // rank 0: the honest ranks' mean

	// What rank 0 measured, summed over the epoch's steps.
	steps, cosine, relDist float64
	// meanOfAll: every rank is honest and the aggregate is their plain
	// mean (no pre-aggregator), so it is the honest mean itself: cosine 1,
	// distance 0 without the pass over the M vectors. unread: nothing
	// reads the measures (ServerAggregator's benchmarks).
	meanOfAll, unread bool
}

// allHonest says whether every role is Honest.
func allHonest(rl []Role) bool {
	for _, r := range rl {
		if r != Honest {
			return false
		}
	}
	return true
}

func (s *serverAggregate) exchange(c collective.Comm, g []float32, step int) error {
	m := c.Size()
	if c.Rank() != 0 {
		if err := collective.GatherFloat32s(c, 0, g, nil); err != nil {
			return fmt.Errorf("aggregate: %w", err)
		}
		if err := collective.BroadcastFloat32s(c, 0, g); err != nil {
			return fmt.Errorf("aggregate: %w", err)
		}
		return nil
	}
	d := len(g)
	if s.vecs == nil {
		s.vecs = makeVectors(m, d)
		s.out = make([]float32, d)
		s.hm = make([]float32, d)
	}
	copy(s.vecs[0], g)
	if err := collective.GatherFloat32s(c, 0, g, s.vecs); err != nil {
		return fmt.Errorf("aggregate: %w", err)
	}
	for r := 1; r < m; r++ {
		kernels.SanitizeFloat32(s.vecs[r])
	}
	vecs := s.vecs
	if s.pre.run != nil {
		s.ps.step = step
		vecs = s.pre.run(&s.ps, vecs)
	}
	s.agg.run(&s.st, s.out, vecs)
	copy(g, s.out)
	if s.st.center != nil {
		copy(s.st.center, g)
	}
	s.measure(g)
	if err := collective.BroadcastFloat32s(c, 0, g); err != nil {
		return fmt.Errorf("aggregate: %w", err)
	}
	return nil
}

// measure adds the cosine similarity and the relative L2 distance between
// the aggregate and the honest ranks' mean (both 1 and 0 when they agree).
func (s *serverAggregate) measure(agg []float32) {
	switch {
	case s.unread:
	case s.meanOfAll:
		s.steps++
		s.cosine++
	default:
		s.measureAll(agg)
	}
}

// measureAll is measure from the honest ranks' vectors, whatever the
// aggregate.
func (s *serverAggregate) measureAll(agg []float32) {
	var honest [][]float32
	for r, role := range s.rl {
		if role == Honest {
			honest = append(honest, s.vecs[r])
		}
	}
	if len(honest) == 0 {
		return
	}
	aggMean(nil, s.hm, honest)
	var dot, na, nh, nd float64
	for i, h := range s.hm {
		a := float64(agg[i])
		hh := float64(h)
		dot += a * hh
		na += a * a
		nh += hh * hh
		nd += (a - hh) * (a - hh)
	}
	cos := 1.0
	if na > 0 && nh > 0 {
		cos = dot / math.Sqrt(na*nh)
	} else if na != nh {
		cos = 0
	}
	rel := math.Sqrt(nd)
	if nh > 0 {
		rel /= math.Sqrt(nh)
	}
	if math.IsNaN(cos) || math.IsNaN(rel) {
		return
	}
	s.steps++
	s.cosine += cos
	s.relDist += rel
}

// ServerAggregator is SGD's exchange with the named aggregator among
// workers ranks of which byzantine are assumed Byzantine, exactly as
// `signsgd run --opt sgd --aggregator NAME` runs it on --topology server,
// for the benchmarks: g is replaced by the aggregate on every rank.
func ServerAggregator(name string, workers, byzantine, d int) (func(c collective.Comm, g []float32, step int) error, error) {
	s, err := newBenchAggregate(name, workers, byzantine, d)
	if err != nil {
		return nil, err
	}
	if s == nil {
		return func(c collective.Comm, g []float32, _ int) error { return collective.Mean(c, "server", g) }, nil
	}
	return s.exchange, nil
}

// newBenchAggregate is ServerAggregator's rank-0 aggregate: the one
// newOptimizer makes for --opt sgd --aggregator name --workers workers
// --byzantine byzantine and every other flag at its default (nil: the
// collective's plain mean, with no aggregator and no adversary). Each
// parameter is resolved as Config.finishRobust resolves it.
func newBenchAggregate(name string, workers, byzantine, d int) (*serverAggregate, error) {
	agg, err := aggregators.parse(name)
	if err != nil {
		return nil, err
	}
	if err := checkAdversaries(0, byzantine, workers); err != nil {
		return nil, err
	}
	if name == "mean" && byzantine == 0 {
		return nil, nil
	}
	st := aggState{f: byzantine}
	switch name {
	case "trimmed-mean":
		st.trim = byzantine
		if 2*st.trim >= workers {
			return nil, badFlag("--trim %d with --workers %d: trimmed-mean needs 2 x trim < workers", st.trim, workers)
		}
	case "multi-krum":
		st.krumM = workers - byzantine
	case "geomed":
		st.geoIters, st.geoTol = defaultGeomedIters, defaultGeomedTol
	case "cclip":
		st.cclipIters = defaultCclipIters
		st.center = make([]float32, d)
	}
	return &serverAggregate{agg: agg, st: st, rl: make([]Role, workers), ps: preState{f: byzantine, seed: defaultSeed}, unread: true}, nil
}

// coordinatewiseAggregators are the aggregators that can combine slices
// apart.
func coordinatewiseAggregators() []string {
	var out []string
	for _, c := range aggregators.items {
		if c.Value.coordinatewise {
			out = append(out, c.Name)
		}
	}
	return out
}
