package figures

import (
	"fmt"
	"io"
	"math"
	"path/filepath"
	"strings"

	"signsgd/job/cli"
)

// writeSummary writes summary.md: per experiment, the final test accuracy
// of every optimizer (rows) against every adversary count (columns).
func writeSummary(spec Spec, res Result, opt Options) error {
	var b strings.Builder
	b.WriteString("# Final test accuracy\n\n")
	if opt.Quick {
		b.WriteString("(quick grid: fewer epochs and counts than the paper's)\n\n")
	}
	for _, e := range spec.Experiments {
		series := res.Series[e.Name]
		cs := counts(e, opt.Quick)
		fmt.Fprintf(&b, "## %s\n\n![%s](%s.png)\n\n| optimizer |", e.Title, e.Name, e.Name)
		for _, c := range cs {
			fmt.Fprintf(&b, " %d %s |", c, e.Adversary)
		}
		b.WriteString("\n| --- |" + strings.Repeat(" --- |", len(cs)) + "\n")
		for _, o := range e.Optimizers {
			fmt.Fprintf(&b, "| %s |", o)
			byCount := map[int]Series{}
			for _, s := range series {
				if s.Optimizer == o {
					byCount[s.Count] = s
				}
			}
			for _, c := range cs {
				if s, ok := byCount[c]; ok && !math.IsNaN(s.Final()) {
					fmt.Fprintf(&b, " %.4f |", s.Final())
				} else {
					b.WriteString(" - |")
				}
			}
			b.WriteString("\n")
		}
		b.WriteString("\n")
	}
	fmt.Fprintf(&b, "%d runs (%d reused from earlier).\n", res.Runs, res.Reused)
	return cli.WriteFileAtomic(filepath.Join(opt.Out, "summary.md"), func(w io.Writer) error {
		_, err := io.WriteString(w, b.String())
		return err
	})
}

// Lookup returns the series of an experiment for an optimizer and count.
func (r Result) Lookup(experiment, optimizer string, count int) (Series, bool) {
	for _, s := range r.Series[experiment] {
		if s.Optimizer == optimizer && s.Count == count {
			return s, true
		}
	}
	return Series{}, false
}
