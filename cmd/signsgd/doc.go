// Command signsgd trains models with SIGNSGD and SIGNUM with majority vote,
// and plain distributed SGD, across ranks on one machine or a cluster, and
// reproduces the paper's experiments. `signsgd run --help` lists the flags
// (generated from the registries); package signsgd/job documents the job,
// and the README gives a tour.
package main
