package accscale

import (
	"bytes"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"image/png"
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

func TestByzantineAndSamples(t *testing.T) {
	for _, c := range []struct {
		frac    float64
		m, want int
	}{{0.2, 5, 1}, {0.2, 9, 1}, {0.4, 9, 3}, {0.45, 9, 4}, {0.45, 33, 14}, {0.2, 2049, 409}, {0.4, 2049, 819}, {0.45, 2049, 922}, {0, 2049, 0}} {
		if got := Byzantine(c.frac, c.m); got != c.want {
			t.Errorf("Byzantine(%v, %d) = %d, want %d", c.frac, c.m, got, c.want)
		}
	}
	full := Full()
	for _, m := range full.Workers {
		for _, f := range full.Fractions {
			if n := Byzantine(f, m); 2*n >= m {
				t.Errorf("M=%d fraction %v: %d Byzantine, not below M/2", m, f, n)
			}
		}
	}
	n := full.Setups[0].Samples(full.Workers)
	if train := n * 4 / 5; train/2049 < 100 || n != 256125 {
		t.Errorf("logreg --samples %d: %d training rows, %d a worker at M = 2049", n, train, train/2049)
	}
	if full.Size() != 2*5*4*2 {
		t.Errorf("full grid: %d runs, want 80", full.Size())
	}
}

// TestQuick runs the quick grid with real processes, checks each run's
// configuration (Byzantine count, batch, attack, aggregator, launcher, rows
// a worker) against the grid, the steps against the per-worker batch, the
// CSV and Markdown against the runs' own metrics and the figure as a PNG;
// then that the command reuses every run and keeps a hand-written reading.
func TestQuick(t *testing.T) {
	bin := filepath.Join(t.TempDir(), "signsgd")
	if b, err := exec.Command("go", "build", "-o", bin, "../../cmd/signsgd").CombinedOutput(); err != nil {
		t.Fatalf("build: %v\n%s", err, b)
	}
	out := t.TempDir()
	c := Quick()
	pts, err := Run(c, bin, filepath.Join(out, "accuracy-runs"), nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(pts) != c.Size() || len(pts) != 2*2*2*2 {
		t.Fatalf("%d points, want %d", len(pts), c.Size())
	}
	for _, p := range pts {
		name := fmt.Sprintf("%s M=%d %v %s", p.Setup.Dataset, p.Workers, p.Fraction, p.Method)
		var cfg job.Config
		b, err := os.ReadFile(filepath.Join(p.Dir, "config.json"))
		if err != nil {
			t.Fatal(err)
		}
		if err := json.Unmarshal(b, &cfg); err != nil {
			t.Fatal(err)
		}
		wantF := int(math.Floor(p.Fraction * float64(p.Workers)))
		if cfg.Dataset != p.Setup.Dataset || cfg.Workers != p.Workers || cfg.Byzantine != wantF || p.Byzantine != wantF ||
			cfg.Batch != 14*p.Workers || cfg.Epochs != p.Setup.Epochs || cfg.Topology != "server" {
			t.Errorf("%s: ran %+v", name, cfg)
		}
		if (wantF > 0) != (p.Attack == "paper") || (wantF > 0 && cfg.Attack != "paper") {
			t.Errorf("%s: attack %q, config %q", name, p.Attack, cfg.Attack)
		}
		if sgd := p.Method == "sgd median"; sgd != (cfg.Opt == "sgd" && cfg.Aggregator == "median") || (!sgd && cfg.Opt != "signum") {
			t.Errorf("%s: opt %s aggregator %s", name, cfg.Opt, cfg.Aggregator)
		}
		if args, err := os.ReadFile(filepath.Join(p.Dir, "args.json")); err != nil || !strings.Contains(string(args), `"--launcher","sim"`) {
			t.Errorf("%s: args %s (%v), want --launcher sim", name, args, err)
		}
		if p.Setup.Dataset == "logreg" && (p.RowsRank < 100 || cfg.Samples != 1125) {
			t.Errorf("%s: %d rows a worker from --samples %d, want at least 100 from 1125", name, p.RowsRank, cfg.Samples)
		}
		if want := p.Setup.Epochs * ((p.RowsRank + 13) / 14); p.Steps != want {
			t.Errorf("%s: %d steps on %d rows a worker, want %d at 14 a step", name, p.Steps, p.RowsRank, want)
		}
		last := lastRecord(t, p.Dir)
		if last.TestAcc == nil || *last.TestAcc != p.Final || p.Diverged {
			t.Errorf("%s: final %v (diverged %v), metrics say %v", name, p.Final, p.Diverged, last.TestAcc)
		}
		if p.Method == "signum vote" && wantF > 0 && (math.IsNaN(p.Disagree) || p.Disagree <= 0 || p.Disagree >= 1) {
			t.Errorf("%s: sign_disagree %v", name, p.Disagree)
		}
	}
	// The command reuses every run and writes the three files.
	var log strings.Builder
	if err := Command([]string{"--quick", "--out", out, "--bin", bin}, &log, &log); err != nil {
		t.Fatal(err)
	}
	if n := strings.Count(log.String(), "(reused)"); n != len(pts) {
		t.Errorf("command reused %d of %d runs:\n%s", n, len(pts), log.String())
	}
	f, err := os.Open(filepath.Join(out, "accuracy-vs-workers.csv"))
	if err != nil {
		t.Fatal(err)
	}
	rows, err := csv.NewReader(f).ReadAll()
	f.Close()
	if err != nil || len(rows) != len(pts)+1 {
		t.Fatalf("csv: %d rows, %v", len(rows), err)
	}
	col := func(name string) int { return slices.Index(rows[0], name) }
	for i, p := range pts {
		r := rows[i+1]
		acc, _ := strconv.ParseFloat(r[col("final_acc")], 64)
		gap, _ := strconv.ParseFloat(r[col("acc_minus_clean")], 64)
		if r[col("workers")] != strconv.Itoa(p.Workers) || r[col("byzantine")] != strconv.Itoa(p.Byzantine) || r[col("method")] != p.Method ||
			math.Abs(acc-p.Final) > 1e-5 || math.Abs(gap-(p.Final-clean(pts, p))) > 1e-5 || r[col("batch")] != strconv.Itoa(14*p.Workers) {
			t.Errorf("csv row %d: %v, point %+v", i+1, r, p)
		}
	}
	md, err := os.ReadFile(filepath.Join(out, "accuracy-vs-workers.md"))
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"Command: `bin/signsgd accuracy-scale --quick", "\nMachine: ", "| 9 | 0 (9), 3 (6) |", "![accuracy against workers](accuracy-vs-workers.png)",
		fmt.Sprintf(" %.4f |", pts[len(pts)-1].Final)} {
		if !strings.Contains(string(md), want) {
			t.Errorf("markdown lacks %q:\n%s", want, md)
		}
	}
	b, err := os.ReadFile(filepath.Join(out, "accuracy-vs-workers.png"))
	if err != nil {
		t.Fatal(err)
	}
	img, err := png.Decode(bytes.NewReader(b))
	if err != nil || img.Bounds().Dx() < 600 || img.Bounds().Dy() < 400 {
		t.Fatalf("figure: %v, %v", err, img)
	}
	// A hand-written reading survives a rewrite.
	reading := "## Reading\n\nThe vote held; the median did not.\n"
	if err := os.WriteFile(filepath.Join(out, "accuracy-vs-workers.md"), append(md, []byte("\n"+reading)...), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := Command([]string{"--quick", "--out", out, "--bin", bin, "--datasets", "logreg"}, &log, &log); err != nil {
		t.Fatal(err)
	}
	md2, _ := os.ReadFile(filepath.Join(out, "accuracy-vs-workers.md"))
	if !strings.HasSuffix(string(md2), reading) || strings.Contains(string(md2), "mnist/mlp: final") {
		t.Errorf("rewrite: reading lost or mnist kept:\n%s", md2)
	}
}

// lastRecord reads a run's last metrics line, independently of Run.
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
