package main

import (
	"fmt"
	"os"

	"signsgd/bench/accscale"
	"signsgd/bench/chaos"
	"signsgd/bench/comm"
	"signsgd/bench/figures"
	"signsgd/bench/robustness"
	"signsgd/bench/runs"
	"signsgd/bench/theory"
	"signsgd/job"
	"signsgd/job/cli"
	"signsgd/kernels"
)

// commands is the program's command table: `signsgd help` lists it in this
// order (help last), and an unknown command is told these names.
var commands = []cli.Command{
	job.RunCommand,
	{Name: "figures", Args: "[flags]", Summary: "the paper's experiments and figures (--spec FILE, --quick)", Run: figures.Command},
	{Name: "theory", Args: "[flags]", Summary: "Monte Carlo check of the paper's bounds", Run: theory.Command},
	{Name: "robustness", Args: "[flags]", Summary: "every method against every attack: accuracy grid, worst case (--quick)", Run: robustness.Command},
	{Name: "accuracy-scale", Args: "[flags]", Summary: "final accuracy against the number of workers at Byzantine fractions (--quick)", Run: accscale.Command},
	{Name: "bench", Args: "comm|scale|step", Summary: "bytes and seconds of the exchange, scaling with workers, a whole step", Run: comm.Command},
	{Name: "plot", Args: "DIR...", Summary: "one figure of run folders, one line per run (--out FILE.png|.svg)", Run: runs.PlotCommand},
	{Name: "compare", Args: "DIR...", Summary: "one table of run folders: status, accuracy, time, bytes (--csv)", Run: runs.CompareCommand},
	{Name: "chaos", Args: "[flags]", Summary: "randomized kill, stall, signal and resume rounds against a job (make chaos)", Run: chaos.Command},
}

func main() {
	kernels.ReexecForBLASCore()
	if err := kernels.CheckSetting(); err != nil { // a bad command line, as a bad flag
		fmt.Fprintln(os.Stderr, "signsgd:", err)
		os.Exit(2)
	}
	stopProfile, err := startCPUProfile(os.Getenv(profileEnv), os.Args[1:])
	if err != nil {
		fmt.Fprintln(os.Stderr, "signsgd:", err)
		os.Exit(1)
	}
	stopTrace, err := startTrace(os.Getenv(traceEnv), os.Args[1:])
	if err != nil {
		stopProfile()
		fmt.Fprintln(os.Stderr, "signsgd:", err)
		os.Exit(1)
	}
	code := cli.Main(os.Args[1:], os.Stdout, os.Stderr, commands)
	stopTrace()
	stopProfile()
	os.Exit(code)
}
