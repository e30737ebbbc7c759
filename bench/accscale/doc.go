// Package accscale is `signsgd accuracy-scale`: the final test accuracy of
// SIGNUM's majority vote and of SGD with the coordinate-wise median against
// the number of workers M, at several Byzantine fractions under the
// paper's attack (the votes' rule for SIGNUM, zero-sum for SGD). The
// paper's Theorem 2 bounds the vote's failure probability by a term that
// falls as 1/sqrt(M) at a fixed Byzantine fraction below one half (while
// alpha < 1 - 1/(2p), p the chance an honest worker's sign is right); the
// figure shows whether training follows.
//
// Each point is one `signsgd run --launcher sim` (every rank a goroutine
// of one process), run and cached through package robustness's grid
// (OUT/accuracy-runs holds the cache, kept out of git, so an interrupted
// grid resumes). The Byzantine count is f = floor(fraction x M), below
// M/2 for a fraction below one half; the Byzantines are the highest ranks,
// never rank 0. The per-worker batch is fixed (--batch is 14 x M, the
// paper's 128/9), so the steps of an epoch fall as 1/M on a fixed training
// set; the clean run at each M is the baseline the attacked runs are read
// against (the figure's bottom row). logreg's synthetic set is made large
// enough (--samples) that every worker keeps at least 100 training rows at
// the largest M, and is the same set at every M.
//
// It writes OUT/accuracy-vs-workers.csv (one row per run, with the steps,
// the rows a rank holds, SIGNUM's sign_disagree and SGD's update_cosine),
// .png (one column per dataset: accuracy against M, and accuracy less the
// clean run's) and .md (the command, the machine, the tables). A
// hand-written "## Reading" section already in the .md is kept when the
// command rewrites it. `make accuracy-scale` writes bench/results/scale;
// `make accuracy-scale-quick` a small grid of the same shape.
package accscale
