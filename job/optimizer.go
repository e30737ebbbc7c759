package job

import (
	"math"
	"strconv"
	"strings"

	"signsgd/collective"
	"signsgd/kernels"
)

// An optimizer turns this rank's gradient into the update every rank
// applies. It owns its state (momentum, packed signs, the result, the
// aggregator's) and runs the attack and the exchange.
type optimizer interface {
	// step applies the update of this step to the model; g is this rank's
	// gradient (it may be overwritten).
	step(s *stepEnv, g []float32) error
	// state is what a checkpoint keeps besides the model (nil: nothing).
	state() []float32
}

// stepEnv is what an optimizer needs of the run at one step.
type stepEnv struct {
	c      collective.Comm
	q      *collective.Quorum // the server vote's, with --vote-deadline
	role   Role
	atk    *attackRound // nil without Byzantines
	params []float32
	lr, wd float32
	step   int
	tally  *attackTally // the Byzantine leader's count of the epoch
}

// optimizerKind is an entry of the optimizer registry.
type optimizerKind struct {
	sign       bool    // exchanges packed signs (the vote), else float32 gradients
	momentum   bool    // takes --momentum
	stochastic bool    // sends stochastic signs (stosign.go)
	ef         bool    // error feedback: scaled signs combined by the aggregator (efsign.go)
	defaultLR  float64 // on every dataset (the paper's; sgd's as a rate on the mean, SGDDefaultLR)
	topos      []string
}

// SGDDefaultLR, --lr's default for --opt sgd, is the paper's SGD step as a rate on the workers' mean:
// the paper's 1e-3 multiplies the sum of its 9 workers' gradients (its
// code all-reduces with SUM), and the aggregators here return a mean, so
// the same step is 9 x 1e-3. Taken at 1e-3 on the mean, SGD moved 9 times
// less than in the paper and trailed the votes (logreg, 30 epochs: 0.83
// against SIGNUM's 0.95); at 9e-3 it reaches 0.95 too. It does not grow
// with --workers: the total batch (--batch) and so the mean's scale do not.
const SGDDefaultLR = 9e-3

// DefaultLR is --lr's default for optimizer opt (0 for an unknown one).
func DefaultLR(opt string) float64 {
	k, _ := optimizers.lookup(opt)
	return k.Value.defaultLR
}

// FormatLR writes a rate as the usage and reports do: 9e-3, 1e-4, 0.1.
func FormatLR(x float64) string {
	if x != 0 && math.Abs(x) < 0.01 {
		return strings.Replace(strconv.FormatFloat(x, 'e', -1, 64), "e-0", "e-", 1)
	}
	return strconv.FormatFloat(x, 'g', -1, 64)
}

// lrDefaults is --lr's default for each optimizer, for its usage.
func lrDefaults() string {
	var parts []string
	for _, c := range optimizers.items {
		parts = append(parts, c.Name+" "+FormatLR(c.Value.defaultLR))
	}
	return strings.Join(parts, ", ")
}

// optimizers is the optimizer registry: --opt.
var optimizers = &registry[optimizerKind]{flag: "opt", items: []choice[optimizerKind]{
	{"sgd", "distributed SGD: the workers' float32 gradients combined by --aggregator", "", optimizerKind{
		defaultLR: SGDDefaultLR, topos: collective.MeanTopologies}},
	{"signsgd", "SIGNSGD with majority vote: one bit (and a non-zero bit) per coordinate each way", "Bernstein et al. 2018", optimizerKind{
		sign: true, defaultLR: 1e-4, topos: collective.VoteTopologies}},
	{"signum", "SIGNUM: the vote on the signs of each worker's momentum", "Bernstein et al. 2019", optimizerKind{
		sign: true, momentum: true, defaultLR: 1e-4, topos: collective.VoteTopologies}},
	{"sto-signsgd", "SIGNSGD with stochastic signs: +1 with probability (1 + g_i/B)/2, B = max |g| or --sto-b; then signsgd's vote", "Jin et al. 2021", optimizerKind{
		sign: true, stochastic: true, defaultLR: 1e-4, topos: collective.VoteTopologies}},
	{"sto-signum", "sto-signsgd on each worker's momentum (--momentum)", "Jin et al. 2021", optimizerKind{
		sign: true, momentum: true, stochastic: true, defaultLR: 1e-4, topos: collective.VoteTopologies}},
	{"ef-signsgd", "error feedback: signs and a scale per chunk each way, the residual kept; rank 0 (server) or each slice's owner (shard) combines the scaled signs by --aggregator (mean: not Byzantine-robust)", "Karimireddy et al. 2019", optimizerKind{
		ef: true, defaultLR: 1e-3, topos: []string{"server", "shard"}}},
}}

// newOptimizer makes cfg's optimizer for a model of d parameters on rank.
func newOptimizer(cfg *Config, d, rank int, rl []Role) (optimizer, error) {
	kind, err := optimizers.parse(cfg.Opt)
	if err != nil {
		return nil, err
	}
	if kind.sign {
		tie, err := kernels.ParseTieRule(cfg.Tie)
		if err != nil {
			return nil, badFlag("--tie: %v", err)
		}
		o := &signOpt{
			signs: kernels.NewSigns(d), result: kernels.NewSigns(d), momentum: make([]float32, d),
			beta: float32(cfg.Momentum), tie: tie, seed: cfg.Seed, topology: cfg.Topology,
		}
		if kind.stochastic {
			o.sto = &stoSign{b: float32(cfg.StoB), seed: cfg.Seed, rank: rank}
		}
		return o, nil
	}
	agg, err := aggregators.parse(cfg.Aggregator)
	if err != nil {
		return nil, err
	}
	pre, arg, err := parsePre(cfg.Pre)
	if err != nil {
		return nil, err
	}
	s := &serverAggregate{agg: agg, pre: pre, rl: rl,
		st: aggState{f: cfg.Byzantine, trim: cfg.Trim, krumM: cfg.KrumM, geoIters: cfg.GeomedIters,
			geoTol: cfg.GeomedTol, cclipRadius: cfg.CclipRadius, cclipIters: cfg.CclipIters},
		ps: preState{f: cfg.Byzantine, arg: arg, seed: cfg.Seed}}
	s.meanOfAll = cfg.Aggregator == "mean" && cfg.Pre == "" && allHonest(rl)
	if cfg.Trim < 0 {
		s.st.trim = cfg.Byzantine
	}
	if cfg.Aggregator == "cclip" {
		s.st.center = make([]float32, d)
	}
	if kind.ef {
		return newEFOpt(s, d, cfg.Topology), nil
	}
	o := &sgdOpt{topology: cfg.Topology}
	adversaries := cfg.Blind+cfg.Byzantine > 0
	if cfg.Topology == "server" && (cfg.Aggregator != "mean" || cfg.Pre != "" || adversaries) {
		o.server = s
	}
	return o, nil
}

// sgdOpt is distributed SGD: blind ranks invert their gradient, Byzantines
// attack, the gradients are combined (collective.Mean, or rank 0's
// aggregator) and every rank takes x <- x - lr (update + lambda x).
type sgdOpt struct {
	topology string
	server   *serverAggregate // nil: the collective's mean
}

func (o *sgdOpt) step(s *stepEnv, g []float32) error {
	if s.role == Blind {
		kernels.Scale(g, -1)
	}
	if err := s.atk.grads(s.c, g, s.step); err != nil {
		return err
	}
	var err error
	if o.server != nil {
		err = o.server.exchange(s.c, g, s.step)
	} else {
		err = collective.Mean(s.c, o.topology, g)
	}
	if err != nil {
		return err
	}
	kernels.ApplyGradStep(s.params, g, s.lr, s.wd)
	return nil
}

func (o *sgdOpt) state() []float32 {
	if o.server != nil {
		return o.server.st.center
	}
	return nil
}

// signOpt is SIGNSGD (beta 0) and SIGNUM: momentum and packed signs in one
// pass, blind ranks negate, Byzantines attack, the majority vote over the
// topology, and x <- x - lr (sign(V) + lambda x) straight from the bits.
type signOpt struct {
	signs, result kernels.Signs
	momentum      []float32
	beta          float32
	tie           kernels.TieRule
	seed          uint64
	topology      string
	sto           *stoSign   // sto-signsgd, sto-signum: stochastic signs of the momentum
	code          *codeState // --code: the partitions' momenta and signs (code.go)
}

func (o *signOpt) step(s *stepEnv, g []float32) error {
	if o.sto != nil {
		kernels.Momentum(o.momentum, g, o.beta)
		o.sto.pack(o.signs, o.momentum, s.step)
	} else {
		kernels.MomentumSigns(o.signs, o.momentum, g, o.beta)
	}
	return o.vote(s)
}

// vote is the step once this rank's signs are packed: blind ranks negate,
// Byzantines attack, the vote, the update.
func (o *signOpt) vote(s *stepEnv) error {
	if s.role == Blind {
		o.signs.Negate()
	}
	if err := s.atk.signs(s.c, o.signs, o.momentum, s.step, s.tally); err != nil {
		return err
	}
	opt := kernels.VoteOptions{Tie: o.tie, Seed: o.seed*0x100000001b3 + uint64(s.step)}
	var err error
	if s.q != nil {
		err = s.q.Vote(s.c, o.signs, o.result, opt) // server topology, with a deadline
	} else {
		err = collective.Vote(s.c, o.topology, o.signs, o.result, opt)
	}
	if err != nil {
		return err
	}
	s.atk.measure(s.c.Rank(), o.result)
	kernels.ApplySignStep(s.params, o.result, s.lr, s.wd)
	return nil
}

func (o *signOpt) state() []float32 {
	if o.code != nil {
		return o.code.momBuf
	}
	return o.momentum
}
