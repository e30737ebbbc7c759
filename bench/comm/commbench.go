package comm

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"time"

	"gonum.org/v1/plot/plotter"

	"signsgd/bench"
	"signsgd/collective"
	"signsgd/job/cli"
)

// commOptions configure `signsgd bench comm`.
type commOptions struct {
	Pairs [][2]string // (optimizer, topology)
	// Securities are the transport security modes to time each
	// configuration under (collective.Security names; default off).
	Securities []string
	Workers    []int
	Dims       []int
	Steps      int
	Warmup     int
	Zeros      float64
	Seed       uint64
	Gloo       bool   // run gloo_allreduce.py beside
	Python     string // python3 with torch
	GlooReps   int
	Floor      bool          // time raw TCP moving each exchange's bytes in its pattern
	Repeat     int           // runs of each configuration (and its floor), alternating
	Timeline   bool          // record the exchanges' milestones (timeline.csv)
	Limit      time.Duration // per configuration
	Out        string
	Command    string // the command line, for comm.md
}

// commRow is one measured configuration.
type commRow struct {
	Opt, Topology string
	Security      string // the links' transport security (seal, auth, off)
	summary
	Gloo float64 // gloo's fp32 allreduce, seconds (NaN: not measured)
	// Floor is raw loopback TCP moving the same bytes in the same pattern
	// among the same processes, nothing else (floor.go), seconds (NaN:
	// not measured).
	Floor float64
	// FloorCPU is the floor's CPU time, every rank's together, as
	// summary.ExchangeCPU (NaN: not measured).
	FloorCPU float64
	// OverFloor and CPUOverFloor are each run's exchange over the floor
	// measured in the same run, in time and in CPU (--repeat; under a
	// second security mode, the floor of the first mode's bytes).
	OverFloor, CPUOverFloor []float64
	Runs                    int // --repeat
	// TimelineExchange and TimelineFloor are the exchange's and the
	// floor's times in the run whose milestones Timeline holds (the first).
	TimelineExchange, TimelineFloor float64
	// Timeline is every rank's milestones (--timeline).
	Timeline []rankEvent
}

// bytesOverFormula is a worker's measured bytes sent over the formula's.
func (s summary) bytesOverFormula() float64 {
	if s.FormulaSent == 0 {
		return math.NaN()
	}
	return s.WorkerSent / s.FormulaSent
}

// repeatLabel names run rep of n in the log, spaced from what follows
// ("" when there is one run).
func repeatLabel(rep, n int) string {
	if n == 1 {
		return ""
	}
	return fmt.Sprintf("run %d/%d  ", rep+1, n)
}

// combineRepeats is a configuration's summary over its runs: each time and
// CPU figure the median of the runs', the bytes the first run's (every run
// moves the same), BytesMatch only if every run matched.
func combineRepeats(reps []summary) summary {
	s := reps[0]
	med := func(get func(summary) float64) float64 {
		v := make([]float64, len(reps))
		for i, r := range reps {
			v[i] = get(r)
		}
		return medianOrNaN(v)
	}
	s.Compute = med(func(r summary) float64 { return r.Compute })
	s.Pack = med(func(r summary) float64 { return r.Pack })
	s.Exchange = med(func(r summary) float64 { return r.Exchange })
	s.ExchangeCPU = med(func(r summary) float64 { return r.ExchangeCPU })
	s.Vote = med(func(r summary) float64 { return r.Vote })
	s.Update = med(func(r summary) float64 { return r.Update })
	s.Step = med(func(r summary) float64 { return r.Step })
	for _, r := range reps {
		s.BytesMatch = s.BytesMatch && r.BytesMatch
	}
	return s
}

// overFloor is the exchange's time over its wire floor's: the median of
// the runs' own ratios (NaN: no floor).
func (r commRow) overFloor() float64 {
	if len(r.OverFloor) == 0 {
		return r.Exchange / r.Floor
	}
	return medianOrNaN(r.OverFloor)
}

// cpuOverFloor is overFloor in CPU time.
func (r commRow) cpuOverFloor() float64 {
	if len(r.CPUOverFloor) == 0 {
		return r.ExchangeCPU / r.FloorCPU
	}
	return medianOrNaN(r.CPUOverFloor)
}

// ratioCell is a ratio with two decimals and, over several runs, their
// range: "1.47 (1.27-1.72)".
func ratioCell(v float64, runs []float64) string { return fmtRatio2(v) + runsRange(" (", v, runs) }

// ratioText is a ratio in a sentence: "1.47x", over several runs "1.47x
// (runs 1.27-1.72)".
func ratioText(v float64, runs []float64) string {
	return fmtRatio2(v) + "x" + runsRange(" (runs ", v, runs)
}

// runsRange is the range of several runs' ratios after prefix, closed by a
// bracket ("" for one run or none, or no ratio).
func runsRange(prefix string, v float64, runs []float64) string {
	if len(runs) < 2 || math.IsNaN(v) {
		return ""
	}
	return fmt.Sprintf("%s%.2f-%.2f)", prefix, slices.Min(runs), slices.Max(runs))
}

func commCommand(args []string, stdout io.Writer) error {
	const cmd = "bench comm"
	fs := flag.NewFlagSet(cmd, flag.ContinueOnError)
	optS := fs.String("opt", "sgd,signsgd,signum", "optimizers (comma list of sgd, signsgd, signum)")
	topo := fs.String("topology", "all", "topologies (comma list; all: every one collective offers for each optimizer)")
	workersS := fs.String("workers", "2,4,8,16", "worker counts M (ranks, rank 0 included)")
	dimsS := fs.String("dims", "11689512,25557032", "gradient sizes d (ResNet-18's and ResNet-50's parameter counts)")
	steps := fs.Int("steps", 10, "timed steps per configuration")
	warmup := fs.Int("warmup", 2, "untimed steps before them")
	zeros := fs.Float64("zeros", 0, "fraction of exact zeros in the gradient (mimics ReLU gradients)")
	seed := fs.Uint64("seed", 8005, "random seed of the gradients")
	gloo := fs.String("gloo", "auto", "run bench/gloo_allreduce.py for the same d and M: auto (if python3 with torch is found), off")
	python := fs.String("python", "", "python3 with torch for gloo (default: /usr/bin/python3, then python3 on PATH)")
	glooReps := fs.Int("gloo-reps", 10, "timed allreduces per gloo configuration")
	secS := fs.String("security", "off", "transport security of the ranks' links (comma list of seal, auth, off: each configuration under each, in one run)")
	repeat := fs.Int("repeat", 1, "runs of each configuration (a run: the exchange under each --security mode, then its wire floor): times are the medians over the runs, a ratio to the floor the median of the runs' own, with their range")
	floor := fs.Bool("floor", true, "also time raw TCP moving each exchange's bytes in its pattern, nothing else (the wire floor)")
	timeline := fs.Bool("timeline", false, "also record the milestones of each server vote and mean and shard vote, chunk by chunk on every rank: timeline.csv, timeline.png (each configuration's median step), summed up in comm.md")
	limit := fs.Duration("timeout", 10*time.Minute, "limit per configuration")
	out := fs.String("out", "results/bench/comm", "output folder: comm.csv, comm.md, comm-bytes.png, comm-seconds.png (and with --timeline timeline.csv, timeline.png)")
	if ok, err := parseFlags(fs, args, stdout); !ok {
		return err
	}
	opts, err := optList(cmd, *optS)
	if err != nil {
		return err
	}
	o := commOptions{Steps: *steps, Warmup: *warmup, Zeros: *zeros, Seed: *seed, GlooReps: *glooReps, Floor: *floor, Repeat: *repeat, Timeline: *timeline, Limit: *limit, Out: *out, Command: commandLine("comm", args)}
	if o.Securities, err = securityList(cmd, *secS); err != nil {
		return err
	}
	if o.Pairs, err = pairs(cmd, opts, *topo); err != nil {
		return err
	}
	if o.Workers, err = intList(cmd, "workers", *workersS); err != nil {
		return err
	}
	if o.Dims, err = intList(cmd, "dims", *dimsS); err != nil {
		return err
	}
	if m := slices.Min(o.Workers); m < 2 {
		return usageErr(cmd, "--workers %d: a single rank exchanges nothing; need at least 2", m)
	}
	switch {
	case o.Steps < 1:
		return usageErr(cmd, "--steps %d: need at least 1", o.Steps)
	case o.Warmup < 0:
		return usageErr(cmd, "--warmup %d: need 0 or more", o.Warmup)
	case o.Repeat < 1:
		return usageErr(cmd, "--repeat %d: need at least 1", o.Repeat)
	case o.Zeros < 0 || o.Zeros >= 1:
		return usageErr(cmd, "--zeros %g: want a fraction in [0, 1)", o.Zeros)
	case o.GlooReps < 1:
		return usageErr(cmd, "--gloo-reps %d: need at least 1", o.GlooReps)
	case o.Limit <= 0:
		return usageErr(cmd, "--timeout %v: need a positive duration", o.Limit)
	}
	switch *gloo {
	case "auto":
		if o.Python = findPython(*python); o.Python == "" {
			fmt.Fprintln(stdout, "bench comm: no python3 with torch (gloo) found: gloo's allreduce is not measured")
		}
		o.Gloo = o.Python != ""
	case "off":
	default:
		return usageErr(cmd, "--gloo %q: want auto or off", *gloo)
	}
	if err := prepareOut(cmd, o.Out); err != nil {
		return err
	}
	ctx, stop := interruptible()
	defer stop()
	rows, err := runComm(ctx, o, stdout)
	if err != nil {
		return err
	}
	if err := writeComm(o, rows); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "bench comm: %d configurations; %s, %s, comm-bytes.png, comm-seconds.png\n",
		len(rows), filepath.Join(o.Out, "comm.csv"), filepath.Join(o.Out, "comm.md"))
	return nil
}

// usageErr is a bad flag value of cmd.
func usageErr(cmd, format string, args ...any) error {
	return cli.UsageError("%s: %s", cmd, fmt.Sprintf(format, args...))
}

// runComm measures every configuration; gloo's allreduce of each (d, M)
// runs right after that (d, M)'s own, so that the two see the same load.
func runComm(ctx context.Context, o commOptions, log io.Writer) ([]commRow, error) {
	exe, err := ownExecutable()
	if err != nil {
		return nil, err
	}
	l := &launcher{exe: exe, limit: o.Limit}
	var rows []commRow
	for _, d := range o.Dims {
		for _, m := range o.Workers {
			first := len(rows)
			for _, p := range o.Pairs {
				got, err := runRepeats(ctx, l, o, p, d, m, log)
				if err != nil {
					return nil, err
				}
				rows = append(rows, got...)
			}
			if !o.Gloo {
				continue
			}
			g, err := runGloo(ctx, o.Python, d, m, o.Warmup, o.GlooReps, o.Limit)
			if err != nil {
				return nil, fmt.Errorf("bench comm: %w", err)
			}
			for i := first; i < len(rows); i++ {
				rows[i].Gloo = g
			}
			fmt.Fprintf(log, "bench comm: gloo fp32 allreduce M=%-2d d=%-8d  %s ms\n", m, d, fmtMs(g))
		}
	}
	return rows, nil
}

// runRepeats measures one optimizer-topology pair p at d and M = m: o.Repeat
// runs, each of them the exchange under every security mode in turn and
// then (--floor) the floor of the first mode's bytes, so that run i of each
// mode is paired with floor i, all measured within seconds. It returns a
// row per mode.
func runRepeats(ctx context.Context, l *launcher, o commOptions, p [2]string, d, m int, log io.Writer) ([]commRow, error) {
	rows := make([]commRow, len(o.Securities))
	reps := make([][]summary, len(o.Securities))
	var floors, floorCPUs []float64
	for rep := range o.Repeat {
		for k, sec := range o.Securities {
			spec := rankSpec{Mode: "exchange", Opt: p[0], Topology: p[1], Dim: d, Zeros: o.Zeros,
				Steps: o.Steps, Warmup: o.Warmup, Seed: o.Seed, Threads: threadsPerRank(m), Workers: m,
				Timeout: o.Limit.Seconds(), Security: sec, Timeline: o.Timeline}
			all, err := l.run(ctx, spec, nil)
			if err != nil {
				return nil, fmt.Errorf("bench comm: %s %s M=%d d=%d security %s: %w", p[0], p[1], m, d, sec, err)
			}
			s := summarize(all, p[0], p[1])
			reps[k] = append(reps[k], s)
			if rep == 0 {
				rows[k].Timeline, rows[k].TimelineExchange = timelineOf(all), s.Exchange
			}
			fmt.Fprintf(log, "bench comm: %-7s %-9s M=%-2d d=%-8d security %-4s %sbytes/step/worker sent %s (formula %s)  exchange %s ms (CPU %s ms)  step %s ms\n",
				p[0], p[1], m, d, sec, repeatLabel(rep, o.Repeat), fmtBytes(s.WorkerSent), fmtBytes(s.FormulaSent), fmtMs(s.Exchange), fmtMs(s.ExchangeCPU), fmtMs(s.Step))
			if !o.Floor || k > 0 {
				// The floor moves the same bytes whatever protects the
				// frames: measured after the first mode only.
				continue
			}
			f, fc, err := runFloorOf(ctx, l, p, s, all, o)
			if err != nil {
				return nil, fmt.Errorf("bench comm: wire floor of %s %s M=%d d=%d: %w", p[0], p[1], m, d, err)
			}
			floors, floorCPUs = append(floors, f), append(floorCPUs, fc)
			fmt.Fprintf(log, "bench comm: %-7s %-9s M=%-2d d=%-8d  %swire floor (the same bytes, same pattern, raw TCP) %s ms (CPU %s ms): exchange / floor %.2f (CPU %.2f)\n",
				p[0], p[1], m, d, repeatLabel(rep, o.Repeat), fmtMs(f), fmtMs(fc), s.Exchange/f, s.ExchangeCPU/fc)
		}
	}
	for k, sec := range o.Securities {
		r := &rows[k]
		r.Opt, r.Topology, r.Security, r.Gloo = p[0], p[1], sec, math.NaN()
		r.summary, r.Runs = combineRepeats(reps[k]), o.Repeat
		r.Floor, r.FloorCPU, r.TimelineFloor = math.NaN(), math.NaN(), math.NaN()
		if !o.Floor {
			continue
		}
		r.Floor, r.FloorCPU, r.TimelineFloor = medianOrNaN(floors), medianOrNaN(floorCPUs), floors[0]
		r.OverFloor, r.CPUOverFloor = pairedRatios(reps[k], floors, floorCPUs)
	}
	return rows, nil
}

// pairedRatios divides each run's exchange by the floor measured in the
// same run, in time and in CPU.
func pairedRatios(reps []summary, floors, floorCPUs []float64) (time, cpu []float64) {
	for i, s := range reps {
		time = append(time, s.Exchange/floors[i])
		cpu = append(cpu, s.ExchangeCPU/floorCPUs[i])
	}
	return time, cpu
}

// runFloorOf times raw TCP moving the bytes of the exchange of pair p
// measured as s (from every rank's records all) in its pattern (floor.go): a server mean's or vote's worker bytes in as many
// frames, the ring's frames, or the votes' per-rank bytes of each phase
// split evenly among the peers. It returns the floor's time and its CPU
// time (every rank's together).
func runFloorOf(ctx context.Context, l *launcher, p [2]string, s summary, all []rankTimes, o commOptions) (seconds, cpu float64, err error) {
	spec := rankSpec{Mode: "floor", Steps: o.Steps, Warmup: o.Warmup, Threads: threadsPerRank(s.Workers),
		Workers: s.Workers, Timeout: o.Limit.Seconds()}
	switch {
	case p[1] == "server":
		spec.Pattern, spec.UpBytes, spec.DownBytes = "server", int(math.Round(s.WorkerSent)), int(math.Round(s.WorkerRecv))
		spec.Frames = collective.ServerVoteFrames(s.Dim)
		if p[0] == "sgd" {
			spec.Frames = collective.MeanFrames(s.Dim)
		}
	case p[1] == "ring":
		spec.Pattern, spec.Dim = "ring", s.Dim
	default: // allgather, shard
		spec.Pattern = "mesh"
		m := s.Workers
		for _, get := range []func(rankTimes) []int64{
			func(rt rankTimes) []int64 { return rt.SentVotes },
			func(rt rankTimes) []int64 { return rt.SentAnswers },
		} {
			phase := make([][]int, m)
			total := 0
			for _, rt := range all {
				sent := make([]float64, 0, len(get(rt)))
				for _, b := range get(rt) {
					sent = append(sent, float64(b))
				}
				per := int(math.Round(median(sent) / float64(m-1)))
				phase[rt.Rank] = make([]int, m)
				for q := range m {
					if q != rt.Rank {
						phase[rt.Rank][q] = per
						total += per
					}
				}
			}
			if total > 0 {
				spec.Phases = append(spec.Phases, phase)
			}
		}
	}
	all, err = l.run(ctx, spec, nil)
	if err != nil {
		return 0, 0, err
	}
	return slowestMedian(all, exchangeTimes), totalMedian(all, exchangeCPU), nil
}

// runGloo runs the embedded gloo_allreduce.py for d floats and m
// processes and returns its median seconds.
func runGloo(ctx context.Context, python string, d, m, warmup, reps int, limit time.Duration) (float64, error) {
	dir, err := os.MkdirTemp("", "signsgd-gloo-*")
	if err != nil {
		return 0, fmt.Errorf("gloo: %w", err)
	}
	defer os.RemoveAll(dir)
	script := filepath.Join(dir, "gloo_allreduce.py")
	if err := os.WriteFile(script, bench.GlooAllreduce, 0o644); err != nil {
		return 0, fmt.Errorf("gloo: %w", err)
	}
	ctx, cancel := context.WithTimeout(ctx, limit)
	defer cancel()
	cmd := exec.CommandContext(ctx, python, script, "--dims", itoa(d), "--workers", itoa(m),
		"--warmup", fmt.Sprint(max(warmup, 1)), "--reps", fmt.Sprint(reps))
	cmd.Env = append(os.Environ(), "OMP_NUM_THREADS=1", "OPENBLAS_NUM_THREADS=1", "GLOO_SOCKET_IFNAME=lo")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	outp, err := cmd.Output()
	if err != nil {
		msg := strings.TrimSpace(stderr.String())
		if i := strings.LastIndexByte(msg, '\n'); i >= 0 {
			msg = msg[i+1:]
		}
		return 0, fmt.Errorf("gloo: %s gloo_allreduce.py d=%d M=%d: %v: %s", python, d, m, err, msg)
	}
	sc := bufio.NewScanner(bytes.NewReader(outp))
	for sc.Scan() {
		var line struct {
			Dim, Workers int
			Seconds      float64 `json:"seconds_median"`
		}
		if err := json.Unmarshal(sc.Bytes(), &line); err != nil {
			return 0, fmt.Errorf("gloo: output line %q: %w", sc.Text(), err)
		}
		if line.Dim == d && line.Workers == m {
			return line.Seconds, nil
		}
	}
	return 0, fmt.Errorf("gloo: gloo_allreduce.py d=%d M=%d printed no result", d, m)
}

// commTable is comm.csv's content.
func commTable(rows []commRow) *table {
	t := &table{header: []string{"optimizer", "topology", "security", "workers", "dim", "threads_per_rank", "steps",
		"bytes_sent_per_step", "bytes_recv_per_step", "formula_bytes_per_step", "formula_recv_bytes_per_step",
		"rank0_bytes_sent_per_step", "rank0_bytes_recv_per_step", "rank0_formula_sent_per_step", "rank0_formula_recv_per_step", "bytes_match", "bytes_over_formula",
		"pack_seconds", "exchange_vote_seconds", "vote_seconds_apart", "update_seconds", "seconds_per_step",
		"gloo_allreduce_seconds", "gloo_over_exchange", "wire_floor_seconds", "exchange_over_floor", "exchange_over_gloo",
		"exchange_cpu_seconds", "wire_floor_cpu_seconds", "exchange_cpu_over_floor",
		"repeats", "exchange_over_floor_min", "exchange_over_floor_max", "exchange_cpu_over_floor_min", "exchange_cpu_over_floor_max"}}
	for _, r := range rows {
		t.add(r.Opt, r.Topology, r.Security, itoa(r.Workers), itoa(r.Dim), itoa(threadsPerRank(r.Workers)), itoa(r.Steps),
			fmtFloat(r.WorkerSent), fmtFloat(r.WorkerRecv), fmtFloat(r.FormulaSent), fmtFloat(r.FormulaRecv),
			fmtFloat(r.Rank0Sent), fmtFloat(r.Rank0Recv), itoa(r.FormulaRank0Sent), itoa(r.FormulaRank0Recv), fmt.Sprint(r.BytesMatch), fmtFloat(r.bytesOverFormula()),
			fmtFloat(r.Pack), fmtFloat(r.Exchange), voteCell(r.Opt, r.Vote, fmtFloat), fmtFloat(r.Update), fmtFloat(r.Step),
			fmtFloat(r.Gloo), fmtFloat(r.Gloo/r.Exchange), fmtFloat(r.Floor), fmtFloat(r.overFloor()), fmtFloat(r.Exchange/r.Gloo),
			fmtFloat(r.ExchangeCPU), fmtFloat(r.FloorCPU), fmtFloat(r.cpuOverFloor()),
			itoa(r.Runs), fmtFloat(minOrNaN(r.OverFloor)), fmtFloat(maxOrNaN(r.OverFloor)),
			fmtFloat(minOrNaN(r.CPUOverFloor)), fmtFloat(maxOrNaN(r.CPUOverFloor)))
	}
	return t
}

func voteCell(opt string, v float64, f func(float64) string) string {
	if opt == "sgd" {
		return f(math.NaN())
	}
	return f(v)
}

// writeComm writes comm.csv, comm.md and the figures.
func writeComm(o commOptions, rows []commRow) error {
	if err := commTable(rows).writeCSV(filepath.Join(o.Out, "comm.csv")); err != nil {
		return err
	}
	md := &table{header: []string{"optimizer", "topology", "security", "M", "d", "bytes/step sent (worker)", "formula", "measured / formula",
		"rank 0 recv/step", "pack ms", "exchange+vote ms", "vote alone ms", "update ms", "step ms", "gloo allreduce ms", "gloo / exchange", "wire floor ms", "exchange / floor", "exchange / gloo"}}
	for _, r := range rows {
		match := fmt.Sprintf("%.3f", r.bytesOverFormula())
		if r.BytesMatch {
			match = "1 (exact)"
		}
		md.add(r.Opt, r.Topology, r.Security, itoa(r.Workers), itoa(r.Dim), fmtBytes(r.WorkerSent), fmtBytes(r.FormulaSent), match,
			fmtBytes(r.Rank0Recv), fmtMs(r.Pack), fmtMs(r.Exchange), voteCell(r.Opt, r.Vote, fmtMs), fmtMs(r.Update), fmtMs(r.Step),
			fmtMs(r.Gloo), fmtRatio(r.Gloo/r.Exchange), fmtMs(r.Floor), ratioCell(r.overFloor(), r.OverFloor), fmtRatio2(r.Exchange/r.Gloo))
	}
	var b strings.Builder
	fmt.Fprintf(&b, "# bench comm: bytes and seconds of one exchange\n\n")
	fmt.Fprintf(&b, "Command: `%s`\n\nMachine: %s\n\n", o.Command, machine())
	fmt.Fprintf(&b, "Every rank is a separate process; they join over loopback TCP (collective.DialTCP). Each rank holds a\n"+
		"float32 gradient (a shared N(0, 0.25) signal plus its own N(0, 1) noise, %g zeros) and, per step:\n"+
		"pack (SIGNUM: kernels.MomentumSigns; SIGNSGD: PackSigns; SGD: none), an untimed barrier, the\n"+
		"collective (vote or fp32 mean; for the server topology rank 0 decodes, counts and sends back), another untimed\n"+
		"barrier (as the gloo script's max-reduction of its times: with more ranks than cores, a rank done with the\n"+
		"exchange would otherwise take a core for its update while another still receives), and the update\n"+
		"(kernels.ApplySignStep / ApplyGradStep). Times: per phase the slowest rank's, median over %d steps after %d\n"+
		"warm-up steps. \"vote alone\" is kernels.Vote on M buffers timed apart on rank 0 (part of exchange+vote).\n"+
		"Bytes: from Comm.Traffic around the collective, frame headers (%d bytes each) included, per step; the\n"+
		"worker columns are the mean over ranks 1..M-1. The formula (collective.MeanBytes, collective.VoteBytes) is exact\n"+
		"for the fp32 mean; for a vote it counts both sign planes raw (2 bits a coordinate), an upper bound: collective\n"+
		"stores a plane zstd-compressed when that is shorter (a dense gradient's all-ones non-zero plane shrinks to almost\n"+
		"nothing) and a zero sign costs no sign bit. \"exact\": every rank matched its formula every step. gloo: bench/gloo_allreduce.py, PyTorch gloo fp32 allreduce (+ divide by M) of d floats, M\n"+
		"processes with one thread each, median of its repetitions, in this same run right after the same (d, M)'s\n"+
		"own configurations (so both see the same load). \"wire floor\": the same M processes moving the exchange's\n"+
		"measured bytes in its pattern over raw loopback TCP, and nothing else: no framing, no sums, no vote, no\n"+
		"encoding, no allocation; timed as the exchange, right after it (bench/comm/floor.go); each frame leaves from and\n"+
		"lands at its own place in memory as large as the exchange's (a vector of d values for the means). Server (mean and vote):\n"+
		"a worker's bytes each way in as many frames, rank 0 reading frame k from every worker before writing frame k\n"+
		"back; ring: MeanRing's frames, each rank writing its own chunk, then every frame it reads as soon as it has\n"+
		"read it; allgather and shard: each rank's bytes of each phase (the votes, then the digests or results) split\n"+
		"evenly among its peers, a phase's reads done before the next phase's writes. No implementation of the\n"+
		"pattern moving these bytes on these cores can be faster.\n\n",
		o.Zeros, o.Steps, o.Warmup, collective.HeaderSize)
	if o.Repeat > 1 {
		fmt.Fprintf(&b, "Runs: each configuration ran %d times", o.Repeat)
		if len(o.Securities) > 1 {
			fmt.Fprintf(&b, ", a run timing it under every mode in turn")
		}
		if o.Floor {
			if len(o.Securities) > 1 {
				b.WriteString(", then its wire floor")
			} else {
				b.WriteString(", each run followed by its wire floor")
			}
			fmt.Fprintf(&b, "; a time is the median over the runs, and a ratio to the floor the median of\n"+
				"the runs' own (each run's exchange over the floor of the same run), with their range in brackets")
		} else {
			fmt.Fprintf(&b, "; a time is the median over the runs")
		}
		fmt.Fprintf(&b, ". The bytes and the timeline are the first run's")
		if o.Gloo {
			fmt.Fprintf(&b, "; gloo's allreduce runs once for each d and M, after all the runs")
		}
		b.WriteString(".\n\n")
	}
	fmt.Fprintf(&b, "Cores: all ranks share this machine's %d cores. ", runtime.NumCPU())
	for _, m := range o.Workers {
		fmt.Fprintf(&b, "M=%d: %s. ", m, sharing(m))
	}
	fmt.Fprintf(&b, "Times with more ranks than cores include waiting for a core.\n\n")
	if len(o.Securities) > 1 {
		fmt.Fprintf(&b, "Transport security (collective's Sealed frames): each configuration under %s in turn, in each run; the\n"+
			"bytes are the payloads' (a sealed frame carries a 16-byte tag more on the wire); the wire floor is measured\n"+
			"once per run, after the %s exchange, and every mode is compared with it.\n\n", strings.Join(o.Securities, ", then "), o.Securities[0])
	}
	b.WriteString(md.markdown())
	b.WriteString("\n")
	if s := commAcceptance(rows); s != "" {
		b.WriteString(s)
	}
	b.WriteString(commSecurityCost(rows))
	b.WriteString(commCPU(rows))
	if o.Timeline {
		s, err := writeTimeline(o, rows)
		if err != nil {
			return err
		}
		b.WriteString(s)
	}
	if err := writeText(filepath.Join(o.Out, "comm.md"), b.String()); err != nil {
		return err
	}
	return drawComm(o, rows)
}

// commCPU is comm.md's section on what each exchange costs the cores, its
// CPU time against the wire floor's ("" when none was measured).
func commCPU(rows []commRow) string {
	floor := slices.ContainsFunc(rows, func(r commRow) bool { return !math.IsNaN(r.FloorCPU) })
	header := []string{"optimizer", "topology", "security", "M", "d", "exchange CPU ms"}
	if floor {
		header = append(header, "wire floor CPU ms", "CPU / floor's", "time / floor's")
	}
	t := &table{header: header}
	for _, r := range rows {
		if math.IsNaN(r.ExchangeCPU) {
			continue
		}
		cells := []string{r.Opt, r.Topology, r.Security, itoa(r.Workers), itoa(r.Dim), fmtMs(r.ExchangeCPU)}
		if floor {
			cells = append(cells, fmtMs(r.FloorCPU), ratioCell(r.cpuOverFloor(), r.CPUOverFloor), ratioCell(r.overFloor(), r.OverFloor))
		}
		t.add(cells...)
	}
	if len(t.rows) == 0 {
		return ""
	}
	what := "The CPU time of the collective call (user and system, every thread of a rank's process, from getrusage),\n" +
		"summed over the ranks, median over the timed steps"
	if floor {
		what += "; the wire floor's the same way"
	}
	return "## What an exchange costs the cores\n\n" + what + ". Where ranks share cores\n" +
		"this is what an exchange takes from them. Waiting is not charged, but a busy machine makes copies and context\n" +
		"switches dearer, so the CPU ratio moves with the load much as the time's does.\n\n" + t.markdown() + "\n"
}

// securityNote names a row's transport security in a target line, unless
// it is off.
func securityNote(r commRow) string {
	if r.Security == "off" || r.Security == "" {
		return ""
	}
	return " (" + r.Security + ")"
}

// commAcceptance states the targets: the fp32 ring against gloo (at most
// 1.25x at M = 2 and 4, 1.5x at M = 8), the server mean against its wire
// floor (1.3x), the server vote and the shard vote against theirs (1.5x at
// M = 4); and the sign exchange against gloo (20x at d = 11.7M, M = 4).
func commAcceptance(rows []commRow) string {
	verdict := func(ok bool) string {
		if ok {
			return "meets"
		}
		return "misses"
	}
	var t strings.Builder
	for _, r := range rows {
		switch {
		case r.Opt == "sgd" && r.Topology == "ring" && !math.IsNaN(r.Gloo) && r.Workers <= 8:
			limit := 1.25
			if r.Workers > 4 {
				limit = 1.5
			}
			fmt.Fprintf(&t, "- SGD ring%s, d = %d, M = %d: %s ms against gloo's %s ms: %.2fx gloo (%s the %.2fx target).\n",
				securityNote(r), r.Dim, r.Workers, fmtMs(r.Exchange), fmtMs(r.Gloo), r.Exchange/r.Gloo, verdict(r.Exchange <= limit*r.Gloo), limit)
		case r.Opt == "sgd" && r.Topology == "server" && !math.IsNaN(r.Floor):
			fmt.Fprintf(&t, "- SGD server%s, d = %d, M = %d: %s ms against its wire floor %s ms: %s (%s the 1.3x target).\n", securityNote(r),
				r.Dim, r.Workers, fmtMs(r.Exchange), fmtMs(r.Floor), ratioText(r.overFloor(), r.OverFloor), verdict(r.overFloor() <= 1.3))
		case r.Opt != "sgd" && (r.Topology == "server" || r.Topology == "shard") && r.Workers == 4 && !math.IsNaN(r.Floor):
			fmt.Fprintf(&t, "- %s %s vote%s, d = %d, M = 4: %s ms against its wire floor %s ms: %s (%s the 1.5x target); CPU %s ms against the floor's %s ms, %s.\n",
				strings.ToUpper(r.Opt), r.Topology, securityNote(r), r.Dim, fmtMs(r.Exchange), fmtMs(r.Floor), ratioText(r.overFloor(), r.OverFloor), verdict(r.overFloor() <= 1.5),
				fmtMs(r.ExchangeCPU), fmtMs(r.FloorCPU), ratioText(r.cpuOverFloor(), r.CPUOverFloor))
		}
	}
	var b strings.Builder
	if t.Len() > 0 {
		b.WriteString("## Targets: the fp32 collectives at gloo's speed, the exchanges near their wire floor\n\n")
		if slices.ContainsFunc(rows, func(r commRow) bool { return len(r.OverFloor) > 1 }) {
			b.WriteString("Over several runs a time is the median of the runs', and a ratio to the floor the median of the runs' own\n" +
				"ratios (their range in brackets), which need not be the quotient of the two medians.\n\n")
		}
		b.WriteString(t.String() + "\n")
	}
	t.Reset()
	for _, r := range rows {
		if r.Opt == "sgd" || r.Topology != "server" || r.Workers != 4 || r.Dim != 11689512 || math.IsNaN(r.Gloo) {
			continue
		}
		ratio := r.Gloo / r.Exchange
		fmt.Fprintf(&t, "- %s, server, d = 11,689,512, M = 4: sign exchange + vote %s ms against gloo's fp32 allreduce %s ms: %.1fx faster (%s the 20x target).",
			strings.ToUpper(r.Opt), fmtMs(r.Exchange), fmtMs(r.Gloo), ratio, verdict(ratio >= 20))
		if !math.IsNaN(r.Floor) {
			fmt.Fprintf(&t, " Raw TCP alone moving the same bytes: %s ms; gloo over that is %.1fx, the most any server vote of these bytes can reach here.",
				fmtMs(r.Floor), r.Gloo/r.Floor)
		}
		t.WriteString("\n")
	}
	if t.Len() > 0 {
		b.WriteString("## Target: sign exchange + vote at least 20x faster than gloo (loopback)\n\n" + t.String() + "\n")
	}
	return b.String()
}

// drawComm draws bytes and seconds per step against M, one panel per d.
func drawComm(o commOptions, rows []commRow) error {
	var bytesP, secP []panel
	for _, d := range o.Dims {
		bp := panel{title: fmt.Sprintf("d = %d", d), xLabel: "workers M", yLabel: "bytes per step", logX: true, logY: true, xTicks: floats(o.Workers)}
		sp := panel{title: fmt.Sprintf("d = %d", d), xLabel: "workers M", yLabel: "seconds per exchange", logX: true, logY: true, xTicks: floats(o.Workers)}
		for _, p := range o.Pairs {
			var w, s0 plotter.XYs
			for _, sec := range o.Securities {
				var ex plotter.XYs
				for _, r := range rows {
					if r.Dim == d && r.Opt == p[0] && r.Topology == p[1] && r.Security == sec {
						ex = append(ex, plotter.XY{X: float64(r.Workers), Y: r.Exchange})
						if sec == o.Securities[0] { // the same bytes under every mode
							w = append(w, plotter.XY{X: float64(r.Workers), Y: r.WorkerSent})
							s0 = append(s0, plotter.XY{X: float64(r.Workers), Y: r.Rank0Recv})
						}
					}
				}
				name := p[0] + " " + p[1]
				if len(o.Securities) > 1 {
					name += " " + sec
				}
				sp.lines = append(sp.lines, series{name: name, xy: ex})
			}
			name := p[0] + " " + p[1]
			if p[0] == "signsgd" && hasPair(o.Pairs, "signum", p[1]) {
				continue // the same bytes as SIGNUM's
			}
			if p[0] != "sgd" {
				name = "signs " + p[1]
			}
			bp.lines = append(bp.lines, series{name: name + ": worker sent", xy: w})
			if p[1] == "server" {
				bp.lines = append(bp.lines, series{name: name + ": rank 0 recv", xy: s0, dashed: true})
			}
		}
		var g plotter.XYs
		for _, m := range o.Workers {
			for _, r := range rows {
				if r.Dim == d && r.Workers == m && !math.IsNaN(r.Gloo) {
					g = append(g, plotter.XY{X: float64(m), Y: r.Gloo})
					break
				}
			}
		}
		if len(g) > 0 {
			sp.lines = append(sp.lines, series{name: "gloo fp32 allreduce", xy: g, dashed: true})
		}
		bytesP, secP = append(bytesP, bp), append(secP, sp)
	}
	if err := drawPNG(filepath.Join(o.Out, "comm-bytes.png"), "bytes per step per rank (measured, loopback)", bytesP); err != nil {
		return err
	}
	return drawPNG(filepath.Join(o.Out, "comm-seconds.png"), "exchange (+ vote or sum) per step, slowest rank, median", secP)
}

func floats(xs []int) []float64 {
	out := make([]float64, len(xs))
	for i, x := range xs {
		out[i] = float64(x)
	}
	return out
}

func hasPair(ps [][2]string, opt, topology string) bool {
	for _, p := range ps {
		if p[0] == opt && p[1] == topology {
			return true
		}
	}
	return false
}

// securityList parses a comma list of transport securities
// (collective.Security names) for cmd's --security.
func securityList(cmd, list string) ([]string, error) {
	var out []string
	for _, v := range strings.Split(list, ",") {
		if _, err := collective.ParseSecurity(v); err != nil {
			return nil, cli.UsageError("%s --security: %v", cmd, err)
		}
		out = append(out, v)
	}
	return out, nil
}

// commSecurityCost says, for every configuration measured both with off and
// with another transport security, what that one adds to the exchange (the
// two modes' medians over the same runs, in each of which they ran one
// after the other), against the target for SIGNUM's server
// vote at M = 4 (at most 10%).
func commSecurityCost(rows []commRow) string {
	var b strings.Builder
	for _, off := range rows {
		if off.Security != "off" {
			continue
		}
		for _, r := range rows {
			if r.Security == "off" || r.Opt != off.Opt || r.Topology != off.Topology || r.Workers != off.Workers || r.Dim != off.Dim {
				continue
			}
			if b.Len() == 0 {
				b.WriteString("## Transport security against off (same runs)\n\n")
			}
			target := ""
			if r.Opt == "signum" && r.Topology == "server" && r.Workers == 4 && r.Security == "seal" {
				verdict := "meets"
				if r.Exchange > 1.1*off.Exchange {
					verdict = "misses"
				}
				target = fmt.Sprintf(" (%s the 10%% target)", verdict)
			}
			fmt.Fprintf(&b, "- %s %s, M = %d, d = %d, %s: exchange %s ms against %s ms, x%.2f (%+.0f%%)%s; step %s ms against %s ms.\n",
				r.Opt, r.Topology, r.Workers, r.Dim, r.Security, fmtMs(r.Exchange), fmtMs(off.Exchange), r.Exchange/off.Exchange,
				100*(r.Exchange/off.Exchange-1), target, fmtMs(r.Step), fmtMs(off.Step))
		}
	}
	if b.Len() > 0 {
		b.WriteString("\n")
	}
	return b.String()
}
