package figures

import (
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"signsgd/job/cli"
)

// Command is `signsgd figures`: run the spec's grid (the paper's by
// default) and draw its figures.
func Command(args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("figures", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	specPath := fs.String("spec", "", "experiment grid (JSON; default: the paper's Figures 2-5 and the oppose attack)")
	out := fs.String("out", "results/figures", "results folder: runs/, <experiment>.png and .svg, summary.md")
	quick := fs.Bool("quick", false, "the small grid (tests): fewer epochs and adversary counts")
	bin := fs.String("bin", "", "signsgd binary that trains (default: this one)")
	if ok, err := cli.ParseFlags(fs, args, stdout, "usage: signsgd figures [--spec FILE] [--out DIR] [--quick]"); !ok {
		return err
	}
	spec := PaperSpec()
	if *specPath != "" {
		var err error
		if spec, err = LoadSpec(*specPath); err != nil {
			return cli.UsageError("figures: --spec %v", err)
		}
	}
	if *bin == "" {
		exe, err := os.Executable()
		if err != nil {
			return err
		}
		*bin = exe
	}
	if err := os.MkdirAll(*out, 0o755); err != nil {
		return cli.UsageError("figures: --out %s: %v", *out, err)
	}
	res, err := Run(spec, Options{Out: *out, Bin: *bin, Quick: *quick, Log: stdout})
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "figures: %d runs (%d reused), %d files, summary in %s, %v\n",
		res.Runs, res.Reused, len(res.Figures), filepath.Join(*out, "summary.md"), res.Elapsed.Round(1e9))
	return nil
}
