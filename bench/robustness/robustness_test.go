package robustness

import (
	"encoding/csv"
	"encoding/json"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	"signsgd/job"
)

func TestCodeRAndCounts(t *testing.T) {
	for m, want := range map[int]int{9: 3, 17: 17, 5: 5, 15: 3, 16: 4} {
		if got := CodeR(m); got != want || m%got != 0 {
			t.Errorf("CodeR(%d) = %d, want %d", m, got, want)
		}
	}
	if got := Counts(9); !slices.Equal(got, []int{0, 2, 4}) {
		t.Errorf("Counts(9) = %v", got)
	}
	if got := Counts(17); !slices.Equal(got, []int{0, 4, 8}) {
		t.Errorf("Counts(17) = %v", got)
	}
}

// TestQuickGrid runs a three-method, two-attack grid with real processes and
// checks the CSV and the table against the runs' own metrics, the worst
// case against the cells, that a second call reuses every run, and that
// --launcher sim ends each run with the same model.
func TestQuickGrid(t *testing.T) {
	bin := filepath.Join(t.TempDir(), "signsgd")
	if b, err := exec.Command("go", "build", "-o", bin, "../../cmd/signsgd").CombinedOutput(); err != nil {
		t.Fatalf("build: %v\n%s", err, b)
	}
	ms := Methods()
	g := Grid{Dataset: "logreg", Model: "mlp", Workers: []int{5}, Partitions: []string{"dirichlet:1"}, Counts: []int{0, 1}, Epochs: 2, Seed: 1,
		Methods: []Method{ms[1], ms[len(ms)-2], ms[len(ms)-1]}, // sgd median, signum rep-coded, signum det-coded
		Attacks: []string{"oppose", "gaussian"}}
	runs := filepath.Join(t.TempDir(), "runs")
	cells, err := Run(g, bin, runs, nil)
	if err != nil {
		t.Fatal(err)
	}
	// f=0: one cell per method; f=1: median has gaussian only (oppose has
	// no gradient form), the votes both.
	if len(cells) != 3+1+2+2 {
		t.Fatalf("%d cells, want 8: %+v", len(cells), cells)
	}
	for _, c := range cells {
		if c.Reused {
			t.Errorf("%s %s: reused on the first call", c.Method, c.Attack)
		}
		b, err := os.ReadFile(filepath.Join(c.Dir, "config.json"))
		if err != nil {
			t.Fatal(err)
		}
		cfg := string(b)
		if !strings.Contains(cfg, `"byzantine": `+strconv.Itoa(c.Byzantine)) || (c.Attack != "" && !strings.Contains(cfg, `"attack": "`+c.Attack+`"`)) ||
			!strings.Contains(cfg, `"partition": "dirichlet:1"`) {
			t.Errorf("%s %s f=%d: ran %s", c.Method, c.Attack, c.Byzantine, cfg)
		}
		if coded := strings.Contains(cfg, `"code": "repetition:5"`); coded != (c.Method == "signum rep-coded") || (coded && c.GradsPerStep != 5) {
			t.Errorf("%s: repetition-coded %v with %v gradients a step: %s", c.Method, coded, c.GradsPerStep, cfg)
		}
		// deterministic, 5 workers: B = 0 is no coding; B = 1 has 3 ranks
		// computing all 5 partitions and a pair computing 2 each.
		if coded := strings.Contains(cfg, `"code": "deterministic"`); coded != (c.Method == "signum det-coded") ||
			(coded && c.GradsPerStep != []float64{1, 19.0 / 5}[c.Byzantine]) {
			t.Errorf("%s f=%d: deterministic-coded %v with %v gradients a step: %s", c.Method, c.Byzantine, coded, c.GradsPerStep, cfg)
		}
		last := lastRecord(t, c.Dir)
		if last.TestAcc == nil || *last.TestAcc != c.Final {
			t.Errorf("%s %s: final %v, metrics say %v", c.Method, c.Attack, c.Final, last.TestAcc)
		}
	}
	w := Worst(cells)
	for _, m := range g.Methods {
		least := math.Inf(1)
		for _, c := range cells {
			if c.Byzantine == 1 && c.Method == m.Name {
				least = math.Min(least, c.Final)
			}
		}
		if k := (Key{5, "dirichlet:1", 1}); w[k][m.Name] != least {
			t.Errorf("worst of %s: %v, want %v", m.Name, w[k][m.Name], least)
		}
	}
	var b strings.Builder
	if err := writeCSV(&b, g, cells); err != nil {
		t.Fatal(err)
	}
	rows, err := csv.NewReader(strings.NewReader(b.String())).ReadAll()
	if err != nil || len(rows) != len(cells)+1 {
		t.Fatalf("csv: %d rows, %v", len(rows), err)
	}
	for i, c := range cells {
		if got, _ := strconv.ParseFloat(rows[i+1][7], 64); math.Abs(got-c.Final) > 1e-5 {
			t.Errorf("csv row %d: final %v, want %v", i+1, got, c.Final)
		}
	}
	heat, err := drawHeatmaps(g, cells, t.TempDir())
	if err != nil || len(heat) != 1 {
		t.Fatalf("heatmaps: %v %v", heat, err)
	}
	md := markdown(g, cells, "test", 0, heat)
	// The deterministic code's load grows with the count: one figure each.
	if i := strings.Index(md, "\n| signum det-coded | "); i < 0 || !strings.Contains(strings.SplitN(md[i+1:], "\n", 2)[0], " | 1.0 / 3.8 | ") {
		t.Errorf("markdown: no det-coded row with 1.0 / 3.8 gradients a step:\n%s", md)
	}
	if !strings.Contains(md, "| sgd median | - | ") {
		t.Errorf("markdown: no '-' for median against oppose:\n%s", md)
	}
	if g.Size() != len(cells) {
		t.Errorf("Size %d, ran %d", g.Size(), len(cells))
	}
	again, err := Run(g, bin, runs, nil)
	if err != nil {
		t.Fatal(err)
	}
	for i, c := range again {
		if !c.Reused || c.Final != cells[i].Final {
			t.Errorf("second call: %s %s reused=%v final %v, want reused %v", c.Method, c.Attack, c.Reused, c.Final, cells[i].Final)
		}
	}
	// The same grid under --launcher sim, in a cache of its own, ends every
	// run with the processes' model.
	g.Launcher = "sim"
	sim, err := Run(g, bin, filepath.Join(t.TempDir(), "runs"), nil)
	if err != nil {
		t.Fatal(err)
	}
	for i, c := range sim {
		if c.Reused || c.Final != cells[i].Final || modelSHA(t, c.Dir) != modelSHA(t, cells[i].Dir) {
			t.Errorf("--launcher sim: %s %s f=%d reused=%v final %v model %.16s, processes %v %.16s", c.Method, c.Attack, c.Byzantine,
				c.Reused, c.Final, modelSHA(t, c.Dir), cells[i].Final, modelSHA(t, cells[i].Dir))
		}
	}
}

// modelSHA is a run's final model checksum from its summary.json.
func modelSHA(t *testing.T, dir string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(dir, "summary.json"))
	if err != nil {
		t.Fatal(err)
	}
	var s job.Summary
	if err := json.Unmarshal(b, &s); err != nil || s.ModelSHA256 == "" {
		t.Fatalf("%s: %v (model %q)", dir, err, s.ModelSHA256)
	}
	return s.ModelSHA256
}

// lastRecord reads a run's last metrics line, independently of readCell.
func lastRecord(t *testing.T, dir string) job.Record {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(dir, "metrics.jsonl"))
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(string(b)), "\n")
	var r job.Record
	if err := json.Unmarshal([]byte(lines[len(lines)-1]), &r); err != nil {
		t.Fatal(err)
	}
	return r
}
