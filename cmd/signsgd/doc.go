// Command signsgd trains models with SIGNSGD and SIGNUM with majority vote,
// and plain distributed SGD, across ranks on one machine or a cluster, and
// reproduces the paper's experiments. `signsgd run --help` lists the flags
// (generated from the registries); package signsgd/job documents the job,
// and the README gives a tour.
//
// With SIGNSGD_CPUPROFILE=DIR every signsgd process, the launcher and each
// rank it starts, writes its CPU profile into DIR (signsgd-rankN-PID.prof
// for rank N) for `go tool pprof`: where a rank's time goes in a real job.
// SIGNSGD_TRACE=DIR likewise writes each process's execution trace
// (signsgd-rankN-PID.trace) for `go tool trace`: when a rank waits, on
// what, and what its other goroutines do meanwhile.
package main
