// Package robustness is `signsgd robustness`: every method against every
// attack at several numbers of Byzantine ranks, numbers of workers and
// partitions of the data, one short run per cell. It writes, under
// OUT/DATASET-MODEL, the final test accuracy of each run as a CSV, a
// Markdown report (per workers and partition: the worst case over the
// attacks of each method at each Byzantine count, with the bytes a worker
// sends and the gradients it computes a step; then per count the methods
// against the attacks) and one heatmap per table (heatmaps/*.png), with
// the command and machine that made them.
//
// The methods are SGD with each aggregator of job's registry (the server
// combines the gradients), SGD's median after each pre-aggregator (nnm,
// bucket:2), ef-signsgd (error feedback; its scaled signs averaged or by
// median), and the votes: signsgd, signum, sto-signsgd and signum with
// election coding, by the repetition code (rep-coded: --code
// repetition:R, R = CodeR(workers)) and by the deterministic code
// (det-coded: --code deterministic, B the cell's Byzantine count, the
// result the majority of all partitions' signs); the attacks
// are every attack of job's registry that has a form for the method's
// optimizer (a cell without one is "-"). With no Byzantine rank the attack
// is moot and the row has one cell. Each run is `signsgd run` of the same
// binary under --launcher sim (the default of --launcher: its ranks are
// goroutines of one process, which ends with the model the process
// launcher's real ranks on loopback end with, bit for bit, two to three
// times sooner on two cores; --launcher local for processes), cached under
// OUT/runs by its resolved configuration as `signsgd figures` does (the
// launcher is not part of it), so an interrupted grid resumes.
// `make robustness` writes bench/results/robustness.
//
// Reading the grid: under the paper's zero-sum attack the robust
// aggregators end a little below their clean runs (logreg, 2 of 9, 30
// epochs at SGD's default rate: 0.008-0.015), because with 14 samples a
// worker the honest gradients are noisy and two outliers shift every
// order statistic by one, which slows the descent; at a ninth of that
// rate they had not converged by the last epoch and ended 0.055-0.082
// below. Krum picks the colluding Byzantines'
// identical vectors once they are many. Each epoch's metrics record how far
// the applied update lay from the honest ranks' own: update_cosine and
// update_rel_dist to the honest mean gradient (sgd), sign_disagree, the
// fraction of coordinates where the vote differs from the honest majority
// (signs).
package robustness
