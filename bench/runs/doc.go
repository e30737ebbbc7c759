// Package runs looks at run folders that `signsgd run` wrote (by hand, by
// `make run`, by sbatch jobs): `signsgd plot` draws them into one figure and
// `signsgd compare` puts them in one table, so comparing one's own runs
// needs no plotting script.
//
//	DIR/config.json    (a JSON object, read generically)  -> the settings that differ: labels, columns
//	DIR/metrics.jsonl  (a job.Record a line, so far)      -> Panels: one line per run against epoch
//	DIR/summary.json   (there once the run finished)      -> Table: status, final/best accuracy, wall time
//
// A run folder is a folder with config.json; anything else given is refused
// as a usage error (exit 2) naming it. Arguments are globs too (for when no
// shell expanded them), deduplicated in order.
//
// Status: finished (summary.json is there), incomplete (epochs but no
// summary: still running, or stopped), failed (no epoch in metrics.jsonl:
// the run failed before its first epoch ended, or has only just started).
// Because a running job may be caught mid-line, a partial or corrupt last
// line of metrics.jsonl is left out with a warning; a corrupt line before
// it is an error naming the file and line.
//
// Labels: the configuration keys whose values are not the same in every run
// (a key missing from some runs counts as differing and reads "-"), sorted,
// without "out", as "key=value, key=value". One run is labelled by its
// folder; runs whose settings are all the same, or whose labels coincide,
// get their folder added.
//
// Neither command writes into a run folder: the figure or table goes where
// --out says (refused inside a run folder), written whole through a
// temporary file and a rename.
package runs
