package job

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"signsgd/collective"
)

// resumeArgs is a short job with a checkpoint every epoch: 3 ranks, 10
// steps an epoch.
var resumeArgs = []string{"--epochs", "4", "--train-limit", "1200", "--checkpoint-every", "1", "--byzantine", "1"}

func noFault(*collective.MemNetwork) {}

// crashAt makes rank 1 crash at step.
func crashAt(step uint32) func(n *collective.MemNetwork) {
	return func(n *collective.MemNetwork) { n.CrashAt(1, step) }
}

// mustTrain runs a job that must succeed and returns rank 0's output.
func mustTrain(t *testing.T, fault func(*collective.MemNetwork), args ...string) string {
	t.Helper()
	errs, _, log := trainNet(t, 3, fault, args...)
	for r, err := range errs {
		if err != nil {
			t.Fatalf("%v: rank %d: %v\n%s", args, r, err, log)
		}
	}
	return log
}

// mustFail runs a job that must fail (a rank crashes).
func mustFail(t *testing.T, fault func(*collective.MemNetwork), args ...string) {
	t.Helper()
	if errs, _, log := trainNet(t, 3, fault, args...); errs[0] == nil {
		t.Fatalf("%v: the job survived its fault\n%s", args, log)
	}
}

func modelOf(t *testing.T, out string) string { t.Helper(); return readSummary(t, out).ModelSHA256 }

// TestResumeOwnRun: a run into an --out that holds another run's
// checkpoints at higher epochs (same configuration: a longer run) keeps
// its own newest checkpoints and, resumed after a crash, continues from
// them, not from the other run's, and ends with the uninterrupted model.
func TestResumeOwnRun(t *testing.T) {
	ref := t.TempDir()
	mustTrain(t, noFault, append(resumeArgs, "--out", ref)...)

	out := t.TempDir()
	mustTrain(t, noFault, append(resumeArgs, "--out", out, "--epochs", "6")...) // the other run: epochs 4-6 kept
	mustFail(t, crashAt(25), append(resumeArgs, "--out", out)...)               // this run: epochs 1 and 2, then a crash
	for _, e := range []int{1, 2} {
		for r := range 3 {
			if _, err := os.Stat(ckptPath(out, e, r)); err != nil {
				t.Fatalf("this run's checkpoint of epoch %d, rank %d: %v", e, r, err)
			}
		}
	}
	log := mustTrain(t, noFault, append(resumeArgs, "--out", out, "--resume")...)
	if !strings.Contains(log, "resume: from epoch 2 (step 20)") {
		t.Fatalf("did not resume from this run's epoch 2:\n%s", log)
	}
	if a, b := modelOf(t, ref), modelOf(t, out); a != b {
		t.Fatalf("resumed run ended with model %s, the uninterrupted one with %s", b, a)
	}
	// Another configuration's checkpoints (another seed) are not
	// candidates at all, whatever their epochs.
	other := t.TempDir()
	mustTrain(t, noFault, append(resumeArgs, "--out", other, "--epochs", "6", "--seed", "1")...)
	log = mustTrain(t, noFault, append(resumeArgs, "--out", other, "--resume")...)
	if !strings.Contains(log, "starting from scratch") {
		t.Fatalf("resumed from another configuration's checkpoints:\n%s", log)
	}
	if a, b := modelOf(t, ref), modelOf(t, other); a != b {
		t.Fatalf("model %s, the uninterrupted one %s", b, a)
	}
}

// TestResumeRefusals: --resume below the checkpoints' epoch names both
// numbers; a checkpoint whose epoch is not its folder's is refused like a
// corrupt one; with no set common to all ranks the run starts from
// scratch and says so; temporary files of an interrupted write go.
func TestResumeRefusals(t *testing.T) {
	out := t.TempDir()
	mustFail(t, crashAt(25), append(resumeArgs, "--out", out)...) // epochs 1 and 2
	errs, _, _ := trainNet(t, 3, noFault, append(resumeArgs, "--out", out, "--resume", "--epochs", "1")...)
	for r, err := range errs {
		want := "are at epoch 2, past --epochs 1"
		if err == nil || !strings.Contains(err.Error(), want) || !errors.Is(err, errUsage) {
			t.Fatalf("rank %d: %v; want a usage error with %q", r, err, want)
		}
	}

	// Epoch 2's checkpoints copied to epoch 5's folder: refused there.
	for r := range 3 {
		b, err := os.ReadFile(ckptPath(out, 2, r))
		if err != nil {
			t.Fatal(err)
		}
		os.MkdirAll(filepath.Dir(ckptPath(out, 5, r)), 0o755)
		if err := os.WriteFile(ckptPath(out, 5, r), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	// Temporary files left by a crash mid-write.
	temps := []string{filepath.Join(out, ".metrics.jsonl.tmp-123"), filepath.Join(filepath.Dir(ckptPath(out, 2, 1)), ".rank-0001.ckpt.zst.tmp-456")}
	for _, p := range temps {
		os.WriteFile(p, []byte("half"), 0o644)
	}
	log := mustTrain(t, noFault, append(resumeArgs, "--out", out, "--resume", "--epochs", "3")...)
	if !strings.Contains(log, "resume: from epoch 2 (step 20)") {
		t.Fatalf("did not resume from epoch 2 past the mislabeled epoch 5:\n%s", log)
	}
	for _, p := range temps {
		if _, err := os.Stat(p); err == nil {
			t.Errorf("temporary file %s left in place", p)
		}
	}

	// Ranks holding disjoint checkpoints: no common set, a fresh start.
	other := t.TempDir()
	mustFail(t, crashAt(25), append(resumeArgs, "--out", other)...)
	os.Remove(ckptPath(other, 2, 0))
	os.Remove(ckptPath(other, 1, 1))
	log = mustTrain(t, noFault, append(resumeArgs, "--out", other, "--resume")...)
	if !strings.Contains(log, "starting from scratch") {
		t.Fatalf("no common set, yet:\n%s", log)
	}
	if n := len(readMetrics(t, other)); n != 4 {
		t.Fatalf("%d epochs recorded, want 4", n)
	}
}
