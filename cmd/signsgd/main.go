package main

import (
	"os"

	"signsgd/bench/comm"
	"signsgd/bench/figures"
	"signsgd/bench/theory"
	"signsgd/job"
)

func main() {
	commands := map[string]job.Command{
		"bench":   comm.Command,
		"figures": figures.Command,
		"theory":  theory.Command,
	}
	os.Exit(job.Main(os.Args[1:], os.Stdout, os.Stderr, commands))
}
