package job

import (
	"bytes"
	"errors"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"signsgd/job/cli"
)

// simCases are jobs of 9 ranks that --launcher sim must end exactly as
// the process launcher does: every optimizer family, each topology kind,
// blind and Byzantine adversaries with the paper's attack and a robust
// aggregator, logreg and MNIST's mlp.
var simCases = [][]string{
	{"--opt", "signum", "--topology", "server", "--blind", "2"},
	{"--opt", "signum", "--topology", "shard", "--byzantine", "3", "--attack", "paper"},
	{"--opt", "signsgd", "--topology", "allgather", "--byzantine", "2", "--tie", "random"},
	{"--opt", "sgd", "--topology", "ring"},
	{"--opt", "sgd", "--topology", "server", "--aggregator", "median", "--byzantine", "2", "--attack", "paper"},
	{"--dataset", "mnist", "--model", "mlp", "--train-limit", "1800", "--eval-limit", "500", "--batch", "72", "--opt", "signum", "--byzantine", "2"},
}

// TestSimMatchesProcesses runs each of simCases under the process
// launcher (9 processes over loopback TCP) and under --launcher sim (9
// goroutines in this test's process) and wants the same model sha256 and
// the same config.json. A rank of the sim that read or wrote another
// rank's parameters, gradient or momentum would end elsewhere (or fail
// Train's own check that every rank ends with the same model).
func TestSimMatchesProcesses(t *testing.T) {
	if testing.Short() {
		t.Skip("starts 9 processes per case")
	}
	for _, c := range simCases {
		name := strings.Join(c, " ")
		args := append([]string{"--workers", "9", "--epochs", "1", "--quiet"}, c...)
		procOut, simOut := t.TempDir(), t.TempDir()
		cmd := exec.Command(signsgdBin, append([]string{"run", "--out", procOut}, args...)...)
		if b, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("%s: process launcher: %v\n%s", name, err, b)
		}
		var stdout, stderr bytes.Buffer
		if err := Run(append([]string{"--launcher", "sim", "--out", simOut}, args...), &stdout, &stderr); err != nil {
			t.Fatalf("%s: --launcher sim: %v\n%s", name, err, stderr.String())
		}
		proc, sim := readSummary(t, procOut), readSummary(t, simOut)
		if proc.ModelSHA256 != sim.ModelSHA256 {
			t.Errorf("%s: --launcher sim ended with model %.16s, the processes with %.16s", name, sim.ModelSHA256, proc.ModelSHA256)
		} else {
			t.Logf("%s: model %.16s under both", name, sim.ModelSHA256)
		}
		if proc.Final.TrainLoss != sim.Final.TrainLoss {
			t.Errorf("%s: train loss %v under sim, %v under processes", name, sim.Final.TrainLoss, proc.Final.TrainLoss)
		}
		for _, f := range []string{"config.json", "partition.json"} {
			a, _ := os.ReadFile(filepath.Join(procOut, f))
			b, _ := os.ReadFile(filepath.Join(simOut, f))
			a = bytes.ReplaceAll(a, []byte(procOut), []byte("OUT"))
			b = bytes.ReplaceAll(b, []byte(simOut), []byte("OUT"))
			if len(a) == 0 || !bytes.Equal(a, b) {
				t.Errorf("%s: %s differs between sim and processes:\n%s\n%s", name, f, b, a)
			}
		}
	}
}

// TestSimSharesData checks what the ranks of a sim job share: one training
// set and one partition (the same backing arrays), and each rank its own
// parameters and gradient.
func TestSimSharesData(t *testing.T) {
	cfg, err := ParseRun([]string{"--workers", "3", "--out", t.TempDir(), "--quiet", "--launcher", "sim"})
	if err != nil {
		t.Fatal(err)
	}
	cfg.sim = newSimWorld(2)
	var runs []*run
	for rank := range 3 {
		r := &run{cfg: cfg, rank: rank, m: 3}
		if r.train, r.test, err = r.loadData(); err != nil {
			t.Fatal(err)
		}
		parts, _, err := r.partitionRows(r.train.Len())
		if err != nil {
			t.Fatal(err)
		}
		r.shard = parts[rank]
		m, err := newModel(cfg, r.train)
		if err != nil {
			t.Fatal(err)
		}
		r.model = m
		runs = append(runs, r)
	}
	first := &runs[0].train.(interface{ Row(int) []float32 }).Row(0)[0]
	for _, r := range runs[1:] {
		if &r.train.(interface{ Row(int) []float32 }).Row(0)[0] != first {
			t.Errorf("rank %d loaded its own copy of the training set", r.rank)
		}
		if &r.model.Params()[0] == &runs[0].model.Params()[0] || &r.model.Grads()[0] == &runs[0].model.Grads()[0] {
			t.Errorf("rank %d shares rank 0's parameters or gradient", r.rank)
		}
	}
}

// TestSimLink: a job over modelled links ends with the model of the plain
// sim run (the link model moves clocks, never data), and with a fixed
// --sim-compute its record says exactly that compute per step, beside a
// positive exchange time.
func TestSimLink(t *testing.T) {
	args := []string{"--launcher", "sim", "--workers", "5", "--epochs", "1", "--quiet", "--train-limit", "2000", "--opt", "sgd", "--topology", "ring"}
	plain, linked := t.TempDir(), t.TempDir()
	var b bytes.Buffer
	if err := Run(append(args, "--out", plain), &b, &b); err != nil {
		t.Fatal(err, b.String())
	}
	if err := Run(append(args, "--out", linked, "--sim-link", "1gbit,5us", "--sim-compute", "3ms"), &b, &b); err != nil {
		t.Fatal(err, b.String())
	}
	if a, l := readSummary(t, plain).ModelSHA256, readSummary(t, linked).ModelSHA256; a != l {
		t.Errorf("model %.16s over modelled links, %.16s without", l, a)
	}
	rec := readMetrics(t, linked)[0]
	step, _ := rec["sim_step_seconds"].(float64)
	comp, _ := rec["sim_compute_seconds"].(float64)
	comm, _ := rec["sim_comm_seconds"].(float64)
	if math.Abs(comp-0.003) > 1e-12 || !(comm > 0) || math.Abs(step-comp-comm) > 1e-12 {
		t.Errorf("simulated step %v s = compute %v + exchange %v; want compute 0.003 and a positive exchange", step, comp, comm)
	}
	if _, ok := readMetrics(t, plain)[0]["sim_step_seconds"]; ok {
		t.Errorf("sim_step_seconds without --sim-link")
	}
}

// More ranks than training rows is refused before training (a usage
// error, exit status 2) naming both counts and what to change, and the
// failing ranks tell each other once: one abort, not one per rank.
func TestSimTooFewRows(t *testing.T) {
	var stdout, stderr bytes.Buffer
	err := Run([]string{"--launcher", "sim", "--dataset", "logreg", "--samples", "250", "--workers", "300",
		"--epochs", "1", "--quiet", "--out", t.TempDir()}, &stdout, &stderr)
	if !errors.Is(err, cli.ErrUsage) {
		t.Fatalf("Run = %v, want a usage error", err)
	}
	for _, want := range []string{"200 training samples for 300 ranks", "--samples"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not say %q", err, want)
		}
	}
}
