// Package figures reproduces the paper's experiments: it runs a grid of
// training jobs (real rank processes of the signsgd binary), reusing runs
// that already finished (each is keyed by its configuration, so an
// interrupted grid resumes), and draws one figure per experiment with
// gonum.org/v1/plot: loss and accuracy against epoch, one panel per
// optimizer, one line per number of adversaries; plus a Markdown table of
// the final accuracies.
//
//	spec (JSON) -> runs/<key>/{config.json,metrics.jsonl,summary.json}
//	            -> <experiment>.png, <experiment>.svg, summary.md
package figures
