package job

import (
	"fmt"
	"math"
	"math/bits"
	"math/rand/v2"
	"slices"

	"signsgd/collective"
	"signsgd/kernels"
)

// An attack is what the Byzantine ranks send instead of their own gradient
// (SGD) or sign (SIGNSGD, SIGNUM). It has a gradient form, a sign form or
// both; an optimizer refuses an attack without its form.
//
// The Byzantines' omniscience is a real round before the exchange
// (TagAttack, counted apart from the algorithm's bytes): the other ranks
// send what they are about to send to the lowest Byzantine rank, the
// leader, which plans every Byzantine's vector and sends each its own. An
// attack that needs nothing but the Byzantine's own gradient runs with no
// round for SGD; for the signs the round runs with every attack, so the
// leader can count what the attack did to the honest majority.
type attack struct {
	grad *gradAttack
	sign *signAttack
	// flipLabels: a Byzantine computes its gradient on labels C-1-y.
	flipLabels bool
	// params are the --attack-* flags this attack reads.
	params []string
}

// gradAttack is an attack's gradient form.
type gradAttack struct {
	// round: the leader plans from the other ranks' gradients (rank
	// order) with plan; otherwise every Byzantine applies local to its own.
	round bool
	// leaderOnly (with round): only the leader's vector is planned, the
	// other Byzantines send zeros and need no message.
	leaderOnly bool
	plan       func(p *attackParams, others, out [][]float32)
	local      func(p *attackParams, g []float32)
}

// signAttack is an attack's sign form.
type signAttack struct {
	// floats: the round carries the other ranks' momenta (float32) rather
	// than their packed signs.
	floats bool
	// plan (nil: local) gives every Byzantine's vote from the other
	// ranks' signs (and momenta, with floats), adding what the votes do to
	// the others' sum into tally.
	plan func(p *attackParams, others []kernels.Signs, floats [][]float32, out []kernels.Signs, tally *attackTally)
	// local turns a Byzantine's own signs into its vote, in place.
	local func(p *attackParams, mine kernels.Signs)
}

// attackParams is what an attack may read besides the vectors.
type attackParams struct {
	name       string
	z          float64 // ALIE's z (from the workers and Byzantines unless --attack-z)
	eps        float64 // IPM's epsilon
	sigma      float64 // Gaussian's standard deviation
	scale      float64 // sign flip's factor
	f, workers int
	seed       uint64
	rank, step int // the Byzantine this vector is for, and the step
}

// rng is the generator of Byzantine rank's draws at this step.
func (p *attackParams) rng(rank int) *rand.Rand {
	return rand.New(rand.NewPCG(p.seed^0x9e3779b97f4a7c15, uint64(rank)<<32|uint64(uint32(p.step))))
}

// attacks is the attack registry: --attack.
var attacks = &registry[attack]{flag: "attack", items: []choice[attack]{
	{"paper", "the paper's rule: signs: drive each coordinate's total to 0 or flip it by one vote; sgd: zero-sum", "Akoun & Meyer, section 4", attack{
		grad: zeroSum, sign: &signAttack{plan: planRule("paper")}}},
	{"oppose", "signs: every Byzantine votes against the sign of the others' sum", "", attack{
		sign: &signAttack{plan: planRule("oppose")}}},
	{"zero-sum", "sgd: one Byzantine sends minus the sum of the others' gradients, the rest zeros, so the sum is 0", "Akoun & Meyer, section 4", attack{
		grad: zeroSum}},
	{"alie", "a little is enough: the others' mean minus z times their per-coordinate std (signs: its sign)", "Baruch et al. 2019", attack{
		grad:   &gradAttack{round: true, plan: planALIE},
		sign:   &signAttack{floats: true, plan: signOfPlan(planALIE)},
		params: []string{"attack-z"}}},
	{"ipm", "inner product manipulation: minus epsilon times the others' mean (signs: its sign)", "Xie et al. 2020", attack{
		grad:   &gradAttack{round: true, plan: planIPM},
		sign:   &signAttack{floats: true, plan: signOfPlan(planIPM)},
		params: []string{"attack-eps"}}},
	{"gaussian", "N(0, sigma^2) noise (signs: uniformly random signs)", "Blanchard et al. 2017", attack{
		grad:   &gradAttack{local: localGaussian},
		sign:   &signAttack{local: localRandomSigns},
		params: []string{"attack-sigma"}}},
	{"signflip", "minus its own gradient times the scale (signs: its own sign negated)", "Allen-Zhu et al. 2021", attack{
		grad:   &gradAttack{local: func(p *attackParams, g []float32) { kernels.Scale(g, float32(-p.scale)) }},
		sign:   &signAttack{local: func(_ *attackParams, s kernels.Signs) { s.Negate() }},
		params: []string{"attack-scale"}}},
	{"labelflip", "an honest gradient on the labels C-1-y", "Allen-Zhu et al. 2021", attack{
		grad:       &gradAttack{local: func(*attackParams, []float32) {}},
		sign:       &signAttack{local: func(*attackParams, kernels.Signs) {}},
		flipLabels: true}},
	{"mimic", "copies the lowest non-Byzantine rank's gradient (or signs)", "Karimireddy et al. 2022", attack{
		grad: &gradAttack{round: true, plan: planMimic},
		sign: &signAttack{plan: planMimicSigns}}},
	{"inf", "sgd: non-finite and huge values (NaN, +Inf, -3e38 in turn)", "ByzFL's Inf", attack{
		grad: &gradAttack{local: localInf}}},
	{"crash", "signs: the Byzantine abstains (sign 0 everywhere)", "", attack{
		sign: &signAttack{local: func(_ *attackParams, s kernels.Signs) { clear(s.NZ); clear(s.Neg) }}}},
}}

// zeroSum is the paper's SGD attack.
var zeroSum = &gradAttack{round: true, leaderOnly: true, plan: func(_ *attackParams, others, out [][]float32) {
	// Sum in rank order, as the server does, so the total is exactly zero.
	kernels.SumFloat32(out[0], others)
	kernels.Scale(out[0], -1)
}}

// alieZ is the z of Baruch et al.'s ALIE for n workers of which f are
// Byzantine: s = floor(n/2 + 1) - f workers must be won over, and z is the
// largest with Phi(z) < (n - s)/n (s is taken as at least 1).
func alieZ(n, f int) float64 {
	s := max(n/2+1-f, 1)
	p := float64(n-s) / float64(n)
	return math.Sqrt2 * math.Erfinv(2*p-1)
}

// meanStd writes the per-coordinate mean and sample standard deviation
// (n-1 in the denominator; 0 for one vector) of vecs, in float64.
func meanStd(mean, std []float32, vecs [][]float32) {
	n := float64(len(vecs))
	for i := range mean {
		var s float64
		for _, v := range vecs {
			s += float64(v[i])
		}
		mu := s / n
		var q float64
		for _, v := range vecs {
			e := float64(v[i]) - mu
			q += e * e
		}
		mean[i] = float32(mu)
		if std != nil {
			if n > 1 {
				std[i] = float32(math.Sqrt(q / (n - 1)))
			} else {
				std[i] = 0
			}
		}
	}
}

// planALIE gives every Byzantine mean - z std of the others' vectors.
func planALIE(p *attackParams, others, out [][]float32) {
	std := make([]float32, len(out[0]))
	meanStd(out[0], std, others)
	z := float32(p.z)
	for i, s := range std {
		out[0][i] -= z * s
	}
	for _, o := range out[1:] {
		copy(o, out[0])
	}
}

// planIPM gives every Byzantine -epsilon times the others' mean.
func planIPM(p *attackParams, others, out [][]float32) {
	meanStd(out[0], nil, others)
	kernels.Scale(out[0], float32(-p.eps))
	for _, o := range out[1:] {
		copy(o, out[0])
	}
}

// planMimic gives every Byzantine the lowest non-Byzantine rank's vector.
func planMimic(_ *attackParams, others, out [][]float32) {
	for _, o := range out {
		copy(o, others[0])
	}
}

func planMimicSigns(_ *attackParams, others []kernels.Signs, _ [][]float32, out []kernels.Signs, tally *attackTally) {
	for _, o := range out {
		o.CopyFrom(others[0])
	}
	tallyVotes(others, out, tally)
}

// signOfPlan is a gradient plan's sign form: plan on the others' momenta,
// vote its signs.
func signOfPlan(plan func(p *attackParams, others, out [][]float32)) func(*attackParams, []kernels.Signs, [][]float32, []kernels.Signs, *attackTally) {
	return func(p *attackParams, others []kernels.Signs, floats [][]float32, out []kernels.Signs, tally *attackTally) {
		v := [][]float32{make([]float32, out[0].N)}
		plan(p, floats, v)
		kernels.PackSigns(out[0], v[0])
		for _, o := range out[1:] {
			o.CopyFrom(out[0])
		}
		tallyVotes(others, out, tally)
	}
}

// planRule is ByzantineVotes' rule as a plan (bit-sliced: planAttack).
func planRule(rule string) func(*attackParams, []kernels.Signs, [][]float32, []kernels.Signs, *attackTally) {
	return func(p *attackParams, others []kernels.Signs, _ [][]float32, out []kernels.Signs, tally *attackTally) {
		for j, v := range planAttack(others, rule, len(out), tally) {
			out[j].CopyFrom(v)
		}
	}
}

func localGaussian(p *attackParams, g []float32) {
	r := p.rng(p.rank)
	for i := range g {
		g[i] = float32(r.NormFloat64() * p.sigma)
	}
}

func localRandomSigns(p *attackParams, s kernels.Signs) {
	r := p.rng(p.rank)
	for w := range s.NZ {
		s.NZ[w] = ^uint64(0)
		s.Neg[w] = r.Uint64()
	}
	s.Canonicalize()
}

// localInf sends NaN, +Inf and -3e38 in turn: the first two are zeroed by
// every aggregator (non-finite values from a peer count as 0), the last is
// a finite value large enough to wreck any mean.
func localInf(_ *attackParams, g []float32) {
	for i := range g {
		switch i % 3 {
		case 0:
			g[i] = float32(math.NaN())
		case 1:
			g[i] = float32(math.Inf(1))
		default:
			g[i] = -3e38
		}
	}
}

// tallyVotes adds to tally what the Byzantines' votes do to the sum of the
// others' signs, a word (64 coordinates) at a time (planAttack counts its
// own rule bit-sliced; tallyVotesNaive, in the tests, coordinate by
// coordinate): with A the sign of the others' sum a and T the sign of
// a + v, v the Byzantines' sum (two tie-zero votes), a coordinate is
// zeroed where A != 0 and T = 0, flipped where both are non-zero and
// differ, and unanimous where every other rank has the same non-zero sign.
// Every vector must be canonical (as decoded ones are).
func tallyVotes(others, byz []kernels.Signs, tally *attackTally) {
	if tally == nil {
		return
	}
	n := others[0].N
	sa, st := kernels.NewSigns(n), kernels.NewSigns(n)
	tie := kernels.VoteOptions{Tie: kernels.TieZero}
	kernels.Vote(sa, others, tie)
	kernels.Vote(st, append(others[:len(others):len(others)], byz...), tie)
	var zeroed, flipped, unanimous int
	for w := range sa.NZ {
		a, t := sa.NZ[w], st.NZ[w]
		zeroed += bits.OnesCount64(a &^ t)
		flipped += bits.OnesCount64(a & t & (sa.Neg[w] ^ st.Neg[w]))
		nzAll, negAll, negAny := ^uint64(0), ^uint64(0), uint64(0)
		for _, o := range others {
			nzAll &= o.NZ[w]
			negAll &= o.Neg[w]
			negAny |= o.Neg[w]
		}
		unanimous += bits.OnesCount64(nzAll & (negAll | ^negAny))
	}
	tally.zeroed += float64(zeroed)
	tally.flipped += float64(flipped)
	tally.unanimous += float64(unanimous)
	tally.coords += float64(n)
}

// attackRound is one step's attack for this rank: what the Byzantines see,
// what they plan, and (on the leader) what it did.
type attackRound struct {
	atk    attack
	p      attackParams
	rl     []Role
	byz    []int // the Byzantine ranks; byz[0] is the leader
	others []int // every other rank, in order

	// The leader's buffers, reused across steps.
	vecs     [][]float32     // the others' gradients or momenta
	planned  [][]float32     // the Byzantines' gradients
	seen     []kernels.Signs // the others' signs
	votes    []kernels.Signs // the Byzantines' votes
	honest   []kernels.Signs // seen, Honest roles only
	majority kernels.Signs   // the honest signs' vote, for disagree
	disagree float64         // coordinates where the vote's result differs from the honest majority
	coords   float64

	att *attendance // under --vote-deadline: the round waits for nobody past it
}

func newAttackRound(cfg *Config, rl []Role, rank int) *attackRound {
	byz, others := splitRoles(rl)
	if len(byz) == 0 {
		return nil
	}
	z := cfg.AttackZ
	if z == 0 {
		z = alieZ(cfg.Workers, cfg.Byzantine)
	}
	a, _ := attacks.parse(cfg.Attack)
	return &attackRound{atk: a, rl: rl, byz: byz, others: others, att: newAttendance(cfg), p: attackParams{
		name: cfg.Attack, z: z, eps: cfg.AttackEps, sigma: cfg.AttackSigma, scale: cfg.AttackScale,
		f: len(byz), workers: len(rl), seed: cfg.Seed, rank: rank,
	}}
}

func (a *attackRound) leader() int { return a.byz[0] }

// flipsLabels says whether rank computes its gradient on flipped labels.
func (a *attackRound) flipsLabels(rank int) bool {
	return a != nil && a.atk.flipLabels && a.rl[rank] == Byzantine
}

// grads runs the gradient form at this step: on return a Byzantine's g is
// what it sends. Other ranks only take part in the round.
func (a *attackRound) grads(c collective.Comm, g []float32, step int) error {
	if a == nil {
		return nil
	}
	ga := a.atk.grad
	me := c.Rank()
	a.p.step = step
	if !ga.round {
		if a.rl[me] == Byzantine {
			ga.local(&a.p, g)
		}
		return nil
	}
	lead := a.leader()
	switch {
	case a.rl[me] != Byzantine:
		if err := a.sendLeader(c, collective.EncodeFloat32s(nil, g)); err != nil {
			return fmt.Errorf("attack round: %w", err)
		}
		return nil
	case me != lead && ga.leaderOnly:
		clear(g)
		return nil
	case me != lead:
		p, ok, err := a.recvPlan(c)
		if err != nil {
			return fmt.Errorf("attack round: %w", err)
		}
		if !ok {
			clear(g)
			return nil
		}
		if err := collective.DecodeFloat32s(g, p); err != nil {
			return fmt.Errorf("attack round: from rank %d: %w", lead, err)
		}
		return nil
	}
	if a.vecs == nil {
		a.vecs = makeVectors(len(a.others), len(g))
		a.planned = make([][]float32, len(a.byz))
		a.planned[0] = g
		for j := 1; j < len(a.byz); j++ {
			if !ga.leaderOnly {
				a.planned[j] = make([]float32, len(g))
			}
		}
	}
	arrived, err := a.recvFloats(c)
	if err != nil {
		return err
	}
	out := a.planned
	if ga.leaderOnly {
		out = out[:1]
	}
	if len(arrived) == 0 {
		for _, o := range out {
			clear(o)
		}
	} else {
		ga.plan(&a.p, arrivedOnly(a.vecs, arrived), out)
	}
	if ga.leaderOnly {
		return nil
	}
	for j, r := range a.byz[1:] {
		if err := a.sendTo(c, r, collective.EncodeFloat32s(nil, a.planned[j+1])); err != nil {
			return fmt.Errorf("attack round: %w", err)
		}
	}
	return nil
}

// recvFloats receives the others' vectors at the leader and returns the
// indices (in a.others) of those that arrived.
func (a *attackRound) recvFloats(c collective.Comm) ([]int, error) {
	deadline := a.roundDeadline()
	var arrived []int
	for i, r := range a.others {
		p, ok, err := a.recvOther(c, r, deadline)
		if err != nil {
			return nil, fmt.Errorf("attack round: %w", err)
		}
		if !ok {
			continue
		}
		if err := collective.DecodeFloat32s(a.vecs[i], p); err != nil {
			return nil, fmt.Errorf("attack round: from rank %d: %w", r, err)
		}
		arrived = append(arrived, i)
	}
	return arrived, nil
}

// signs runs the sign form at this step: on return a Byzantine's mine is
// its vote. momentum is what this rank's signs were packed from (sent
// instead of them when the attack plans on momenta).
func (a *attackRound) signs(c collective.Comm, mine kernels.Signs, momentum []float32, step int, tally *attackTally) error {
	if a == nil {
		return nil
	}
	sa := a.atk.sign
	me, lead := c.Rank(), a.leader()
	a.p.step = step
	if a.rl[me] != Byzantine {
		var msg []byte
		if sa.floats {
			msg = collective.EncodeFloat32s(nil, momentum)
		} else {
			msg = mine.Encode(nil)
		}
		if err := a.sendLeader(c, msg); err != nil {
			return fmt.Errorf("attack round: %w", err)
		}
		return nil
	}
	if sa.plan == nil {
		a.p.rank = me
		sa.local(&a.p, mine)
	}
	if me != lead {
		if sa.plan == nil {
			return nil
		}
		p, ok, err := a.recvPlan(c)
		if err != nil {
			return fmt.Errorf("attack round: %w", err)
		}
		if !ok { // no plan in time: abstain
			clear(mine.NZ)
			clear(mine.Neg)
			return nil
		}
		if err := mine.Decode(p); err != nil {
			return fmt.Errorf("attack round: from rank %d: %w", lead, err)
		}
		return nil
	}
	n := mine.N
	if a.seen == nil {
		a.seen = make([]kernels.Signs, len(a.others))
		for i, r := range a.others {
			a.seen[i] = kernels.NewSigns(n)
			if a.rl[r] == Honest {
				a.honest = append(a.honest, a.seen[i])
			}
		}
		if sa.floats {
			a.vecs = makeVectors(len(a.others), n)
		}
		a.votes = make([]kernels.Signs, len(a.byz))
		a.votes[0] = mine
		for j := 1; j < len(a.byz); j++ {
			a.votes[j] = kernels.NewSigns(n)
		}
	}
	var arrived []int
	if sa.floats {
		var err error
		if arrived, err = a.recvFloats(c); err != nil {
			return err
		}
		for _, i := range arrived {
			kernels.PackSigns(a.seen[i], a.vecs[i])
		}
	} else {
		deadline := a.roundDeadline()
		for i, r := range a.others {
			p, ok, err := a.recvOther(c, r, deadline)
			if err != nil {
				return fmt.Errorf("attack round: %w", err)
			}
			if !ok {
				continue
			}
			if err := a.seen[i].Decode(p); err != nil {
				return fmt.Errorf("attack round: from rank %d: %w", r, err)
			}
			arrived = append(arrived, i)
		}
	}
	if len(arrived) < len(a.others) {
		// Under --vote-deadline: a rank whose signs did not come abstains
		// in the leader's view, and the plan is made from the others.
		for i, s := range a.seen {
			if !slices.Contains(arrived, i) {
				clear(s.NZ)
				clear(s.Neg)
			}
		}
	}
	if sa.plan == nil {
		return nil
	}
	if len(arrived) == 0 {
		for _, v := range a.votes {
			clear(v.NZ)
			clear(v.Neg)
		}
	} else {
		sa.plan(&a.p, arrivedOnly(a.seen, arrived), arrivedOnly(a.vecs, arrived), a.votes, tally)
	}
	for j, r := range a.byz[1:] {
		if err := a.sendTo(c, r, a.votes[j+1].Encode(nil)); err != nil {
			return fmt.Errorf("attack round: %w", err)
		}
	}
	return nil
}

// measure, on the leader after the vote, counts the coordinates where the
// vote's result differs from the sign of the honest ranks' sum (blind and
// Byzantine ranks excluded): that sign is the honest signs' tie-zero vote,
// and the count a popcount of the words where the two differ (result and
// the honest signs are canonical). The tests hold it to the count from the
// sums, coordinate by coordinate.
func (a *attackRound) measure(me int, result kernels.Signs) {
	if a == nil || me != a.leader() || a.atk.sign == nil || len(a.honest) == 0 {
		return
	}
	if a.majority.N != result.N {
		a.majority = kernels.NewSigns(result.N)
	}
	kernels.Vote(a.majority, a.honest, kernels.VoteOptions{Tie: kernels.TieZero})
	a.disagree += float64(signsDiffer(a.majority, result))
	a.coords += float64(result.N)
}

// signsDiffer counts the coordinates where two canonical sign vectors of
// the same length differ.
func signsDiffer(x, y kernels.Signs) int {
	n := 0
	for w, nz := range x.NZ {
		n += bits.OnesCount64((nz ^ y.NZ[w]) | (x.Neg[w] ^ y.Neg[w]))
	}
	return n
}

// takeDisagreement returns and resets what measure counted.
func (a *attackRound) takeDisagreement() (disagree, coords float64) {
	if a == nil {
		return 0, 0
	}
	d, c := a.disagree, a.coords
	a.disagree, a.coords = 0, 0
	return d, c
}

func makeVectors(n, d int) [][]float32 {
	out := make([][]float32, n)
	for i := range out {
		out[i] = make([]float32, d)
	}
	return out
}
