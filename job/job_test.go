package job

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"math"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"signsgd/collective"
	"signsgd/job/nn"
	"signsgd/kernels"
)

var signsgdBin string // bin/signsgd built for these tests

func TestMain(m *testing.M) {
	kernels.ReexecForBLASCore() // the OpenBLAS core of the binary it builds
	flag.Parse()
	if f := flag.Lookup("test.run"); f != nil && f.Value.String() == "^$" {
		os.Exit(m.Run()) // fuzzing or benchmarks only: no binary needed
	}
	dir, err := os.MkdirTemp("", "signsgd-bin")
	if err != nil {
		panic(err)
	}
	signsgdBin = filepath.Join(dir, "signsgd")
	if out, err := exec.Command("go", "build", "-o", signsgdBin, "../cmd/signsgd").CombinedOutput(); err != nil {
		fmt.Fprintf(os.Stderr, "build: %v\n%s", err, out)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

func readMetrics(t *testing.T, dir string) []map[string]any {
	t.Helper()
	f, err := os.Open(filepath.Join(dir, "metrics.jsonl"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var out []map[string]any
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		var m map[string]any
		if err := json.Unmarshal(sc.Bytes(), &m); err != nil {
			t.Fatalf("metrics line %q: %v", sc.Text(), err)
		}
		out = append(out, m)
	}
	return out
}

func readSummary(t *testing.T, dir string) Summary {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(dir, "summary.json"))
	if err != nil {
		t.Fatal(err)
	}
	var s Summary
	if err := json.Unmarshal(b, &s); err != nil {
		t.Fatal(err)
	}
	return s
}

// TestRunProcesses launches real rank processes over loopback TCP and
// checks the files, the fields and the bytes per step against the formula.
func TestRunProcesses(t *testing.T) {
	out := t.TempDir()
	cmd := exec.Command(signsgdBin, "run", "--workers", "4", "--byzantine", "1", "--blind", "1", "--epochs", "2", "--out", out)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("run: %v\n%s", err, stderr.String())
	}
	if n := strings.Count(stdout.String(), "test_acc"); n != 2 {
		t.Fatalf("want 2 progress lines, got:\n%s", stdout.String())
	}
	recs := readMetrics(t, out)
	if len(recs) != 2 {
		t.Fatalf("%d metrics lines, want 2", len(recs))
	}
	for _, k := range []string{"epoch", "lr", "train_loss", "test_loss", "test_acc", "bytes_sent_per_step", "bytes_recv_per_step", "attack_bytes_per_step", "step_seconds"} {
		if _, ok := recs[1][k]; !ok {
			t.Fatalf("metrics lack %q: %v", k, recs[1])
		}
	}
	d := 20*40 + 40 + 40*2 + 2
	vb, _ := collective.VoteBytes("server", d, 4, 1)
	want := float64(vb) // compressed votes: at most the formula
	if sent, recv := recs[1]["bytes_sent_per_step"].(float64), recs[1]["bytes_recv_per_step"].(float64); sent > want || recv > want || sent < want/4 || recs[1]["formula_bytes_per_step"] != want {
		t.Fatalf("bytes per step %v/%v, formula %v, want at most %v", sent, recv, recs[1]["formula_bytes_per_step"], want)
	}
	// 3 non-Byzantine ranks send their signs (raw bit planes) to the Byzantine
	if attack := float64(3 * (collective.HeaderSize + kernels.EncodedLen(d))); recs[1]["attack_bytes_per_step"] != attack {
		t.Fatalf("attack bytes %v, want %v", recs[1]["attack_bytes_per_step"], attack)
	}
	if acc := recs[1]["test_acc"].(float64); acc < 0 || acc > 1 {
		t.Fatalf("accuracy %v", acc)
	}
	// One Byzantine against 3 others (the paper's rule): a sum of +-1 is
	// zeroed, +-2 and +-3 are kept, nothing is flipped.
	for _, r := range recs {
		un, _ := r["attack_unanimous"].(float64)
		fl, okf := r["attack_flipped"].(float64)
		ze, _ := r["attack_zeroed"].(float64)
		if !okf || fl != 0 || ze <= 0 || un <= 0 || un+ze > 1 {
			t.Fatalf("epoch %v: attack unanimous %v, flipped %v, zeroed %v; want flipped 0, the others in (0, 1]", r["epoch"], r["attack_unanimous"], r["attack_flipped"], r["attack_zeroed"])
		}
	}
	if !strings.Contains(stdout.String(), "attack flips 0.0% zeroes") {
		t.Fatalf("no attack figures on the epoch lines:\n%s", stdout.String())
	}
	if _, err := os.Stat(filepath.Join(out, "config.json")); err != nil {
		t.Fatal(err)
	}
	s := readSummary(t, out)
	if len(s.ModelSHA256) != 64 || s.Parameters != d || s.Ranks != 4 {
		t.Fatalf("summary %+v", s)
	}

	// Same configuration in one process over the in-memory transport: the
	// transport must not change a bit of the model.
	m, _ := trainInMemory(t, 4, "--byzantine", "1", "--blind", "1", "--epochs", "2")
	if m.ModelSHA256 != s.ModelSHA256 {
		t.Fatalf("processes over TCP ended with %s, goroutines in memory with %s", s.ModelSHA256, m.ModelSHA256)
	}
}

// TestSGDByzantineFreezesModel: one Byzantine makes SGD's mean exactly zero,
// so the model never moves from its initialisation.
func TestSGDByzantineFreezesModel(t *testing.T) {
	out := t.TempDir()
	if b, err := exec.Command(signsgdBin, "run", "--opt", "sgd", "--workers", "3", "--byzantine", "1", "--epochs", "2", "--out", out, "--quiet").CombinedOutput(); err != nil {
		t.Fatalf("%v\n%s", err, b)
	}
	init, err := nn.Build("mlp", []int{20}, 2, 40, 8005)
	if err != nil {
		t.Fatal(err)
	}
	if s := readSummary(t, out); s.ModelSHA256 != ModelChecksum(init.Params()) {
		t.Fatal("SGD with a Byzantine rank moved the model")
	}
	recs := readMetrics(t, out)
	if recs[0]["test_acc"] != recs[1]["test_acc"] {
		t.Fatalf("accuracy changed: %v then %v", recs[0]["test_acc"], recs[1]["test_acc"])
	}
}

func TestBadInput(t *testing.T) {
	notDir := filepath.Join(t.TempDir(), "file")
	os.WriteFile(notDir, []byte("x"), 0o644)
	cases := []struct {
		args []string
		want string
	}{
		{[]string{"--opt", "adam"}, "--opt"},
		{[]string{"--dataset", "cifar"}, "--dataset"},
		{[]string{"--attack", "bogus"}, "--attack"},
		{[]string{"--opt", "sgd", "--attack", "oppose"}, "--attack oppose has no gradient form"},
		{[]string{"--attack", "inf"}, "--attack inf has no sign form"},
		{[]string{"--aggregator", "median"}, "--aggregator does not apply to --opt signum"},
		{[]string{"--opt", "sgd", "--aggregator", "average"}, "--aggregator"},
		{[]string{"--opt", "sgd", "--topology", "ring", "--aggregator", "median"}, "--topology ring"},
		{[]string{"--opt", "sgd", "--topology", "ring", "--pre", "nnm"}, "--pre nnm"},
		{[]string{"--opt", "sgd", "--aggregator", "krum", "--trim", "2"}, "--trim is read by --aggregator trimmed-mean"},
		{[]string{"--opt", "sgd", "--aggregator", "trimmed-mean", "--workers", "4", "--trim", "2"}, "--trim 2"},
		{[]string{"--opt", "sgd", "--pre", "bucket:0"}, "--pre"},
		{[]string{"--opt", "sgd", "--pre", "nnm:3"}, "--pre"},
		{[]string{"--attack", "ipm", "--attack-z", "1"}, "--attack-z"},
		{[]string{"--dataset", "linreg", "--attack", "labelflip"}, "labelflip"},
		{[]string{"--opt", "sgd", "--aggregator", "geomed", "--geomed-iters", "0"}, "--geomed-iters"},
		{[]string{"--opt", "sgd", "--aggregator", "multi-krum", "--krum-m", "10"}, "--krum-m"},
		{[]string{"--tie", "coin"}, "--tie"},
		{[]string{"--topology", "ring"}, "--topology"},
		{[]string{"--opt", "sgd", "--topology", "shard"}, "--topology shard does not fit --opt sgd"},
		{[]string{"--topology", "mesh"}, "--topology"},
		{[]string{"--workers", "0"}, "--workers"},
		{[]string{"--workers", "9", "--blind", "4", "--byzantine", "5"}, "--blind 4 + --byzantine 5"},
		{[]string{"--workers", "3", "--byzantine", "3"}, "--byzantine"},
		{[]string{"--lr", "0"}, "--lr"},
		{[]string{"--lr", "-1e-3"}, "--lr"},
		{[]string{"--epochs", "-2"}, "--epochs"},
		{[]string{"--batch", "0"}, "--batch"},
		{[]string{"--momentum", "1.5"}, "--momentum"},
		{[]string{"--opt", "signsgd", "--momentum", "0.9"}, "--momentum"},
		{[]string{"--weight-decay", "-1"}, "--weight-decay"},
		{[]string{"--timeout", "soon"}, "--timeout"},
		{[]string{"--no-such-flag"}, "no-such-flag"},
		{[]string{"--workers", "many"}, "workers"},
		{[]string{"--out", filepath.Join(notDir, "sub")}, "--out"},
		{[]string{"--dataset", "imagenet", "--model", "resnet18"}, "--data-dir"},
		{[]string{"--dataset", "mnist", "--data-dir", filepath.Join(notDir, "none")}, "--data-dir"},
		{[]string{"--dataset", "mnist", "--model", "resnet50"}, "--model"},
		{[]string{"--train-limit", "-1"}, "--train-limit"},
	}
	for _, c := range cases {
		out := t.TempDir()
		args := append([]string{"run", "--out", out}, c.args...)
		cmd := exec.Command(signsgdBin, args...)
		var stdout, stderr bytes.Buffer
		cmd.Stdout, cmd.Stderr = &stdout, &stderr
		err := cmd.Run()
		var ee *exec.ExitError
		if !errors.As(err, &ee) || ee.ExitCode() != 2 {
			t.Errorf("%v: exit %v, want status 2", c.args, err)
			continue
		}
		msg := stderr.String()
		if strings.Count(msg, "\n") != 1 || !strings.Contains(msg, c.want) || strings.Contains(msg, "goroutine") {
			t.Errorf("%v: stderr %q, want one line naming %q", c.args, msg, c.want)
		}
		if entries, _ := os.ReadDir(out); len(entries) != 0 {
			t.Errorf("%v: wrote %d files into --out", c.args, len(entries))
		}
	}
	if b, err := exec.Command(signsgdBin, "bogus").CombinedOutput(); err == nil || !strings.Contains(string(b), "unknown command") {
		t.Errorf("unknown command: %v %s", err, b)
	}
}

// testJobSecret is the secret of the jobs startRanks starts.
const testJobSecret = "job-test-secret-0123456789"

// startRanks starts n rank processes by hand, as an external launcher
// would, with rank 0 on a listener opened here.
func startRanks(t *testing.T, n int, out string, extra ...string) ([]*exec.Cmd, []*bytes.Buffer) {
	t.Helper()
	return startRanksAfter(t, n, out, nil, extra...)
}

// startRanksAfter is startRanks calling before(rank 0's address) once rank
// 0's listener is open and before any rank starts.
func startRanksAfter(t *testing.T, n int, out string, before func(addr string), extra ...string) ([]*exec.Cmd, []*bytes.Buffer) {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	lf, _ := l.(*net.TCPListener).File()
	l.Close()
	defer lf.Close()
	if before != nil {
		before(l.Addr().String())
	}
	cmds := make([]*exec.Cmd, n)
	errs := make([]*bytes.Buffer, n)
	for r := range cmds {
		args := append([]string{"run", "--workers", strconv.Itoa(n), "--rank", strconv.Itoa(r), "--coordinator", l.Addr().String(), "--out", out, "--quiet", "--timeout", "20s"}, extra...)
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
			if c.ProcessState == nil {
				c.Process.Kill()
				c.Wait()
			}
		}
	})
	return cmds, errs
}

// TestLostRank kills a rank mid-run (SIGKILL): every other rank exits
// with status 1 (a failed run), quickly, with an error that names the lost rank (rank 0 tells
// the others why it ends the job), and nothing hangs. Losing rank 0 ends
// every other rank the same way.
func TestLostRank(t *testing.T) {
	for _, lost := range []int{2, 0} {
		t.Run(fmt.Sprintf("rank=%d", lost), func(t *testing.T) {
			out := t.TempDir()
			cmds, errs := startRanks(t, 4, out, "--epochs", "100000", "--lr-decay", "1") // a constant rate: the schedule would vanish in float32
			waitFirstEpoch(t, out)
			cmds[lost].Process.Kill()
			cmds[lost].Wait()
			start := time.Now()
			for r, err := range waitAll(t, cmds, lost, 30*time.Second) {
				// A run that failed once started exits 1 (2 is for
				// a job refused before training).
				var ee *exec.ExitError
				if r != lost && (!errors.As(err, &ee) || ee.ExitCode() != 1) {
					t.Errorf("rank %d exited %v after losing rank %d, want status 1", r, err, lost)
				}
			}
			for r, b := range errs {
				if r != lost && !strings.Contains(b.String(), fmt.Sprintf("rank %d closed the connection", lost)) {
					t.Errorf("rank %d's error does not name rank %d: %q", r, lost, b.String())
				}
				if strings.Contains(b.String(), "goroutine ") || strings.Contains(b.String(), "panic") {
					t.Errorf("rank %d panicked: %s", r, b)
				}
			}
			if left := processesMentioning(out); len(left) > 0 {
				t.Errorf("processes left behind: %v", left)
			}
			t.Logf("ranks ended %v after the kill; rank 1 said %q", time.Since(start), strings.TrimSpace(errs[1].String()))
			// metrics written so far are whole lines
			if recs := readMetrics(t, out); len(recs) == 0 {
				t.Fatal("finished epochs were lost")
			}
		})
	}
}

// TestNetworksRun trains the image networks for one short epoch across
// real rank processes: MNIST's cnn on real MNIST files and ResNet-18 on
// synthetic ImageNet-shaped data (top-5 reported).
func TestNetworksRun(t *testing.T) {
	cases := [][]string{
		{"--dataset", "mnist", "--model", "cnn", "--workers", "3", "--train-limit", "1500", "--eval-limit", "1000", "--lr", "1e-3"},
		{"--dataset", "imagenet-synthetic", "--model", "resnet18", "--workers", "2", "--synthetic-samples", "8", "--batch", "4", "--eval-limit", "4"},
	}
	for _, args := range cases {
		out := t.TempDir()
		cmd := exec.Command(signsgdBin, append([]string{"run", "--epochs", "1", "--out", out, "--quiet"}, args...)...)
		if b, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("%v: %v\n%s", args, err, b)
		}
		recs := readMetrics(t, out)
		acc := recs[0]["test_acc"].(float64)
		if args[1] == "mnist" && acc < 0.5 {
			t.Errorf("cnn on 1500 MNIST samples: test accuracy %v after one epoch", acc)
		}
		if args[1] == "imagenet-synthetic" {
			if _, ok := recs[0]["test_acc5"]; !ok {
				t.Errorf("no top-5 accuracy for ImageNet-shaped data: %v", recs[0])
			}
		}
		t.Logf("%v: test_acc %.4f, epoch %.1fs", args[:4], acc, recs[0]["epoch_seconds"])
	}
}

// The defaults that depend on the dataset (MNIST's schedule for the signs
// and SIGNUM's momentum) and those that do not (the rate); an explicit flag
// always wins.
func TestDatasetDefaults(t *testing.T) {
	cases := []struct {
		args     []string
		lr, beta float64
		every    int
	}{
		{[]string{"--dataset", "logreg", "--opt", "signum"}, 1e-4, 0.9, 30},
		{[]string{"--dataset", "mnist", "--opt", "signum"}, 1e-4, MNISTBeta, MNISTDecayEvery},
		{[]string{"--dataset", "mnist", "--opt", "signsgd"}, 1e-4, 0, MNISTDecayEvery},
		{[]string{"--dataset", "mnist", "--opt", "sgd"}, SGDDefaultLR, 0, 30},
		{[]string{"--dataset", "mnist", "--opt", "signum", "--momentum", "0.9", "--lr", "2e-4", "--lr-decay-every", "30"}, 2e-4, 0.9, 30},
		{[]string{"--dataset", "mnist", "--opt", "sgd", "--lr-decay-every", "2"}, SGDDefaultLR, 0, 2},
		{[]string{"--dataset", "imagenet-synthetic", "--model", "resnet18", "--opt", "signum"}, 1e-4, 0.9, 30},
	}
	for _, c := range cases {
		cfg, err := ParseRun(append(c.args, "--out", t.TempDir()))
		if err != nil {
			t.Fatalf("%v: %v", c.args, err)
		}
		if cfg.LR != c.lr || cfg.Momentum != c.beta || cfg.LRDecayEvery != c.every {
			t.Errorf("%v: lr %g, momentum %g, lr-decay-every %d; want %g, %g, %d", c.args, cfg.LR, cfg.Momentum, cfg.LRDecayEvery, c.lr, c.beta, c.every)
		}
	}
	// The schedule reaches the rate of each epoch: MNIST's fifth epoch is
	// the first at a tenth.
	cfg, err := ParseRun([]string{"--dataset", "mnist", "--out", t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	for epoch, want := range []float64{1e-4, 1e-4, 1e-4, 1e-4, 1e-5} {
		if got := cfg.lrAt(epoch); math.Abs(got-want) > 1e-12*want {
			t.Errorf("mnist epoch %d: lr %g; want %g", epoch, got, want)
		}
	}
}
