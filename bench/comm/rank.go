package comm

import (
	"encoding/hex"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"os"
	"runtime"
	"time"

	"signsgd/bench"
	"signsgd/collective"
	"signsgd/data"
	"signsgd/job"
	"signsgd/job/cli"
	"signsgd/job/nn"
	"signsgd/kernels"
)

// rankSpec is what every rank of one measured configuration is told (as
// JSON in --spec); only the rank differs.
type rankSpec struct {
	// Mode "exchange": a synthetic gradient of Dim values; "step": the
	// gradient of Model on a batch of Batch ImageNet-shaped samples;
	// "floor": raw TCP moving a server vote's bytes (floor.go).
	Mode string `json:"mode"`
	// Security is the links' transport security ("" is off).
	Security string `json:"security,omitempty"`
	Opt      string `json:"opt"`      // sgd, signsgd, signum
	Topology string `json:"topology"` // see topology.go
	// Aggregator is SGD's on the server topology ("" or "mean": the
	// collective's mean); see job.ServerAggregator.
	Aggregator string `json:"aggregator,omitempty"`
	Dim        int    `json:"dim,omitempty"`
	// Mode "floor" (floor.go): the exchange's pattern, "server" (the
	// default), "ring" or "mesh". Server: bytes a worker sends and
	// receives per step, in Frames frames each way; ring: Dim values;
	// mesh: Phases[p][r][q], the bytes rank r sends rank q in phase p.
	Pattern   string    `json:"pattern,omitempty"`
	UpBytes   int       `json:"up_bytes,omitempty"`
	DownBytes int       `json:"down_bytes,omitempty"`
	Frames    int       `json:"frames,omitempty"`
	Phases    [][][]int `json:"phases,omitempty"`
	Zeros     float64   `json:"zeros,omitempty"` // fraction of exact zeros in a synthetic gradient
	Model     string    `json:"model,omitempty"`
	Batch     int       `json:"batch,omitempty"`
	Steps     int       `json:"steps"`  // timed steps
	Warmup    int       `json:"warmup"` // untimed steps before them
	Seed      uint64    `json:"seed"`
	Threads   int       `json:"threads"` // Go and BLAS threads of this rank
	Workers   int       `json:"workers"`
	// Coordinator is rank 0's host:port; JobID keeps configurations apart.
	Coordinator string  `json:"coordinator"`
	JobID       string  `json:"job_id"`
	Timeout     float64 `json:"timeout_seconds"`
	// Timeline: record each timed step's exchange milestones
	// (collective.Timeline).
	Timeline bool `json:"timeline,omitempty"`
}

// The optimizers' constants (those of the paper; their values do not change
// the time of a step).
const (
	benchLR   = 1e-4
	benchBeta = 0.9
)

// rankTimes is one rank's measurements, one entry per timed step.
type rankTimes struct {
	Rank     int       `json:"rank"`
	Dim      int       `json:"dim"`
	Compute  []float64 `json:"compute,omitempty"` // forward+backward (step mode)
	Pack     []float64 `json:"pack"`              // momentum + PackSigns
	Exchange []float64 `json:"exchange"`          // the collective call
	// The CPU time of this rank's process (every thread, user and system)
	// over the collective call: what the exchange costs the cores,
	// whichever rank waits for which.
	ExchangeCPU []float64 `json:"exchange_cpu,omitempty"`
	Vote        []float64 `json:"vote,omitempty"` // kernels.Vote on M buffers, timed apart (rank 0)
	Update      []float64 `json:"update"`
	Sent        []int64   `json:"sent"` // bytes the collective sent, headers included
	Recv        []int64   `json:"recv"`
	// A vote's sent bytes in its two phases: the votes (TagVote), and the
	// answers (results and digests), for the mesh floor.
	SentVotes   []int64 `json:"sent_votes,omitempty"`
	SentAnswers []int64 `json:"sent_answers,omitempty"`
	// The milestones of the timed steps' exchanges (spec.Timeline).
	Timeline []stepEvent `json:"timeline,omitempty"`
}

// stepEvent is a collective.Event of timed step Step (0: the first after
// the warm-up).
type stepEvent struct {
	Step int `json:"step"`
	collective.Event
}

// rankCommand is the hidden `signsgd bench rank`: one rank of one
// configuration. Rank 0 prints every rank's rankTimes as one JSON line.
func rankCommand(args []string, stdout io.Writer) error {
	fs := flag.NewFlagSet("bench rank", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	specJSON := fs.String("spec", "", "configuration (JSON)")
	rank := fs.Int("rank", -1, "this rank")
	listenFD := fs.Int("listen-fd", 0, "rank 0: inherited listening socket")
	if err := fs.Parse(args); err != nil {
		return cli.UsageError("bench rank: %v", err)
	}
	var spec rankSpec
	if err := json.Unmarshal([]byte(*specJSON), &spec); err != nil {
		return cli.UsageError("bench rank: --spec: %v", err)
	}
	if *rank < 0 || *rank >= spec.Workers {
		return cli.UsageError("bench rank: --rank %d of %d", *rank, spec.Workers)
	}
	all, err := runRank(spec, *rank, *listenFD)
	if err != nil {
		return fmt.Errorf("rank %d of %d (%s %s): %w", *rank, spec.Workers, spec.Opt, spec.Topology, err)
	}
	if *rank == 0 {
		b, err := json.Marshal(all)
		if err != nil {
			return err
		}
		_, err = fmt.Fprintf(stdout, "%s\n", b)
		return err
	}
	return nil
}

// runRank joins the job, runs its steps and gathers every rank's times on
// rank 0 (all is nil elsewhere).
func runRank(spec rankSpec, rank, listenFD int) ([]rankTimes, error) {
	threads := max(spec.Threads, 1)
	runtime.GOMAXPROCS(threads)
	kernels.SetThreads(threads)
	kernels.SetBLASThreads(threads)

	secret, err := hex.DecodeString(os.Getenv(secretEnv))
	if err != nil || len(secret) < collective.MinSecret {
		return nil, fmt.Errorf("%s: want at least %d hex-encoded bytes", secretEnv, collective.MinSecret)
	}
	listener, err := inheritedListener(listenFD)
	if err != nil {
		return nil, fmt.Errorf("inherited listener (fd %d): %w", listenFD, err)
	}
	if spec.Mode == "floor" {
		return runFloor(spec, rank, listener, secret)
	}
	opt := collective.TCPOptions{
		Rank: rank, Size: spec.Workers, Coordinator: spec.Coordinator, JobID: spec.JobID, Secret: secret,
		Timeout: time.Duration(spec.Timeout * float64(time.Second)), Listener: listener,
		Security: collective.SecurityOff,
	}
	if spec.Security != "" {
		if opt.Security, err = collective.ParseSecurity(spec.Security); err != nil {
			return nil, err
		}
	}
	c, err := collective.DialTCP(opt)
	if err != nil {
		return nil, err
	}
	defer c.Close()

	mine, err := runSteps(spec, c)
	if err != nil {
		return nil, err
	}
	b, err := json.Marshal(mine)
	if err != nil {
		return nil, err
	}
	parts, err := collective.Gather(c, 0, b)
	if err != nil {
		return nil, err
	}
	if rank != 0 {
		// Wait for rank 0 to have everything before closing.
		return nil, collective.Barrier(c)
	}
	all := make([]rankTimes, len(parts))
	for r, p := range parts {
		if err := json.Unmarshal(p, &all[r]); err != nil {
			return nil, fmt.Errorf("times from rank %d: %w", r, err)
		}
	}
	return all, collective.Barrier(c)
}

// gradientSource gives a rank a fresh gradient for each step and says how
// long it took (zero for a synthetic gradient, which is made once).
type gradientSource interface {
	// Next leaves the step's gradient in Grad() and returns the seconds
	// the forward and backward pass took (0 if none).
	Next(step int) float64
	Grad() []float32
	Params() []float32
}

// syntheticGradient is a realistic float32 gradient made once: a signal
// shared by all ranks plus each rank's own noise, N(0, 0.25) + N(0, 1),
// with a fraction of exact zeros (the gradients of dead ReLU units).
type syntheticGradient struct {
	g, x []float32
}

func newSyntheticGradient(d int, zeros float64, seed uint64, rank int) *syntheticGradient {
	shared := rand.New(rand.NewPCG(seed, 0x5151))
	own := rand.New(rand.NewPCG(seed, uint64(rank)+1))
	g := make([]float32, d)
	for i := range g {
		v := 0.5*shared.NormFloat64() + own.NormFloat64()
		if zeros > 0 && own.Float64() < zeros {
			v = 0
		}
		g[i] = float32(v)
	}
	x := make([]float32, d)
	for i := range x {
		x[i] = float32(0.01 * shared.NormFloat64())
	}
	return &syntheticGradient{g: g, x: x}
}

func (s *syntheticGradient) Next(int) float64  { return 0 }
func (s *syntheticGradient) Grad() []float32   { return s.g }
func (s *syntheticGradient) Params() []float32 { return s.x }

// netGradient is a network's gradient on ImageNet-shaped synthetic data
// (data.SyntheticImages), each rank on its own samples.
type netGradient struct {
	net   *nn.Net
	src   data.Source
	x, y  []float32
	idx   []int
	batch int
	rank  int
}

// inputOf is the sample shape and class count a model is benchmarked on:
// ImageNet's for the ResNets, MNIST's for the paper's MNIST networks.
func inputOf(model string) (c, h, w, classes int) {
	if model == "cnn" || model == "mnistnet" || model == "mlp" {
		return 1, 28, 28, 10
	}
	return 3, 224, 224, 1000
}

func newNetGradient(model string, batch int, seed uint64, rank, workers int) (*netGradient, error) {
	c, h, w, classes := inputOf(model)
	hidden := 0
	if model == "mlp" {
		hidden = 128
	}
	n, err := nn.Build(model, []int{c, h, w}, classes, hidden, seed)
	if err != nil {
		return nil, err
	}
	src := data.SyntheticImages(1<<20, classes, c, h, w, seed)
	ng := &netGradient{net: n, src: src, batch: batch, rank: rank,
		x: make([]float32, batch*c*h*w), y: make([]float32, batch), idx: make([]int, batch)}
	for i := range ng.idx {
		ng.idx[i] = rank*batch + i
	}
	return ng, ng.src.Batch(ng.x, ng.y, ng.idx, 0)
}

func (n *netGradient) Next(step int) float64 {
	t := time.Now()
	n.net.LossGrad(n.x, n.y, n.batch, uint64(step))
	return time.Since(t).Seconds()
}
func (n *netGradient) Grad() []float32   { return n.net.Grads() }
func (n *netGradient) Params() []float32 { return n.net.Params() }

// runSteps runs spec's warm-up and timed steps on c.
func runSteps(spec rankSpec, c collective.Comm) (rankTimes, error) {
	var src gradientSource
	switch spec.Mode {
	case "exchange":
		src = newSyntheticGradient(spec.Dim, spec.Zeros, spec.Seed, c.Rank())
	case "step":
		ng, err := newNetGradient(spec.Model, spec.Batch, spec.Seed, c.Rank(), spec.Workers)
		if err != nil {
			return rankTimes{}, err
		}
		src = ng
	default:
		return rankTimes{}, fmt.Errorf("unknown mode %q", spec.Mode)
	}
	params := src.Params()
	d := len(params)
	rt := rankTimes{Rank: c.Rank(), Dim: d}
	signs, result := kernels.NewSigns(d), kernels.NewSigns(d)
	var momentum, mean []float32
	var voters []kernels.Signs
	voteResult := kernels.NewSigns(d)
	switch spec.Opt {
	case "signum":
		momentum = make([]float32, d)
	case "sgd":
		mean = make([]float32, d)
	}
	if spec.Opt != "sgd" && c.Rank() == 0 {
		// The vote alone, timed apart on M buffers of their own.
		voters = make([]kernels.Signs, c.Size())
		for i := range voters {
			voters[i] = kernels.NewSigns(d)
		}
	}
	exchangeSGD := func(c collective.Comm, g []float32, _ int) error { return exchangeMean(c, spec.Topology, g) }
	if spec.Opt == "sgd" && spec.Aggregator != "" && spec.Aggregator != "mean" {
		agg, err := job.ServerAggregator(spec.Aggregator, c.Size(), 0, d)
		if err != nil {
			return rt, err
		}
		exchangeSGD = agg
	}
	since := func(t time.Time) float64 { return time.Since(t).Seconds() }
	var tl *collective.Timeline
	if spec.Timeline {
		// Room for a step's events: a start, a sent and an end, and
		// three a chunk (a server exchange's rank 0) or two (a worker;
		// in a shard vote, every rank, a chunk being a shard).
		chunks := max(collective.ServerVoteFrames(d), collective.MeanFrames(d), c.Size())
		tl = &collective.Timeline{Events: make([]collective.Event, 0, 3+3*chunks)}
		if !collective.SetTimeline(c, tl) {
			return rt, fmt.Errorf("--timeline: this transport records no milestones")
		}
	}
	for step := range spec.Warmup + spec.Steps {
		compute := src.Next(step)
		g := src.Grad()
		var pack float64
		if spec.Opt == "sgd" {
			// The mean works in place on a copy, so a synthetic gradient
			// stays the same every step (not timed: a network writes a
			// fresh gradient anyway).
			copy(mean, g)
		} else {
			t := time.Now()
			if spec.Opt == "signum" {
				kernels.MomentumSigns(signs, momentum, g, benchBeta)
			} else {
				kernels.PackSigns(signs, g)
			}
			pack = since(t)
		}
		if err := collective.Barrier(c); err != nil {
			return rt, fmt.Errorf("step %d: %w", step, err)
		}
		if tl != nil {
			tl.Reset()
		}
		before := c.Traffic()
		cpu := bench.ProcessCPU()
		t := time.Now()
		var err error
		vopt := kernels.VoteOptions{Tie: kernels.TieZero, Seed: spec.Seed + uint64(step)}
		if spec.Opt == "sgd" {
			err = exchangeSGD(c, mean, step)
		} else {
			err = exchangeSigns(c, spec.Topology, signs, result, vopt)
		}
		exchange := since(t)
		cpu = bench.ProcessCPU() - cpu
		if err != nil {
			return rt, fmt.Errorf("step %d: %w", step, err)
		}
		after := c.Traffic()
		// Untimed, like the gloo script's max-reduction of its times: no
		// rank's update or next pack takes a core from a rank still in
		// the exchange when the ranks outnumber the cores.
		if err := collective.Barrier(c); err != nil {
			return rt, fmt.Errorf("step %d: %w", step, err)
		}
		t = time.Now()
		if spec.Opt == "sgd" {
			kernels.ApplyGradStep(params, mean, benchLR, 0)
		} else {
			kernels.ApplySignStep(params, result, benchLR, 0)
		}
		update := since(t)
		var vote float64
		if voters != nil {
			for i := range voters {
				voters[i].CopyFrom(signs)
			}
			t = time.Now()
			kernels.Vote(voteResult, voters, vopt)
			vote = since(t)
		}
		if step < spec.Warmup {
			continue
		}
		if spec.Mode == "step" {
			rt.Compute = append(rt.Compute, compute)
		}
		rt.Pack = append(rt.Pack, pack)
		rt.Exchange = append(rt.Exchange, exchange)
		rt.ExchangeCPU = append(rt.ExchangeCPU, cpu)
		rt.Update = append(rt.Update, update)
		if voters != nil {
			rt.Vote = append(rt.Vote, vote)
		}
		if tl != nil {
			for _, e := range tl.Events {
				rt.Timeline = append(rt.Timeline, stepEvent{Step: step - spec.Warmup, Event: e})
			}
		}
		rt.Sent = append(rt.Sent, after.Sent.Bytes-before.Sent.Bytes)
		rt.Recv = append(rt.Recv, after.Recv.Bytes-before.Recv.Bytes)
		if spec.Opt != "sgd" {
			v1, _ := after.Of(collective.TagVote)
			v0, _ := before.Of(collective.TagVote)
			a1, _ := after.Of(collective.TagVoteResult, collective.TagVoteDigest)
			a0, _ := before.Of(collective.TagVoteResult, collective.TagVoteDigest)
			rt.SentVotes = append(rt.SentVotes, v1-v0)
			rt.SentAnswers = append(rt.SentAnswers, a1-a0)
		}
	}
	return rt, nil
}

// inheritedListener is the listening socket rank 0 inherits as listenFD (nil
// for none).
func inheritedListener(listenFD int) (net.Listener, error) {
	if listenFD <= 0 {
		return nil, nil
	}
	f := os.NewFile(uintptr(listenFD), "listener")
	defer f.Close()
	return net.FileListener(f)
}
