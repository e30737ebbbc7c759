package job

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"math"
	"os"
	"slices"
	"strings"
	"time"

	"signsgd/collective"
	"signsgd/data"
	"signsgd/job/cli"
	"signsgd/job/nn"
	"signsgd/kernels"
)

// Config is one training run. It is written to DIR/config.json.
type Config struct {
	Dataset          string  `json:"dataset"`
	DataDir          string  `json:"data_dir,omitempty"`
	Model            string  `json:"model"`
	Hidden           int     `json:"hidden"`
	Opt              string  `json:"opt"`
	Topology         string  `json:"topology"`
	Tie              string  `json:"tie"`
	Workers          int     `json:"workers"`
	Blind            int     `json:"blind"`
	Byzantine        int     `json:"byzantine"`
	Attack           string  `json:"attack"`
	AttackZ          float64 `json:"attack_z,omitempty"`
	AttackEps        float64 `json:"attack_eps,omitempty"`
	AttackSigma      float64 `json:"attack_sigma,omitempty"`
	AttackScale      float64 `json:"attack_scale,omitempty"`
	Aggregator       string  `json:"aggregator,omitempty"`
	Pre              string  `json:"pre,omitempty"`
	Trim             int     `json:"trim,omitempty"`
	KrumM            int     `json:"krum_m,omitempty"`
	GeomedIters      int     `json:"geomed_iters,omitempty"`
	GeomedTol        float64 `json:"geomed_tol,omitempty"`
	CclipRadius      float64 `json:"cclip_radius,omitempty"`
	CclipIters       int     `json:"cclip_iters,omitempty"`
	Epochs           int     `json:"epochs"`
	Batch            int     `json:"batch"`
	LR               float64 `json:"lr"`
	Momentum         float64 `json:"momentum"`
	WeightDecay      float64 `json:"weight_decay"`
	LRDecay          float64 `json:"lr_decay"`
	LRDecayEvery     int     `json:"lr_decay_every"`
	Seed             uint64  `json:"seed"`
	Out              string  `json:"out"`
	Timeout          string  `json:"timeout"`
	EvalLimit        int     `json:"eval_limit,omitempty"`
	TrainLimit       int     `json:"train_limit,omitempty"`
	SyntheticSamples int     `json:"synthetic_samples,omitempty"`
	Samples          int     `json:"samples,omitempty"` // logreg, linreg: rows made (0: data.SyntheticSamples)
	VoteDeadline     string  `json:"vote_deadline,omitempty"`
	DropAfter        int     `json:"drop_after,omitempty"`
	CheckpointEvery  int     `json:"checkpoint_every,omitempty"`
	DigestEvery      int     `json:"digest_every,omitempty"`
	Partition        string  `json:"partition,omitempty"` // "" is iid
	StoB             float64 `json:"sto_b,omitempty"`
	SimLink          string  `json:"sim_link,omitempty"`    // --launcher sim: BANDWIDTH,LATENCY of every rank's link
	SimCompute       string  `json:"sim_compute,omitempty"` // --launcher sim: simulated compute per step (default: measured)
	Code             string  `json:"code,omitempty"`        // election coding (code.go)
	// TransportSecurity is --transport-security (security.go); what the
	// frames carry, not the experiment, but recorded with it.
	TransportSecurity string `json:"transport_security,omitempty"`

	// How this process takes part (not part of the experiment).
	Rank          int           `json:"-"`
	Launcher      string        `json:"-"`
	Coordinator   string        `json:"-"`
	Port          int           `json:"-"`
	ListenFD      int           `json:"-"`
	JobID         string        `json:"-"`
	Quiet         bool          `json:"-"`
	DryRun        bool          `json:"-"`
	FaultRank     int           `json:"-"`
	FaultStep     int           `json:"-"`
	FaultKind     string        `json:"-"`
	SecretFile    string        `json:"-"`
	Resume        bool          `json:"-"`
	voteDeadline  time.Duration // parsed VoteDeadline (0: none)
	timeout       time.Duration // parsed Timeout
	set           map[string]bool
	listenAll     string   // rank 0 under Slurm or mpirun: ":port"
	hosts         hostSpan // where the launcher's ranks run (security.go)
	loaderThreads int      // image decoding goroutines per rank
	nodeCores     int      // cores the job holds on this rank's node (0: unknown)
	simLink       collective.Link
	simCompute    time.Duration // parsed SimCompute (0: measured)
	sim           *simWorld     // --launcher sim: what the ranks share (nil otherwise)
}

// Names accepted by the flags that have no registry of their own. The
// optimizers, aggregators, pre-aggregators and attacks are registries
// (optimizer.go, aggregate.go, attack.go); the models are nn.Models and
// the topologies collective's.
var (
	datasets   = []string{"logreg", "linreg", "mnist", "imagenet", "imagenet-synthetic"}
	ties       = []string{"zero", "plus", "random"}
	launchers  = []string{"auto", "local", "slurm", "mpi", "sim"}
	faultKinds = []string{"error", "kill", "stall", "diverge"}
)

// topologies are every topology of the vote and of the mean.
func topologies() []string {
	out := slices.Clone(collective.VoteTopologies)
	for _, t := range collective.MeanTopologies {
		if !slices.Contains(out, t) {
			out = append(out, t)
		}
	}
	return out
}

// optKind is opt's registry entry (the zero kind for an unknown name).
func optKind(opt string) optimizerKind {
	k, _ := optimizers.parse(opt)
	return k
}

// optTopologies are the topologies optimizer opt can run over: the mean's
// for SGD, the vote's for SIGNSGD and SIGNUM.
func optTopologies(opt string) []string {
	kind, _ := optimizers.parse(opt)
	return kind.topos
}

// MNISTDecayEvery is SIGNSGD's and SIGNUM's default --lr-decay-every on
// MNIST: the rate falls by --lr-decay (0.1) for the fifth epoch; the paper's
// 30 elsewhere. The last epoch at a tenth of the rate lets the rate be high
// enough to get far in 5 epochs while keeping the final steps small. The runs
// that chose it (9 workers, SIGNUM, seed 8005, with and without 4 of 9
// Byzantine ranks) are in bench/results/mnist-defaults; why accuracy
// plateaus against 4 of 9 is bench/theory's drift.
const MNISTDecayEvery = 4

// MNISTBeta is SIGNUM's default momentum on MNIST: the paper's 0.9 elsewhere.
// A larger beta averages more mini-batches into each rank's momentum, so
// the honest signs agree more often and fewer coordinates are flipped by
// Byzantine ranks, at no cost without adversaries; the runs that compare
// 0.9 and 0.99 are in bench/results/mnist-defaults and
// bench/results/figures.
const MNISTBeta = 0.99

// errUsage marks a bad command line (exit status 2): cli.Main's ErrUsage.
var errUsage = cli.ErrUsage

// usageError is a bad flag value: one line naming the flag.
type usageError struct{ msg string }

func (e *usageError) Error() string { return e.msg }
func (e *usageError) Unwrap() error { return errUsage }

func badFlag(format string, args ...any) error { return &usageError{fmt.Sprintf(format, args...)} }

// Defaults of the flags that ServerAggregator's direct constructor
// (newBenchAggregate) also takes.
const (
	defaultSeed        = 8005
	defaultGeomedIters = 8
	defaultGeomedTol   = 1e-6
	defaultCclipIters  = 3
)

// runFlags declares the flags of `signsgd run` on cfg.
func runFlags(cfg *Config) *flag.FlagSet {
	fs := flag.NewFlagSet("run", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	fs.StringVar(&cfg.Dataset, "dataset", "logreg", "dataset: "+strings.Join(datasets, ", "))
	fs.StringVar(&cfg.DataDir, "data-dir", "", "dataset folder: MNIST's IDX files (default: the GoMNIST module's copy) or ImageNet's train/ and val/")
	fs.IntVar(&cfg.EvalLimit, "eval-limit", 0, "evaluate on at most this many test samples (0: all)")
	fs.IntVar(&cfg.TrainLimit, "train-limit", 0, "train on at most this many samples, before sharding (0: all)")
	fs.IntVar(&cfg.SyntheticSamples, "synthetic-samples", 12800, "training samples of imagenet-synthetic")
	fs.IntVar(&cfg.Samples, "samples", 0, "logreg, linreg: rows made, 80% for training (default 10000)")
	fs.StringVar(&cfg.Model, "model", "mlp", "model: "+strings.Join(nn.Models, ", "))
	fs.IntVar(&cfg.Hidden, "hidden", 0, "hidden units of the mlp (default: 40 on logreg/linreg, 128 on mnist)")
	fs.StringVar(&cfg.Opt, "opt", "signum", "optimizer: "+optimizers.list())
	fs.StringVar(&cfg.Topology, "topology", "server", "how the vote or mean travels: sgd "+strings.Join(optTopologies("sgd"), " or ")+", signsgd and signum "+strings.Join(optTopologies("signum"), ", ")+" (see go doc signsgd/collective)")
	fs.StringVar(&cfg.Tie, "tie", "zero", "what a tied vote gives: "+strings.Join(ties, ", "))
	fs.IntVar(&cfg.Workers, "workers", 9, "number of ranks (workers), rank 0 included")
	fs.IntVar(&cfg.Blind, "blind", 0, "blind adversaries (ranks 1..N invert their gradient or sign)")
	fs.IntVar(&cfg.Byzantine, "byzantine", 0, "Byzantine adversaries (the highest N ranks, colluding and omniscient)")
	fs.StringVar(&cfg.Attack, "attack", "paper", "what the Byzantine ranks send: "+attacks.list()+" (see the list below)")
	fs.Float64Var(&cfg.AttackZ, "attack-z", 0, "alie: z (default: Baruch et al.'s formula for --workers and --byzantine)")
	fs.Float64Var(&cfg.AttackEps, "attack-eps", 0.1, "ipm: epsilon")
	fs.Float64Var(&cfg.AttackSigma, "attack-sigma", 1, "gaussian: the noise's standard deviation")
	fs.Float64Var(&cfg.AttackScale, "attack-scale", 1, "signflip: the factor of the negated gradient")
	fs.StringVar(&cfg.Aggregator, "aggregator", "mean", "sgd: how rank 0 combines the gradients: "+aggregators.list()+" (robust ones need --topology server)")
	fs.StringVar(&cfg.Pre, "pre", "", "sgd: a pre-aggregator before --aggregator: nnm, bucket:S (default none)")
	fs.IntVar(&cfg.Trim, "trim", -1, "trimmed-mean: values dropped at each end per coordinate (default --byzantine)")
	fs.IntVar(&cfg.KrumM, "krum-m", 0, "multi-krum: vectors averaged (default workers - byzantine)")
	fs.IntVar(&cfg.GeomedIters, "geomed-iters", defaultGeomedIters, "geomed: Weiszfeld iterations at most")
	fs.Float64Var(&cfg.GeomedTol, "geomed-tol", defaultGeomedTol, "geomed: stop when an iteration moves less than this times the norm")
	fs.Float64Var(&cfg.CclipRadius, "cclip-radius", 0, "cclip: clipping radius (default: the median distance to the center, at each iteration)")
	fs.IntVar(&cfg.CclipIters, "cclip-iters", defaultCclipIters, "cclip: clipping iterations")
	fs.IntVar(&cfg.Epochs, "epochs", 30, "epochs")
	fs.IntVar(&cfg.Batch, "batch", 128, "total batch per step; each worker takes batch/workers")
	fs.Float64Var(&cfg.LR, "lr", 0, "learning rate (default: "+lrDefaults()+"; sgd's is the paper's 1e-3 on the sum of 9 workers' gradients, as a rate on their mean)")
	fs.Float64Var(&cfg.Momentum, "momentum", 0, "SIGNUM's beta (default 0.9 for signum, 0.99 on mnist; signsgd and sgd take none)")
	fs.Float64Var(&cfg.WeightDecay, "weight-decay", 0, "weight decay lambda")
	fs.Float64Var(&cfg.LRDecay, "lr-decay", 0.1, "learning rate factor applied every --lr-decay-every epochs")
	fs.IntVar(&cfg.LRDecayEvery, "lr-decay-every", 0, "epochs between learning rate decays (default 30; signsgd and signum on mnist 4)")
	fs.Uint64Var(&cfg.Seed, "seed", defaultSeed, "random seed (data, initialisation, batches)")
	fs.StringVar(&cfg.Out, "out", "results/run", "output folder for config.json, metrics.jsonl and summary.json")
	fs.StringVar(&cfg.Timeout, "timeout", "2m", "how long a rank waits for a peer before it fails the job")
	fs.BoolVar(&cfg.Quiet, "quiet", false, "no per-epoch progress line")
	fs.BoolVar(&cfg.DryRun, "dry-run", false, "print the resolved configuration (defaults filled in) as JSON and exit")
	fs.StringVar(&cfg.Launcher, "launcher", "auto", "who starts the ranks: "+strings.Join(launchers, ", ")+" (auto: --rank, else OpenMPI's or Slurm's environment, else local)")
	fs.IntVar(&cfg.Rank, "rank", -1, "run as this one rank (a launcher started it); default: launch all ranks locally")
	fs.StringVar(&cfg.Coordinator, "coordinator", "", "host:port where rank 0 listens (with --rank; under Slurm: the first node and --port)")
	fs.IntVar(&cfg.Port, "port", 0, "rank 0's port under Slurm or mpirun (default: derived from the job id)")
	fs.IntVar(&cfg.FaultRank, "fault-rank", -1, "testing: this rank fails on purpose at --fault-step")
	fs.IntVar(&cfg.FaultStep, "fault-step", 0, "testing: the step at which --fault-rank fails")
	fs.StringVar(&cfg.FaultKind, "fault-kind", "error", "testing: how --fault-rank fails: "+strings.Join(faultKinds, ", ")+" (kill: SIGKILL itself; stall: stop answering; diverge: change its model)")
	fs.StringVar(&cfg.TransportSecurity, "transport-security", "auto", "what protects frames after the handshake: "+securities.list()+" (auto: seal across hosts, off on one)")
	fs.IntVar(&cfg.ListenFD, "listen-fd", 0, "rank 0: inherited listening socket (set by the local launcher)")
	fs.StringVar(&cfg.JobID, "job-id", "signsgd", "job identifier every rank must share (with --rank)")
	fs.StringVar(&cfg.SecretFile, "secret-file", "", "file (mode 600) with the job's shared secret (default: $"+SecretEnv+", else made by the launcher or derived from the job id and ~/.config/signsgd/key)")
	fs.StringVar(&cfg.VoteDeadline, "vote-deadline", "", "server vote: count the votes that arrive within this duration (like 2s), missing ones abstain")
	fs.IntVar(&cfg.DropAfter, "drop-after", 3, "with --vote-deadline: drop a rank that missed this many deadlines in a row")
	fs.IntVar(&cfg.CheckpointEvery, "checkpoint-every", 0, "write a checkpoint every N epochs to OUT/checkpoints (0: never)")
	fs.BoolVar(&cfg.Resume, "resume", false, "continue from the newest valid checkpoint in OUT/checkpoints (from scratch if there is none)")
	fs.StringVar(&cfg.Partition, "partition", "iid", "how the training rows are divided among the ranks: "+partitions.list()+" (see the list below)")
	fs.Float64Var(&cfg.StoB, "sto-b", 0, "sto-signsgd, sto-signum: the bound B of P(+1) = (1 + v/B)/2, |v|/B clamped to 1 (default: each vector's max |v|)")
	fs.StringVar(&cfg.SimLink, "sim-link", "", "--launcher sim: model every rank's link as BANDWIDTH,LATENCY (like 10gbit,5us) and report simulated times (sim_step_seconds)")
	fs.StringVar(&cfg.SimCompute, "sim-compute", "", "--launcher sim with --sim-link: a rank's compute per step in simulated time (like 120ms; default: measured)")
	fs.StringVar(&cfg.Code, "code", "", "signsgd, signum: election coding of the partitions, "+codeNames+" (default none)")
	fs.IntVar(&cfg.DigestEvery, "digest-every", 0, "every N steps the ranks compare a digest of their model (0: only at the end)")
	return fs
}

// ParseRun reads `signsgd run` flags into a validated Config.
func ParseRun(args []string) (*Config, error) {
	cfg := &Config{}
	fs := runFlags(cfg)
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return nil, err
		}
		return nil, badFlag("%v", err)
	}
	if fs.NArg() > 0 {
		return nil, badFlag("unexpected argument %q", fs.Arg(0))
	}
	set := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
	if err := cfg.finish(set); err != nil {
		return nil, err
	}
	if err := cfg.checkInput(); err != nil {
		return nil, err
	}
	return cfg, nil
}

func oneOf(flagName, v string, allowed []string) error {
	if !slices.Contains(allowed, v) {
		return badFlag("--%s: unknown value %q (want %s)", flagName, v, strings.Join(allowed, ", "))
	}
	return nil
}

// finish fills per-optimizer defaults and checks every value.
func (c *Config) finish(set map[string]bool) error {
	for _, chk := range []struct {
		name, v string
		allowed []string
	}{
		{"dataset", c.Dataset, datasets}, {"model", c.Model, nn.Models}, {"opt", c.Opt, optimizers.Names()},
		{"topology", c.Topology, topologies()}, {"attack", c.Attack, attacks.Names()}, {"tie", c.Tie, ties},
		{"launcher", c.Launcher, launchers}, {"fault-kind", c.FaultKind, faultKinds},
		{"transport-security", c.TransportSecurity, append(securities.Names(), "")},
	} {
		if err := oneOf(chk.name, chk.v, chk.allowed); err != nil {
			return err
		}
	}
	if c.TransportSecurity == "auto" {
		// The default is recorded as no field, as runs recorded before
		// the flag existed have it: the same configuration, the same
		// model (sealing changes no byte a rank computes).
		c.TransportSecurity = ""
	}
	if want := optTopologies(c.Opt); !slices.Contains(want, c.Topology) {
		return badFlag("--topology %s does not fit --opt %s (want %s)", c.Topology, c.Opt, strings.Join(want, ", "))
	}
	c.set = set
	kind, _ := optimizers.parse(c.Opt)
	if !set["lr"] {
		c.LR = kind.defaultLR
	}
	if !set["lr-decay-every"] {
		c.LRDecayEvery = 30
		if c.Dataset == "mnist" && c.Opt != "sgd" {
			c.LRDecayEvery = MNISTDecayEvery
		}
	}
	if !set["hidden"] {
		c.Hidden = 40
		if c.Dataset == "mnist" {
			c.Hidden = 128
		}
	}
	if !slices.Contains(datasetModels[c.Dataset], c.Model) {
		return badFlag("--model %s does not fit --dataset %s (want %s)", c.Model, c.Dataset, strings.Join(datasetModels[c.Dataset], " or "))
	}
	if !set["momentum"] && kind.momentum {
		c.Momentum = 0.9
		if c.Dataset == "mnist" {
			c.Momentum = MNISTBeta
		}
	}
	switch {
	case c.Workers < 1:
		return badFlag("--workers: %d; need at least 1", c.Workers)
	case c.Workers > 4096 && c.Launcher != "sim":
		return badFlag("--workers: %d; at most 4096 processes (--launcher sim runs up to %d ranks as goroutines)", c.Workers, maxSimWorkers)
	case c.Workers > maxSimWorkers:
		return badFlag("--workers: %d; at most %d", c.Workers, maxSimWorkers)
	case c.Samples < 0 || (c.Samples > 0 && c.Samples < 10):
		return badFlag("--samples: %d; need at least 10 (0: the default %d)", c.Samples, data.SyntheticSamples)
	case c.Samples > 0 && c.Dataset != "logreg" && c.Dataset != "linreg":
		return badFlag("--samples is for the synthetic logreg and linreg (use --train-limit or --synthetic-samples)")
	case c.Blind < 0:
		return badFlag("--blind: %d is negative", c.Blind)
	case c.Byzantine < 0:
		return badFlag("--byzantine: %d is negative", c.Byzantine)
	case c.Epochs < 1:
		return badFlag("--epochs: %d; need at least 1", c.Epochs)
	case c.Batch < 1:
		return badFlag("--batch: %d; need at least 1", c.Batch)
	case c.Hidden < 1:
		return badFlag("--hidden: %d; need at least 1", c.Hidden)
	case !(c.LR > 0) || math.IsInf(c.LR, 0):
		return badFlag("--lr: %v; need a positive finite rate", c.LR)
	case !(c.Momentum >= 0 && c.Momentum < 1):
		return badFlag("--momentum: %v; need 0 <= beta < 1", c.Momentum)
	case c.Momentum != 0 && !kind.momentum:
		return badFlag("--momentum: %v; only signum and sto-signum take momentum (signsgd is signum with beta 0)", c.Momentum)
	case !(c.WeightDecay >= 0) || math.IsInf(c.WeightDecay, 0):
		return badFlag("--weight-decay: %v; need a finite lambda >= 0", c.WeightDecay)
	case !(c.LRDecay > 0 && c.LRDecay <= 1):
		return badFlag("--lr-decay: %v; need 0 < factor <= 1", c.LRDecay)
	case c.LRDecayEvery < 1:
		return badFlag("--lr-decay-every: %d; need at least 1", c.LRDecayEvery)
	case c.EvalLimit < 0:
		return badFlag("--eval-limit: %d is negative", c.EvalLimit)
	case c.TrainLimit < 0:
		return badFlag("--train-limit: %d is negative", c.TrainLimit)
	case c.SyntheticSamples < 1:
		return badFlag("--synthetic-samples: %d; need at least 1", c.SyntheticSamples)
	case c.Out == "":
		return badFlag("--out: empty path")
	case c.Rank >= c.Workers:
		return badFlag("--rank: %d; the job has ranks 0..%d", c.Rank, c.Workers-1)
	case c.Rank >= 0 && c.Coordinator == "" && c.ListenFD == 0 && c.Workers > 1:
		return badFlag("--rank needs --coordinator host:port (where rank 0 listens)")
	case c.Port < 0 || c.Port > 65535:
		return badFlag("--port: %d is not a TCP port", c.Port)
	}
	if c.Dataset == "imagenet" && c.DataDir == "" {
		return badFlag("--dataset imagenet needs --data-dir (a folder with train/<class>/*.JPEG and val/<class>/*.JPEG)")
	}
	if c.DataDir != "" {
		if st, err := os.Stat(c.DataDir); err != nil || !st.IsDir() {
			return badFlag("--data-dir %s: not a folder", c.DataDir)
		}
	}
	if err := checkAdversaries(c.Blind, c.Byzantine, c.Workers); err != nil {
		return err
	}
	d, err := time.ParseDuration(c.Timeout)
	if err != nil || d <= 0 {
		return badFlag("--timeout: %q is not a positive duration (like 90s or 2m)", c.Timeout)
	}
	c.timeout = d
	if c.VoteDeadline != "" {
		d, err := time.ParseDuration(c.VoteDeadline)
		switch {
		case err != nil || d <= 0:
			return badFlag("--vote-deadline: %q is not a positive duration (like 500ms or 2s)", c.VoteDeadline)
		case !optKind(c.Opt).sign:
			return badFlag("--vote-deadline: %s has no vote; use signsgd or signum", c.Opt)
		case c.Topology != "server":
			return badFlag("--vote-deadline works with --topology server only, not %s", c.Topology)
		case d >= c.timeout:
			return badFlag("--vote-deadline %v must be shorter than --timeout %v", d, c.timeout)
		}
		c.voteDeadline = d
	}
	if err := c.checkSim(); err != nil {
		return err
	}
	switch {
	case c.DropAfter < 1:
		return badFlag("--drop-after: %d; need at least 1", c.DropAfter)
	case c.CheckpointEvery < 0:
		return badFlag("--checkpoint-every: %d is negative", c.CheckpointEvery)
	case c.DigestEvery < 0:
		return badFlag("--digest-every: %d is negative", c.DigestEvery)
	}
	if _, err := kernels.ParseTieRule(c.Tie); err != nil {
		return badFlag("--tie: %v", err)
	}
	if err := c.checkPartition(); err != nil {
		return err
	}
	if err := c.checkStoB(kind); err != nil {
		return err
	}
	if err := c.checkCode(kind); err != nil {
		return err
	}
	return c.finishRobust(set, kind)
}

// checkAdversaries checks the adversary counts against the number of ranks
// (from --workers, or from the launcher that started them): rank 0 is
// never an adversary, so there must be fewer adversaries than ranks.
func checkAdversaries(blind, byz, ranks int) error {
	if blind+byz >= ranks {
		return badFlag("--blind %d + --byzantine %d must be fewer than the %d ranks (--workers; rank 0 is never an adversary)", blind, byz, ranks)
	}
	return nil
}

// lrAt is the learning rate of an epoch (counted from 0).
func (c *Config) lrAt(epoch int) float64 {
	return c.LR * math.Pow(c.LRDecay, float64(epoch/c.LRDecayEvery))
}

// finishRobust checks the aggregator, pre-aggregator and attack settings
// against the optimizer, the topology and each other, and resolves their
// defaults; a setting the chosen methods would ignore is refused naming
// both flags.
func (c *Config) finishRobust(set map[string]bool, kind optimizerKind) error {
	agg, err := aggregators.parse(c.Aggregator)
	if err != nil {
		return err
	}
	if _, _, err := parsePre(c.Pre); err != nil {
		return err
	}
	if kind.sign {
		for _, f := range []string{"aggregator", "pre"} {
			if set[f] {
				return badFlag("--%s does not apply to --opt %s: its aggregator is the majority vote (use --opt sgd)", f, c.Opt)
			}
		}
		c.Aggregator = ""
	} else if kind.ef && c.Topology == "shard" && (!agg.coordinatewise || c.Pre != "") {
		what := "--aggregator " + c.Aggregator
		if c.Pre != "" {
			what = "--pre " + c.Pre
		}
		return badFlag("%s combines whole vectors: ef-signsgd over --topology shard combines slices, with a coordinate-wise aggregator (%s; or use --topology server)", what, strings.Join(coordinatewiseAggregators(), ", "))
	} else if c.Topology != "server" && !kind.ef && (c.Aggregator != "mean" || c.Pre != "") {
		what := "--aggregator " + c.Aggregator
		if c.Pre != "" {
			what = "--pre " + c.Pre
		}
		return badFlag("%s needs every gradient at rank 0: it does not run over --topology %s (use --topology server)", what, c.Topology)
	}
	atk, err := attacks.parse(c.Attack)
	if err != nil {
		return err
	}
	switch {
	case kind.sign && atk.sign == nil:
		return badFlag("--attack %s has no sign form: it does not apply to --opt %s (want %s)", c.Attack, c.Opt, strings.Join(attackNames(true), ", "))
	case !kind.sign && atk.grad == nil:
		return badFlag("--attack %s has no gradient form: it does not apply to --opt %s (want %s)", c.Attack, c.Opt, strings.Join(attackNames(false), ", "))
	case atk.flipLabels && !slices.Contains([]string{"logreg", "mnist", "imagenet", "imagenet-synthetic"}, c.Dataset):
		return badFlag("--attack %s needs class labels: --dataset %s is a regression", c.Attack, c.Dataset)
	}
	// Each parameter flag belongs to the methods that read it.
	owners := map[string]string{}
	for _, it := range aggregators.items {
		for _, p := range it.Value.params {
			owners[p] = "--aggregator " + it.Name
		}
	}
	for _, it := range attacks.items {
		for _, p := range it.Value.params {
			owners[p] = "--attack " + it.Name
		}
	}
	for p, owner := range owners {
		if !set[p] {
			continue
		}
		using := slices.Contains(atk.params, p) || (!kind.sign && slices.Contains(agg.params, p))
		if !using {
			return badFlag("--%s is read by %s only, not with --opt %s --aggregator %s --attack %s", p, owner, c.Opt, c.Aggregator, c.Attack)
		}
	}
	// Resolve and check the values of the methods in use; zero the rest
	// so config.json shows only what applies.
	if !slices.Contains(agg.params, "trim") || kind.sign {
		c.Trim = 0
	} else {
		if c.Trim < 0 {
			c.Trim = c.Byzantine
		}
		if 2*c.Trim >= c.Workers {
			return badFlag("--trim %d with --workers %d: trimmed-mean needs 2 x trim < workers", c.Trim, c.Workers)
		}
	}
	if c.Aggregator == "multi-krum" {
		if !set["krum-m"] {
			c.KrumM = c.Workers - c.Byzantine
		}
		if c.KrumM < 1 || c.KrumM > c.Workers {
			return badFlag("--krum-m %d: need 1 <= m <= --workers %d", c.KrumM, c.Workers)
		}
	} else {
		c.KrumM = 0
	}
	if c.Aggregator == "geomed" {
		if c.GeomedIters < 1 || !(c.GeomedTol >= 0) || math.IsInf(c.GeomedTol, 0) {
			return badFlag("--geomed-iters %d --geomed-tol %v: need at least 1 iteration and a finite tolerance >= 0", c.GeomedIters, c.GeomedTol)
		}
	} else {
		c.GeomedIters, c.GeomedTol = 0, 0
	}
	if c.Aggregator == "cclip" {
		if c.CclipIters < 1 || !(c.CclipRadius >= 0) || math.IsInf(c.CclipRadius, 0) {
			return badFlag("--cclip-iters %d --cclip-radius %v: need at least 1 iteration and a finite radius >= 0", c.CclipIters, c.CclipRadius)
		}
	} else {
		c.CclipIters, c.CclipRadius = 0, 0
	}
	for _, p := range []struct {
		name string
		v    *float64
		ok   func(float64) bool
		want string
	}{
		{"attack-z", &c.AttackZ, func(x float64) bool { return x >= 0 && !math.IsInf(x, 0) }, "a finite z >= 0 (0: the formula)"},
		{"attack-eps", &c.AttackEps, func(x float64) bool { return !math.IsNaN(x) && !math.IsInf(x, 0) }, "a finite epsilon"},
		{"attack-sigma", &c.AttackSigma, func(x float64) bool { return x >= 0 && !math.IsInf(x, 0) }, "a finite sigma >= 0"},
		{"attack-scale", &c.AttackScale, func(x float64) bool { return !math.IsNaN(x) && !math.IsInf(x, 0) }, "a finite factor"},
	} {
		if !slices.Contains(atk.params, p.name) || c.Byzantine == 0 {
			*p.v = 0
			continue
		}
		if !p.ok(*p.v) {
			return badFlag("--%s: %v; need %s", p.name, *p.v, p.want)
		}
	}
	if c.AttackZ == 0 && c.Attack == "alie" && c.Byzantine > 0 {
		c.AttackZ = alieZ(c.Workers, c.Byzantine)
	}
	return nil
}

// attackNames lists the attacks with a sign form (sign) or a gradient form.
func attackNames(sign bool) []string {
	var out []string
	for _, it := range attacks.items {
		if (sign && it.Value.sign != nil) || (!sign && it.Value.grad != nil) {
			out = append(out, it.Name)
		}
	}
	return out
}

// attackParams are the resolved parameters of the attack in use.
func (c *Config) attackParams() map[string]float64 {
	atk, _ := attacks.parse(c.Attack)
	if len(atk.params) == 0 {
		return nil
	}
	vals := map[string]float64{"attack-z": c.AttackZ, "attack-eps": c.AttackEps, "attack-sigma": c.AttackSigma, "attack-scale": c.AttackScale}
	out := map[string]float64{}
	for _, p := range atk.params {
		out[strings.TrimPrefix(p, "attack-")] = vals[p]
	}
	return out
}
