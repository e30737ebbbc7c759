// Command signsgd trains models with SIGNSGD and SIGNUM with majority vote,
// and plain distributed SGD, across ranks on one machine or a cluster, and
// reproduces the paper's experiments. See package signsgd/job and the
// README.
package main
