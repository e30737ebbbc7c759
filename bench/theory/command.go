package theory

import (
	"flag"
	"fmt"
	"io"
	"path/filepath"

	"signsgd/job/cli"
)

// Command is `signsgd theory`: run the Monte Carlo check and say where
// the files are and which bounds were violated.
func Command(args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("theory", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	opt := Options{}
	fs.StringVar(&opt.Out, "out", "results/theory", "output folder: theory.csv, vote.csv, drift.csv, report.md, lemma.png/.svg, vote.png/.svg, drift.png/.svg")
	fs.IntVar(&opt.Draws, "draws", 200000, "Monte Carlo draws per point")
	fs.Uint64Var(&opt.Seed, "seed", 8005, "random seed")
	fs.BoolVar(&opt.Quick, "quick", false, "small grid (tests)")
	if ok, err := cli.ParseFlags(fs, args, stdout, "usage: signsgd theory [--out DIR] [--draws N] [--seed S] [--quick]"); !ok {
		return err
	}
	if opt.Draws < 1 {
		return cli.UsageError("theory: --draws %d; need at least 1", opt.Draws)
	}
	rep, err := Run(opt)
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "theory: %d sign-error points, %d vote points (%d inside alpha < 1 - 1/(2p)), %d draws each, %v\n",
		rep.LemmaPoints, rep.VotePoints, rep.VoteInCondition, rep.Draws, rep.Elapsed.Round(1e6))
	for _, v := range rep.Violations {
		fmt.Fprintf(stdout, "  violation: %s %s: measured %.4g (99%% lower %.4g) > bound %.4g\n", v.Bound, v.Where, v.Measured, v.Lower, v.Limit)
	}
	fmt.Fprintf(stdout, "theory: %d violations; report in %s\n", len(rep.Violations), filepath.Join(opt.Out, "report.md"))
	return nil
}
