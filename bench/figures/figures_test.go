package figures

import (
	"image/png"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// TestQuickGrid runs the quick grid with the real binary and asserts the
// paper's qualitative claims (not fixed numbers): SGD stops learning with
// one Byzantine worker; SIGNUM stays within a few points of its
// no-adversary accuracy with 4 of 9 Byzantines on logistic regression and
// 3 of 9 (33%) on MNIST. A second run reuses every finished run.
func TestQuickGrid(t *testing.T) {
	if testing.Short() {
		t.Skip("trains real runs; skipped with -short")
	}
	dir := t.TempDir()
	bin := filepath.Join(dir, "signsgd")
	if b, err := exec.Command("go", "build", "-o", bin, "../../cmd/signsgd").CombinedOutput(); err != nil {
		t.Fatalf("build: %v\n%s", err, b)
	}
	out := filepath.Join(dir, "figs")
	spec := PaperSpec()
	res, err := Run(spec, Options{Out: out, Bin: bin, Quick: true})
	if err != nil {
		t.Fatal(err)
	}
	get := func(exp, opt string, c int) Series {
		s, ok := res.Lookup(exp, opt, c)
		if !ok {
			t.Fatalf("no run for %s %s %d", exp, opt, c)
		}
		return s
	}
	// SGD with one Byzantine does not learn: accuracy stays at its first value.
	sgd := get("fig3-logreg-byzantine", "sgd", 1)
	if d := math.Abs(sgd.Final() - sgd.First()); d > 0.02 {
		t.Errorf("SGD with 1 Byzantine moved its accuracy by %.3f (%.3f -> %.3f)", d, sgd.First(), sgd.Final())
	}
	clean := get("fig3-logreg-byzantine", "sgd", 0)
	if clean.Final()-clean.First() < 0.05 {
		t.Errorf("SGD without adversaries did not learn either (%.3f -> %.3f): the check above proves nothing", clean.First(), clean.Final())
	}
	// SIGNUM keeps within a few points.
	for _, c := range []struct {
		exp   string
		count int
	}{{"fig3-logreg-byzantine", 4}, {"fig5-mnist-byzantine", 3}} {
		base, hit := get(c.exp, "signum", 0).Final(), get(c.exp, "signum", c.count).Final()
		if base-hit > 0.05 {
			t.Errorf("%s: SIGNUM with %d Byzantines %.3f, without %.3f", c.exp, c.count, hit, base)
		}
		t.Logf("%s: SIGNUM %.4f without adversaries, %.4f with %d Byzantines", c.exp, base, hit, c.count)
	}
	// Files: a PNG that decodes and an SVG per experiment, and the table.
	for _, e := range spec.forGrid(true) {
		f, err := os.Open(filepath.Join(out, e.Name+".png"))
		if err != nil {
			t.Fatal(err)
		}
		if _, err := png.Decode(f); err != nil {
			t.Fatalf("%s.png: %v", e.Name, err)
		}
		f.Close()
		if b, err := os.ReadFile(filepath.Join(out, e.Name+".svg")); err != nil || !strings.Contains(string(b), "<svg") {
			t.Fatalf("%s.svg: %v", e.Name, err)
		}
	}
	if b, err := os.ReadFile(filepath.Join(out, "summary.md")); err != nil || !strings.Contains(string(b), "| signum |") {
		t.Fatalf("summary.md: %v", err)
	}
	// Resume: nothing trains again.
	again, err := Run(spec, Options{Out: out, Bin: bin, Quick: true})
	if err != nil {
		t.Fatal(err)
	}
	if again.Reused != again.Runs {
		t.Fatalf("second run reused %d of %d runs", again.Reused, again.Runs)
	}
}

func TestSpecChecks(t *testing.T) {
	if err := PaperSpec().Check(); err != nil {
		t.Fatal(err)
	}
	bad := []string{
		`{"experiments": []}`,
		`{"experiments": [{"name": "a", "adversary": "evil", "counts": [0], "optimizers": ["sgd"], "workers": 3, "epochs": 1}]}`,
		`{"experiments": [{"name": "a", "adversary": "blind", "counts": [3], "optimizers": ["sgd"], "workers": 3, "epochs": 1}]}`,
		`{"experiments": [{"name": "a", "adversary": "blind", "counts": [0], "optimizers": ["adam"], "workers": 3, "epochs": 1}]}`,
		`{"experiments": [{"name": "a", "adversary": "blind", "counts": [0], "optimizers": ["sgd"], "workers": 3, "epochs": 1, "typo": 1}]}`,
		`{"experiments": [{"name": "a/b", "adversary": "blind", "counts": [0], "optimizers": ["sgd"], "workers": 3, "epochs": 1}]}`,
		`{"experiments": [{"name": "a", "adversary": "blind", "counts": [0], "optimizers": ["sgd"], "workers": 3, "epochs": 1, "opt_flags": {"signum": ["--momentum", "0.9"]}}]}`,
	}
	for _, b := range bad {
		path := filepath.Join(t.TempDir(), "spec.json")
		os.WriteFile(path, []byte(b), 0o644)
		if _, err := LoadSpec(path); err == nil {
			t.Errorf("accepted %s", b)
		}
	}
}

// An optimizer's own flags reach its runs only, after the shared ones.
func TestRunArgsOptFlags(t *testing.T) {
	e := Experiment{Name: "a", Dataset: "mnist", Model: "mlp", Adversary: "byzantine", Attack: "paper",
		Counts: []int{0}, Optimizers: []string{"sgd", "signum"}, Workers: 9, Epochs: 5, Seed: 8005,
		Flags: []string{"--batch", "128"}, OptFlags: map[string][]string{"signum": {"--momentum", "0.9"}}}
	sgd := strings.Join(runArgs(e, "sgd", 2, false), " ")
	signum := strings.Join(runArgs(e, "signum", 2, false), " ")
	if strings.Contains(sgd, "--momentum") || !strings.HasSuffix(sgd, "--batch 128") {
		t.Errorf("sgd args: %s", sgd)
	}
	if !strings.HasSuffix(signum, "--attack paper --batch 128 --momentum 0.9") {
		t.Errorf("signum args: %s", signum)
	}
}
