package job

import (
	"bytes"
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// runBounded runs signsgd with args for at most limit; it returns the exit
// status (-1: still running at the limit, then killed) and stderr.
func runBounded(t *testing.T, limit time.Duration, env []string, args ...string) (int, string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), limit)
	defer cancel()
	cmd := exec.CommandContext(ctx, signsgdBin, args...)
	cmd.Env = append(os.Environ(), env...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	err := cmd.Run()
	if ctx.Err() != nil {
		return -1, stderr.String()
	}
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		return ee.ExitCode(), stderr.String()
	}
	if err != nil {
		t.Fatal(err)
	}
	return 0, stderr.String()
}

// TestInputCheckedAsUsed: values that parse but cannot be used as the run
// uses them are refused before anything starts, each with one line naming
// the flag and exit status 2: rates and weight decay that overflow or
// vanish in float32, a momentum that rounds to 1, sizes that do not fit
// in this machine's memory, a --coordinator that is not host:port, and a
// named pipe given as --secret-file or as an MNIST file (refused, not
// waited on).
func TestInputCheckedAsUsed(t *testing.T) {
	dir := t.TempDir()
	fifo := filepath.Join(dir, "fifo")
	if err := syscall.Mkfifo(fifo, 0o600); err != nil {
		t.Fatal(err)
	}
	mnist := filepath.Join(dir, "mnist")
	os.Mkdir(mnist, 0o755)
	if err := syscall.Mkfifo(filepath.Join(mnist, "train-images-idx3-ubyte"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"train-labels-idx1-ubyte", "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"} {
		os.WriteFile(filepath.Join(mnist, name), nil, 0o644)
	}
	cases := []struct {
		args []string
		want string
	}{
		{[]string{"--lr", "1e-50"}, "--lr: 1e-50 rounds to 0 in float32"},
		{[]string{"--lr", "1e39"}, "--lr: 1e+39 overflows float32"},
		{[]string{"--lr", "1e-40", "--lr-decay", "0.001", "--lr-decay-every", "2", "--epochs", "9"}, "rounds to 0 in float32 at epoch 5, before --epochs 9 ends"},
		{[]string{"--weight-decay", "1e-50"}, "--weight-decay: 1e-50 rounds to 0"},
		{[]string{"--weight-decay", "1e39"}, "--weight-decay: 1e+39 overflows"},
		{[]string{"--lr", "1e20", "--weight-decay", "1e20"}, "--lr 1e+20 x --weight-decay 1e+20 overflows float32"},
		{[]string{"--momentum", "0.99999999"}, "--momentum: 0.99999999 rounds to 1 in float32"},
		{[]string{"--byzantine", "1", "--attack", "gaussian", "--attack-sigma", "1e300"}, "--attack-sigma: 1e+300 overflows float32"},
		{[]string{"--hidden", "2000000000"}, "sizes too large for this machine"},
		{[]string{"--hidden", "2000000000"}, "the most goes to --hidden 2000000000"},
		{[]string{"--batch", "2000000000"}, "the most goes to --batch 2000000000"},
		{[]string{"--workers", "4096"}, "the most goes to --workers 4096"},
		{[]string{"--dataset", "mnist", "--model", "cnn", "--batch", "10000000"}, "--batch 10000000"},
		{[]string{"--launcher", "sim", "--hidden", "2000000000"}, "the most goes to --hidden 2000000000"},
		{[]string{"--launcher", "sim", "--dataset", "mnist", "--model", "cnn", "--workers", "50000"}, "50000 ranks need about"},
		{[]string{"--rank", "1", "--workers", "2", "--coordinator", "localhost"}, `--coordinator "localhost": want host:port`},
		{[]string{"--rank", "1", "--workers", "2", "--coordinator", "localhost:0"}, "is not a TCP port from 1 to 65535"},
		{[]string{"--rank", "1", "--workers", "2", "--coordinator", "localhost:http"}, "is not a TCP port"},
		{[]string{"--rank", "1", "--workers", "2", "--coordinator", ":7000"}, "no host"},
		{[]string{"--workers", "2", "--secret-file", fifo}, "not a regular file but a named pipe"},
		{[]string{"--workers", "2", "--dataset", "mnist", "--data-dir", mnist, "--timeout", "10s"}, "train-images-idx3-ubyte: not a regular file but a named pipe"},
	}
	for _, c := range cases {
		out := t.TempDir()
		code, msg := runBounded(t, 30*time.Second, nil, append([]string{"run", "--out", out, "--epochs", "1"}, c.args...)...)
		lines := strings.Split(strings.TrimSpace(msg), "\n")
		if code != 2 || !strings.Contains(msg, c.want) || strings.Contains(msg, "goroutine") {
			t.Errorf("%v: exit %d, stderr %q; want status 2 and a line naming %q", c.args, code, msg, c.want)
		} else if c.args[0] != "--workers" && len(lines) != 1 {
			t.Errorf("%v: stderr %q, want one line", c.args, msg)
		}
	}
}
