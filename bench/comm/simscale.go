package comm

import (
	"encoding/csv"
	"flag"
	"fmt"
	"io"
	"maps"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	"signsgd/collective"
	"signsgd/job/cli"
	"signsgd/kernels"
)

// `signsgd bench simscale` runs one exchange of the real collectives
// (collective.Mean, collective.Vote) with every rank a goroutine over
// collective.NewSimNet, and reports the simulated exchange time: the
// slowest rank's clock over the timed step. With --validate it sets those
// times beside the namespace measurements of bench scale (its scale.csv,
// part netns) for the same optimizer, topology, M and rate.

// simExchange returns the simulated seconds of one exchange of d values
// by opt over topo among m ranks on link (the second of two steps).
func simExchange(opt, topo string, m, d int, link collective.Link) (float64, error) {
	net := collective.NewSimNet(m, link, 10*time.Minute)
	comms := net.Comms()
	g := make([]float32, d) // random values, shared read-only
	rng := rand.New(rand.NewPCG(1, 2))
	for i := range g {
		g[i] = float32(rng.NormFloat64())
	}
	const steps = 2
	start := [steps]float64{math.Inf(1), math.Inf(1)}
	var end [steps]float64
	var mu sync.Mutex
	errs := make([]error, m)
	var wg sync.WaitGroup
	for r, c := range comms {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var x []float32
			var local, result kernels.Signs
			if opt == "sgd" {
				x = make([]float32, d)
			} else {
				local, result = kernels.NewSigns(d), kernels.NewSigns(d)
				kernels.PackSigns(local, g)
			}
			clk := c.(collective.SimClock)
			for s := range steps {
				c.SetStep(uint32(s))
				// Every rank starts the step at the same simulated time.
				if err := collective.Barrier(c); err != nil {
					errs[r] = err
					return
				}
				t0 := clk.Clock()
				var err error
				if opt == "sgd" {
					copy(x, g)
					err = collective.Mean(c, topo, x)
				} else {
					err = collective.Vote(c, topo, local, result, kernels.VoteOptions{})
				}
				if err != nil {
					errs[r] = err
					return
				}
				mu.Lock()
				start[s] = min(start[s], t0)
				end[s] = max(end[s], clk.Clock())
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	for r, err := range errs {
		if err != nil {
			return 0, fmt.Errorf("rank %d: %w", r, err)
		}
	}
	return end[steps-1] - start[steps-1], nil
}

func simscaleCommand(args []string, stdout io.Writer) error {
	const cmd = "bench simscale"
	fs := flag.NewFlagSet(cmd, flag.ContinueOnError)
	dim := fs.Int("dim", 11689512, "gradient size d (ResNet-18's parameter count)")
	workers := fs.String("workers", "2,4,8", "worker counts")
	rates := fs.String("rates", "1gbit,100mbit", "link rates (tc syntax)")
	latency := fs.String("latency", "50us", "link latency")
	pairsFlag := fs.String("pairs", "sgd:server,sgd:ring,signum:server,signum:allgather,signum:shard", "optimizer:topology pairs")
	validate := fs.String("validate", "", "bench scale's scale.csv files (comma list): set their namespace measurements beside the simulated times")
	replay := fs.Bool("replay", false, "replay the frames by size (collective.SimulateExchange) with the sum, count and digests charged at measured kernel speeds, instead of running the collectives over SimNet")
	half := fs.Bool("half-duplex", false, "with --replay: each rank's interface carries one frame at a time")
	out := fs.String("out", "bench/results/scale", "output folder")
	if ok, err := parseFlags(fs, args, stdout); !ok || err != nil {
		return err
	}
	ms, err := intList(cmd, "--workers", *workers)
	if err != nil {
		return err
	}
	pairs, err := pairList(cmd, "pairs", *pairsFlag)
	if err != nil {
		return err
	}
	rateNames, links, err := linkList(cmd, *rates, *latency)
	if err != nil {
		return err
	}
	measured := map[string]float64{}
	if *validate != "" {
		for _, f := range strings.Split(*validate, ",") {
			got, err := readNetnsExchange(f)
			if err != nil {
				return err
			}
			maps.Copy(measured, got)
		}
	}
	if err := prepareOut(cmd, *out); err != nil {
		return err
	}
	model := collective.SimModel{HalfDuplex: *half}
	if *replay {
		model.Costs = measureCosts()
	}
	t := &table{header: []string{"optimizer", "topology", "workers", "dim", "rate", "latency", "sim_exchange_seconds", "netns_exchange_seconds", "sim_over_netns"}}
	var md strings.Builder
	fmt.Fprintf(&md, "# bench simscale: simulated exchange times (collective.NewSimNet)\n\nCommand: `%s`\n\nMachine: %s\n\n", commandLine("simscale", args), machine())
	if *replay {
		duplex := "a send and a receive queue"
		if *half {
			duplex = "one queue for sends and receives (half duplex)"
		}
		fmt.Fprintf(&md, "One exchange of d = %d random values replayed frame by frame (collective.SimulateExchange: the collectives' frames by size; a vote's result tied where M independent voters tie) on modelled links (a NIC per rank at the rate with %s, latency %s), ranks starting together on idle links; rank 0's sum, the vote counts and the digests charged at kernel speeds measured at the start (add %.3g ns/value, vote %.3g ns/voter-word, SHA-256 %.3g ns/byte).", *dim, duplex, *latency, model.Costs.AddPerValue*1e9, model.Costs.VotePerVoterWord*1e9, model.Costs.HashPerByte*1e9)
	} else {
		fmt.Fprintf(&md, "One exchange of d = %d random values by the real collectives, every rank a goroutine over modelled links (a NIC per rank at the rate with a send and a receive queue, latency %s); the slowest rank's simulated time over the second of two steps.", *dim, *latency)
	}
	if *validate != "" {
		fmt.Fprintf(&md, " Beside it the exchange measured by bench scale in bandwidth-limited namespaces (%s, part netns).", *validate)
	}
	fmt.Fprintf(&md, "\n\n| rate | M | optimizer | topology | simulated ms | namespaces ms | sim / measured |\n| --- | --- | --- | --- | --- | --- | --- |\n")
	for i, rate := range rateNames {
		link := links[i]
		for _, m := range ms {
			for _, p := range pairs {
				opt, topo := p.opt, p.topo
				var sim float64
				if *replay {
					model.Link = link
					sim, err = collective.SimulateExchange(p.kind(), topo, m, *dim, model)
				} else {
					sim, err = simExchange(opt, topo, m, *dim, link)
				}
				if err != nil {
					return fmt.Errorf("%s %s M=%d %s: %w", opt, topo, m, rate, err)
				}
				meas, ok := measured[fmt.Sprintf("%s,%s,%d,%s", opt, topo, m, rate)]
				ratio, measCell := "", ""
				if ok {
					ratio, measCell = strconv.FormatFloat(sim/meas, 'f', 3, 64), strconv.FormatFloat(meas, 'g', 6, 64)
				}
				t.add(opt, topo, strconv.Itoa(m), strconv.Itoa(*dim), rate, *latency, strconv.FormatFloat(sim, 'g', 6, 64), measCell, ratio)
				fmt.Fprintf(&md, "| %s | %d | %s | %s | %.1f | %s | %s |\n", rate, m, opt, topo, sim*1e3, msCell(meas, ok), ratio)
				fmt.Fprintf(stdout, "%s M=%d %s %s: simulated %.1f ms %s\n", rate, m, opt, topo, sim*1e3, ifMeasured(meas, ok))
			}
		}
	}
	if err := t.writeCSV(filepath.Join(*out, "simscale.csv")); err != nil {
		return err
	}
	return cli.WriteFileAtomic(filepath.Join(*out, "simscale.md"), func(w io.Writer) error {
		_, err := io.WriteString(w, md.String())
		return err
	})
}

func msCell(v float64, ok bool) string {
	if !ok {
		return ""
	}
	return strconv.FormatFloat(v*1e3, 'f', 1, 64)
}

func ifMeasured(v float64, ok bool) string {
	if !ok {
		return ""
	}
	return fmt.Sprintf("(namespaces %.1f ms)", v*1e3)
}

// readNetnsExchange reads bench scale's scale.csv: the netns rows'
// exchange seconds by "opt,topology,M,rate".
func readNetnsExchange(path string) (map[string]float64, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	rows, err := csv.NewReader(f).ReadAll()
	if err != nil || len(rows) == 0 {
		return nil, fmt.Errorf("%s: %v", path, err)
	}
	col := map[string]int{}
	for i, h := range rows[0] {
		col[h] = i
	}
	for _, h := range []string{"part", "optimizer", "topology", "workers", "rate", "exchange_seconds"} {
		if _, ok := col[h]; !ok {
			return nil, fmt.Errorf("%s: no column %s", path, h)
		}
	}
	out := map[string]float64{}
	for _, r := range rows[1:] {
		if r[col["part"]] != "netns" {
			continue
		}
		v, err := strconv.ParseFloat(r[col["exchange_seconds"]], 64)
		if err != nil || math.IsNaN(v) {
			continue
		}
		out[fmt.Sprintf("%s,%s,%s,%s", r[col["optimizer"]], r[col["topology"]], r[col["workers"]], r[col["rate"]])] = v
	}
	return out, nil
}
