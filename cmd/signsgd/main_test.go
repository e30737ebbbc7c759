package main

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
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
	bin := buildBinary(t)
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

var built struct {
	once sync.Once
	bin  string
	err  error
	out  []byte
}

// buildBinary builds the program once for the tests that run it.
func buildBinary(t *testing.T) string {
	t.Helper()
	built.once.Do(func() {
		dir, err := os.MkdirTemp("", "signsgd-test-")
		if err != nil {
			built.err = err
			return
		}
		built.bin = filepath.Join(dir, "signsgd")
		built.out, built.err = exec.Command("go", "build", "-o", built.bin, ".").CombinedOutput()
	})
	if built.err != nil {
		t.Fatalf("build: %v\n%s", built.err, built.out)
	}
	return built.bin
}

func TestMain(m *testing.M) {
	code := m.Run()
	if built.bin != "" {
		os.RemoveAll(filepath.Dir(built.bin))
	}
	os.Exit(code)
}

// TestCPUProfiles: with SIGNSGD_CPUPROFILE=DIR a job's launcher and each of
// its ranks write a CPU profile there (gzip-compressed protocol buffers,
// as runtime/pprof writes them), the ranks' named by their rank; with
// SIGNSGD_TRACE=DIR likewise an execution trace (runtime/trace's format,
// which begins "go 1."). A DIR that cannot be made is a one-line error
// naming the variable, exit 1, before anything runs.
func TestCPUProfiles(t *testing.T) {
	bin := buildBinary(t)
	for _, c := range []struct {
		env, ext string
		magic    []byte
	}{
		{profileEnv, ".prof", []byte{0x1f, 0x8b}},
		{traceEnv, ".trace", []byte("go 1.")},
	} {
		dir := filepath.Join(t.TempDir(), "prof")
		cmd := exec.Command(bin, "run", "--dataset", "logreg", "--workers", "2", "--epochs", "1", "--quiet", "--out", filepath.Join(t.TempDir(), "run"))
		cmd.Env = append(os.Environ(), c.env+"="+dir)
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("%s: run: %v\n%s", c.env, err, out)
		}
		for _, pattern := range []string{"signsgd-rank0-*", "signsgd-rank1-*", "signsgd-[0-9]*"} {
			files, _ := filepath.Glob(filepath.Join(dir, pattern+c.ext))
			if len(files) != 1 {
				t.Errorf("%s: %s%s: %d files, want 1", c.env, pattern, c.ext, len(files))
				continue
			}
			b, err := os.ReadFile(files[0])
			if err != nil || !bytes.HasPrefix(b, c.magic) {
				t.Errorf("%s: %s is not what its recorder writes (%d bytes, %v)", c.env, files[0], len(b), err)
			}
		}
		file := filepath.Join(t.TempDir(), "a-file")
		if err := os.WriteFile(file, nil, 0o644); err != nil {
			t.Fatal(err)
		}
		cmd = exec.Command(bin, "run", "--dataset", "logreg", "--workers", "2", "--epochs", "1")
		cmd.Env = append(os.Environ(), c.env+"="+filepath.Join(file, "prof"))
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		err := cmd.Run()
		if ee, ok := err.(*exec.ExitError); !ok || ee.ExitCode() != 1 {
			t.Errorf("%s: a directory under a file: %v, want exit 1", c.env, err)
		}
		if msg := stderr.String(); strings.Count(msg, "\n") != 1 || !strings.Contains(msg, c.env) {
			t.Errorf("%s: a directory under a file: stderr %q, want one line naming it", c.env, msg)
		}
	}
}

// TestRankArg: the profile's file name finds the rank in every form
// package flag accepts, and nothing where there is none.
func TestRankArg(t *testing.T) {
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"run", "--rank", "3", "--workers", "4"}, "3"},
		{[]string{"run", "-rank", "2"}, "2"},
		{[]string{"run", "--rank=5"}, "5"},
		{[]string{"run", "-rank=7"}, "7"},
		{[]string{"run", "--workers", "4"}, ""},
		{[]string{"run", "--ranks", "4"}, ""},
		{[]string{"run", "--rank"}, ""},
	} {
		if got := rankArg(c.args); got != c.want {
			t.Errorf("rankArg(%q) = %q, want %q", c.args, got, c.want)
		}
	}
}

// A malformed SIGNSGD_KERNELS stops the program before any work, with one
// line naming the variable and the choices, and exit status 2; it used to
// surface as an internal error at the first product.
func TestBadKernelsSetting(t *testing.T) {
	bin := buildBinary(t)
	for _, bad := range []string{"bogus", "sgemm:fast", "report,conv:"} {
		out := filepath.Join(t.TempDir(), "run")
		cmd := exec.Command(bin, "run", "--dataset", "logreg", "--workers", "2", "--epochs", "1", "--quiet", "--out", out)
		cmd.Env = append(os.Environ(), "SIGNSGD_KERNELS="+bad)
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		err := cmd.Run()
		if ee, ok := err.(*exec.ExitError); !ok || ee.ExitCode() != 2 {
			t.Errorf("SIGNSGD_KERNELS=%s: %v, want exit 2", bad, err)
		}
		msg := stderr.String()
		if strings.Count(msg, "\n") != 1 || !strings.Contains(msg, "SIGNSGD_KERNELS") || !strings.Contains(msg, "winograd4x4") || strings.Contains(msg, "internal") {
			t.Errorf("SIGNSGD_KERNELS=%s: stderr %q, want one line naming the variable and every choice", bad, msg)
		}
		if _, err := os.Stat(out); err == nil {
			t.Errorf("SIGNSGD_KERNELS=%s: %s was written", bad, out)
		}
	}
}
