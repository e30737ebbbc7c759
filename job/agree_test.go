package job

import (
	"bytes"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"signsgd/collective"
)

// trainEach runs one in-process rank per configuration (rank r with
// cfgs[r]) over an in-memory world and returns their errors.
func trainEach(cfgs []*Config) []error {
	comms := collective.NewMemWorld(len(cfgs), 20*time.Second)
	errs := make([]error, len(cfgs))
	var wg sync.WaitGroup
	for r, c := range comms {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[r] = Train(cfgs[r], c, &bytes.Buffer{})
			c.Close()
		}()
	}
	wg.Wait()
	return errs
}

// TestConfigMismatchRefused: a rank whose configuration differs from rank
// 0's is refused before any training, on every rank, naming the first
// setting that differs (here --lr on rank 2, then --resume on rank 1).
func TestConfigMismatchRefused(t *testing.T) {
	for _, tc := range []struct {
		odd  int
		args []string
		want string
	}{
		{2, []string{"--lr", "2e-4"}, "rank 2 runs another configuration than rank 0: --lr is 0.0002 there, 0.0001 on rank 0"},
		{1, []string{"--resume"}, "rank 1 runs another configuration than rank 0: --resume is true there, false on rank 0"},
		{1, []string{"--attack", "oppose", "--seed", "3"}, "--attack is oppose there, paper on rank 0"},
	} {
		out := t.TempDir()
		cfgs := make([]*Config, 3)
		for r := range cfgs {
			args := []string{"--workers", "3", "--byzantine", "1", "--epochs", "1", "--out", out, "--quiet"}
			if r == tc.odd {
				args = append(args, tc.args...)
			}
			var err error
			if cfgs[r], err = ParseRun(args); err != nil {
				t.Fatal(err)
			}
		}
		for r, err := range trainEach(cfgs) {
			if err == nil || !strings.Contains(err.Error(), tc.want) || !errors.Is(err, errUsage) {
				t.Errorf("%v: rank %d: %v; want a usage error naming %q", tc.args, r, err, tc.want)
			}
		}
		if ents, _ := os.ReadDir(out); len(ents) > 1 { // the lock file only
			t.Errorf("%v: a refused job wrote %d files into --out", tc.args, len(ents))
		}
	}
	// Where a rank writes and how long it waits may differ.
	cfgs := make([]*Config, 2)
	for r := range cfgs {
		cfg, err := ParseRun([]string{"--workers", "2", "--epochs", "1", "--train-limit", "500", "--quiet", "--out", t.TempDir(), "--timeout", fmt.Sprintf("%ds", 20+r)})
		if err != nil {
			t.Fatal(err)
		}
		cfgs[r] = cfg
	}
	for r, err := range trainEach(cfgs) {
		if err != nil {
			t.Fatalf("rank %d with its own --out and --timeout: %v", r, err)
		}
	}
}

// TestConfigMismatchProcesses: ranks started by hand with different seeds
// all exit with status 2 and the line naming --seed, before training.
func TestConfigMismatchProcesses(t *testing.T) {
	out := t.TempDir()
	cmds, errs := startRanksWith(t, 3, out, func(r int) []string {
		return []string{"--epochs", "1", "--seed", strconv.Itoa(8005 + r/2)}
	})
	for r, err := range waitAll(t, cmds, -1, 30*time.Second) {
		var ee *exec.ExitError
		if !errors.As(err, &ee) || ee.ExitCode() != 2 {
			t.Errorf("rank %d: exit %v, want status 2\n%s", r, err, errs[r])
		}
		if want := "rank 2 runs another configuration than rank 0: --seed is 8006 there, 8005 on rank 0"; !strings.Contains(errs[r].String(), want) {
			t.Errorf("rank %d said %q, want %q", r, errs[r], want)
		}
	}
	if _, err := os.Stat(filepath.Join(out, "metrics.jsonl")); err == nil {
		t.Error("a refused job wrote metrics")
	}
}

// startRanksWith is startRanks with each rank's own extra flags; a rank
// whose flags are nil is not started (its command is nil).
func startRanksWith(t *testing.T, n int, out string, extra func(r int) []string) ([]*exec.Cmd, []*bytes.Buffer) {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	lf, _ := l.(*net.TCPListener).File()
	l.Close()
	defer lf.Close()
	cmds := make([]*exec.Cmd, n)
	errs := make([]*bytes.Buffer, n)
	for r := range cmds {
		if extra(r) == nil {
			continue
		}
		args := append([]string{"run", "--workers", strconv.Itoa(n), "--rank", strconv.Itoa(r), "--coordinator", l.Addr().String(), "--out", out, "--quiet", "--timeout", "20s"}, extra(r)...)
		cmd := exec.Command(signsgdBin, args...)
		cmd.Env = append(os.Environ(), SecretEnv+"="+testJobSecret)
		if r == 0 {
			cmd.ExtraFiles = []*os.File{lf}
			cmd.Args = append(cmd.Args, "--listen-fd", "3")
		}
		errs[r] = &bytes.Buffer{}
		cmd.Stderr = errs[r]
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		cmds[r] = cmd
	}
	t.Cleanup(func() {
		for _, c := range cmds {
			if c != nil && c.ProcessState == nil {
				c.Process.Kill()
				c.Wait()
			}
		}
	})
	return cmds, errs
}

// TestOutLocked: a second run into a folder another run holds is refused
// with the holder's pid, by the launcher (status 2, nothing started) and
// by rank 0 of a job started otherwise (every rank fails alike).
func TestOutLocked(t *testing.T) {
	out := t.TempDir()
	l, err := lockOut(out)
	if err != nil {
		t.Fatal(err)
	}
	defer l.release()
	want := fmt.Sprintf("--out %s is in use by another run (pid %d)", out, os.Getpid())
	b, err := exec.Command(signsgdBin, "run", "--workers", "2", "--epochs", "1", "--out", out).CombinedOutput()
	var ee *exec.ExitError
	if !errors.As(err, &ee) || ee.ExitCode() != 2 || !strings.Contains(string(b), want) || strings.Count(string(b), "\n") != 1 {
		t.Fatalf("exit %v, output %q; want status 2 and one line %q", err, b, want)
	}
	cfg, err := ParseRun([]string{"--workers", "2", "--epochs", "1", "--out", out, "--quiet"})
	if err != nil {
		t.Fatal(err)
	}
	for r, err := range trainEach([]*Config{cfg, cfg}) {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("rank %d: %v, want %q", r, err, want)
		}
	}
	if _, err := os.Stat(filepath.Join(out, "metrics.jsonl")); err == nil {
		t.Error("the second run wrote metrics")
	}
	// Released, the folder is free again.
	l.release()
	if err := checkOutFree(out); err != nil {
		t.Fatal(err)
	}
}
