package job

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
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
}

// statsFields is the number of float64 in an encoded epochStats.
const statsFields = 10

func (s epochStats) encode() []byte {
	var b []byte
	for _, v := range []float64{s.lossSum, s.batches, s.algoSent, s.algoRecv, s.attackSent, s.stepSeconds,
		s.attack.coords, s.attack.unanimous, s.attack.flipped, s.attack.zeroed} {
		b = binary.LittleEndian.AppendUint64(b, math.Float64bits(v))
	}
	return b
}

func decodeStats(b []byte) (epochStats, error) {
	if len(b) != statsFields*8 {
		return epochStats{}, fmt.Errorf("epoch statistics of %d bytes, want %d", len(b), statsFields*8)
	}
	v := make([]float64, statsFields)
	for i := range v {
		v[i] = math.Float64frombits(binary.LittleEndian.Uint64(b[8*i:]))
	}
	return epochStats{v[0], v[1], v[2], v[3], v[4], v[5], attackTally{v[6], v[7], v[8], v[9]}}, nil
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

// Train runs one rank of the job described by cfg over c until the last
// epoch, then checks every rank ends with the same model. Rank 0 writes
// DIR/metrics.jsonl (a line per epoch) and DIR/summary.json, and prints a
// progress line per epoch to out (and, in long epochs, every
// progressEvery while it runs). With --checkpoint-every every rank writes
// its state after those epochs; with --resume it starts from the newest
// checkpoint every rank holds intact.
func Train(cfg *Config, c collective.Comm, out io.Writer) error {
	start := time.Now()
	rank, m := c.Rank(), c.Size()
	if m != cfg.Workers {
		return fmt.Errorf("rank %d: the job has %d ranks, --workers says %d", rank, m, cfg.Workers)
	}
	train, test, err := loadData(cfg)
	if err != nil {
		return err
	}
	model, err := newModel(cfg, train)
	if err != nil {
		return err
	}
	n := train.Len()
	if cfg.TrainLimit > 0 {
		n = min(n, cfg.TrainLimit)
	}
	if n < m {
		return fmt.Errorf("%d training samples for %d ranks: every rank needs at least one", n, m)
	}
	shard := data.ShardIndices(n, rank, m, cfg.Seed)
	batch := data.PerWorkerBatch(cfg.Batch, m)
	steps := data.StepsPerEpoch(len(shard), batch)
	params := model.Params()
	d := len(params)
	sample := data.SampleSize(train)
	rl := roles(m, cfg.Blind, cfg.Byzantine)
	tie, _ := kernels.ParseTieRule(cfg.Tie)
	var q *collective.Quorum
	if cfg.voteDeadline > 0 {
		q = collective.NewQuorum(m, cfg.voteDeadline, cfg.DropAfter)
	}

	signs, result := kernels.NewSigns(d), kernels.NewSigns(d)
	var momentum []float32
	if cfg.Opt != "sgd" {
		momentum = make([]float32, d)
	}
	var records []Record
	firstEpoch, step := 0, 0
	if cfg.Resume {
		ck, err := resume(cfg, c, model, momentum, out)
		if err != nil {
			return err
		}
		if ck != nil {
			firstEpoch, step, records = ck.Epoch, ck.Step, ck.records
		}
	}

	var mw *metricsWriter
	if rank == 0 {
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
		if mw, err = createMetrics(filepath.Join(cfg.Out, "metrics.jsonl"), records); err != nil {
			return err
		}
		defer mw.close()
		if !cfg.Quiet && cfg.ListenFD == 0 {
			fmt.Fprintf(out, "signsgd: %s on %s/%s (%d parameters), %d ranks, batch %d per rank, %d steps per epoch\n",
				cfg.Opt, cfg.Dataset, cfg.Model, d, m, batch, steps)
		}
	}

	var last Record
	if len(records) > 0 {
		last = records[len(records)-1]
	}
	var dropped []int
	for epoch := firstEpoch; epoch < cfg.Epochs; epoch++ {
		lr := float32(cfg.lrAt(epoch))
		wd := float32(cfg.WeightDecay)
		var st epochStats
		abstained := map[int]int{}
		before := c.Traffic()
		t0 := time.Now()
		lastProgress := t0
		batches := data.Batches(len(shard), batch, cfg.Seed, rank, epoch)
		for i, b := range batches {
			for j, p := range b {
				b[j] = shard[p]
			}
			batches[i] = b
		}
		pf := data.NewPrefetcher(train, batches, batch, epoch, 2)
		for bi := range batches {
			c.SetStep(uint32(step))
			if rank == cfg.FaultRank && step == cfg.FaultStep {
				if err := injectFault(cfg, params); err != nil {
					pf.Close()
					return err
				}
			}
			x, y, err := pf.Next()
			if err != nil {
				pf.Close()
				return fmt.Errorf("epoch %d step %d: loading data: %w", epoch+1, step, err)
			}
			nb := len(batches[bi])
			x, y = x[:nb*sample], y[:nb]
			loss := model.LossGrad(x, y, nb, cfg.Seed^uint64(rank)<<40^uint64(step))
			if rl[rank] != Byzantine {
				st.lossSum += loss
				st.batches++
			}
			if err := optimizerStep(cfg, c, q, rl, tie, model, momentum, signs, result, lr, wd, step, &st.attack); err != nil {
				pf.Close()
				return fmt.Errorf("epoch %d step %d: %w", epoch+1, step, err)
			}
			for _, r := range q.Abstained() {
				abstained[r]++
			}
			dropped = append(dropped, q.TakeDropped()...)
			step++
			if cfg.DigestEvery > 0 && step%cfg.DigestEvery == 0 {
				if _, err := compareModels(c, q, params, fmt.Sprintf("after step %d", step)); err != nil {
					pf.Close()
					return err
				}
			}
			if rank == 0 && !cfg.Quiet && time.Since(lastProgress) >= progressEvery {
				lastProgress = time.Now()
				done := bi + 1
				el := time.Since(t0).Seconds()
				rate := float64(done*batch*m) / el
				left := time.Duration(el / float64(done) * float64(steps-done) * float64(time.Second))
				fmt.Fprintf(out, "  epoch %d: step %d/%d, %.1f samples/s, %s left in the epoch\n", epoch+1, done, steps, rate, left.Round(time.Second))
			}
		}
		pf.Close()
		st.stepSeconds = time.Since(t0).Seconds()
		after := c.Traffic()
		s1, r1 := after.Of(algoTags...)
		s0, r0 := before.Of(algoTags...)
		st.algoSent, st.algoRecv = float64(s1-s0), float64(r1-r0)
		a1, _ := after.Of(collective.TagAttack)
		a0, _ := before.Of(collective.TagAttack)
		st.attackSent = float64(a1 - a0)

		all, err := q.Gather(c, st.encode())
		if err != nil {
			return fmt.Errorf("epoch %d statistics: %w", epoch+1, err)
		}
		dropped = append(dropped, q.TakeDropped()...)
		if rank == 0 {
			rec, err := epochRecord(cfg, all, steps, d)
			if err != nil {
				return err
			}
			rec.Epoch, rec.LR = epoch+1, float64(lr)
			rec.EpochSeconds = st.stepSeconds
			if len(abstained) > 0 {
				rec.Abstentions = map[string]int{}
				for r, k := range abstained {
					rec.Abstentions[strconv.Itoa(r)] = k
				}
			}
			rec.DroppedRanks = slices.Clone(dropped)
			rec.StaleVotes = after.StaleFrames
			evalStart := time.Now()
			loss, acc, acc5, err := evaluate(model, test, evalBatch(cfg), cfg.EvalLimit)
			if err != nil {
				return fmt.Errorf("epoch %d evaluation: %w", epoch+1, err)
			}
			rec.EvalSeconds = time.Since(evalStart).Seconds()
			rec.TestLoss = Float(loss)
			if !math.IsNaN(acc) {
				rec.TestAcc = &acc
				if train.NumClasses() > 10 {
					rec.TestAcc5 = &acc5
				}
			}
			if err := mw.write(rec); err != nil {
				return err
			}
			if !cfg.Quiet {
				fmt.Fprintln(out, progressLine(cfg, rec))
			}
			records = append(records, rec)
			last = rec
		}
		if cfg.CheckpointEvery > 0 && (epoch+1)%cfg.CheckpointEvery == 0 {
			ck := &checkpoint{
				ckptHeader: ckptHeader{Epoch: epoch + 1, Step: step, Rank: rank, Workers: m, Fingerprint: fingerprint(cfg)},
				params:     params, momentum: momentum, state: modelState(model), records: records,
			}
			if err := writeCheckpoint(cfg.Out, ck); err != nil {
				return fmt.Errorf("rank %d, epoch %d: %w", rank, epoch+1, err)
			}
		}
	}

	// Every rank must hold the same model.
	sum, err := compareModels(c, q, params, "at the end")
	if err != nil {
		return err
	}
	if rank == 0 {
		if err := writeJSONAtomic(filepath.Join(cfg.Out, "summary.json"), Summary{
			Final: last, ModelSHA256: sum, Parameters: d, Ranks: m,
			WallSeconds: time.Since(start).Seconds(), TrainRowsUsed: len(shard),
		}); err != nil {
			return err
		}
		if !cfg.Quiet {
			fmt.Fprintf(out, "done: %d epochs, %d parameters, model sha256 %s, results in %s\n", cfg.Epochs, d, sum[:16], cfg.Out)
		}
	}
	// Leave together, so no rank closes a connection a peer still reads.
	return q.Barrier(c)
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

// resume finds the newest epoch whose checkpoint every rank holds intact,
// loads this rank's into the model and momentum, and returns it (nil: no
// usable checkpoint, start from scratch). Bad checkpoints are named on
// stderr and skipped.
func resume(cfg *Config, c collective.Comm, model Model, momentum []float32, out io.Writer) (*checkpoint, error) {
	rank := c.Rank()
	params, state := model.Params(), modelState(model)
	warn := func(msg string) { fmt.Fprintf(os.Stderr, "rank %d: %s\n", rank, msg) }
	valid, newest := validCheckpoints(cfg, rank, len(params), len(momentum), state, warn)
	var list []string
	for _, e := range valid {
		list = append(list, strconv.Itoa(e))
	}
	all, err := collective.Gather(c, 0, []byte(strings.Join(list, ",")))
	if err != nil {
		return nil, fmt.Errorf("resume: %w", err)
	}
	var choice []byte
	if rank == 0 {
		count := map[int]int{}
		for _, b := range all {
			for _, f := range strings.Split(string(b), ",") {
				if e, err := strconv.Atoi(f); err == nil {
					count[e]++
				}
			}
		}
		best := 0
		for e, k := range count {
			if k == c.Size() && e > best {
				best = e
			}
		}
		choice = []byte(strconv.Itoa(best))
	}
	choice, err = collective.Broadcast(c, 0, choice)
	if err != nil {
		return nil, fmt.Errorf("resume: %w", err)
	}
	epoch, err := strconv.Atoi(string(choice))
	if err != nil {
		return nil, fmt.Errorf("resume: rank 0 chose epoch %q", choice)
	}
	if epoch == 0 {
		if rank == 0 && !cfg.Quiet {
			fmt.Fprintf(out, "resume: no checkpoint in %s that every rank holds intact; starting from scratch\n", ckptDir(cfg.Out))
		}
		return nil, nil
	}
	path := ckptPath(cfg.Out, epoch, rank)
	ck := newest
	if ck == nil || ck.Epoch != epoch { // another rank lacks our newest
		if ck, err = loadCheckpoint(path, cfg, rank, len(params), len(momentum), state); err != nil {
			return nil, fmt.Errorf("resume: checkpoint %s: %w", path, err)
		}
	}
	copy(params, ck.params)
	copy(momentum, ck.momentum)
	for i, s := range state {
		copy(s, ck.state[i])
	}
	if rank == 0 && !cfg.Quiet {
		fmt.Fprintf(out, "resume: from epoch %d (step %d), %s\n", ck.Epoch, ck.Step, filepath.Dir(path))
	}
	return ck, nil
}

// progressEvery is how often rank 0 reports progress inside an epoch.
const progressEvery = 15 * time.Second

// optimizerStep turns this rank's gradient into the common update and
// applies it: SGD's mean, or SIGNSGD/SIGNUM's momentum, packed signs and
// majority vote, with this rank's adversarial behaviour.
func optimizerStep(cfg *Config, c collective.Comm, q *collective.Quorum, rl []Role, tie kernels.TieRule, model Model, momentum []float32, signs, result kernels.Signs, lr, wd float32, step int, tally *attackTally) error {
	rank := c.Rank()
	params, g := model.Params(), model.Grads()
	if cfg.Opt == "sgd" {
		if rl[rank] == Blind {
			kernels.Scale(g, -1)
		}
		if err := sgdAttack(c, rl, g); err != nil {
			return err
		}
		if err := collective.Mean(c, cfg.Topology, g); err != nil {
			return err
		}
		kernels.ApplyGradStep(params, g, lr, wd)
		return nil
	}
	kernels.MomentumSigns(signs, momentum, g, float32(cfg.Momentum))
	if rl[rank] == Blind {
		signs.Negate()
	}
	if err := signAttack(c, rl, cfg.Attack, signs, tally); err != nil {
		return err
	}
	opt := kernels.VoteOptions{Tie: tie, Seed: cfg.Seed*0x100000001b3 + uint64(step)}
	var err error
	if q != nil {
		err = q.Vote(c, signs, result, opt) // server topology, with a deadline
	} else {
		err = collective.Vote(c, cfg.Topology, signs, result, opt)
	}
	if err != nil {
		return err
	}
	kernels.ApplySignStep(params, result, lr, wd)
	return nil
}

// epochRecord combines the ranks' statistics into rank 0's record.
func epochRecord(cfg *Config, all [][]byte, steps, d int) (Record, error) {
	var rec Record
	var lossSum, batches, attack float64
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
		attack += st.attackSent
		tally.add(st.attack)
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
	rec.AttackBytesPerStep = attack / float64(steps)
	if tally.coords > 0 {
		frac := func(x float64) *float64 { x /= tally.coords; return &x }
		rec.AttackUnanimous, rec.AttackFlipped, rec.AttackZeroed = frac(tally.unanimous), frac(tally.flipped), frac(tally.zeroed)
	}
	rec.Steps = steps
	// The formula's bytes a worker sends per step (an upper bound for the
	// compressed votes), averaged over ranks 1..M-1 as the measured bytes.
	formula := collective.VoteBytes
	if cfg.Opt == "sgd" {
		formula = collective.MeanBytes
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
