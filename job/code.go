package job

// Election coding (Sohn, Han, Choi and Moon 2020, "Election Coding for
// Distributed Learning: Protecting SignSGD against Byzantine Attacks", the
// paper's [11]): the training rows are cut into M partitions, the
// --partition's parts (one per rank); worker j is assigned a set A_j of
// them, computes one gradient per partition of A_j each step (a batch from
// each), takes each one's sign (of its own momentum, for signum) and votes
// the majority of those signs; the server's vote over the workers, the
// blind and Byzantine ranks and the attacks are signsgd's unchanged.
//
//	partitions   P_0 ... P_{M-1}            (--partition: iid, dirichlet, shards)
//	worker j     for p in A_j: g_p -> v_p = (1-beta) g_p + beta v_p -> sign(v_p)
//	             vote_j = majority_{p in A_j} sign(v_p)   (ties give 0)
//	server       majority_j vote_j                         (--topology, --tie)
//
// --code repetition:R (R divides M) is the repetition code: the workers
// fall into M/R groups of R consecutive ranks, and every worker of group k
// holds the same R partitions kR, ..., kR+R-1. The honest workers of a
// group compute the same batches (a partition's batches and its gradient's
// seed depend on the partition, not on who computes it), so they send the
// same vote, and the honest vote is S = R sum_k m_k with m_k the group's
// local majority: where S is not zero |S| >= R, and b Byzantines move the
// sum by at most 2b, so for b <= (R-1)/2 the result is the vote of the
// same workers all honest (tolerance). That target is the majority of
// the groups' majorities, which is the majority of all M partitions' signs
// only for R = M (or R = 1, no coding).
//
// --code deterministic:B has Sohn et al.'s stronger target: the result is
// the majority of all M partitions' signs, mu = sign(sum_p s_p), wherever
// that is not a tie, with up to B Byzantine workers placed anywhere and
// voting anything (perfect B-Byzantine tolerance; B defaults to the job's
// --byzantine plus --blind, and 2B+1 <= M). The allocation
// (deterministicAllocation):
//
//	ranks 0 .. k-1       every partition: k = 2B+1, or 2B+2 when M is even
//	ranks k, k+1 (pair)  two disjoint halves of the partitions but one, that
//	                     one moving on by one partition from pair to pair
//
// Why it holds: say mu = +1, so sum_p s_p >= 1. A worker holding every
// partition votes +1. Of a pair (S, T, leaving out partition q), if S
// votes -1 then sum_S <= -1 and sum_T = sum_p s_p - sum_S - s_q >= 1 + 1
// - 1, so T votes +1; if S votes 0, T votes +1 or 0: a pair adds at least
// 0. The honest votes sum to at least k >= 2B+1, and B Byzantines take at
// most 2B from it, so the server's sign is +1. B = 0 needs no coding (a
// partition a worker sums to mu's sign), so B = 0 is the identity. The
// price is computation: the k full workers compute M gradients a step and
// the others about (M-1)/2, and the step waits for the slowest. On M = 5
// and B = 1, an exhaustive search over every allocation of odd-sized sets
// finds no smaller total (19 gradients a step) and none whose largest
// load is below M; the paper's own construction was not at hand when this
// was written, so this one is derived and checked here, not transcribed
// (TestDeterministicCodeTolerance: exhaustive over small M).
//
// --code bernoulli:P assigns each partition to each worker with
// probability P (seeded by --seed, at least one partition a worker): Sohn
// et al.'s random Bernoulli code, robust with high probability only, so
// its tolerance is reported as 0.
//
// Each worker computes |A_j| gradients a step instead of one: R with the
// repetition code, about P M with the Bernoulli one; the metrics report
// the mean over the ranks (grads_per_step, grads_per_step_max).

import (
	"math/rand/v2"
	"slices"
	"strconv"
	"strings"

	"signsgd/data"
	"signsgd/kernels"
)

// codeSpec is a parsed --code.
type codeSpec struct {
	name string  // "" (none), "repetition", "deterministic" or "bernoulli"
	r    int     // repetition
	b    int     // deterministic: Byzantines tolerated
	p    float64 // bernoulli
}

// codeNames are the schemes --code takes, for its usage.
const codeNames = "repetition:R (R divides --workers), deterministic[:B] (the majority of all partitions with B Byzantines; B defaults to the job's adversaries), bernoulli:P (0 < P <= 1)"

// parseCode reads --code for m workers of which adversaries are blind or
// Byzantine; "" is no coding.
func parseCode(v string, m, adversaries int) (codeSpec, error) {
	if v == "" {
		return codeSpec{}, nil
	}
	name, arg, hasArg := strings.Cut(v, ":")
	switch name {
	case "repetition":
		r, err := strconv.Atoi(arg)
		if err != nil || r < 1 {
			return codeSpec{}, badFlag("--code %s: want repetition:R with R a positive integer", v)
		}
		if m%r != 0 {
			return codeSpec{}, badFlag("--code %s: R = %d must divide --workers %d (the ranks fall into groups of R that hold the same R partitions)", v, r, m)
		}
		return codeSpec{name: name, r: r}, nil
	case "deterministic":
		b := adversaries
		if hasArg {
			var err error
			if b, err = strconv.Atoi(arg); err != nil || b < 0 {
				return codeSpec{}, badFlag("--code %s: want deterministic or deterministic:B with B a count of Byzantine workers", v)
			}
		}
		if 2*b+1 > m {
			return codeSpec{}, badFlag("--code %s: tolerating %d Byzantines takes 2B+1 = %d workers, more than --workers %d", v, b, 2*b+1, m)
		}
		return codeSpec{name: name, b: b}, nil
	case "bernoulli":
		p, err := strconv.ParseFloat(arg, 64)
		if err != nil || !(p > 0 && p <= 1) {
			return codeSpec{}, badFlag("--code %s: want bernoulli:P with 0 < P <= 1", v)
		}
		return codeSpec{name: name, p: p}, nil
	}
	return codeSpec{}, badFlag("--code %s: unknown code (want %s)", v, codeNames)
}

// checkCode is config validation of --code: it parses against --workers
// and runs with the deterministic signs (signsgd, signum) only.
func (c *Config) checkCode(kind optimizerKind) error {
	sp, err := parseCode(c.Code, c.Workers, c.Byzantine+c.Blind)
	if err != nil || sp.name == "" {
		return err
	}
	if !kind.sign || kind.stochastic {
		return badFlag("--code %s: election coding votes the signs of signsgd or signum, not --opt %s", c.Code, c.Opt)
	}
	return nil
}

// allocation returns, for each of m workers, the partitions it holds in
// increasing order.
func (sp codeSpec) allocation(m int, seed uint64) [][]int {
	switch sp.name {
	case "repetition":
		return repetitionAllocation(m, sp.r)
	case "deterministic":
		return deterministicAllocation(m, sp.b)
	case "bernoulli":
		return bernoulliAllocation(m, sp.p, seed)
	}
	return identityAllocation(m)
}

// identityAllocation gives worker j partition j alone: no coding.
func identityAllocation(m int) [][]int {
	out := make([][]int, m)
	for j := range out {
		out[j] = []int{j}
	}
	return out
}

// repetitionAllocation gives worker j the R partitions of its group j/R.
func repetitionAllocation(m, r int) [][]int {
	out := make([][]int, m)
	for j := range out {
		g := j / r
		for p := g * r; p < g*r+r; p++ {
			out[j] = append(out[j], p)
		}
	}
	return out
}

// deterministicAllocation is --code deterministic:B's: the first k ranks
// hold every partition (k = 2B+1, one more when m - 2B - 1 is odd), the
// others go in pairs; pair i leaves out partition i mod m, the holder of
// the pair's first rank takes the next (m-1)/2 partitions after it
// (cyclically) and the second the rest. B = 0 is the identity (no coding).
func deterministicAllocation(m, b int) [][]int {
	if b == 0 {
		return identityAllocation(m)
	}
	out := make([][]int, m)
	k := 2*b + 1
	if (m-k)%2 == 1 {
		k++
	}
	all := make([]int, m)
	for p := range all {
		all[p] = p
	}
	for j := range k {
		out[j] = slices.Clone(all)
	}
	half := (m - 1) / 2
	for i, j := 0, k; j+1 < m; i, j = i+1, j+2 {
		q := i % m
		for n := 1; n < m; n++ {
			p := (q + n) % m
			if n <= half {
				out[j] = append(out[j], p)
			} else {
				out[j+1] = append(out[j+1], p)
			}
		}
		slices.Sort(out[j])
		slices.Sort(out[j+1])
	}
	return out
}

// bernoulliAllocation gives each worker each of m partitions with
// probability p, drawn from seed; a worker left with none gets one drawn
// uniformly.
func bernoulliAllocation(m int, p float64, seed uint64) [][]int {
	rng := rand.New(rand.NewPCG(seed^0xe1ec7c0de, uint64(m)))
	out := make([][]int, m)
	for j := range out {
		for q := 0; q < m; q++ {
			if rng.Float64() < p {
				out[j] = append(out[j], q)
			}
		}
		if len(out[j]) == 0 {
			out[j] = []int{rng.IntN(m)}
		}
	}
	return out
}

// tolerance is the number of Byzantine workers, placed anywhere and
// voting anything, under which the code's result equals its target
// wherever the target is not a tie: (R-1)/2 for the repetition code
// (target: the vote of the same workers all honest), B for the
// deterministic code (target: the majority of all partitions' signs), 0
// for the Bernoulli code (no guarantee) and for no coding (one Byzantine
// flips a vote won by one).
func (sp codeSpec) tolerance() int {
	switch sp.name {
	case "repetition":
		return (sp.r - 1) / 2
	case "deterministic":
		return sp.b
	}
	return 0
}

// honestVote marks, in codedVote's votes, a worker that sends its local
// majority.
const honestVote = 2

// codedVote is the vote of the workers as the coded job computes it, one
// coordinate: partition signs in {-1, 0, 1}, each worker's local majority
// over its partitions (0 on a tie), except where votes[j] is not
// honestVote (nil: all honest), then the sign of the sum (0 on a tie). It
// is the reference of the tests; the run computes the same with
// kernels.Vote on packed signs.
func codedVote(alloc [][]int, parts, votes []int) int {
	sum := 0
	for j, a := range alloc {
		if votes != nil && votes[j] != honestVote {
			sum += votes[j]
			continue
		}
		local := 0
		for _, p := range a {
			local += parts[p]
		}
		sum += sign(local)
	}
	return sign(sum)
}

func sign(x int) int {
	switch {
	case x > 0:
		return 1
	case x < 0:
		return -1
	}
	return 0
}

// codeState is a coded signOpt's: per assigned partition, its momentum (a
// slice of one buffer, what a checkpoint keeps) and its signs.
type codeState struct {
	parts  []int // the partitions this rank holds
	moms   [][]float32
	momBuf []float32
	signs  []kernels.Signs
}

func newCodeState(parts []int, d int) *codeState {
	cs := &codeState{parts: parts, momBuf: make([]float32, len(parts)*d)}
	for i := range parts {
		cs.moms = append(cs.moms, cs.momBuf[i*d:(i+1)*d:(i+1)*d])
		cs.signs = append(cs.signs, kernels.NewSigns(d))
	}
	return cs
}

// partSigns folds the gradient of this rank's i-th partition into that
// partition's momentum and signs.
func (o *signOpt) partSigns(i int, g []float32) {
	kernels.MomentumSigns(o.code.signs[i], o.code.moms[i], g, o.beta)
}

// codedStep is the step after every partition's signs: the local majority
// is this rank's vote (and the partitions' mean momentum what the
// float-reading attacks see of it), then signsgd's exchange.
func (o *signOpt) codedStep(s *stepEnv) error {
	cs := o.code
	localVote(o.signs, cs.signs)
	clear(o.momentum)
	for _, m := range cs.moms {
		for k, x := range m {
			o.momentum[k] += x
		}
	}
	kernels.Scale(o.momentum, 1/float32(len(cs.moms)))
	return o.vote(s)
}

// localVote is a worker's vote under coding: the majority of its
// partitions' signs, 0 on a tie.
func localVote(dst kernels.Signs, parts []kernels.Signs) {
	kernels.Vote(dst, parts, kernels.VoteOptions{Tie: kernels.TieZero})
}

// codedEpoch is one epoch's batches of each partition this rank holds.
type codedEpoch struct {
	pfs []*data.Prefetcher
}

// startCodedEpoch starts loading the batches of every partition this rank
// holds.
func (r *run) startCodedEpoch(epoch int) *codedEpoch {
	ce := &codedEpoch{}
	for _, p := range r.code.parts {
		ce.pfs = append(ce.pfs, data.NewPrefetcher(r.train, r.partBatches(p, epoch), r.batch, epoch, 1))
	}
	return ce
}

// partBatches is partition p's batches of an epoch, as training rows:
// those p's own rank draws without coding, whichever rank asks, so every
// holder of p computes the same gradients.
func (r *run) partBatches(p, epoch int) [][]int {
	rows := r.parts[p]
	var b [][]int
	if r.cfg.Partition == "" {
		b = data.Batches(len(rows), r.batch, r.cfg.Seed, p, epoch)
	} else {
		b = data.CycleBatches(len(rows), r.batch, r.steps, r.cfg.Seed, p, epoch)
	}
	for _, bb := range b {
		for k, i := range bb {
			bb[k] = rows[i]
		}
	}
	return b
}

func (ce *codedEpoch) close() {
	for _, pf := range ce.pfs {
		pf.Close()
	}
}

// codedTrainStep computes the gradient of a batch of every partition this
// rank holds (labels flipped for a label-flipping Byzantine), folds each
// into its signs, and runs the coded step.
func (r *run) codedTrainStep(env *stepEnv, ce *codedEpoch, st *epochStats) error {
	o := r.opt.(*signOpt)
	var loss float64
	for i, p := range r.code.parts {
		x, y, err := ce.pfs[i].Next()
		if err != nil {
			return err
		}
		if r.atk.flipsLabels(r.rank) {
			flipLabels(y, r.classes)
		}
		loss += r.model.LossGrad(x, y, len(y), r.cfg.Seed^uint64(p)<<40^uint64(r.step))
		o.partSigns(i, r.model.Grads())
	}
	if r.rl[r.rank] != Byzantine {
		st.lossSum += loss / float64(len(r.code.parts))
		st.batches++
	}
	st.grads += float64(len(r.code.parts))
	return o.codedStep(env)
}
