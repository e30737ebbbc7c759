package main

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"signsgd/job/cli"
	"signsgd/kernels"
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

// TestBLASCoreChosen: the program runs OpenBLAS on the core
// kernels.BLASCoreFor names for this CPU (re-executing itself with
// OPENBLAS_CORETYPE: SkylakeX on an AVX-512 CPU that OpenBLAS took for
// Prescott), its kernel report says who chose the core, and a user's
// OPENBLAS_CORETYPE is kept.
func TestBLASCoreChosen(t *testing.T) {
	if kernels.BLASName() != "openblas" {
		t.Skip("built without OpenBLAS")
	}
	if _, set := os.LookupEnv("OPENBLAS_CORETYPE"); set {
		t.Skip("OPENBLAS_CORETYPE is set for this test: OpenBLAS's own detection is unknown")
	}
	bin := filepath.Join(t.TempDir(), "signsgd")
	if b, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("build: %v\n%s", err, b)
	}
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "SIGNSGD_OPENBLAS_DETECTED=") {
			env = append(env, kv)
		}
	}
	report := func(extra ...string) string {
		cmd := exec.Command(bin, "bench", "kernels")
		cmd.Env = append(env, extra...)
		out, err := cmd.Output()
		if err != nil {
			t.Fatalf("bench kernels %v: %v", extra, err)
		}
		line, _, _ := strings.Cut(string(out), "\n")
		return line
	}
	detected := kernels.BLASCore() // this test process is not re-executed
	want := "BLAS openblas (" + detected + ")"
	if core := kernels.WantedBLASCore(); core != "" {
		want = "BLAS openblas (" + core + ", OPENBLAS_CORETYPE set by signsgd: OpenBLAS took this CPU for " + detected + ")"
	}
	if got := report(); !strings.Contains(got, want) {
		t.Errorf("bench kernels reports %q, want %q", got, want)
	}
	user := "BLAS openblas (" + detected + ", OPENBLAS_CORETYPE set by the user)"
	if got := report("OPENBLAS_CORETYPE=" + detected); !strings.Contains(got, user) {
		t.Errorf("with OPENBLAS_CORETYPE=%s: %q, want %q", detected, got, user)
	}
}
