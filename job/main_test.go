package job

import (
	"bytes"
	"flag"
	"slices"
	"strings"
	"testing"
)

// TestRunFlagGroups: every flag of `signsgd run` has a heading of
// runFlagOrder, every entry of runFlagGroup is a flag, and --help prints
// each flag once under its heading, headings in order, then the methods.
func TestRunFlagGroups(t *testing.T) {
	fs := runFlags(&Config{})
	fs.VisitAll(func(f *flag.Flag) {
		g, ok := runFlagGroup[f.Name]
		if !ok {
			t.Errorf("--%s has no group in runFlagGroup", f.Name)
		} else if !slices.Contains(runFlagOrder, g) {
			t.Errorf("--%s's group %q is not in runFlagOrder", f.Name, g)
		}
	})
	for name := range runFlagGroup {
		if fs.Lookup(name) == nil {
			t.Errorf("runFlagGroup names --%s, which is not a flag", name)
		}
	}

	var b bytes.Buffer
	printRunHelp(&b)
	help := b.String()
	if strings.Contains(help, "\nother:\n") {
		t.Errorf("--help has flags under \"other\":\n%s", help)
	}
	at := 0
	for _, g := range runFlagOrder {
		i := strings.Index(help, "\n"+g+":\n")
		if i < at {
			t.Errorf("--help: heading %q missing or out of order", g)
			continue
		}
		at = i
	}
	fs.VisitAll(func(f *flag.Flag) {
		if n := strings.Count(help, "\n  --"+f.Name+" "); n != 1 {
			t.Errorf("--help lists --%s %d times", f.Name, n)
			return
		}
		// The flag's line comes after its heading and before the next one.
		line := strings.Index(help, "\n  --"+f.Name+" ")
		head := strings.LastIndex(help[:line+1], ":\n")
		start := strings.LastIndex(help[:head], "\n") + 1
		if got := help[start:head]; got != runFlagGroup[f.Name] {
			t.Errorf("--%s is under %q, want %q", f.Name, got, runFlagGroup[f.Name])
		}
	})
	if !strings.HasSuffix(help, methodsReference()) {
		t.Errorf("--help does not end with the methods reference")
	}
}
