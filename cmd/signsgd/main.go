package main

import (
	"os"

	"signsgd/bench/chaos"
	"signsgd/bench/comm"
	"signsgd/bench/figures"
	"signsgd/bench/runs"
	"signsgd/bench/theory"
	"signsgd/job"
)

func main() {
	commands := map[string]job.Command{
		"bench":   comm.Command,
		"chaos":   chaos.Command,
		"compare": runs.CompareCommand,
		"figures": figures.Command,
		"plot":    runs.PlotCommand,
		"theory":  theory.Command,
	}
	os.Exit(job.Main(os.Args[1:], os.Stdout, os.Stderr, commands))
}
