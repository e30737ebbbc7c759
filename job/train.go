package job

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"syscall"
	"time"

	"signsgd/collective"
	"signsgd/data"
	"signsgd/kernels"
)

// Model is what the training loop needs of a network (nn.Net): flat
// parameters and gradient, a training step's loss and gradient, and an
// evaluation pass.
type Model interface {
	Params() []float32
	Grads() []float32
	LossGrad(x, y []float32, b int, seed uint64) float64
	Eval(x, y []float32, b int) (lossSum float64, top1, top5 int)
}

// epochStats is what every rank reports to rank 0 after an epoch.
type epochStats struct {
	lossSum            float64 // over this rank's batches (0 for Byzantines)
	batches            float64
	algoSent, algoRecv float64 // bytes of the vote or mean
	attackSent         float64 // bytes of the attack round
	stepSeconds        float64
	attack             attackTally // the Byzantine leader's; zero elsewhere
	// The Byzantine leader's count of coordinates where the vote differed
	// from the honest majority, out of disagreeCoords.
	disagree, disagreeCoords float64
	// Rank 0's aggregator: steps measured, and the sums of the cosine and
	// relative L2 distance to the honest ranks' mean.
	devSteps, cosine, relDist float64
	// --sim-link: this rank's simulated time over the epoch, and of it
	// its compute.
	simSeconds, simCompute float64
	// Gradients computed this epoch (with --code).
	grads float64
}

// fields lists the statistics in their wire order.
func (s *epochStats) fields() []*float64 {
	return []*float64{&s.lossSum, &s.batches, &s.algoSent, &s.algoRecv, &s.attackSent, &s.stepSeconds,
		&s.attack.coords, &s.attack.unanimous, &s.attack.flipped, &s.attack.zeroed,
		&s.disagree, &s.disagreeCoords, &s.devSteps, &s.cosine, &s.relDist, &s.simSeconds, &s.simCompute, &s.grads}
}

// statsFields is the number of float64 in an encoded epochStats.
var statsFields = len((&epochStats{}).fields())

func (s epochStats) encode() []byte {
	var b []byte
	for _, v := range s.fields() {
		b = binary.LittleEndian.AppendUint64(b, math.Float64bits(*v))
	}
	return b
}

func decodeStats(b []byte) (epochStats, error) {
	var s epochStats
	if len(b) != statsFields*8 {
		return s, fmt.Errorf("epoch statistics of %d bytes, want %d", len(b), statsFields*8)
	}
	for i, v := range s.fields() {
		*v = math.Float64frombits(binary.LittleEndian.Uint64(b[8*i:]))
	}
	return s, nil
}

// algoTags are the tags of the optimizers' own traffic.
var algoTags = []collective.Tag{collective.TagVote, collective.TagVoteResult, collective.TagVoteDigest, collective.TagMean, collective.TagMeanResult}

// evalBatch is the batch size of evaluation passes.
func evalBatch(cfg *Config) int {
	if cfg.Dataset == "imagenet" || cfg.Dataset == "imagenet-synthetic" {
		return 16
	}
	return 500
}

// evaluate runs the model over (up to limit samples of) src and returns
// the mean loss, top-1 and top-5 accuracy (NaN for regression).
func evaluate(model Model, src data.Source, batch, limit int) (loss, acc1, acc5 float64, err error) {
	n := src.Len()
	if limit > 0 {
		n = min(n, limit)
	}
	size := data.SampleSize(src)
	x := make([]float32, batch*size)
	y := make([]float32, batch)
	idx := make([]int, 0, batch)
	var lossSum float64
	var top1, top5 int
	for lo := 0; lo < n; lo += batch {
		idx = idx[:0]
		for i := lo; i < min(lo+batch, n); i++ {
			idx = append(idx, i)
		}
		if err := src.Batch(x, y, idx, 0); err != nil {
			return 0, 0, 0, err
		}
		l, t1, t5 := model.Eval(x[:len(idx)*size], y[:len(idx)], len(idx))
		lossSum += l
		top1 += t1
		top5 += t5
	}
	loss = lossSum / float64(n)
	if src.NumClasses() == 0 {
		return loss, math.NaN(), math.NaN(), nil
	}
	return loss, float64(top1) / float64(n), float64(top5) / float64(n), nil
}

// wideThreads gives this rank the n cores the job holds on its node until
// the returned function restores its own share: for the last evaluation,
// which rank 0 runs while every other rank waits for the end (in earlier
// epochs they are computing the next one's steps). The kernels' results
// do not depend on their threads, so neither do the metrics.
func wideThreads(n int) (restore func()) {
	procs, threads, blas := runtime.GOMAXPROCS(0), kernels.Threads(), kernels.BLASThreads()
	if n <= threads {
		return func() {}
	}
	runtime.GOMAXPROCS(n)
	kernels.SetThreads(n)
	kernels.SetBLASThreads(n)
	return func() {
		kernels.SetThreads(threads)
		kernels.SetBLASThreads(blas)
		runtime.GOMAXPROCS(procs)
	}
}

// Train runs one rank of the job described by cfg over c until the last
// epoch, then checks every rank ends with the same model. Rank 0 writes
// DIR/metrics.jsonl (a line per epoch) and DIR/summary.json, and prints a
// progress line per epoch to out (and, in long epochs, every
// progressEvery while it runs). With --checkpoint-every every rank writes
// its state after those epochs; with --resume it starts from the newest
// checkpoint every rank holds intact.
func Train(cfg *Config, c collective.Comm, out io.Writer) error {
	r, err := newRun(cfg, c, out)
	if err != nil {
		return err
	}
	defer r.close()
	for epoch := r.firstEpoch; epoch < cfg.Epochs; epoch++ {
		if err := r.epoch(epoch); err != nil {
			return err
		}
	}
	return r.finish()
}

// run is one rank's training: what it holds from start to end.
type run struct {
	cfg         *Config
	c           collective.Comm
	q           *collective.Quorum
	out         io.Writer
	start       time.Time
	rank, m     int
	model       Model
	train, test data.Source
	shard       []int      // this rank's training rows
	parts       [][]int    // every rank's training rows (the partitions, for --code)
	code        *codeState // --code: the partitions this rank holds
	batch       int        // per rank
	steps       int        // per epoch
	sample      int        // floats per sample
	classes     int
	rl          []Role
	opt         optimizer
	atk         *attackRound
	beforeStep  func(step int) error // the fault-injection hook, if any

	firstEpoch, step int
	records          []Record
	last             Record
	dropped          []int
	mw               *metricsWriter
	lock             *outLock // rank 0's hold on --out
	startID          string   // this start's identity, made by rank 0
	runID            string   // the run's: startID, or the resumed checkpoints'
	ckpts            ckptKeeper
	clock            collective.SimClock // --sim-link: this rank's simulated clock
	simComputed      float64             // simulated seconds of compute so far
}

// newRun loads the data and the model, places the adversaries, makes the
// optimizer, resumes from a checkpoint if asked and, on rank 0, starts
// the output files.
func newRun(cfg *Config, c collective.Comm, out io.Writer) (_ *run, err error) {
	r := &run{cfg: cfg, c: c, out: out, start: time.Now(), rank: c.Rank(), m: c.Size()}
	r.clock, _ = c.(collective.SimClock)
	if r.m != cfg.Workers {
		return nil, fmt.Errorf("rank %d: the job has %d ranks, --workers says %d", r.rank, r.m, cfg.Workers)
	}
	defer func() {
		if err != nil {
			r.close()
		}
	}()
	if r.startID, err = r.agree(); err != nil {
		return nil, err
	}
	r.removeTemporaries()
	if r.train, r.test, err = r.loadData(); err != nil {
		return nil, inputError(err)
	}
	model, err := newModel(cfg, r.train)
	if err != nil {
		return nil, err
	}
	r.model = model
	n := r.train.Len()
	if cfg.TrainLimit > 0 {
		n = min(n, cfg.TrainLimit)
	}
	if n < r.m {
		return nil, inputError(fmt.Errorf("%d training samples for %d ranks: every rank needs at least one (raise --samples or --train-limit, or lower --workers)", n, r.m))
	}
	parts, labels, err := r.partitionRows(n)
	if err != nil {
		return nil, err
	}
	r.shard, r.parts = parts[r.rank], parts
	r.batch = data.PerWorkerBatch(cfg.Batch, r.m)
	r.steps = partitionSteps(cfg, len(r.shard), n, r.m, r.batch)
	r.sample = data.SampleSize(r.train)
	r.classes = r.train.NumClasses()
	r.rl = roles(r.m, cfg.Blind, cfg.Byzantine)
	d := len(model.Params())
	if r.opt, err = newOptimizer(cfg, d, r.rank, r.rl); err != nil {
		return nil, err
	}
	if cfg.Code != "" {
		sp, err := parseCode(cfg.Code, r.m, cfg.Byzantine+cfg.Blind)
		if err != nil {
			return nil, err
		}
		r.code = newCodeState(sp.allocation(r.m, cfg.Seed)[r.rank], d)
		r.opt.(*signOpt).code = r.code
	}
	r.atk = newAttackRound(cfg, r.rl, r.rank)
	if cfg.voteDeadline > 0 {
		r.q = collective.NewQuorum(r.m, cfg.voteDeadline, cfg.DropAfter)
	}
	if r.rank == cfg.FaultRank {
		r.beforeStep = func(step int) error {
			if step != cfg.FaultStep {
				return nil
			}
			return injectFault(cfg, model.Params())
		}
	}
	r.keepRun()
	if cfg.Resume {
		ck, err := r.resume()
		if err != nil {
			return nil, err
		}
		if ck != nil {
			r.firstEpoch, r.step, r.records = ck.Epoch, ck.Step, ck.records
		}
	}
	if len(r.records) > 0 {
		r.last = r.records[len(r.records)-1]
	}
	if r.rank == 0 {
		if err := r.startOutput(d); err != nil {
			return nil, err
		}
		if err := writePartition(cfg, parts, labels, r.classes, n, r.rl); err != nil {
			return nil, err
		}
	}
	return r, nil
}

// startOutput, on rank 0, prepares --out: config.json, a fresh
// metrics.jsonl holding the resumed epochs, no stale summary.json.
func (r *run) startOutput(d int) error {
	cfg := r.cfg
	if err := prepareOut(cfg.Out); err != nil {
		return err
	}
	// Results of an earlier run in the same folder would be misleading.
	if err := os.Remove(filepath.Join(cfg.Out, "summary.json")); err != nil && !errors.Is(err, os.ErrNotExist) {
		return err
	}
	if err := writeJSONAtomic(filepath.Join(cfg.Out, "config.json"), cfg); err != nil {
		return fmt.Errorf("--out %s: %w", cfg.Out, err)
	}
	if cfg.Resume {
		checkMetricsTail(filepath.Join(cfg.Out, "metrics.jsonl"), len(r.records), func(msg string) { fmt.Fprintf(r.out, "resume: %s\n", msg) })
	}
	mw, err := createMetrics(filepath.Join(cfg.Out, "metrics.jsonl"), r.records)
	if err != nil {
		return err
	}
	r.mw = mw
	if !cfg.Quiet && cfg.ListenFD == 0 {
		fmt.Fprintf(r.out, "signsgd: %s on %s/%s (%d parameters), %d ranks, batch %d per rank, %d steps per epoch\n",
			cfg.Opt, cfg.Dataset, cfg.Model, d, r.m, r.batch, r.steps)
	}
	return nil
}

// epochBatches is this rank's batches of an epoch, as training rows.
func (r *run) epochBatches(epoch int) [][]int {
	batches := r.partitionBatches(epoch)
	for _, b := range batches {
		for j, p := range b {
			b[j] = r.shard[p]
		}
	}
	return batches
}

// epoch trains one epoch, then has rank 0 record it, and checkpoints.
func (r *run) epoch(epoch int) error {
	cfg := r.cfg
	lr := float32(cfg.lrAt(epoch))
	var st epochStats
	abstained := map[int]int{}
	before := r.c.Traffic()
	sim0, simCompute0 := r.simTimes()
	t0 := time.Now()
	lastProgress := t0
	batches := r.epochBatches(epoch)
	var pf *data.Prefetcher
	var ce *codedEpoch
	if r.code != nil {
		ce = r.startCodedEpoch(epoch)
		defer ce.close()
	} else {
		pf = data.NewPrefetcher(r.train, batches, r.batch, epoch, 2)
		defer pf.Close()
	}
	env := stepEnv{c: r.c, q: r.q, role: r.rl[r.rank], atk: r.atk, params: r.model.Params(),
		lr: lr, wd: float32(cfg.WeightDecay), tally: &st.attack}
	for bi := range batches {
		r.c.SetStep(uint32(r.step))
		if r.beforeStep != nil {
			if err := r.beforeStep(r.step); err != nil {
				return err
			}
		}
		env.step = r.step
		if ce != nil {
			if err := r.codedTrainStep(&env, ce, &st); err != nil {
				return fmt.Errorf("epoch %d step %d: %w", epoch+1, r.step, err)
			}
		} else {
			x, y, err := pf.Next()
			if err != nil {
				return fmt.Errorf("epoch %d step %d: loading data: %w", epoch+1, r.step, err)
			}
			nb := len(batches[bi])
			if err := r.trainStep(&env, x[:nb*r.sample], y[:nb], nb, &st); err != nil {
				return fmt.Errorf("epoch %d step %d: %w", epoch+1, r.step, err)
			}
		}
		for _, k := range r.q.Abstained() {
			abstained[k]++
		}
		r.dropped = append(r.dropped, r.q.TakeDropped()...)
		if err := r.checkWorkers(); err != nil {
			return fmt.Errorf("epoch %d step %d: %w", epoch+1, r.step, err)
		}
		r.step++
		if cfg.DigestEvery > 0 && r.step%cfg.DigestEvery == 0 {
			if _, err := compareModels(r.c, r.q, env.params, fmt.Sprintf("after step %d", r.step)); err != nil {
				return err
			}
		}
		if r.rank == 0 && !cfg.Quiet && time.Since(lastProgress) >= progressEvery {
			lastProgress = time.Now()
			r.progress(epoch, bi+1, t0)
		}
	}
	st.stepSeconds = time.Since(t0).Seconds()
	sim1, simCompute1 := r.simTimes()
	st.simSeconds, st.simCompute = sim1-sim0, simCompute1-simCompute0
	r.countTraffic(&st, before, r.c.Traffic())
	if err := r.record(epoch, lr, st, abstained); err != nil {
		return err
	}
	return r.checkpoint(epoch)
}

// trainStep is one step: the batch's loss and gradient, then the
// optimizer's exchange and update.
func (r *run) trainStep(env *stepEnv, x, y []float32, nb int, st *epochStats) error {
	if r.atk.flipsLabels(r.rank) {
		flipLabels(y, r.classes)
	}
	var loss float64
	r.compute(func() { loss = r.model.LossGrad(x, y, nb, r.cfg.Seed^uint64(r.rank)<<40^uint64(r.step)) })
	if r.rl[r.rank] != Byzantine {
		st.lossSum += loss
		st.batches++
	}
	return r.opt.step(env, r.model.Grads())
}

// flipLabels turns every class label y into C-1-y, in place.
func flipLabels(y []float32, classes int) {
	for i, v := range y {
		y[i] = float32(classes-1) - v
	}
}

// progress prints rank 0's line inside a long epoch.
func (r *run) progress(epoch, done int, t0 time.Time) {
	el := time.Since(t0).Seconds()
	rate := float64(done*r.batch*r.m) / el
	left := time.Duration(el / float64(done) * float64(r.steps-done) * float64(time.Second))
	fmt.Fprintf(r.out, "  epoch %d: step %d/%d, %.1f samples/s, %s left in the epoch\n", epoch+1, done, r.steps, rate, left.Round(time.Second))
}

// countTraffic puts the epoch's bytes and what the attack and the
// aggregator measured into st.
func (r *run) countTraffic(st *epochStats, before, after collective.Traffic) {
	s1, r1 := after.Of(algoTags...)
	s0, r0 := before.Of(algoTags...)
	st.algoSent, st.algoRecv = float64(s1-s0), float64(r1-r0)
	a1, _ := after.Of(collective.TagAttack)
	a0, _ := before.Of(collective.TagAttack)
	st.attackSent = float64(a1 - a0)
	st.disagree, st.disagreeCoords = r.atk.takeDisagreement()
	var s *serverAggregate
	switch o := r.opt.(type) {
	case *sgdOpt:
		s = o.server
	case *efOpt:
		s = o.server
	}
	if s != nil {
		st.devSteps, st.cosine, st.relDist = s.steps, s.cosine, s.relDist
		s.steps, s.cosine, s.relDist = 0, 0, 0
	}
}

// record gathers every rank's statistics at rank 0, which evaluates the
// model, writes the epoch's line to metrics.jsonl and prints it.
func (r *run) record(epoch int, lr float32, st epochStats, abstained map[int]int) error {
	cfg := r.cfg
	all, err := r.q.Gather(r.c, st.encode())
	if err != nil {
		return fmt.Errorf("epoch %d statistics: %w", epoch+1, err)
	}
	r.dropped = append(r.dropped, r.q.TakeDropped()...)
	if r.rank != 0 {
		return nil
	}
	d := len(r.model.Params())
	rec, err := epochRecord(cfg, all, r.steps, d)
	if err != nil {
		return err
	}
	rec.Epoch, rec.LR = epoch+1, float64(lr)
	rec.EpochSeconds = st.stepSeconds
	if len(abstained) > 0 {
		rec.Abstentions = map[string]int{}
		for k, n := range abstained {
			rec.Abstentions[strconv.Itoa(k)] = n
		}
	}
	rec.DroppedRanks = slices.Clone(r.dropped)
	rec.StaleVotes = r.c.Traffic().StaleFrames
	evalStart := time.Now()
	restore := func() {}
	if epoch == cfg.Epochs-1 {
		restore = wideThreads(cfg.nodeCores)
	}
	loss, acc, acc5, err := evaluate(r.model, r.test, evalBatch(cfg), cfg.EvalLimit)
	restore()
	if err != nil {
		return fmt.Errorf("epoch %d evaluation: %w", epoch+1, err)
	}
	rec.EvalSeconds = time.Since(evalStart).Seconds()
	rec.TestLoss = Float(loss)
	if !math.IsNaN(acc) {
		rec.TestAcc = &acc
		if r.classes > 10 {
			rec.TestAcc5 = &acc5
		}
	}
	if err := r.mw.write(rec); err != nil {
		return err
	}
	if !cfg.Quiet {
		fmt.Fprintln(r.out, progressLine(cfg, rec))
	}
	r.records = append(r.records, rec)
	r.last = rec
	return nil
}

// checkpoint writes this rank's state after the epoch, every
// --checkpoint-every epochs.
func (r *run) checkpoint(epoch int) error {
	cfg := r.cfg
	if cfg.CheckpointEvery <= 0 || (epoch+1)%cfg.CheckpointEvery != 0 {
		return nil
	}
	ck := &checkpoint{
		ckptHeader: ckptHeader{Epoch: epoch + 1, Step: r.step, Rank: r.rank, Workers: r.m, Fingerprint: fingerprint(cfg), Run: r.runID, Start: r.startID},
		params:     r.model.Params(), momentum: r.opt.state(), state: modelState(r.model), records: r.records,
	}
	if err := r.ckpts.write(ck); err != nil {
		return fmt.Errorf("rank %d, epoch %d: %w", r.rank, epoch+1, err)
	}
	return nil
}

// finish checks every rank holds the same model, writes summary.json on
// rank 0, and leaves with the others.
func (r *run) finish() error {
	params := r.model.Params()
	sum, err := compareModels(r.c, r.q, params, "at the end")
	if err != nil {
		return err
	}
	r.dropped = append(r.dropped, r.q.TakeDropped()...)
	if err := r.checkWorkers(); err != nil {
		return err
	}
	if r.rank == 0 {
		if err := writeJSONAtomic(filepath.Join(r.cfg.Out, "summary.json"), Summary{
			Final: r.last, ModelSHA256: sum, Parameters: len(params), Ranks: r.m,
			WallSeconds: time.Since(r.start).Seconds(), TrainRowsUsed: len(r.shard),
		}); err != nil {
			return err
		}
		if !r.cfg.Quiet {
			fmt.Fprintf(r.out, "done: %d epochs, %d parameters, model sha256 %s, results in %s\n", r.cfg.Epochs, len(params), sum[:16], r.cfg.Out)
		}
	}
	// Leave together, so no rank closes a connection a peer still reads.
	return r.q.Barrier(r.c)
}

// compareModels gathers every rank's model checksum at rank 0 and fails,
// naming the ranks that differ from the majority, if they are not all the
// same. It returns this rank's checksum.
func compareModels(c collective.Comm, q *collective.Quorum, params []float32, when string) (string, error) {
	sum := ModelChecksum(params)
	all, err := q.Gather(c, []byte(sum))
	if err != nil {
		return "", fmt.Errorf("model checksums %s: %w", when, err)
	}
	if c.Rank() != 0 {
		return sum, nil
	}
	groups := map[string][]int{}
	for r, s := range all {
		if s != nil {
			groups[string(s)] = append(groups[string(s)], r)
		}
	}
	if len(groups) <= 1 {
		return sum, nil
	}
	var major string
	for s, ranks := range groups {
		if len(ranks) > len(groups[major]) || (len(ranks) == len(groups[major]) && ranks[0] < groups[major][0]) {
			major = s
		}
	}
	var odd []int
	for s, ranks := range groups {
		if s != major {
			odd = append(odd, ranks...)
		}
	}
	slices.Sort(odd)
	return "", fmt.Errorf("models diverged %s: ranks %v differ from ranks %v (model %.16s)", when, odd, groups[major], major)
}

// injectFault is --fault-rank's failure at --fault-step: an error (the
// default), a SIGKILL of this very process, a stall (the process stops
// answering but stays alive, like a hung node), or a silent corruption of
// its model (a bit flip in memory).
func injectFault(cfg *Config, params []float32) error {
	switch cfg.FaultKind {
	case "kill":
		syscall.Kill(os.Getpid(), syscall.SIGKILL)
		select {}
	case "stall":
		select {}
	case "diverge":
		params[0] += 1
		return nil
	}
	return fmt.Errorf("injected fault at step %d (--fault-rank %d --fault-step %d)", cfg.FaultStep, cfg.FaultRank, cfg.FaultStep)
}

// modelState is the model's non-parameter state, if it has any.
func modelState(m Model) [][]float32 {
	if s, ok := m.(interface{ State() [][]float32 }); ok {
		return s.State()
	}
	return nil
}

// progressEvery is how often rank 0 reports progress inside an epoch.
const progressEvery = 15 * time.Second

// epochRecord combines the ranks' statistics into rank 0's record.
func epochRecord(cfg *Config, all [][]byte, steps, d int) (Record, error) {
	var rec Record
	var lossSum, batches, attack, disagree, disagreeCoords, simStep, simCompute float64
	var tally attackTally
	m := len(all)
	workers := 0
	for r, b := range all {
		if r > 0 && b != nil {
			workers++
		}
	}
	for r, b := range all {
		if b == nil {
			continue // a rank dropped under --vote-deadline
		}
		st, err := decodeStats(b)
		if err != nil {
			return rec, fmt.Errorf("statistics from rank %d: %w", r, err)
		}
		lossSum += st.lossSum
		batches += st.batches
		if st.simSeconds > simStep {
			simStep, simCompute = st.simSeconds, st.simCompute
		}
		if cfg.Code != "" {
			g := st.grads / float64(steps)
			rec.GradsPerStep += g / float64(workers+1)
			rec.GradsPerStepMax = max(rec.GradsPerStepMax, g)
		}
		attack += st.attackSent
		tally.add(st.attack)
		disagree += st.disagree
		disagreeCoords += st.disagreeCoords
		if st.devSteps > 0 {
			cos, rel := st.cosine/st.devSteps, st.relDist/st.devSteps
			rec.UpdateCosine, rec.UpdateRelDist = &cos, &rel
		}
		perStep := func(x float64) float64 { return x / float64(steps) }
		if r == 0 {
			rec.ServerBytesSentPerStep = perStep(st.algoSent)
			rec.ServerBytesRecvPerStep = perStep(st.algoRecv)
			rec.StepSeconds = st.stepSeconds / float64(steps)
		} else {
			rec.BytesSentPerStep += perStep(st.algoSent) / float64(workers)
			rec.BytesRecvPerStep += perStep(st.algoRecv) / float64(workers)
		}
	}
	rec.TrainLoss = Float(lossSum / batches)
	if cfg.SimLink != "" {
		step, comp := simStep/float64(steps), simCompute/float64(steps)
		comm := step - comp
		rec.SimStepSeconds, rec.SimComputeSeconds, rec.SimCommSeconds = &step, &comp, &comm
	}
	rec.AttackBytesPerStep = attack / float64(steps)
	if tally.coords > 0 {
		frac := func(x float64) *float64 { x /= tally.coords; return &x }
		rec.AttackUnanimous, rec.AttackFlipped, rec.AttackZeroed = frac(tally.unanimous), frac(tally.flipped), frac(tally.zeroed)
	}
	if disagreeCoords > 0 {
		x := disagree / disagreeCoords
		rec.SignDisagree = &x
	}
	rec.Aggregator, rec.Attack, rec.AttackParams = cfg.Aggregator, "", nil
	if cfg.Byzantine > 0 {
		rec.Attack, rec.AttackParams = cfg.Attack, cfg.attackParams()
	}
	rec.Steps = steps
	// The formula's bytes a worker sends per step (an upper bound for the
	// compressed votes), averaged over ranks 1..M-1 as the measured bytes.
	formula := collective.VoteBytes
	if cfg.Opt == "sgd" {
		formula = collective.MeanBytes
	}
	if optKind(cfg.Opt).ef {
		formula = func(topology string, d, m, rank int) (int, int) {
			if topology == "shard" {
				return efShardBytes(d, m, rank)
			}
			if rank == 0 {
				return (m - 1) * efBytes(d), (m - 1) * efBytes(d)
			}
			return efBytes(d), efBytes(d)
		}
	}
	for r := 1; r < m; r++ {
		sent, _ := formula(cfg.Topology, d, m, r)
		rec.FormulaBytesPerStep += sent
	}
	if m > 1 {
		rec.FormulaBytesPerStep /= m - 1
	}
	if m == 1 {
		rec.FormulaBytesPerStep = 0
	}
	return rec, nil
}

// prepareOut creates the output folder and proves it writable, before any
// rank starts, so a bad --out fails at once and writes nothing.
func prepareOut(dir string) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("--out %s: %w", dir, err)
	}
	f, err := os.CreateTemp(dir, ".probe-*")
	if err != nil {
		return fmt.Errorf("--out %s: not writable: %w", dir, err)
	}
	f.Close()
	return os.Remove(f.Name())
}
