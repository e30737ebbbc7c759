package comm

import (
	"context"
	"flag"
	"fmt"
	"io"
	"math"
	"path/filepath"
	"runtime"
	"strings"
	"time"

	"gonum.org/v1/plot/plotter"
)

// scaleOptions configure `signsgd bench scale`.
type scaleOptions struct {
	Dim            int
	LoopWorkers    []int
	Steps, Warmup  int
	Netns          string // auto, off
	NetWorkers     []int
	NetPairs       []optPair // what the namespaces measure; the fit takes the server ones
	Rates          []string
	NetSteps       int
	ProjectWorkers []int
	ProjectGbit    []float64
	Compute        float64 // seconds of forward/backward added to a projected step
	Seed           uint64
	Limit          time.Duration
	Out, Command   string
}

// scaleOpts are the two optimizers compared: SGD's fp32 mean and SIGNUM's
// vote, both over the server topology (the paper's).
var scaleOpts = []string{"sgd", "signum"}

// scaleRow is one measured configuration of bench scale.
type scaleRow struct {
	Part      string // loopback, netns
	Opt       string
	Topology  string
	Rate      string  // "" on loopback
	Bandwidth float64 // bytes/s, +Inf on loopback
	summary
	Fit float64 // the model's exchange time (NaN if not fitted)
}

// serverBytes is what crosses rank 0's link in a step: the fitted S.
func (r scaleRow) serverBytes() float64 { return r.Rank0Sent + r.Rank0Recv }

func scaleCommand(args []string, stdout io.Writer) error {
	const cmd = "bench scale"
	fs := flag.NewFlagSet(cmd, flag.ContinueOnError)
	dim := fs.Int("dim", 11689512, "gradient size d (ResNet-18's parameter count)")
	loop := fs.String("workers", "1,2,4,8,16,32", "worker counts on loopback")
	steps := fs.Int("steps", 5, "timed steps per configuration (loopback)")
	warmup := fs.Int("warmup", 1, "untimed steps before them")
	netns := fs.String("netns", "auto", "bandwidth-limited namespaces: auto (if root with ip and tc), off")
	netWorkers := fs.String("netns-workers", "2,4,8", "worker counts in namespaces")
	netPairs := fs.String("netns-pairs", "sgd:server,signum:server", "optimizer:topology pairs measured in namespaces (the fit and the projection take the server ones)")
	rates := fs.String("rates", "10gbit,1gbit,100mbit", "tbf rates of every veth (tc syntax)")
	netSteps := fs.Int("netns-steps", 3, "timed steps per configuration in namespaces")
	projW := fs.String("project-workers", "64,128,256,512,1024", "worker counts to project to")
	projG := fs.String("project-gbit", "10,25,100", "link speeds to project to, Gbit/s")
	compute := fs.Float64("compute", 0, "forward/backward seconds added to a projected step (0: exchange, pack and update only)")
	seed := fs.Uint64("seed", 8005, "random seed of the gradients")
	limit := fs.Duration("timeout", 20*time.Minute, "limit per configuration")
	out := fs.String("out", "results/bench/scale", "output folder: scale.csv, projection.csv, scale.md, PNGs")
	if ok, err := parseFlags(fs, args, stdout); !ok {
		return err
	}
	o := scaleOptions{Dim: *dim, Steps: *steps, Warmup: *warmup, Netns: *netns, NetSteps: *netSteps, Compute: *compute,
		Seed: *seed, Limit: *limit, Out: *out, Command: commandLine("scale", args)}
	var err error
	if o.LoopWorkers, err = intList(cmd, "workers", *loop); err != nil {
		return err
	}
	if o.NetWorkers, err = intList(cmd, "netns-workers", *netWorkers); err != nil {
		return err
	}
	if o.NetPairs, err = pairList(cmd, "netns-pairs", *netPairs); err != nil {
		return err
	}
	if o.ProjectWorkers, err = intList(cmd, "project-workers", *projW); err != nil {
		return err
	}
	for _, g := range strings.Split(*projG, ",") {
		v, err := parseRate(strings.TrimSpace(g) + "gbit")
		if err != nil {
			return usageErr(cmd, "--project-gbit %q: want positive numbers separated by commas", *projG)
		}
		o.ProjectGbit = append(o.ProjectGbit, v/1e9)
	}
	for _, r := range strings.Split(*rates, ",") {
		if _, err := parseRate(strings.TrimSpace(r)); err != nil {
			return usageErr(cmd, "--rates: %v", err)
		}
		o.Rates = append(o.Rates, strings.TrimSpace(r))
	}
	switch {
	case o.Dim < 1:
		return usageErr(cmd, "--dim %d: need at least 1", o.Dim)
	case o.Steps < 1 || o.NetSteps < 1:
		return usageErr(cmd, "--steps %d, --netns-steps %d: need at least 1", o.Steps, o.NetSteps)
	case o.Warmup < 0:
		return usageErr(cmd, "--warmup %d: need 0 or more", o.Warmup)
	case o.Compute < 0:
		return usageErr(cmd, "--compute %g: need 0 or more", o.Compute)
	case o.Limit <= 0:
		return usageErr(cmd, "--timeout %v: need a positive duration", o.Limit)
	case o.Netns != "auto" && o.Netns != "off":
		return usageErr(cmd, "--netns %q: want auto or off", o.Netns)
	}
	if err := prepareOut(cmd, o.Out); err != nil {
		return err
	}
	ctx, stop := interruptible()
	defer stop()
	res, err := runScale(ctx, o, stdout)
	if err != nil {
		return err
	}
	if err := writeScale(o, res); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "bench scale: %d configurations; %s, %s\n", len(res.Rows), filepath.Join(o.Out, "scale.csv"), filepath.Join(o.Out, "scale.md"))
	return nil
}

// scaleResult is everything bench scale measured and fitted.
type scaleResult struct {
	Rows      []scaleRow
	NetnsNote string // why part (b) did not run ("" if it did)
	Models    map[string]exchangeModel
	Errors    map[string]fitError
	FitOn     string             // which points the model was fitted on
	PerPeer   map[string]float64 // bytes through rank 0's link per peer per step, measured
	Proj      []projRow
}

// projRow is one projected configuration.
type projRow struct {
	Workers int
	Gbit    float64
	// Per optimizer: exchange seconds and step seconds (+ pack, update
	// and --compute).
	Exchange, Step map[string]float64
}

func runScale(ctx context.Context, o scaleOptions, log io.Writer) (scaleResult, error) {
	res := scaleResult{Models: map[string]exchangeModel{}, Errors: map[string]fitError{}}
	exe, err := ownExecutable()
	if err != nil {
		return res, err
	}
	l := &launcher{exe: exe, limit: o.Limit}
	measure := func(part string, p optPair, rate string, bw float64, m, steps int, ns []string, coord string) error {
		opt := p.opt
		spec := rankSpec{Mode: "exchange", Opt: opt, Topology: p.topo, Dim: o.Dim, Steps: steps, Warmup: o.Warmup,
			Seed: o.Seed, Threads: threadsPerRank(m), Workers: m, Coordinator: coord, Timeout: o.Limit.Seconds()}
		all, err := l.run(ctx, spec, ns)
		if err != nil {
			where := "loopback"
			if part == "netns" {
				where = "netns at " + rate
			}
			return fmt.Errorf("bench scale: %s %s M=%d d=%d: %w", where, p, m, o.Dim, err)
		}
		r := scaleRow{Part: part, Opt: opt, Topology: p.topo, Rate: rate, Bandwidth: bw, summary: summarize(all, opt, p.topo), Fit: math.NaN()}
		res.Rows = append(res.Rows, r)
		fmt.Fprintf(log, "bench scale: %-8s %-8s %-13s M=%-2d  pack %s ms  exchange %s ms  update %s ms  rank 0 bytes/step %s\n",
			part, rate, p, m, fmtMs(r.Pack), fmtMs(r.Exchange), fmtMs(r.Update), fmtBytes(r.serverBytes()))
		return nil
	}
	for _, m := range o.LoopWorkers {
		for _, opt := range scaleOpts {
			if err := measure("loopback", optPair{opt, "server"}, "", math.Inf(1), m, o.Steps, nil, ""); err != nil {
				return res, err
			}
		}
	}
	res.NetnsNote = "--netns off"
	if o.Netns == "auto" {
		res.NetnsNote = netnsUsable()
	}
	if res.NetnsNote == "" {
		if err := runNetns(ctx, o, measure); err != nil {
			return res, err
		}
	} else {
		fmt.Fprintf(log, "bench scale: part (b), bandwidth-limited namespaces, skipped: %s\n", res.NetnsNote)
	}
	fitScale(o, &res)
	return res, nil
}

// runNetns measures every rate and worker count in one lab, deleted at the
// end whatever happens.
func runNetns(ctx context.Context, o scaleOptions, measure func(part string, p optPair, rate string, bw float64, m, steps int, ns []string, coord string) error) (err error) {
	mMax := 0
	for _, m := range o.NetWorkers {
		mMax = max(mMax, m)
	}
	lab, err := newNetLab(ctx, mMax)
	if err != nil {
		return fmt.Errorf("bench scale: %w", err)
	}
	defer func() {
		if cerr := lab.close(); cerr != nil && err == nil {
			err = fmt.Errorf("bench scale: %w", cerr)
		}
	}()
	port := 29400
	for _, rate := range o.Rates {
		if err := lab.limit(ctx, rate); err != nil {
			return fmt.Errorf("bench scale: %w", err)
		}
		bps, _ := parseRate(rate)
		for _, m := range o.NetWorkers {
			for _, p := range o.NetPairs {
				port++ // a fresh port per configuration: no wait for the last one's sockets
				coord := fmt.Sprintf("%s:%d", labAddr(0), port)
				if err := measure("netns", p, rate, bps/8, m, o.NetSteps, lab.ranks[:m], coord); err != nil {
					return err
				}
			}
		}
	}
	return nil
}

// fitScale fits the exchange model per optimizer (on the namespaces'
// points if any, else on loopback's with B fixed at 1 and M at most the
// core count) and projects it.
func fitScale(o scaleOptions, res *scaleResult) {
	fitPart, fixedB := "netns", 0.0
	res.FitOn = "the bandwidth-limited namespaces' points (every rate and M)"
	if res.NetnsNote != "" {
		fitPart, fixedB = "loopback", 1
		res.FitOn = fmt.Sprintf("loopback points with 2 <= M <= %d (no namespaces: B fixed at 1, the wire at line rate)", runtime.NumCPU()*2)
	}
	for _, opt := range scaleOpts {
		var pts []fitPoint
		var idx []int
		for i, r := range res.Rows {
			if r.Opt != opt || r.Topology != "server" || r.Part != fitPart || r.Workers < 2 || (fitPart == "loopback" && r.Workers > 2*runtime.NumCPU()) {
				continue
			}
			pts = append(pts, fitPoint{Bytes: r.serverBytes(), Bandwidth: r.Bandwidth, Seconds: r.Exchange})
			idx = append(idx, i)
		}
		m, fe, err := fitExchange(pts, fixedB)
		if err != nil {
			continue
		}
		res.Models[opt], res.Errors[opt] = m, fe
		for _, i := range idx {
			r := &res.Rows[i]
			r.Fit = m.predict(r.serverBytes(), r.Bandwidth)
		}
	}
	// Pack and update per optimizer: the loopback measurement at the
	// smallest M >= 2 (they do not depend on M).
	local := map[string]float64{}
	for _, opt := range scaleOpts {
		best := math.MaxInt
		for _, r := range res.Rows {
			if r.Opt == opt && r.Part == "loopback" && r.Workers >= 2 && r.Workers < best {
				best, local[opt] = r.Workers, r.Pack+r.Update
			}
		}
	}
	// Bytes through rank 0's link per peer and step, as measured at the
	// largest M (the gradient's compression as it was here).
	perPeer := map[string]float64{}
	for _, opt := range scaleOpts {
		best := 0
		for _, r := range res.Rows {
			if r.Opt == opt && r.Topology == "server" && r.Workers >= 2 && r.Workers >= best {
				best, perPeer[opt] = r.Workers, r.serverBytes()/float64(r.Workers-1)
			}
		}
	}
	res.PerPeer = perPeer
	for _, w := range o.ProjectWorkers {
		for _, g := range o.ProjectGbit {
			p := projRow{Workers: w, Gbit: g, Exchange: map[string]float64{}, Step: map[string]float64{}}
			for _, opt := range scaleOpts {
				m, ok := res.Models[opt]
				if !ok {
					continue
				}
				t := m.predict(float64(w-1)*perPeer[opt], g*1e9/8)
				p.Exchange[opt] = t
				p.Step[opt] = t + local[opt] + o.Compute
			}
			res.Proj = append(res.Proj, p)
		}
	}
}

// writeScale writes scale.csv, projection.csv, scale.md and the figures.
func writeScale(o scaleOptions, res scaleResult) error {
	t := &table{header: []string{"part", "optimizer", "topology", "workers", "dim", "rate", "bandwidth_bytes_per_second", "threads_per_rank", "steps",
		"bytes_sent_per_step", "rank0_bytes_sent_per_step", "rank0_bytes_recv_per_step", "bytes_match",
		"pack_seconds", "exchange_seconds", "update_seconds", "seconds_per_step", "fit_exchange_seconds", "fit_relative_error"}}
	for _, r := range res.Rows {
		rate, bw := r.Rate, fmtFloat(r.Bandwidth)
		if r.Part == "loopback" {
			rate, bw = "loopback", ""
		}
		t.add(r.Part, r.Opt, r.Topology, itoa(r.Workers), itoa(r.Dim), rate, bw, itoa(threadsPerRank(r.Workers)), itoa(r.Steps),
			fmtFloat(r.WorkerSent), fmtFloat(r.Rank0Sent), fmtFloat(r.Rank0Recv), fmt.Sprint(r.BytesMatch),
			fmtFloat(r.Pack), fmtFloat(r.Exchange), fmtFloat(r.Update), fmtFloat(r.Step), fmtFloat(r.Fit), fmtFloat(math.Abs(r.Fit-r.Exchange)/r.Exchange))
	}
	if err := t.writeCSV(filepath.Join(o.Out, "scale.csv")); err != nil {
		return err
	}
	pt := &table{header: []string{"workers", "gbit_per_second"}}
	for _, opt := range scaleOpts {
		pt.header = append(pt.header, opt+"_exchange_seconds")
	}
	for _, opt := range scaleOpts {
		pt.header = append(pt.header, opt+"_step_seconds")
	}
	pt.header = append(pt.header, "sgd_over_signum_step")
	for _, p := range res.Proj {
		cells := []string{itoa(p.Workers), fmtFloat(p.Gbit)}
		for _, opt := range scaleOpts {
			cells = append(cells, fmtFloat(p.Exchange[opt]))
		}
		for _, opt := range scaleOpts {
			cells = append(cells, fmtFloat(p.Step[opt]))
		}
		pt.add(append(cells, fmtFloat(p.Step["sgd"]/p.Step["signum"]))...)
	}
	if err := pt.writeCSV(filepath.Join(o.Out, "projection.csv")); err != nil {
		return err
	}

	var b strings.Builder
	fmt.Fprintf(&b, "# bench scale: time per step against the number of workers\n\nCommand: `%s`\n\nMachine: %s\n\n", o.Command, machine())
	fmt.Fprintf(&b, "SGD (fp32 mean) against SIGNUM (majority vote), both over the server topology (the paper's Algorithm 1),\n"+
		"d = %d, ranks as separate processes over TCP. Per phase the slowest rank's time, median over the timed steps;\n"+
		"exchange (the collective, rank 0's sum or vote included) is measured apart from the compute (pack, update).\n\n", o.Dim)
	fmt.Fprintf(&b, "## (a) loopback, one machine\n\nAll ranks share this machine's %d cores, each with cores/M threads (at least 1): ", runtime.NumCPU())
	for _, m := range o.LoopWorkers {
		fmt.Fprintf(&b, "M=%d: %s. ", m, sharing(m))
	}
	b.WriteString("From M = 3 the ranks take turns on the cores, so these times include waiting for a core: they say what one\n" +
		"machine does, not what M machines would.\n\n")
	lt := &table{header: []string{"M", "optimizer", "rank 0 bytes/step", "pack ms", "exchange ms", "update ms", "step ms"}}
	for _, r := range res.Rows {
		if r.Part == "loopback" {
			lt.add(itoa(r.Workers), r.Opt, fmtBytes(r.serverBytes()), fmtMs(r.Pack), fmtMs(r.Exchange), fmtMs(r.Update), fmtMs(r.Step))
		}
	}
	b.WriteString(lt.markdown())
	b.WriteString("\n## (b) bandwidth-limited links: namespaces, veth pairs and a bridge\n\n")
	if res.NetnsNote != "" {
		fmt.Fprintf(&b, "Skipped: %s.\n\n", res.NetnsNote)
	} else {
		fmt.Fprintf(&b, "Each rank runs in its own network namespace with a veth pair to a Linux bridge (in a namespace of its own),\n"+
			"addresses 10.77.0.x/24; a tbf qdisc at the given rate (burst: 1 ms at that rate, at least 16 KiB) sits on\n"+
			"both ends of every veth (a rank's uplink and downlink). The namespaces are created for this run and deleted at its end. The ranks still share the %d cores\n"+
			"(as in (a)); %d timed steps after %d warm-up per configuration.\n\n", runtime.NumCPU(), o.NetSteps, o.Warmup)
		nt := &table{header: []string{"rate", "M", "optimizer", "topology", "rank 0 bytes/step", "exchange ms", "model ms", "pack ms", "update ms", "step ms"}}
		for _, r := range res.Rows {
			if r.Part == "netns" {
				nt.add(r.Rate, itoa(r.Workers), r.Opt, r.Topology, fmtBytes(r.serverBytes()), fmtMs(r.Exchange), fmtMs(r.Fit), fmtMs(r.Pack), fmtMs(r.Update), fmtMs(r.Step))
			}
		}
		b.WriteString(nt.markdown())
		b.WriteString("\n")
		b.WriteString(netnsTargets(res.Rows))
	}
	b.WriteString("\n## (c) a model of the exchange and its projection (a cross-check)\n\n" +
		"The scaling figures are `bench scale --sim`'s (simgrid.md): the real collectives' frames replayed on modelled\n" +
		"links up to 4096 ranks, each optimizer at its best topology. This fit of the server topology's measurements\n" +
		"stays beside them as a cross-check.\n\n")
	fmt.Fprintf(&b, "t_exchange = A + B * S / bandwidth + C * S, with S the bytes through rank 0's link per step (sent + received:\n"+
		"2 (M-1) frames: SIGNUM's signs, at most d/4 bytes (two bit planes, less where collective compresses one), SGD's\n"+
		"4d bytes of floats, plus %d-byte headers). Fitted per optimizer\n"+
		"by least squares on relative error with A, B, C >= 0, on %s.\n\n", headerSize(), res.FitOn)
	ft := &table{header: []string{"optimizer", "A (s)", "B", "C (ns/byte)", "terms fitted", "points", "max rel. error", "median rel. error"}}
	for _, opt := range scaleOpts {
		m, ok := res.Models[opt]
		if !ok {
			ft.add(opt, "-", "-", "-", "-", "0", "-", "-")
			continue
		}
		e := res.Errors[opt]
		ft.add(opt, fmt.Sprintf("%.4g", m.A), fmt.Sprintf("%.3g", m.B), fmt.Sprintf("%.3g", m.C*1e9), m.Terms, itoa(e.N),
			fmt.Sprintf("%.1f%%", 100*e.MaxRel), fmt.Sprintf("%.1f%%", 100*e.MedianRel))
	}
	b.WriteString(ft.markdown())
	fmt.Fprintf(&b, "\nProjection (server topology, d = %d): exchange from the model with S = 2 (M-1) x the bytes per peer and\n"+
		"direction measured here (SGD %s, SIGNUM %s: the sign planes as collective encoded this gradient); step =\n"+
		"exchange + pack + update measured on loopback at the smallest M", o.Dim, fmtBytes(res.PerPeer["sgd"]/2), fmtBytes(res.PerPeer["signum"]/2))
	if o.Compute > 0 {
		fmt.Fprintf(&b, " + %.3g s of forward/backward (--compute)", o.Compute)
	} else {
		b.WriteString(" (no forward/backward: --compute 0)")
	}
	b.WriteString(". This extrapolates a fit made with M <= 8 on one machine to\n" +
		"hundreds of workers: it assumes that rank 0's link and CPU are the bottleneck and scale linearly in the bytes (no switch\n" +
		"contention, no incast loss, the measured per-byte CPU cost); it is an estimate, not a measurement. C was measured\n" +
		"with M ranks sharing this machine's cores, so rank 0's per-byte cost includes waiting for a core: on a cluster\n" +
		"with a node per rank it would be lower, and the CPU-bound (fast link) projections are pessimistic.\n\n")
	pm := &table{header: []string{"workers", "Gbit/s", "SGD exchange s", "SIGNUM exchange s", "SGD step s", "SIGNUM step s", "SGD / SIGNUM"}}
	for _, p := range res.Proj {
		pm.add(itoa(p.Workers), fmtFloat(p.Gbit), fmt.Sprintf("%.3g", p.Exchange["sgd"]), fmt.Sprintf("%.3g", p.Exchange["signum"]),
			fmt.Sprintf("%.3g", p.Step["sgd"]), fmt.Sprintf("%.3g", p.Step["signum"]), fmtRatio(p.Step["sgd"]/p.Step["signum"]))
	}
	b.WriteString(pm.markdown())
	if err := writeText(filepath.Join(o.Out, "scale.md"), b.String()); err != nil {
		return err
	}
	return drawScale(o, res)
}

// netnsTargets states the target at 1 Gbit/s, M = 8.
func netnsTargets(rows []scaleRow) string {
	var sgd, sig float64
	for _, r := range rows {
		if r.Part == "netns" && r.Topology == "server" && r.Rate == "1gbit" && r.Workers == 8 {
			if r.Opt == "sgd" {
				sgd = r.Exchange
			} else {
				sig = r.Exchange
			}
		}
	}
	if sgd == 0 || sig == 0 {
		return ""
	}
	verdict := "meets"
	if sgd/sig < 10 {
		verdict = "misses"
	}
	return fmt.Sprintf("Target at 1 Gbit/s, M = 8: SIGNUM's exchange %s ms against SGD's %s ms: %.1fx faster (%s the 10x target).\n",
		fmtMs(sig), fmtMs(sgd), sgd/sig, verdict)
}

// drawScale draws loopback times, the namespaces' times with the model,
// and the projection.
func drawScale(o scaleOptions, res scaleResult) error {
	lp := panel{title: "loopback (ranks share the cores)", xLabel: "workers M", yLabel: "seconds", logX: true, logY: true, xTicks: floats(o.LoopWorkers)}
	for _, opt := range scaleOpts {
		var ex, st plotter.XYs
		for _, r := range res.Rows {
			if r.Part == "loopback" && r.Opt == opt && r.Workers >= 2 {
				ex = append(ex, plotter.XY{X: float64(r.Workers), Y: r.Exchange})
				st = append(st, plotter.XY{X: float64(r.Workers), Y: r.Step})
			}
		}
		lp.lines = append(lp.lines, series{name: opt + " exchange", xy: ex}, series{name: opt + " step", xy: st, dashed: true})
	}
	panels := []panel{lp}
	for _, rate := range o.Rates {
		p := panel{title: "namespaces at " + rate, xLabel: "workers M", yLabel: "exchange seconds", logX: true, logY: true, xTicks: floats(o.NetWorkers)}
		for _, pr := range o.NetPairs {
			var ex, fit plotter.XYs
			for _, r := range res.Rows {
				if r.Part == "netns" && r.Rate == rate && r.Opt == pr.opt && r.Topology == pr.topo {
					ex = append(ex, plotter.XY{X: float64(r.Workers), Y: r.Exchange})
					fit = append(fit, plotter.XY{X: float64(r.Workers), Y: r.Fit})
				}
			}
			if len(ex) == 0 {
				continue
			}
			p.lines = append(p.lines, series{name: pr.String() + " measured", xy: ex})
			if pr.topo == "server" {
				p.lines = append(p.lines, series{name: pr.String() + " model", xy: fit, dashed: true})
			}
		}
		if len(p.lines) > 0 {
			panels = append(panels, p)
		}
	}
	if err := drawPNG(filepath.Join(o.Out, "scale-measured.png"), fmt.Sprintf("SGD (fp32 mean) vs SIGNUM (vote), server topology, d = %d", o.Dim), panels); err != nil {
		return err
	}
	var proj []panel
	for _, g := range o.ProjectGbit {
		p := panel{title: fmt.Sprintf("%g Gbit/s", g), xLabel: "workers", yLabel: "projected exchange seconds", logX: true, logY: true, xTicks: floats(o.ProjectWorkers)}
		for _, opt := range scaleOpts {
			var xy plotter.XYs
			for _, pr := range res.Proj {
				if pr.Gbit == g {
					if v, ok := pr.Exchange[opt]; ok {
						xy = append(xy, plotter.XY{X: float64(pr.Workers), Y: v})
					}
				}
			}
			p.lines = append(p.lines, series{name: opt, xy: xy})
		}
		proj = append(proj, p)
	}
	return drawPNG(filepath.Join(o.Out, "scale-projection.png"), "projected exchange per step (fitted model, server topology)", proj)
}
