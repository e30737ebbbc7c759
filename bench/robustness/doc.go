// Package robustness is `signsgd robustness`: every method against every
// attack at several numbers of Byzantine ranks, one short run per cell,
// the final test accuracy of each written as a CSV, a Markdown table per
// Byzantine count (methods as rows, attacks as columns) and the worst case
// over attacks per method, with the command and machine that made them.
//
// The methods are SGD with each aggregator of job's registry (the server
// combines the gradients) and SIGNUM's majority vote; the attacks are every
// attack of job's registry that has a form for the method's optimizer (a
// cell without one is "-"). With no Byzantine rank the attack is moot and
// the row has one cell. Runs are real processes on loopback (`signsgd run`
// of the same binary), cached under OUT/runs by their resolved
// configuration as `signsgd figures` does, so an interrupted grid resumes.
package robustness
