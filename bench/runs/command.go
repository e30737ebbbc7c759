package runs

import (
	"bytes"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"signsgd/job/cli"
)

// PlotCommand is `signsgd plot DIR... [--out FILE.png|.svg]`.
func PlotCommand(args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("plot", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	out := fs.String("out", "runs.png", "the figure: FILE.png or FILE.svg (not inside a run folder)")
	dirs, err := parseArgs(fs, args)
	if errors.Is(err, flag.ErrHelp) {
		help(stdout, fs, "usage: signsgd plot DIR... [--out FILE.png|FILE.svg]",
			"Draws test accuracy, test and train loss, bytes per step and seconds per step (and the attack's\n"+
				"figures, with Byzantine signs) against epoch, one line per run, labelled by the settings that differ.")
		return nil
	}
	if err != nil {
		return cli.UsageError("plot: %v", err)
	}
	format := strings.TrimPrefix(strings.ToLower(filepath.Ext(*out)), ".")
	if format != "png" && format != "svg" {
		return cli.UsageError("plot: --out %s: want a .png or .svg file", *out)
	}
	runs, err := load("plot", dirs, stderr)
	if err != nil {
		return err
	}
	if err := checkOut("plot", *out, runs); err != nil {
		return err
	}
	panels := Panels(runs)
	b, err := Draw(runs, panels, format)
	if err != nil {
		return fmt.Errorf("plot: %w", err)
	}
	if err := writeOut(*out, b); err != nil {
		return fmt.Errorf("plot: %w", err)
	}
	names := make([]string, len(panels))
	for i, p := range panels {
		names[i] = p.Name
	}
	fmt.Fprintf(stdout, "plot: %d runs, panels %s, in %s\n", len(runs), strings.Join(names, " "), *out)
	return nil
}

// CompareCommand is `signsgd compare DIR... [--csv] [--out FILE]`.
func CompareCommand(args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("compare", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	asCSV := fs.Bool("csv", false, "CSV, numbers in full, instead of a Markdown table (also when --out ends in .csv)")
	out := fs.String("out", "", "write the table to FILE (not inside a run folder) instead of stdout")
	dirs, err := parseArgs(fs, args)
	if errors.Is(err, flag.ErrHelp) {
		help(stdout, fs, "usage: signsgd compare DIR... [--csv] [--out FILE]",
			"One table of the runs: status (finished, incomplete, failed), epochs, final and best test accuracy,\n"+
				"final test loss, wall seconds, bytes per step per worker, and the settings that differ.")
		return nil
	}
	if err != nil {
		return cli.UsageError("compare: %v", err)
	}
	runs, err := load("compare", dirs, stderr)
	if err != nil {
		return err
	}
	if *out != "" {
		if err := checkOut("compare", *out, runs); err != nil {
			return err
		}
	}
	var b bytes.Buffer
	if *asCSV || strings.EqualFold(filepath.Ext(*out), ".csv") {
		err = WriteCSV(&b, runs)
	} else {
		err = WriteMarkdown(&b, runs)
	}
	if err != nil {
		return fmt.Errorf("compare: %w", err)
	}
	if *out == "" {
		_, err = stdout.Write(b.Bytes())
		return err
	}
	if err := writeOut(*out, b.Bytes()); err != nil {
		return fmt.Errorf("compare: %w", err)
	}
	fmt.Fprintf(stdout, "compare: %d runs in %s\n", len(runs), *out)
	return nil
}

func help(w io.Writer, fs *flag.FlagSet, usage, what string) {
	fmt.Fprintf(w, "%s\n\n%s\nDIR may be a glob (results/*); each must be a run folder (with config.json).\n\nflags:\n", usage, what)
	fs.SetOutput(w)
	fs.PrintDefaults()
}

// parseArgs parses flags that may come before, between or after the
// folders (`plot results/* --out x.png`); after "--" all are folders.
func parseArgs(fs *flag.FlagSet, args []string) ([]string, error) {
	var dirs []string
	for {
		if err := fs.Parse(args); err != nil {
			return nil, err
		}
		rest := fs.Args()
		if len(rest) == 0 {
			break
		}
		if n := len(args) - len(rest); n > 0 && args[n-1] == "--" {
			dirs = append(dirs, rest...)
			break
		}
		dirs = append(dirs, rest[0])
		args = rest[1:]
	}
	if len(dirs) == 0 {
		return nil, errors.New("no run folders given (signsgd " + fs.Name() + " DIR...)")
	}
	return dirs, nil
}

// load expands and reads the run folders; a path that is not one is a
// usage error. A left-out last line of metrics.jsonl is a warning on
// stderr.
func load(cmd string, args []string, stderr io.Writer) ([]*Run, error) {
	dirs, err := Expand(args)
	if err != nil {
		return nil, cli.UsageError("%s: %v", cmd, err)
	}
	runs := make([]*Run, 0, len(dirs))
	for _, d := range dirs {
		r, err := Load(d)
		if errors.Is(err, ErrNotRunFolder) {
			return nil, cli.UsageError("%s: %v", cmd, err)
		}
		if err != nil {
			return nil, fmt.Errorf("%s: %w", cmd, err)
		}
		if r.Skipped > 0 {
			fmt.Fprintf(stderr, "signsgd: %s: warning: %s line %d: partial or corrupt last line left out (a run still writing, or stopped)\n",
				cmd, filepath.Join(d, "metrics.jsonl"), r.Skipped)
		}
		runs = append(runs, r)
	}
	return runs, nil
}

// checkOut refuses an output file inside one of the run folders (they are
// only read) and one that is a folder.
func checkOut(cmd, out string, runs []*Run) error {
	if st, err := os.Stat(out); err == nil && st.IsDir() {
		return cli.UsageError("%s: --out %s is a folder; give a file", cmd, out)
	}
	dir := realPath(filepath.Dir(out))
	for _, r := range runs {
		rel, err := filepath.Rel(realPath(r.Dir), dir)
		if err == nil && rel != ".." && !strings.HasPrefix(rel, ".."+string(filepath.Separator)) {
			return cli.UsageError("%s: --out %s is inside run folder %s; run folders are only read", cmd, out, r.Dir)
		}
	}
	return nil
}

// realPath is p absolute with its symbolic links resolved, as far as they
// exist.
func realPath(p string) string {
	if abs, err := filepath.Abs(p); err == nil {
		p = abs
	}
	if real, err := filepath.EvalSymlinks(p); err == nil {
		return real
	}
	return p
}

func writeOut(path string, b []byte) error {
	return cli.WriteFileAtomic(path, func(w io.Writer) error {
		_, err := w.Write(b)
		return err
	})
}
