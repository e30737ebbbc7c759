package job

import (
	"fmt"
	"io"
	"runtime"
	"sync"
	"sync/atomic"
	"time"

	"signsgd/collective"
	"signsgd/data"
)

// --launcher sim runs every rank of a job in this one process, each a
// goroutine running Train, the very code a rank runs under the other
// launchers (training loop, collectives, frames, attacks, checkpoints),
// over collective's in-memory transport:
//
//	launchSim ─┬─ rank 0:   Train(cfg, mem comm 0, stdout)   writes --out
//	           ├─ rank 1:   Train(cfg, mem comm 1, discard)
//	           ├─ ...        each owns its model, gradient, momentum, signs
//	           └─ rank M-1: Train(cfg, mem comm M-1, discard)
//	cfg.sim (simWorld): the datasets and the partition, made once and read
//	by every rank; a semaphore of one slot per core around each rank's
//	forward/backward pass, so thousands of ranks take turns at the cores
//	rather than thrash them.
//
// A rank's results do not depend on the thread count, so a sim run ends
// with the process launcher's model, bit for bit (TestSimMatchesProcesses).

// maxSimWorkers bounds --workers under --launcher sim.
const maxSimWorkers = 1 << 16

// simWorld is what the ranks of a --launcher sim job share.
type simWorld struct {
	dataOnce    sync.Once
	train, test data.Source // read only: Source.Batch writes only its arguments
	dataErr     error

	partOnce     sync.Once
	parts        [][]int // by rank, read only
	labels       []int
	partErr      error
	partN, partM int
	computeSlots chan struct{} // one per core: a rank computes holding one
}

func newSimWorld(cores int) *simWorld {
	return &simWorld{computeSlots: make(chan struct{}, max(cores, 1))}
}

// loadData is the job's datasets: loaded by the first rank that asks,
// the same Sources for every rank of a sim job.
func (r *run) loadData() (train, test data.Source, err error) {
	w := r.cfg.sim
	if w == nil {
		return loadData(r.cfg)
	}
	w.dataOnce.Do(func() { w.train, w.test, w.dataErr = loadData(r.cfg) })
	return w.train, w.test, w.dataErr
}

// partitionRows is partitionRows(cfg, src, n, m), made once for every rank
// of a sim job.
func (r *run) partitionRows(n int) (parts [][]int, labels []int, err error) {
	w := r.cfg.sim
	if w == nil {
		return partitionRows(r.cfg, r.train, n, r.m)
	}
	w.partOnce.Do(func() {
		w.parts, w.labels, w.partErr = partitionRows(r.cfg, r.train, n, r.m)
		w.partN, w.partM = n, r.m
	})
	if w.partN != n || w.partM != r.m {
		return nil, nil, fmt.Errorf("rank %d: partition of %d rows for %d ranks, the sim job made it for %d and %d", r.rank, n, r.m, w.partN, w.partM)
	}
	return w.parts, w.labels, w.partErr
}

// compute runs f, the rank's own computation, holding one of the sim
// job's compute slots (directly under the other launchers).
func (r *run) compute(f func()) {
	w := r.cfg.sim
	if w == nil {
		f()
		return
	}
	w.computeSlots <- struct{}{}
	defer func() { <-w.computeSlots }()
	t0 := time.Now()
	f()
	if r.clock != nil {
		d := time.Since(t0).Seconds()
		if r.cfg.simCompute > 0 {
			d = r.cfg.simCompute.Seconds()
		}
		r.clock.Advance(d)
		r.simComputed += d
	}
}

// launchSim runs the job's cfg.Workers ranks as goroutines of this
// process over the in-memory transport. Rank 0 prints to stdout; the
// first rank that fails (rank 0 first, since the others' failures follow
// from it) names the error.
func launchSim(cfg *Config, stdout, stderr io.Writer) error {
	m := cfg.Workers
	cfg.sim = newSimWorld(runtime.GOMAXPROCS(0))
	setThreads(cfg, 1) // the ranks share the cores: no rank spawns its own threads
	var comms []collective.Comm
	switch {
	case cfg.SimLink != "":
		comms = collective.NewSimNet(m, cfg.simLink, cfg.timeout).Comms()
	case cfg.voteDeadline > 0:
		comms = collective.NewMemNetwork(m, collective.MemOptions{Timeout: cfg.timeout, DropStale: true}).Comms()
	default:
		comms = collective.NewMemWorld(m, cfg.timeout)
	}
	errs := make([]error, m)
	var wg sync.WaitGroup
	// One abort tells every rank why the job ends. When all ranks fail at
	// once (a setup error each one finds), M aborts of M-1 frames each
	// would be M^2 frames: 18 GB and minutes at M = 8100.
	var aborted atomic.Bool
	for r, c := range comms {
		out := io.Discard
		if r == 0 {
			out = stdout
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			err := Train(cfg, c, out)
			if err != nil && (r == 0 || cfg.voteDeadline == 0) && aborted.CompareAndSwap(false, true) {
				collective.Abort(c, err) // as rankRun: the others learn why
			}
			errs[r] = err
			if err != nil {
				c.Close()
			}
		}()
	}
	wg.Wait()
	for _, c := range comms {
		c.Close()
	}
	var failed []int
	for r, err := range errs {
		if err != nil {
			failed = append(failed, r)
		}
	}
	switch {
	case len(failed) == 0:
		return nil
	case errs[0] == nil && cfg.voteDeadline > 0:
		// Rank 0 finished without them (it recorded the abstentions).
		fmt.Fprintf(stderr, "launcher: the job went on without %s (--vote-deadline)\n", rankList(failed))
		return nil
	}
	r := failed[0]
	if ue, ok := errs[r].(*usageError); ok {
		return ue
	}
	return fmt.Errorf("rank %d of %d: %w", r, m, errs[r])
}

// runSim is `signsgd run --launcher sim`: the local launcher's checks of
// memory (for one process holding every rank) and --out, its header line,
// then launchSim.
func runSim(cfg *Config, stdout, stderr io.Writer) error {
	if cfg.FaultKind == "kill" && cfg.FaultRank >= 0 {
		return badFlag("--fault-kind kill with --launcher sim: the ranks share one process (use error, stall or diverge)")
	}
	if err := checkMemory(cfg, cfg.Workers, true); err != nil {
		return err
	}
	if err := checkLocalStart(cfg); err != nil {
		return err
	}
	if !cfg.Quiet {
		fmt.Fprintf(stdout, "signsgd: %s on %s/%s, %d ranks as goroutines of one process (--launcher sim, %d blind, %d byzantine, %s attack), lr %g, %d epochs, results in %s\n",
			cfg.Opt, cfg.Dataset, cfg.Model, cfg.Workers, cfg.Blind, cfg.Byzantine, cfg.Attack, cfg.LR, cfg.Epochs, cfg.Out)
	}
	return launchSim(cfg, stdout, stderr)
}

// checkSim is config validation of --sim-link and --sim-compute.
func (c *Config) checkSim() error {
	if c.SimLink == "" {
		if c.SimCompute != "" {
			return badFlag("--sim-compute needs --sim-link (simulated time is the link model's)")
		}
		return nil
	}
	if c.Launcher != "sim" {
		return badFlag("--sim-link needs --launcher sim")
	}
	if c.VoteDeadline != "" {
		return badFlag("--sim-link with --vote-deadline: the deadline is real time, the link model's is simulated")
	}
	l, err := collective.ParseLink(c.SimLink)
	if err != nil {
		return badFlag("--sim-link: %v", err)
	}
	c.simLink = l
	if c.SimCompute != "" {
		d, err := time.ParseDuration(c.SimCompute)
		if err != nil || d < 0 {
			return badFlag("--sim-compute: %q is not a duration (like 120ms)", c.SimCompute)
		}
		c.simCompute = d
	}
	return nil
}

// simTimes is this rank's simulated clock and the part of it its compute
// took (0, 0 without --sim-link).
func (r *run) simTimes() (clock, compute float64) {
	if r.clock == nil {
		return 0, 0
	}
	return r.clock.Clock(), r.simComputed
}
