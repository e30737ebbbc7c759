package main

import (
	"os"

	"signsgd/bench/comm"
	"signsgd/bench/figures"
	"signsgd/bench/robustness"
	"signsgd/bench/runs"
	"signsgd/bench/theory"
	"signsgd/job"
)

func main() {
	commands := map[string]job.Command{
		"bench":      comm.Command,
		"compare":    runs.CompareCommand,
		"figures":    figures.Command,
		"plot":       runs.PlotCommand,
		"robustness": robustness.Command,
		"theory":     theory.Command,
	}
	os.Exit(job.Main(os.Args[1:], os.Stdout, os.Stderr, commands))
}
