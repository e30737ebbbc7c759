package job

import (
	"errors"
	"flag"
	"fmt"
	"io"

	"signsgd/job/cli"
)

// RunCommand is `signsgd run`.
var RunCommand = cli.Command{
	Name:    "run",
	Args:    "[flags]",
	Summary: "train (launches all ranks on loopback, or runs one rank with --rank)",
	Run: func(args []string, stdout, stderr io.Writer) error {
		err := Run(args, stdout, stderr)
		if errors.Is(err, flag.ErrHelp) {
			printRunHelp(stdout)
			return nil
		}
		return err
	},
}

// runFlagOrder and runFlagGroup arrange `signsgd run --help`: every flag
// of runFlags has a heading (TestRunFlagGroups checks).
var runFlagOrder = []string{"what to train", "optimizer and aggregation", "adversaries", "launch", "faults and checkpoints", "output", "testing"}

var runFlagGroup = map[string]string{
	"dataset": "what to train", "data-dir": "what to train", "eval-limit": "what to train",
	"train-limit": "what to train", "synthetic-samples": "what to train", "samples": "what to train", "model": "what to train",
	"hidden": "what to train", "partition": "what to train", "epochs": "what to train",
	"batch": "what to train", "seed": "what to train",

	"opt": "optimizer and aggregation", "topology": "optimizer and aggregation", "tie": "optimizer and aggregation",
	"lr": "optimizer and aggregation", "momentum": "optimizer and aggregation", "weight-decay": "optimizer and aggregation",
	"lr-decay": "optimizer and aggregation", "lr-decay-every": "optimizer and aggregation", "sto-b": "optimizer and aggregation", "code": "optimizer and aggregation",
	"aggregator": "optimizer and aggregation", "pre": "optimizer and aggregation", "trim": "optimizer and aggregation",
	"krum-m": "optimizer and aggregation", "geomed-iters": "optimizer and aggregation", "geomed-tol": "optimizer and aggregation",
	"cclip-radius": "optimizer and aggregation", "cclip-iters": "optimizer and aggregation",

	"blind": "adversaries", "byzantine": "adversaries", "attack": "adversaries", "attack-z": "adversaries",
	"attack-eps": "adversaries", "attack-sigma": "adversaries", "attack-scale": "adversaries",

	"workers": "launch", "launcher": "launch", "sim-link": "launch", "sim-compute": "launch", "rank": "launch", "coordinator": "launch", "port": "launch",
	"listen-fd": "launch", "job-id": "launch", "secret-file": "launch", "transport-security": "launch", "timeout": "launch",

	"vote-deadline": "faults and checkpoints", "drop-after": "faults and checkpoints", "digest-every": "faults and checkpoints",
	"checkpoint-every": "faults and checkpoints", "resume": "faults and checkpoints",

	"out": "output", "quiet": "output", "dry-run": "output",

	"fault-rank": "testing", "fault-step": "testing", "fault-kind": "testing",
}

// printRunHelp is `signsgd run --help`: the flags by group, then every
// method the flags name, from the registries.
func printRunHelp(w io.Writer) {
	cli.PrintFlags(w, runFlags(&Config{}), runFlagOrder, runFlagGroup)
	fmt.Fprintf(w, "\n%s", methodsReference())
}
