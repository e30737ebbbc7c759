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
// `make robustness` writes bench/results/robustness.
//
// Reading the grid: under the paper's zero-sum attack the robust
// aggregators end below their clean runs even at few Byzantines, because
// with 14 samples per worker the honest gradients are noisy and two
// outliers shift every order statistic by one, a bias that stays; larger
// per-worker batches shrink the gap. Krum picks the colluding Byzantines'
// identical vectors once they are many, and geomed stalls at the zero
// vector the zero-sum attack provides. Each epoch's metrics record how far
// the applied update lay from the honest ranks' own: update_cosine and
// update_rel_dist to the honest mean gradient (sgd), sign_disagree, the
// fraction of coordinates where the vote differs from the honest majority
// (signs).
package robustness
