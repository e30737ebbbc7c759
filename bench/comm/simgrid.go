package comm

import (
	"crypto/sha256"
	"flag"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"time"

	"gonum.org/v1/plot/plotter"

	"signsgd/collective"
	"signsgd/job/cli"
	"signsgd/kernels"
)

// `signsgd bench scale --sim` is the scaling grid on the link model: one
// exchange per optimizer, topology, M and rate, replayed by
// collective.SimulateExchange (frames by size, so M = 4096 ranks of
// d = 11.7M values fit in memory), rank 0's sum and every count charged at
// kernel speeds measured at the start. The step is the forward/backward
// time (--compute, a measured ResNet-18 step by default) plus the exchange.
// The headline compares each optimizer at its best topology.

// measureCosts times the kernels the replay charges: kernels.AddFinite
// (the mean's reduction), kernels.Vote (the count) and SHA-256 (the
// allgather's digests), the best of a few runs.
func measureCosts() collective.SimCosts {
	best := func(f func()) float64 {
		b := math.Inf(1)
		for range 5 {
			t0 := time.Now()
			f()
			b = min(b, time.Since(t0).Seconds())
		}
		return b
	}
	const n = 1 << 20
	x, y := make([]float32, n), make([]float32, n)
	rng := rand.New(rand.NewPCG(5, 6))
	for i := range y {
		y[i] = float32(rng.NormFloat64())
	}
	var c collective.SimCosts
	c.AddPerValue = best(func() { kernels.AddFinite(x, y, 1) }) / n
	const voters, coords = 16, 1 << 20
	vs := make([]kernels.Signs, voters)
	g := make([]float32, coords)
	for i := range vs {
		for j := range g {
			g[j] = float32(rng.NormFloat64())
		}
		vs[i] = kernels.NewSigns(coords)
		kernels.PackSigns(vs[i], g)
	}
	dst := kernels.NewSigns(coords)
	c.VotePerVoterWord = best(func() { kernels.Vote(dst, vs, kernels.VoteOptions{}) }) / float64(voters*kernels.Words(coords))
	buf := make([]byte, 4<<20)
	c.HashPerByte = best(func() { sha256.Sum256(buf) }) / float64(len(buf))
	return c
}

type gridRow struct {
	rate             string
	m                int
	opt, topo        string
	exchange, step   float64
	sentWorkerBytes  int
	simulatedSeconds float64 // wall time the replay took
}

func simGridCommand(args []string, stdout io.Writer) error {
	const cmd = "bench scale --sim"
	fs := flag.NewFlagSet(cmd, flag.ContinueOnError)
	dim := fs.Int("dim", 11689512, "gradient size d (ResNet-18's parameter count)")
	workers := fs.String("workers", "2,4,8,16,32,64,128,256,512,1024,2048,4096", "worker counts")
	rates := fs.String("rates", "1gbit,10gbit,100gbit", "link rates (tc syntax)")
	latency := fs.String("latency", "50us", "link latency")
	pairsFlag := fs.String("pairs", "sgd:ring,sgd:server,signum:server,signum:allgather,signum:shard", "optimizer:topology pairs (signsgd and signum exchange the same frames)")
	compute := fs.Duration("compute", 941*time.Millisecond, "forward/backward time per step (default: ResNet-18, batch 8, one CPU thread, bench/results/step)")
	half := fs.Bool("half-duplex", false, "each rank's interface carries one frame at a time, sending or receiving")
	costs := fs.Bool("costs", true, "charge the sum, the vote count and the digests at the kernel speeds measured at the start")
	out := fs.String("out", "bench/results/scale", "output folder: simgrid.csv, simgrid.md, simgrid.png")
	if ok, err := parseFlags(fs, args, stdout); !ok || err != nil {
		return err
	}
	ms, err := intList(cmd, "--workers", *workers)
	if err != nil {
		return err
	}
	rateNames, links, err := linkList(cmd, *rates, *latency)
	if err != nil {
		return err
	}
	pairs, err := pairList(cmd, "pairs", *pairsFlag)
	if err != nil {
		return err
	}
	if err := prepareOut(cmd, *out); err != nil {
		return err
	}
	model := collective.SimModel{HalfDuplex: *half}
	if *costs {
		model.Costs = measureCosts()
	}
	fmt.Fprintf(stdout, "costs: add %.3g ns/value, vote %.3g ns/voter-word, sha256 %.3g ns/byte\n",
		model.Costs.AddPerValue*1e9, model.Costs.VotePerVoterWord*1e9, model.Costs.HashPerByte*1e9)
	t0 := time.Now()
	var rows []gridRow
	for i, link := range links {
		model.Link = link
		for _, m := range ms {
			for _, p := range pairs {
				s0 := time.Now()
				ex, err := collective.SimulateExchange(p.kind(), p.topo, m, *dim, model)
				if err != nil {
					return fmt.Errorf("%s: %s %s M=%d %s: %w", cmd, p.opt, p.topo, m, rateNames[i], err)
				}
				r := gridRow{rate: rateNames[i], m: m, opt: p.opt, topo: p.topo, exchange: ex, step: compute.Seconds() + ex, simulatedSeconds: time.Since(s0).Seconds()}
				rows = append(rows, r)
				fmt.Fprintf(stdout, "%s M=%d %s %s: exchange %.4g s, step %.4g s (replayed in %.1f s)\n", r.rate, m, p.opt, p.topo, ex, r.step, r.simulatedSeconds)
			}
		}
	}
	took := time.Since(t0)
	t := &table{header: []string{"rate", "latency", "workers", "dim", "optimizer", "topology", "exchange_seconds", "compute_seconds", "step_seconds", "half_duplex", "replay_wall_seconds"}}
	for _, r := range rows {
		t.add(r.rate, *latency, strconv.Itoa(r.m), strconv.Itoa(*dim), r.opt, r.topo, strconv.FormatFloat(r.exchange, 'g', 6, 64),
			strconv.FormatFloat(compute.Seconds(), 'g', 6, 64), strconv.FormatFloat(r.step, 'g', 6, 64), strconv.FormatBool(*half), strconv.FormatFloat(r.simulatedSeconds, 'f', 2, 64))
	}
	if err := t.writeCSV(filepath.Join(*out, "simgrid.csv")); err != nil {
		return err
	}
	var panels []panel
	for _, rate := range rateNames {
		pn := panel{title: rate + "/s, step = compute + exchange", xLabel: "workers M", yLabel: "step seconds", logX: true, logY: true}
		for _, p := range pairs {
			var xy plotter.XYs
			for _, r := range rows {
				if r.rate == rate && r.opt == p.opt && r.topo == p.topo {
					xy = append(xy, plotter.XY{X: float64(r.m), Y: r.step})
				}
			}
			pn.lines = append(pn.lines, series{name: p.opt + " " + p.topo, xy: xy, dashed: p.opt == "sgd"})
		}
		panels = append(panels, pn)
	}
	if err := drawPNG(filepath.Join(*out, "simgrid.png"), fmt.Sprintf("Simulated step time, d = %d, compute %v (bench scale --sim)", *dim, *compute), panels); err != nil {
		return err
	}
	md := simGridMarkdown(rows, rateNames, ms, args, *dim, *latency, *compute, model, took)
	if err := cli.WriteFileAtomic(filepath.Join(*out, "simgrid.md"), func(w io.Writer) error {
		_, err := io.WriteString(w, md)
		return err
	}); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "grid replayed in %v; %s\n", took.Round(time.Second), filepath.Join(*out, "simgrid.md"))
	return nil
}

// bestTopology returns, for each (rate, M, optimizer family), the row of
// the least step time: "sgd" and "signs" (signsgd and signum).
func bestTopology(rows []gridRow) map[string]gridRow {
	best := map[string]gridRow{}
	for _, r := range rows {
		fam := "signs"
		if r.opt == "sgd" {
			fam = "sgd"
		}
		k := fmt.Sprintf("%s,%d,%s", r.rate, r.m, fam)
		if b, ok := best[k]; !ok || r.step < b.step {
			best[k] = r
		}
	}
	return best
}

func simGridMarkdown(rows []gridRow, rates []string, ms []int, args []string, dim int, latency string, compute time.Duration, model collective.SimModel, took time.Duration) string {
	var b strings.Builder
	fmt.Fprintf(&b, "# bench scale --sim: the scaling grid on the link model\n\nCommand: `%s`\n\nMachine: %s\n\n", commandLine("scale", append([]string{"--sim"}, args...)), machine())
	duplex := "full duplex (sends and receives of a rank overlap)"
	if model.HalfDuplex {
		duplex = "half duplex (a rank's interface carries one frame at a time)"
	}
	fmt.Fprintf(&b, "One exchange of d = %d random values per optimizer, topology, M and rate, replayed frame by frame on the link model of `collective.NewSimNet` (`collective.SimulateExchange`: the real collectives' frames by size, held to SimNet runs of the collectives themselves by `TestScheduleMatchesSimNet`; each worker's signs dense, a vote's result tied where M independent voters tie, C(M, M/2)/2^M of the coordinates at even M); a NIC per rank at the rate, %s, latency %s. ", dim, duplex, latency)
	fmt.Fprintf(&b, "Charged compute, measured at the start on this machine: rank 0's (and every ring rank's) fp32 addition %.3g ns/value (kernels.AddFinite), the vote count %.3g ns per voter and 64-coordinate word (kernels.Vote), the allgather's SHA-256 digests %.3g ns/byte. ", model.Costs.AddPerValue*1e9, model.Costs.VotePerVoterWord*1e9, model.Costs.HashPerByte*1e9)
	fmt.Fprintf(&b, "Step = forward/backward %v (ResNet-18, batch 8, one CPU thread: bench/results/step) + exchange; pack and update (under 10 ms, bench/results/step) are left out. SIGNSGD and SIGNUM send the same frames: one row serves both. The whole grid took %v to replay.\n\n", compute, took.Round(time.Second))
	best := bestTopology(rows)
	b.WriteString("## Each optimizer at its best topology\n\nStep seconds (exchange seconds), the best topology named; speedup = SGD's best step / SIGNSGD-SIGNUM's best step.\n\n")
	b.WriteString("| rate | M | SGD best | SGD step s (exchange) | SIGNSGD/SIGNUM best | step s (exchange) | speedup |\n| --- | --- | --- | --- | --- | --- | --- |\n")
	for _, rate := range rates {
		for _, m := range ms {
			s, okS := best[fmt.Sprintf("%s,%d,sgd", rate, m)]
			v, okV := best[fmt.Sprintf("%s,%d,signs", rate, m)]
			if !okS || !okV {
				continue
			}
			fmt.Fprintf(&b, "| %s | %d | %s | %.3g (%.3g) | %s | %.3g (%.3g) | %.2fx |\n", rate, m, s.topo, s.step, s.exchange, v.topo, v.step, v.exchange, s.step/v.step)
		}
	}
	b.WriteString("\n## Every topology: exchange seconds\n\n")
	var pairs []string
	seen := map[string]bool{}
	for _, r := range rows {
		if k := r.opt + " " + r.topo; !seen[k] {
			seen[k] = true
			pairs = append(pairs, k)
		}
	}
	sort.Strings(pairs)
	b.WriteString("| rate | M | " + strings.Join(pairs, " | ") + " |\n|" + strings.Repeat(" --- |", 2+len(pairs)) + "\n")
	byKey := map[string]gridRow{}
	for _, r := range rows {
		byKey[fmt.Sprintf("%s,%d,%s %s", r.rate, r.m, r.opt, r.topo)] = r
	}
	for _, rate := range rates {
		for _, m := range ms {
			fmt.Fprintf(&b, "| %s | %d |", rate, m)
			for _, p := range pairs {
				if r, ok := byKey[fmt.Sprintf("%s,%d,%s", rate, m, p)]; ok {
					fmt.Fprintf(&b, " %.4g |", r.exchange)
				} else {
					b.WriteString(" |")
				}
			}
			b.WriteString("\n")
		}
	}
	b.WriteString("\nFigure: simgrid.png (step seconds against M, one panel per rate, a line per topology). The least-squares projection of bench scale (projection.csv, scale.md) stays only as a cross-check from the M <= 8 namespace measurements; these simulated figures replace it.\n")
	return b.String()
}
