// Command signsgd trains models with SIGNSGD and SIGNUM with majority vote,
// and plain distributed SGD, across ranks on one machine or a cluster, and
// reproduces the paper's experiments. See package signsgd/job and the
// README.
package main

import (
	"os"

	"signsgd/bench/figures"
	"signsgd/bench/theory"
	"signsgd/job"
)

func main() {
	commands := map[string]job.Command{
		"figures": figures.Command,
		"theory":  theory.Command,
	}
	os.Exit(job.Main(os.Args[1:], os.Stdout, os.Stderr, commands))
}
