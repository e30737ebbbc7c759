package job

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"math"
	"net"
	"os"
	"strconv"
	"strings"

	"signsgd/data"
)

// checkInput checks the values of a parsed configuration at the precision
// and in the form the run uses them: the rates, momentum and weight decay
// as float32 (finite, and not rounded to 0 where they are used, at every
// epoch of the schedule), lr x weight decay without overflow, the attack's
// parameters as float32, and --coordinator as host:port.
func (c *Config) checkInput() error {
	f32 := func(x float64) float64 { return float64(float32(x)) }
	finite := func(x float64) bool { return !math.IsInf(x, 0) && !math.IsNaN(x) }
	lr := f32(c.LR)
	switch {
	case !finite(lr):
		return badFlag("--lr: %v overflows float32, the precision of the update", c.LR)
	case lr == 0:
		return badFlag("--lr: %v rounds to 0 in float32, the precision of the update", c.LR)
	}
	if c.LRDecay != 1 {
		for k := 1; k*c.LRDecayEvery < c.Epochs; k++ {
			if f32(c.lrAt(k*c.LRDecayEvery)) == 0 {
				return badFlag("--lr %v with --lr-decay %v every %d epochs rounds to 0 in float32 at epoch %d, before --epochs %d ends",
					c.LR, c.LRDecay, c.LRDecayEvery, k*c.LRDecayEvery+1, c.Epochs)
			}
		}
	}
	wd := f32(c.WeightDecay)
	switch {
	case !finite(wd):
		return badFlag("--weight-decay: %v overflows float32, the precision of the update", c.WeightDecay)
	case c.WeightDecay > 0 && wd == 0:
		return badFlag("--weight-decay: %v rounds to 0 in float32, the precision of the update", c.WeightDecay)
	case !finite(float64(float32(lr) * float32(wd))):
		return badFlag("--lr %v x --weight-decay %v overflows float32, the precision of the update", c.LR, c.WeightDecay)
	case f32(c.Momentum) >= 1:
		return badFlag("--momentum: %v rounds to 1 in float32, the precision of the momentum (then no gradient enters it)", c.Momentum)
	}
	for _, p := range []struct {
		name string
		v    float64
	}{{"attack-z", c.AttackZ}, {"attack-eps", c.AttackEps}, {"attack-sigma", c.AttackSigma}, {"attack-scale", c.AttackScale}} {
		if !finite(f32(p.v)) {
			return badFlag("--%s: %v overflows float32, the precision of the attack", p.name, p.v)
		}
	}
	if c.Coordinator != "" {
		host, port, err := net.SplitHostPort(c.Coordinator)
		if err != nil {
			return badFlag("--coordinator %q: want host:port (%v)", c.Coordinator, err)
		}
		if host == "" {
			return badFlag("--coordinator %q: no host (want host:port)", c.Coordinator)
		}
		if p, err := strconv.Atoi(port); err != nil || p < 1 || p > 65535 {
			return badFlag("--coordinator %q: port %q is not a TCP port from 1 to 65535", c.Coordinator, port)
		}
	}
	return nil
}

// readRegularFile reads a small file (at most max bytes) that must be a
// regular file: a FIFO or a device would make the read wait for a writer
// or never end, so it is refused, not waited on.
func readRegularFile(path string, max int64) ([]byte, error) {
	f, err := data.OpenRegular(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return nil, err
	}
	if st.Size() > max {
		return nil, fmt.Errorf("%s: %d bytes, at most %d expected", path, st.Size(), max)
	}
	return io.ReadAll(io.LimitReader(f, max))
}

// Memory estimates (bytes per rank) for checkMemory.
const (
	rankOverhead = 32 << 20 // a rank's process: runtime, program, BLAS
	// paramCopies is how many parameter-sized float32 vectors a rank holds:
	// parameters, gradients, momentum, and a checkpoint's encoding.
	paramCopies = 5
	// simRankOverhead is a rank's under --launcher sim, beyond its batches
	// and model: goroutines, inboxes, prefetcher (logreg at M = 16,384
	// held about 230 kB a rank in all).
	simRankOverhead = 256 << 10
)

// modelSize returns the parameters of cfg's model and a lower bound of its
// activations and their gradients per sample (float32s), from the
// networks' definitions (job/nn), without building it.
func modelSize(cfg *Config) (params, actsPerSample float64) {
	in, outs := float64(data.SyntheticFeatures), 2.0
	switch cfg.Dataset {
	case "linreg":
		outs = 1
	case "mnist":
		in, outs = data.MNISTFeatures, data.MNISTClasses
	case "imagenet", "imagenet-synthetic":
		in, outs = 3*224*224, 1000
	}
	h := float64(cfg.Hidden)
	switch cfg.Model {
	case "mlp":
		return in*h + h + h*outs + outs, 3*h + 3*outs
	case "cnn": // conv 32 and 64 at 26x26 and 24x24, then a 128-wide dense
		return 1198592 + 129*outs, 2 * (32*26*26 + 64*24*24)
	case "mnistnet": // two 5x5 conv 64 at 28x28, two 3x3 at 14x14
		return 579520 + 129*outs, 2 * (2*64*28*28 + 2*64*14*14)
	case "resnet18": // the stem's 64x112x112 and the first stage's 4 convolutions at 56x56
		return 11176512 + 513*outs, 2 * (64*112*112 + 4*64*56*56)
	case "resnet50":
		return 23508032 + 2049*outs, 2 * (64*112*112 + 9*256*56*56)
	}
	return 0, 0
}

// memoryNeed estimates, in bytes, what ranks ranks of cfg on one machine
// need, split by the size that drives each part. shared: the ranks are
// goroutines of one process (--launcher sim), which loads the datasets
// once.
type memoryNeed struct {
	batch, model, data, ranks float64
}

func (n memoryNeed) total() float64 { return n.batch + n.model + n.data + n.ranks }

func estimateMemory(cfg *Config, ranks int, shared bool) memoryNeed {
	params, acts := modelSize(cfg)
	sample := float64(data.SyntheticFeatures)
	dataset := float64(data.SyntheticSamples * (data.SyntheticFeatures + 1))
	switch cfg.Dataset {
	case "mnist":
		sample, dataset = data.MNISTFeatures, 70000*(data.MNISTFeatures+1)
	case "imagenet", "imagenet-synthetic":
		sample, dataset = 3*224*224, 0
	}
	m, r := float64(cfg.Workers), float64(ranks)
	batch := float64(data.PerWorkerBatch(cfg.Batch, cfg.Workers))
	var n memoryNeed
	// Each rank: the prefetcher's 3 batches, the network's activations.
	n.batch = r * 4 * batch * (3*sample + acts)
	n.model = r * 4 * paramCopies * params
	// Rank 0's aggregator holds every rank's gradient; the Byzantines'
	// leader every other rank's vector.
	if !optKind(cfg.Opt).sign && cfg.Topology == "server" {
		n.model += 4 * m * params
	}
	if cfg.Byzantine > 0 {
		n.model += 4 * m * params
	}
	n.data = r * 4 * dataset
	n.ranks = r * rankOverhead
	if shared {
		n.data = 4 * dataset
		n.ranks = rankOverhead + r*simRankOverhead
	}
	return n
}

// availableMemory is what this machine (or the cgroup this process runs
// in) has free, in bytes; ok is false when it cannot tell.
func availableMemory() (avail float64, ok bool) {
	f, err := os.Open("/proc/meminfo")
	if err != nil {
		return 0, false
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) >= 2 && (fields[0] == "MemAvailable:" || fields[0] == "SwapFree:") {
			kb, err := strconv.ParseFloat(fields[1], 64)
			if err == nil {
				avail += kb * 1024
				ok = true
			}
		}
	}
	if b, err := os.ReadFile("/sys/fs/cgroup/memory.max"); err == nil {
		if limit, err := strconv.ParseFloat(strings.TrimSpace(string(b)), 64); err == nil {
			used := 0.0
			if b, err := os.ReadFile("/sys/fs/cgroup/memory.current"); err == nil {
				used, _ = strconv.ParseFloat(strings.TrimSpace(string(b)), 64)
			}
			avail = min(avail, limit-used)
		}
	}
	return avail, ok
}

// checkMemory refuses, before anything starts, a run whose sizes (--batch,
// --hidden, --workers times the model) need more memory than this machine
// has available for ranks ranks, naming the size that needs the most: a
// one-line usage error instead of the runtime's out-of-memory crash.
func checkMemory(cfg *Config, ranks int, shared bool) error {
	avail, ok := availableMemory()
	if !ok {
		return nil
	}
	need := estimateMemory(cfg, ranks, shared)
	if need.total() <= avail {
		return nil
	}
	params, _ := modelSize(cfg)
	culprit := fmt.Sprintf("--batch %d (%s of batches)", cfg.Batch, gb(need.batch))
	if need.model > need.batch {
		culprit = fmt.Sprintf("--model %s with %.3g parameters (%s of model, gradient and momentum copies)", cfg.Model, params, gb(need.model))
		if cfg.Model == "mlp" {
			culprit = fmt.Sprintf("--hidden %d: %.3g parameters (%s of model, gradient and momentum copies)", cfg.Hidden, params, gb(need.model))
		}
	}
	if need.ranks+need.data > max(need.batch, need.model) {
		culprit = fmt.Sprintf("--workers %d (%s of processes and data)", cfg.Workers, gb(need.ranks+need.data))
	}
	who := "one rank needs"
	if ranks > 1 {
		who = fmt.Sprintf("%d ranks need", ranks)
	}
	return badFlag("sizes too large for this machine: %s about %s, %s are available; the most goes to %s",
		who, gb(need.total()), gb(avail), culprit)
}

// gb formats a byte count.
func gb(b float64) string {
	switch {
	case b >= 1<<30:
		return fmt.Sprintf("%.1f GB", b/(1<<30))
	case b >= 1<<20:
		return fmt.Sprintf("%.0f MB", b/(1<<20))
	}
	return fmt.Sprintf("%.0f kB", b/(1<<10))
}

// inputError marks an error reading the input a flag names (--data-dir's
// files) as a usage error: the run cannot start as given.
func inputError(err error) error {
	if err == nil || errors.Is(err, errUsage) {
		return err
	}
	return &usageError{err.Error()}
}
