package main

import (
	"bytes"
	"strings"
	"testing"

	"signsgd/job/cli"
)

// TestHelpListsEveryCommand: every command of the table is in the
// top-level help with its summary, in the unknown-command message, and
// answers `signsgd help CMD` with its own usage line.
func TestHelpListsEveryCommand(t *testing.T) {
	var help, stderr bytes.Buffer
	if code := cli.Main([]string{"help"}, &help, &stderr, commands); code != 0 {
		t.Fatalf("help: exit %d, %s", code, stderr.String())
	}
	stderr.Reset()
	if code := cli.Main([]string{"no-such-command"}, &bytes.Buffer{}, &stderr, commands); code != 2 {
		t.Fatalf("unknown command: exit %d, want 2", code)
	}
	unknown := stderr.String()
	if strings.Count(unknown, "\n") != 1 {
		t.Errorf("unknown command: %q is not one line", unknown)
	}
	names := []string{"help"}
	for _, c := range commands {
		if c.Name == "" || c.Summary == "" || c.Run == nil {
			t.Errorf("command %+v lacks a name, summary or Run", c)
		}
		names = append(names, c.Name)
	}
	for _, name := range names {
		if !strings.Contains(help.String(), "  signsgd "+name+" ") {
			t.Errorf("help does not list %q:\n%s", name, help.String())
		}
		if !strings.Contains(unknown, name) {
			t.Errorf("the unknown-command message does not name %q: %s", name, unknown)
		}
		var out, errb bytes.Buffer
		if code := cli.Main([]string{"help", name}, &out, &errb, commands); code != 0 || errb.Len() != 0 {
			t.Errorf("help %s: exit %d, stderr %q", name, code, errb.String())
		}
		want := "usage: signsgd " + name
		if name == "help" {
			want = "  signsgd help "
		}
		if !strings.Contains(out.String(), want) {
			t.Errorf("help %s prints no %q:\n%s", name, want, out.String())
		}
	}
	for _, c := range commands {
		if !strings.Contains(help.String(), c.Summary) {
			t.Errorf("help lacks %s's summary %q", c.Name, c.Summary)
		}
	}
}
