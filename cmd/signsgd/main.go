// Command signsgd trains models with SIGNSGD and SIGNUM with majority vote,
// and plain distributed SGD, across ranks on one machine or a cluster. See
// package signsgd/job and the README.
package main

import (
	"os"

	"signsgd/job"
)

func main() {
	os.Exit(job.Main(os.Args[1:], os.Stdout, os.Stderr))
}
