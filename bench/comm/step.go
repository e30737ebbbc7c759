package comm

import (
	"flag"
	"fmt"
	"io"
	"math"
	"path/filepath"
	"strings"
	"time"

	"signsgd/job"
	"signsgd/job/nn"
)

// stepRow is one optimizer's whole step.
type stepRow struct {
	Opt, Topology, Model string
	Security             string // the links' transport security (seal, auth, off)
	Batch                int
	summary
}

// exchangeOnly is the collective's time without the vote counted apart.
func (r stepRow) exchangeOnly() float64 {
	if r.Opt == "sgd" {
		return r.Exchange
	}
	return max(r.Exchange-r.Vote, 0)
}

// overhead is pack + exchange + vote + update: what the optimizer adds to
// forward/backward.
func (r stepRow) overhead() float64 { return r.Pack + r.Exchange + r.Update }

func stepCommand(args []string, stdout io.Writer) error {
	const cmd = "bench step"
	fs := flag.NewFlagSet(cmd, flag.ContinueOnError)
	model := fs.String("model", "resnet18", "network on random input: resnet18, resnet50 (3x224x224, 1000 classes), cnn, mnistnet, mlp (1x28x28, 10 classes)")
	batch := fs.Int("batch", 8, "samples per rank per step")
	workers := fs.Int("workers", 2, "ranks M (rank 0 included)")
	optS := fs.String("opt", "sgd,signsgd,signum", "optimizers (comma list)")
	topo := fs.String("topology", "server", "topologies (comma list, or all)")
	aggregator := fs.String("aggregator", "mean", "sgd's aggregator on the server topology: "+strings.Join(job.Aggregators(), ", "))
	steps := fs.Int("steps", 5, "timed steps per optimizer")
	warmup := fs.Int("warmup", 1, "untimed steps before them")
	threads := fs.Int("threads", 0, "Go and BLAS threads per rank (0: cores / M, at least 1)")
	seed := fs.Uint64("seed", 8005, "initialisation and data seed")
	limit := fs.Duration("timeout", 30*time.Minute, "limit per optimizer")
	secS := fs.String("security", "off", "transport security of the ranks' links (comma list of seal, auth, off: each optimizer under each, in one run)")
	out := fs.String("out", "results/bench/step", "output folder: step.csv, step.md")
	if ok, err := parseFlags(fs, args, stdout); !ok {
		return err
	}
	securities, err := securityList(cmd, *secS)
	if err != nil {
		return err
	}
	opts, err := optList(cmd, *optS)
	if err != nil {
		return err
	}
	prs, err := pairs(cmd, opts, *topo)
	if err != nil {
		return err
	}
	switch {
	case !contains(job.Aggregators(), *aggregator):
		return usageErr(cmd, "--aggregator %q: want one of %v", *aggregator, job.Aggregators())
	case *aggregator != "mean" && *topo != "server":
		return usageErr(cmd, "--aggregator %s needs --topology server, not %s", *aggregator, *topo)
	case !contains(nn.Models, *model):
		return usageErr(cmd, "--model %q: want one of %v", *model, nn.Models)
	case *batch < 1:
		return usageErr(cmd, "--batch %d: need at least 1", *batch)
	case *workers < 1:
		return usageErr(cmd, "--workers %d: need at least 1", *workers)
	case *steps < 1:
		return usageErr(cmd, "--steps %d: need at least 1", *steps)
	case *warmup < 0:
		return usageErr(cmd, "--warmup %d: need 0 or more", *warmup)
	case *threads < 0:
		return usageErr(cmd, "--threads %d: need 0 (auto) or more", *threads)
	case *limit <= 0:
		return usageErr(cmd, "--timeout %v: need a positive duration", *limit)
	}
	if *threads == 0 {
		*threads = threadsPerRank(*workers)
	}
	if err := prepareOut(cmd, *out); err != nil {
		return err
	}
	exe, err := ownExecutable()
	if err != nil {
		return err
	}
	ctx, stop := interruptible()
	defer stop()
	l := &launcher{exe: exe, limit: *limit}
	var rows []stepRow
	for _, p := range prs {
		for _, sec := range securities {
			spec := rankSpec{Mode: "step", Opt: p[0], Topology: p[1], Aggregator: *aggregator, Model: *model, Batch: *batch,
				Steps: *steps, Warmup: *warmup, Seed: *seed, Threads: *threads, Workers: *workers, Timeout: limit.Seconds(), Security: sec}
			all, err := l.run(ctx, spec, nil)
			if err != nil {
				return fmt.Errorf("bench step: %s %s %s M=%d security %s: %w", p[0], p[1], *model, *workers, sec, err)
			}
			r := stepRow{Opt: p[0], Topology: p[1], Model: *model, Security: sec, Batch: *batch, summary: summarize(all, p[0], p[1])}
			if p[0] == "sgd" && *aggregator != "mean" {
				r.Opt = "sgd " + *aggregator
			}
			rows = append(rows, r)
			fmt.Fprintf(stdout, "bench step: %-7s %s M=%d batch %d/rank security %-4s: forward/backward %s ms, pack %s, exchange %s, vote %s, update %s ms: %.2f%% of forward/backward; step %s ms\n",
				r.Opt, r.Model, r.Workers, r.Batch, r.Security, fmtMs(r.Compute), fmtMs(r.Pack), fmtMs(r.exchangeOnly()), voteCell(r.Opt, r.Vote, fmtMs), fmtMs(r.Update), 100*r.overhead()/r.Compute, fmtMs(r.Step))
		}
	}
	if err := writeStep(*out, commandLine("step", args), *threads, rows); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "bench step: %s, %s\n", filepath.Join(*out, "step.csv"), filepath.Join(*out, "step.md"))
	return nil
}

// writeStep writes step.csv and step.md.
func writeStep(out, command string, threads int, rows []stepRow) error {
	t := &table{header: []string{"optimizer", "topology", "security", "model", "workers", "batch_per_rank", "threads_per_rank", "dim", "steps",
		"forward_backward_seconds", "pack_seconds", "exchange_seconds", "vote_seconds", "update_seconds",
		"overhead_seconds", "overhead_over_forward_backward", "seconds_per_step", "bytes_sent_per_step", "bytes_recv_per_step"}}
	md := &table{header: []string{"optimizer", "topology", "security", "d", "forward/backward ms", "pack ms", "exchange ms", "vote ms", "update ms",
		"pack+exchange+vote+update ms", "/ forward/backward", "step ms", "bytes sent/step (worker)"}}
	for _, r := range rows {
		ratio := r.overhead() / r.Compute
		t.add(r.Opt, r.Topology, r.Security, r.Model, itoa(r.Workers), itoa(r.Batch), itoa(threads), itoa(r.Dim), itoa(r.Steps),
			fmtFloat(r.Compute), fmtFloat(r.Pack), fmtFloat(r.exchangeOnly()), voteCell(r.Opt, r.Vote, fmtFloat), fmtFloat(r.Update),
			fmtFloat(r.overhead()), fmtFloat(ratio), fmtFloat(r.Step), fmtFloat(r.WorkerSent), fmtFloat(r.WorkerRecv))
		md.add(r.Opt, r.Topology, r.Security, itoa(r.Dim), fmtMs(r.Compute), fmtMs(r.Pack), fmtMs(r.exchangeOnly()), voteCell(r.Opt, r.Vote, fmtMs),
			fmtMs(r.Update), fmtMs(r.overhead()), fmt.Sprintf("%.2f%%", 100*ratio), fmtMs(r.Step), fmtBytes(r.WorkerSent))
	}
	if err := t.writeCSV(filepath.Join(out, "step.csv")); err != nil {
		return err
	}
	var b strings.Builder
	fmt.Fprintf(&b, "# bench step: a whole training step\n\nCommand: `%s`\n\nMachine: %s\n\n", command, machine())
	if len(rows) > 0 {
		r := rows[0]
		c, h, w, classes := inputOf(r.Model)
		fmt.Fprintf(&b, "%s (d = %d parameters) on random input shaped %dx%dx%d, %d classes (data.SyntheticImages),\n"+
			"batch %d per rank, M = %d ranks as separate processes over loopback TCP, %d Go and OpenBLAS thread(s) per rank (%s).\n"+
			"Per phase the slowest rank's time, median over %d steps after the warm-up. forward/backward is nn.Net.LossGrad;\n"+
			"pack is kernels.MomentumSigns (SIGNUM; SIGNSGD: PackSigns); an untimed barrier precedes the exchange so that it does not\n"+
			"include waiting for a slower rank's forward/backward, and another follows it; exchange is the collective call less the vote, which is\n"+
			"kernels.Vote on M buffers timed apart on rank 0 (for SGD exchange includes rank 0's fp32 sum); update is\n"+
			"kernels.ApplySignStep / ApplyGradStep.\n\n", r.Model, r.Dim, c, h, w, classes, r.Batch, r.Workers, threads, sharing(r.Workers), r.Steps)
	}
	b.WriteString(md.markdown())
	b.WriteString(securityCost(rows))
	for _, r := range rows {
		if r.Opt == "signum" && r.Model == "resnet18" && r.Workers == 2 && r.Security == "off" {
			ratio := r.overhead() / r.Compute
			verdict := "meets"
			if ratio > 0.05 || math.IsNaN(ratio) {
				verdict = "misses"
			}
			fmt.Fprintf(&b, "\nTarget: SIGNUM's pack + exchange + vote + update at most 5%% of its forward/backward time (ResNet-18, M = 2):\n"+
				"%s ms / %s ms = %.2f%% (%s it).\n", fmtMs(r.overhead()), fmtMs(r.Compute), 100*ratio, verdict)
		}
	}
	return writeText(filepath.Join(out, "step.md"), b.String())
}

// securityCost says, for every optimizer measured both with off and with
// another transport security, what that one adds to the step: the step's
// ratio (the two runs' medians, noise from the machine included) and the
// exchange's difference over the plaintext step (the cost itself, since
// sealing touches only the exchange).
func securityCost(rows []stepRow) string {
	var b strings.Builder
	for _, off := range rows {
		if off.Security != "off" {
			continue
		}
		for _, r := range rows {
			if r.Security == "off" || r.Opt != off.Opt || r.Topology != off.Topology {
				continue
			}
			if b.Len() == 0 {
				b.WriteString("\nTransport security against off (same run):\n\n")
			}
			fmt.Fprintf(&b, "- %s %s, %s: step %s ms against %s ms (x%.3f); exchange %s ms against %s ms, +%s ms = %+.2f%% of the plaintext step.\n",
				r.Opt, r.Topology, r.Security, fmtMs(r.Step), fmtMs(off.Step), r.Step/off.Step,
				fmtMs(r.exchangeOnly()), fmtMs(off.exchangeOnly()), fmtMs(r.exchangeOnly()-off.exchangeOnly()),
				100*(r.exchangeOnly()-off.exchangeOnly())/off.Step)
		}
	}
	return b.String()
}
