package cli

import (
	"bytes"
	"errors"
	"flag"
	"strings"
	"testing"
)

// ParseFlags: help prints the usage line and the flags and ends the
// command without an error; a bad flag and a stray argument are usage
// errors naming the command; good flags parse.
func TestParseFlags(t *testing.T) {
	newFS := func() (*flag.FlagSet, *int) {
		fs := flag.NewFlagSet("demo", flag.ContinueOnError)
		return fs, fs.Int("n", 1, "how many")
	}
	for _, c := range []struct {
		args    []string
		usage   string
		ok      bool
		errHas  string
		outHas  []string
		wantN   int
		isUsage bool
	}{
		{args: []string{"--n", "3"}, ok: true, wantN: 3},
		{args: []string{"--help"}, outHas: []string{"usage: signsgd demo [flags]", "how many"}},
		{args: []string{"-h"}, usage: "usage: signsgd demo [--n N]", outHas: []string{"usage: signsgd demo [--n N]", "-n int"}},
		{args: []string{"--m", "2"}, errHas: "demo: flag provided but not defined: -m", isUsage: true},
		{args: []string{"--n", "2", "extra"}, errHas: `demo: unexpected argument "extra"`, isUsage: true},
	} {
		fs, n := newFS()
		var out bytes.Buffer
		ok, err := ParseFlags(fs, c.args, &out, c.usage)
		if ok != c.ok {
			t.Errorf("%v: ok %v, want %v", c.args, ok, c.ok)
		}
		if c.errHas == "" && err != nil || c.errHas != "" && (err == nil || !strings.Contains(err.Error(), c.errHas)) {
			t.Errorf("%v: error %v, want one saying %q", c.args, err, c.errHas)
		}
		if c.isUsage && !errors.Is(err, ErrUsage) {
			t.Errorf("%v: %v is not a usage error", c.args, err)
		}
		for _, want := range c.outHas {
			if !strings.Contains(out.String(), want) {
				t.Errorf("%v: output %q does not say %q", c.args, out.String(), want)
			}
		}
		if c.ok && *n != c.wantN {
			t.Errorf("%v: n = %d, want %d", c.args, *n, c.wantN)
		}
	}
}
