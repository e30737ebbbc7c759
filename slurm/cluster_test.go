package slurm_test

// End-to-end tests of the launchers on real parts: a single-node Slurm
// brought up by local-slurm.sh (sbatch of 4 and 8 ranks, a failing rank),
// OpenMPI's mpirun, and two "nodes" in network namespaces joined by a veth
// pair. Each run must end with the same model checksum and final accuracy
// as the same configuration launched locally by `signsgd run`.
//
// They need root (daemons, namespaces). Under CI=true they must run: a
// missing prerequisite fails the test; elsewhere they skip, saying why.

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

var (
	bin       string // signsgd built for these tests
	scriptDir string
	slurmOnce sync.Once
	slurmUp   bool   // local-slurm.sh up succeeded
	slurmErr  string // why not
)

// bringUpSlurm starts the single-node Slurm once, for the tests that need
// it; TestMain brings it down at the end.
func bringUpSlurm() (bool, string) {
	slurmOnce.Do(func() {
		if os.Geteuid() != 0 {
			slurmErr = "a local Slurm needs root"
			return
		}
		start := time.Now()
		out, err := exec.Command(filepath.Join(scriptDir, "local-slurm.sh"), "up").CombinedOutput()
		if err != nil {
			slurmErr = fmt.Sprintf("local-slurm.sh up: %v\n%s", err, out)
			return
		}
		slurmUp = true
		fmt.Fprintf(os.Stderr, "local Slurm up in %v\n", time.Since(start).Round(time.Millisecond))
	})
	return slurmUp, slurmErr
}

func TestMain(m *testing.M) {
	wd, _ := os.Getwd()
	scriptDir = wd
	dir, err := os.MkdirTemp("", "signsgd-cluster")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	bin = filepath.Join(dir, "signsgd")
	if out, err := exec.Command("go", "build", "-o", bin, "../cmd/signsgd").CombinedOutput(); err != nil {
		fmt.Fprintf(os.Stderr, "build: %v\n%s", err, out)
		os.Exit(1)
	}
	code := m.Run()
	if slurmUp {
		if out, err := exec.Command(filepath.Join(scriptDir, "local-slurm.sh"), "down").CombinedOutput(); err != nil {
			fmt.Fprintf(os.Stderr, "local-slurm.sh down: %v\n%s", err, out)
			code = 1
		}
	}
	os.RemoveAll(dir)
	os.Exit(code)
}

// need skips (or, under CI, fails) when a prerequisite is missing.
func need(t *testing.T, ok bool, why string) {
	t.Helper()
	if ok {
		return
	}
	if os.Getenv("CI") == "true" {
		t.Fatalf("CI must run this test: %s", why)
	}
	t.Skipf("skipped: %s", why)
}

type summary struct {
	ModelSHA256 string `json:"model_sha256"`
	Final       struct {
		TestAcc *float64 `json:"test_acc"`
		Epoch   int      `json:"epoch"`
	} `json:"final"`
	Ranks int `json:"ranks"`
}

func readSummary(t *testing.T, dir string) summary {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(dir, "summary.json"))
	if err != nil {
		t.Fatalf("no summary: %v", err)
	}
	var s summary
	if err := json.Unmarshal(b, &s); err != nil {
		t.Fatal(err)
	}
	return s
}

var trainFlags = []string{"--dataset", "logreg", "--opt", "signum", "--byzantine", "1", "--epochs", "3", "--seed", "8005", "--quiet"}

// localReference runs the configuration with the built-in local launcher.
var (
	refMu   sync.Mutex
	refRuns = map[int]summary{}
)

func localReference(t *testing.T, ranks int) summary {
	t.Helper()
	refMu.Lock()
	defer refMu.Unlock()
	if s, ok := refRuns[ranks]; ok {
		return s
	}
	out := t.TempDir()
	args := append([]string{"run", "--workers", strconv.Itoa(ranks), "--out", out}, trainFlags...)
	if b, err := exec.Command(bin, args...).CombinedOutput(); err != nil {
		t.Fatalf("local run: %v\n%s", err, b)
	}
	s := readSummary(t, out)
	refRuns[ranks] = s
	return s
}

func sameRun(t *testing.T, what string, got, want summary) {
	t.Helper()
	if got.ModelSHA256 != want.ModelSHA256 || got.Final.TestAcc == nil || want.Final.TestAcc == nil || *got.Final.TestAcc != *want.Final.TestAcc || got.Ranks != want.Ranks {
		t.Fatalf("%s: model %s acc %v ranks %d; local run: model %s acc %v ranks %d", what,
			got.ModelSHA256, got.Final.TestAcc, got.Ranks, want.ModelSHA256, want.Final.TestAcc, want.Ranks)
	}
	t.Logf("%s: model %s, test_acc %.4f, same as the local run", what, got.ModelSHA256[:16], *got.Final.TestAcc)
}

// sbatch submits slurm/signsgd.sbatch with --wait and the sizing options
// (none: the header's), bounded by timeout.
func sbatch(t *testing.T, sizing []string, timeout time.Duration, args ...string) (string, error) {
	t.Helper()
	logf := filepath.Join(t.TempDir(), "job.out")
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	cmdArgs := append(append(append([]string{"--wait"}, sizing...), "--output="+logf, filepath.Join(scriptDir, "signsgd.sbatch")), args...)
	cmd := exec.CommandContext(ctx, "sbatch", cmdArgs...)
	cmd.Env = append(os.Environ(), "SIGNSGD_BIN="+bin)
	var stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stderr, &stderr
	err := cmd.Run()
	log, _ := os.ReadFile(logf)
	if ctx.Err() != nil {
		exec.Command("scancel", "--quiet", "--partition=debug").Run()
		return string(log), fmt.Errorf("sbatch did not finish within %v: %s", timeout, stderr.String())
	}
	if err != nil {
		err = fmt.Errorf("%v: %s", err, strings.TrimSpace(stderr.String()))
	}
	return string(log), err
}

// TestSbatchMatchesLocal submits the script sized each way a Slurm user
// sizes a job (the header's default, -n, --ntasks-per-node on -N nodes)
// and checks each ran that many ranks, with the local run's model.
func TestSbatchMatchesLocal(t *testing.T) {
	ok, why := bringUpSlurm()
	need(t, ok, why)
	for _, c := range []struct {
		sizing []string
		ranks  int
	}{
		{nil, 4}, // the header's --ntasks
		{[]string{"-n", "8"}, 8},
		{[]string{"-N", "1", "--ntasks-per-node=8"}, 8},
	} {
		name := strings.Join(c.sizing, " ")
		if name == "" {
			name = "header"
		}
		t.Run(name, func(t *testing.T) {
			out := t.TempDir()
			start := time.Now()
			log, err := sbatch(t, c.sizing, 3*time.Minute, append([]string{"--out", out}, trainFlags...)...)
			if err != nil {
				t.Fatalf("sbatch %s: %v\n%s", name, err, log)
			}
			t.Logf("sbatch --wait %s took %v", name, time.Since(start).Round(time.Millisecond))
			got := readSummary(t, out)
			if got.Ranks != c.ranks {
				t.Fatalf("sbatch %s ran %d ranks, want %d:\n%s", name, got.Ranks, c.ranks, log)
			}
			if want := fmt.Sprintf(": %d ranks on ", c.ranks); !strings.Contains(log, want) {
				t.Errorf("the job's log lacks %q:\n%s", want, log)
			}
			sameRun(t, fmt.Sprintf("sbatch %s (%d ranks)", name, c.ranks), got, localReference(t, c.ranks))
		})
	}
}

func TestSbatchFailingRank(t *testing.T) {
	ok, why := bringUpSlurm()
	need(t, ok, why)
	out := t.TempDir()
	start := time.Now()
	log, err := sbatch(t, []string{"-n", "4"}, 2*time.Minute, "--out", out, "--epochs", "1000", "--fault-rank", "2", "--fault-step", "100", "--quiet")
	if err == nil {
		t.Fatalf("a job with a failing rank ended 0:\n%s", log)
	}
	if !strings.Contains(log, "rank 2 of 4: injected fault at step 100") {
		t.Fatalf("the job's output lacks rank 2's error:\n%s", log)
	}
	t.Logf("job ended non-zero after %v with rank 2's error in its output", time.Since(start).Round(time.Millisecond))
}

// TestSbatchRequeue requeues a running job (as a node failure or a
// preemption would): Slurm restarts the script, the ranks resume from the
// newest checkpoint, and the job ends with the model of an uninterrupted
// local run.
func TestSbatchRequeue(t *testing.T) {
	ok, why := bringUpSlurm()
	need(t, ok, why)
	flags := []string{"--workers", "4", "--epochs", "60", "--seed", "8005"}
	out := t.TempDir()
	logf := filepath.Join(t.TempDir(), "job.out")
	cmd := exec.Command("sbatch", append([]string{"--parsable", "--ntasks-per-node=4", "--output=" + logf, filepath.Join(scriptDir, "signsgd.sbatch"), "--out", out}, flags...)...)
	cmd.Env = append(os.Environ(), "SIGNSGD_BIN="+bin)
	b, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("sbatch: %v\n%s", err, b)
	}
	job := strings.TrimSpace(strings.Split(string(b), ";")[0])
	defer exec.Command("scancel", job).Run()
	state := func() string {
		b, _ := exec.Command("scontrol", "show", "job", job).Output()
		for _, f := range strings.Fields(string(b)) {
			if v, ok := strings.CutPrefix(f, "JobState="); ok {
				return v
			}
		}
		return "?"
	}
	// Requeue once three epochs are done.
	deadline := time.Now().Add(time.Minute)
	for {
		if b, _ := os.ReadFile(filepath.Join(out, "metrics.jsonl")); bytes.Count(b, []byte("\n")) >= 3 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("job %s (%s) finished no epoch in a minute", job, state())
		}
		time.Sleep(20 * time.Millisecond)
	}
	if b, err := exec.Command("scontrol", "requeue", job).CombinedOutput(); err != nil {
		t.Fatalf("scontrol requeue %s: %v\n%s", job, err, b)
	}
	start := time.Now()
	for st := state(); st != "COMPLETED"; st = state() {
		if st == "FAILED" || st == "CANCELLED" || time.Since(start) > 2*time.Minute {
			log, _ := os.ReadFile(logf)
			t.Fatalf("job %s is %s %v after the requeue:\n%s", job, st, time.Since(start), log)
		}
		time.Sleep(200 * time.Millisecond)
	}
	log, _ := os.ReadFile(logf)
	if !bytes.Contains(log, []byte("(start 1)")) || !bytes.Contains(log, []byte("resume: from epoch")) {
		t.Fatalf("the job did not restart and resume:\n%s", log)
	}
	ref := t.TempDir()
	if b, err := exec.Command(bin, append([]string{"run", "--out", ref, "--quiet"}, flags...)...).CombinedOutput(); err != nil {
		t.Fatalf("local run: %v\n%s", err, b)
	}
	sameRun(t, "requeued sbatch job", readSummary(t, out), readSummary(t, ref))
	t.Logf("requeued after 3 epochs; finished %v later", time.Since(start).Round(time.Millisecond))
}

func TestMpirunMatchesLocal(t *testing.T) {
	_, err := exec.LookPath("mpirun")
	need(t, err == nil, "mpirun not installed (Debian openmpi-bin)")
	out := t.TempDir()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	args := append([]string{"--allow-run-as-root", "--oversubscribe", "-np", "4", bin, "run", "--out", out}, trainFlags...)
	if b, err := exec.CommandContext(ctx, "mpirun", args...).CombinedOutput(); err != nil {
		t.Fatalf("mpirun: %v\n%s", err, b)
	}
	sameRun(t, "mpirun 4 ranks", readSummary(t, out), localReference(t, 4))
}

// TestTwoNamespaces runs ranks 0-1 in one network namespace and 2-3 in
// another, joined by a veth pair: rendezvous by address, as on two nodes.
func TestTwoNamespaces(t *testing.T) {
	need(t, os.Geteuid() == 0, "network namespaces need root")
	_, err := exec.LookPath("ip")
	need(t, err == nil, "ip (iproute2) not installed")
	id := os.Getpid() % 10000
	nsA, nsB := fmt.Sprintf("sgA%d", id), fmt.Sprintf("sgB%d", id)
	vA, vB := fmt.Sprintf("sgva%d", id), fmt.Sprintf("sgvb%d", id)
	subnet := fmt.Sprintf("10.%d.%d", 200+id%50, id%250)
	ipA, ipB := subnet+".1", subnet+".2"
	run := func(args ...string) {
		t.Helper()
		if b, err := exec.Command("ip", args...).CombinedOutput(); err != nil {
			t.Fatalf("ip %s: %v\n%s", strings.Join(args, " "), err, b)
		}
	}
	t.Cleanup(func() {
		exec.Command("ip", "netns", "del", nsA).Run()
		exec.Command("ip", "netns", "del", nsB).Run()
	})
	run("netns", "add", nsA)
	run("netns", "add", nsB)
	run("link", "add", vA, "type", "veth", "peer", "name", vB)
	run("link", "set", vA, "netns", nsA)
	run("link", "set", vB, "netns", nsB)
	run("-n", nsA, "addr", "add", ipA+"/24", "dev", vA)
	run("-n", nsB, "addr", "add", ipB+"/24", "dev", vB)
	for _, ns := range []string{nsA, nsB} {
		run("-n", ns, "link", "set", "lo", "up")
	}
	run("-n", nsA, "link", "set", vA, "up")
	run("-n", nsB, "link", "set", vB, "up")

	out := t.TempDir()
	coord := ipA + ":29500"
	var wg sync.WaitGroup
	errs := make([]error, 4)
	logs := make([][]byte, 4)
	for r := 0; r < 4; r++ {
		ns := nsA
		if r >= 2 {
			ns = nsB
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
			defer cancel()
			args := append([]string{"netns", "exec", ns, bin, "run", "--workers", "4", "--rank", strconv.Itoa(r), "--coordinator", coord, "--job-id", "netns", "--out", out}, trainFlags...)
			logs[r], errs[r] = exec.CommandContext(ctx, "ip", args...).CombinedOutput()
		}()
	}
	wg.Wait()
	for r, err := range errs {
		if err != nil {
			t.Fatalf("rank %d: %v\n%s", r, err, logs[r])
		}
	}
	sameRun(t, "two namespaces", readSummary(t, out), localReference(t, 4))
}
