package accscale

import (
	"encoding/csv"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"signsgd/bench"
	"signsgd/bench/robustness"
	"signsgd/job"
	"signsgd/job/cli"
)

// Setup is one dataset of the figure (one panel): what every run on it
// trains and the flags it adds.
type Setup struct {
	Dataset, Model string
	Epochs         int
	LRSGD, LRVote  string   // --lr of sgd and of signum ("": their default)
	Extra          []string // more `signsgd run` flags of every run on it
	// RowsPerWorker > 0 (logreg, linreg): --samples is made so that each
	// of the most workers keeps at least this many training rows; the set
	// is then the same for every M.
	RowsPerWorker int
}

// Config is the grid: every setup x workers x fraction x method.
type Config struct {
	Setups         []Setup
	Workers        []int
	Fractions      []float64 // Byzantine fractions, each in [0, 1/2)
	BatchPerWorker int       // --batch is BatchPerWorker x M
	Seed           uint64
}

// Methods are the two methods of the figure: SGD with the coordinate-wise
// median on the server topology, and SIGNUM's majority vote.
func Methods() []robustness.Method {
	var out []robustness.Method
	for _, m := range robustness.Methods() {
		if m.Name == "sgd median" || m.Name == "signum vote" {
			out = append(out, m)
		}
	}
	return out
}

// Byzantine is the number of Byzantine ranks at fraction frac of m
// workers: floor(frac x m), rounded down (a small epsilon absorbs the
// binary error of frac, so 0.2 x 5 is 1). For frac < 1/2 it is below m/2;
// the Byzantines are the highest ranks, never rank 0.
func Byzantine(frac float64, m int) int {
	return int(math.Floor(frac*float64(m) + 1e-9))
}

// Samples is --samples of a setup with RowsPerWorker: the first 80% of the
// rows train (data.TrainFraction), so 125 rows a worker for 100, times the
// most workers.
func (s Setup) Samples(workers []int) int {
	if s.RowsPerWorker <= 0 {
		return 0
	}
	n := slices.Max(workers) * s.RowsPerWorker
	return (n*5 + 3) / 4 // ceil(n / 0.8)
}

// Point is one run of the grid.
type Point struct {
	Setup     Setup
	Workers   int
	Fraction  float64
	Byzantine int
	Method    string
	Attack    string // "" without Byzantines
	Batch     int
	Steps     int // optimizer steps over the whole run
	RowsRank  int // training rows a rank holds
	Final     float64
	Best      float64
	Diverged  bool
	Disagree  float64 // signum: last epoch's fraction of coordinates where the vote left the honest majority (NaN: none)
	Cosine    float64 // sgd: last epoch's mean cosine of the update to the honest mean gradient (NaN: none)
	Seconds   float64
	Reused    bool
	Dir       string
}

// Accuracy is the final test accuracy, 0 for a run whose test loss is not
// finite (its accuracy compares NaNs).
func (p Point) Accuracy() float64 {
	if p.Diverged || math.IsNaN(p.Final) {
		return 0
	}
	return p.Final
}

// Size is the number of runs of the grid.
func (c Config) Size() int {
	n := 0
	for range c.Setups {
		for _, m := range c.Workers {
			n += len(Methods()) * len(countsOf(c.Fractions, m))
		}
	}
	return n
}

// countsOf are the distinct Byzantine counts of the fractions on m workers.
func countsOf(fracs []float64, m int) []int {
	var out []int
	for _, f := range fracs {
		if n := Byzantine(f, m); !slices.Contains(out, n) {
			out = append(out, n)
		}
	}
	return out
}

// grid is the robustness grid of one setup at m workers.
func (c Config) grid(s Setup, m int) robustness.Grid {
	extra := []string{"--launcher", "sim", "--batch", strconv.Itoa(c.BatchPerWorker * m)}
	if n := s.Samples(c.Workers); n > 0 {
		extra = append(extra, "--samples", strconv.Itoa(n))
	}
	return robustness.Grid{Dataset: s.Dataset, Model: s.Model, Workers: []int{m}, Partitions: []string{"iid"},
		Counts: countsOf(c.Fractions, m), Epochs: s.Epochs, Seed: c.Seed, Extra: append(extra, s.Extra...),
		LRSGD: s.LRSGD, LRVote: s.LRVote, Methods: Methods(), Attacks: []string{"paper"}}
}

// Run trains every point (or reuses it from runsDir) in the order setup,
// workers, fraction, method.
func Run(c Config, bin, runsDir string, log io.Writer) ([]Point, error) {
	var pts []Point
	done, total := 0, c.Size()
	for _, s := range c.Setups {
		for _, m := range c.Workers {
			cells, err := robustness.Run(c.grid(s, m), bin, runsDir, nil)
			if err != nil {
				return pts, err
			}
			for _, cell := range cells {
				done++
				if log != nil {
					how := "reused"
					if !cell.Reused {
						how = fmt.Sprintf("trained in %.1fs", cell.Seconds)
					}
					fmt.Fprintf(log, "accuracy-scale: [%d/%d] %s M=%d f=%d %-12s %.4f (%s)\n", done, total, s.Dataset, m, cell.Byzantine, cell.Method, cell.Final, how)
				}
			}
			for _, frac := range c.Fractions {
				f := Byzantine(frac, m)
				for _, meth := range Methods() {
					i := slices.IndexFunc(cells, func(x robustness.Cell) bool { return x.Byzantine == f && x.Method == meth.Name })
					if i < 0 {
						return pts, fmt.Errorf("accuracy-scale: %s M=%d f=%d %s: no run", s.Dataset, m, f, meth.Name)
					}
					cell := cells[i]
					p := Point{Setup: s, Workers: m, Fraction: frac, Byzantine: f, Method: meth.Name, Attack: cell.Attack,
						Batch: c.BatchPerWorker * m, Final: cell.Final, Best: cell.Best, Diverged: cell.Diverged,
						Disagree: cell.SignDisagree, Cosine: cell.UpdateCosine, Seconds: cell.Seconds, Reused: cell.Reused, Dir: cell.Dir}
					if p.Steps, p.RowsRank, err = readSteps(cell.Dir); err != nil {
						return pts, err
					}
					pts = append(pts, p)
				}
			}
		}
	}
	return pts, nil
}

// readSteps reads a run's optimizer steps (summed over its epochs) and the
// training rows of a rank.
func readSteps(dir string) (steps, rows int, err error) {
	var sum job.Summary
	b, err := os.ReadFile(filepath.Join(dir, "summary.json"))
	if err != nil {
		return 0, 0, err
	}
	if err := json.Unmarshal(b, &sum); err != nil {
		return 0, 0, fmt.Errorf("%s: %w", filepath.Join(dir, "summary.json"), err)
	}
	lines, err := os.ReadFile(filepath.Join(dir, "metrics.jsonl"))
	if err != nil {
		return 0, 0, err
	}
	for i, l := range strings.Split(strings.TrimSpace(string(lines)), "\n") {
		var r job.Record
		if err := json.Unmarshal([]byte(l), &r); err != nil {
			return 0, 0, fmt.Errorf("%s line %d: %w", filepath.Join(dir, "metrics.jsonl"), i+1, err)
		}
		steps += r.Steps
	}
	return steps, sum.TrainRowsUsed, nil
}

// clean is the accuracy of the same setup, workers and method without
// Byzantines (NaN: not in the grid).
func clean(pts []Point, p Point) float64 {
	for _, q := range pts {
		if q.Setup.Dataset == p.Setup.Dataset && q.Workers == p.Workers && q.Method == p.Method && q.Byzantine == 0 {
			return q.Accuracy()
		}
	}
	return math.NaN()
}

func num(x float64) string {
	if math.IsNaN(x) {
		return ""
	}
	return strconv.FormatFloat(x, 'g', 6, 64)
}

// writeCSV writes one row per point.
func writeCSV(w io.Writer, pts []Point) error {
	cw := csv.NewWriter(w)
	cw.Write([]string{"dataset", "model", "workers", "fraction", "byzantine", "honest", "method", "attack", "batch", "epochs", "steps",
		"train_rows_per_rank", "final_acc", "best_acc", "acc_minus_clean", "sign_disagree", "update_cosine", "diverged", "wall_seconds"})
	for _, p := range pts {
		atk := p.Attack
		if atk == "" {
			atk = "none"
		}
		cw.Write([]string{p.Setup.Dataset, p.Setup.Model, strconv.Itoa(p.Workers), num(p.Fraction), strconv.Itoa(p.Byzantine), strconv.Itoa(p.Workers - p.Byzantine),
			p.Method, atk, strconv.Itoa(p.Batch), strconv.Itoa(p.Setup.Epochs), strconv.Itoa(p.Steps), strconv.Itoa(p.RowsRank),
			num(p.Final), num(p.Best), num(p.Accuracy() - clean(pts, p)), num(p.Disagree), num(p.Cosine), strconv.FormatBool(p.Diverged), num(p.Seconds)})
	}
	cw.Flush()
	return cw.Error()
}

func pct(f float64) string { return strconv.FormatFloat(100*f, 'g', 4, 64) + "%" }

// find is the point of a setup, workers, fraction and method (nil: none).
func find(pts []Point, s Setup, m int, frac float64, method string) *Point {
	for i, p := range pts {
		if p.Setup.Dataset == s.Dataset && p.Setup.Model == s.Model && p.Workers == m && p.Fraction == frac && p.Method == method {
			return &pts[i]
		}
	}
	return nil
}

// readingHeading starts the hand-written section that markdown keeps.
const readingHeading = "## Reading"

// markdown is the report: the setup, per dataset the accuracy table
// (workers against method x fraction) and SIGNUM's vote failure rate, the
// figure, and reading (a hand-written "## Reading" section of the previous
// report, kept verbatim; "" for none).
func markdown(c Config, pts []Point, command, machine, figure, reading string, elapsed time.Duration) string {
	var b strings.Builder
	b.WriteString("# Accuracy as workers scale: SIGNUM's vote and SGD's median under the paper's attack\n\n")
	fmt.Fprintf(&b, "Command: `%s`\n\nMachine: %s\n\n", command, machine)
	trained, wall := 0, 0.0
	for _, p := range pts {
		if !p.Reused {
			trained++
		}
		wall += p.Seconds
	}
	var fr []string
	for _, f := range c.Fractions {
		fr = append(fr, pct(f))
	}
	fmt.Fprintf(&b, "Final test accuracy against the number of workers M (%s) at Byzantine fractions %s. "+
		"The Byzantine count is f = floor(fraction x M), rounded down, so f < M/2 always; the Byzantines are the highest f ranks (rank 0 never is one), "+
		"colluding and omniscient, with the paper's attack (`--attack paper`: the votes' rule for SIGNUM, zero-sum for SGD). "+
		"SGD combines the gradients by the coordinate-wise median (`--aggregator median`) and SIGNUM by its majority vote, both on the server topology. "+
		"Every rank is a goroutine of one process (`--launcher sim`). The per-worker batch is held at %d (`--batch %d x M`), so the total batch grows with M "+
		"and, on a fixed training set, the steps an epoch fall as 1/M: the clean run (fraction 0) at each M is the baseline the attacked ones are measured against "+
		"(the figure's bottom row). A run whose test loss is not finite counts as 0 (\"diverged\"). Seed %d. "+
		"%d runs, %d trained by this command in %v (the rest reused from the cache); the runs' own wall times add up to %v.\n\n",
		intList(c.Workers), strings.Join(fr, ", "), c.BatchPerWorker, c.BatchPerWorker, c.Seed, len(pts), trained, elapsed.Round(time.Second),
		(time.Duration(wall) * time.Second).Round(time.Second))
	for _, s := range c.Setups {
		fmt.Fprintf(&b, "- %s/%s: %d epoch(s)", s.Dataset, s.Model, s.Epochs)
		if n := s.Samples(c.Workers); n > 0 {
			fmt.Fprintf(&b, ", `--samples %d` (every worker keeps at least %d training rows at M = %d; the same set at every M)", n, s.RowsPerWorker, slices.Max(c.Workers))
		}
		if len(s.Extra) > 0 {
			fmt.Fprintf(&b, ", `%s`", strings.Join(s.Extra, " "))
		}
		lr := func(x, def string) string {
			if x == "" {
				return "its default (" + def + ")"
			}
			return x
		}
		fmt.Fprintf(&b, "; SGD's rate %s, SIGNUM's %s (those of `make robustness` on this dataset), each run's defaults otherwise.\n",
			lr(s.LRSGD, job.FormatLR(job.DefaultLR("sgd"))), lr(s.LRVote, job.FormatLR(job.DefaultLR("signum"))))
	}
	b.WriteString("\n")
	if figure != "" {
		fmt.Fprintf(&b, "![accuracy against workers](%s)\n\n", figure)
	}
	for _, s := range c.Setups {
		fmt.Fprintf(&b, "## %s/%s: final test accuracy\n\n", s.Dataset, s.Model)
		b.WriteString("| M | f (honest) |")
		meths := Methods()
		for _, m := range meths {
			for _, f := range c.Fractions {
				fmt.Fprintf(&b, " %s %s |", m.Name, pct(f))
			}
		}
		b.WriteString(" steps | rows/worker |\n| --- | --- |" + strings.Repeat(" --- |", len(meths)*len(c.Fractions)+2) + "\n")
		for _, m := range c.Workers {
			var fs []string
			for _, f := range c.Fractions {
				fs = append(fs, fmt.Sprintf("%d (%d)", Byzantine(f, m), m-Byzantine(f, m)))
			}
			fmt.Fprintf(&b, "| %d | %s |", m, strings.Join(fs, ", "))
			steps, rows := "", ""
			for _, meth := range meths {
				for _, f := range c.Fractions {
					p := find(pts, s, m, f, meth.Name)
					switch {
					case p == nil:
						b.WriteString(" - |")
					case p.Accuracy() == 0 && p.Diverged:
						b.WriteString(" diverged |")
					default:
						fmt.Fprintf(&b, " %.4f |", p.Final)
					}
					if p != nil {
						steps, rows = strconv.Itoa(p.Steps), strconv.Itoa(p.RowsRank)
					}
				}
			}
			fmt.Fprintf(&b, " %s | %s |\n", steps, rows)
		}
		b.WriteString("\nSIGNUM's vote against the honest majority: the fraction of coordinates (over the last epoch's steps) where the vote's result " +
			"differs from the sign of the honest ranks' sum (`sign_disagree`), the measured counterpart of Theorem 2's failure probability; " +
			"and SGD's median: the mean cosine between the applied update and the honest ranks' mean gradient (`update_cosine`).\n\n")
		b.WriteString("| M |")
		for _, f := range c.Fractions {
			if f > 0 {
				fmt.Fprintf(&b, " vote wrong %s |", pct(f))
			}
		}
		for _, f := range c.Fractions {
			if f > 0 {
				fmt.Fprintf(&b, " median cosine %s |", pct(f))
			}
		}
		nz := 0
		for _, f := range c.Fractions {
			if f > 0 {
				nz++
			}
		}
		b.WriteString("\n| --- |" + strings.Repeat(" --- |", 2*nz) + "\n")
		for _, m := range c.Workers {
			fmt.Fprintf(&b, "| %d |", m)
			for _, meth := range []string{"signum vote", "sgd median"} {
				for _, f := range c.Fractions {
					if f == 0 {
						continue
					}
					p := find(pts, s, m, f, meth)
					x := math.NaN()
					if p != nil {
						x = p.Disagree
						if meth == "sgd median" {
							x = p.Cosine
						}
					}
					if math.IsNaN(x) {
						b.WriteString(" - |")
					} else {
						fmt.Fprintf(&b, " %.4f |", x)
					}
				}
			}
			b.WriteString("\n")
		}
		b.WriteString("\n")
	}
	if reading != "" {
		b.WriteString(strings.TrimRight(reading, "\n") + "\n")
	}
	return b.String()
}

func intList(xs []int) string {
	s := make([]string, len(xs))
	for i, x := range xs {
		s[i] = strconv.Itoa(x)
	}
	return strings.Join(s, ", ")
}

// keptReading is the "## Reading" section of an earlier report at path, up
// to the next "## " heading or the end ("" if none).
func keptReading(path string) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return ""
	}
	text := string(b)
	i := strings.Index(text, "\n"+readingHeading+"\n")
	if i < 0 {
		return ""
	}
	rest := text[i+1:]
	if j := strings.Index(rest[len(readingHeading):], "\n## "); j >= 0 {
		rest = rest[:len(readingHeading)+j+1]
	}
	return rest
}

// machine is bench.Machine with the load average when the outputs were
// written: other work on the machine slows every run.
func machine() string {
	load := "?"
	if b, err := os.ReadFile("/proc/loadavg"); err == nil {
		if f := strings.Fields(string(b)); len(f) >= 3 {
			load = strings.Join(f[:3], " ")
		}
	}
	return bench.Machine() + ", load average " + load + " when the outputs were written"
}

// Full is the grid of `make accuracy-scale`: M = 9 ... 2049, fractions 0,
// 20%, 40%, 45%, logreg (5 epochs, every worker at least 100 rows) and
// MNIST mlp (one epoch), each at the rates `make robustness` gives it, the
// paper's per-worker batch of 128/9 = 14.
func Full() Config {
	return Config{
		Setups: []Setup{
			{Dataset: "logreg", Model: "mlp", Epochs: 5, LRSGD: "3e-2", LRVote: "1e-3", RowsPerWorker: 100},
			{Dataset: "mnist", Model: "mlp", Epochs: 1, LRSGD: "0.1", LRVote: "1e-3"},
		},
		Workers: []int{9, 33, 129, 513, 2049}, Fractions: []float64{0, 0.2, 0.4, 0.45}, BatchPerWorker: 14, Seed: 8005,
	}
}

// Quick is a small grid of the same shape: 5 and 9 workers, fractions 0
// and 40%, logreg for 2 epochs and MNIST mlp on 1008 training rows.
func Quick() Config {
	return Config{
		Setups: []Setup{
			{Dataset: "logreg", Model: "mlp", Epochs: 2, LRSGD: "3e-2", LRVote: "1e-3", RowsPerWorker: 100},
			{Dataset: "mnist", Model: "mlp", Epochs: 1, LRSGD: "0.1", LRVote: "1e-3", Extra: []string{"--train-limit", "1008", "--eval-limit", "1000"}},
		},
		Workers: []int{5, 9}, Fractions: []float64{0, 0.4}, BatchPerWorker: 14, Seed: 8005,
	}
}

// Command is `signsgd accuracy-scale`.
func Command(args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("accuracy-scale", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	out := fs.String("out", "bench/results/scale", "results folder: accuracy-vs-workers.csv, .md, .png; accuracy-runs/ (the cache)")
	workersS := fs.String("workers", "", "numbers of workers (comma list; default 9,33,129,513,2049)")
	fracsS := fs.String("fractions", "", "Byzantine fractions, each below 0.5 (comma list; default 0,0.2,0.4,0.45)")
	datasets := fs.String("datasets", "", "which setups (comma list of logreg, mnist; default both)")
	quick := fs.Bool("quick", false, "a small grid: 5 and 9 workers, fractions 0 and 0.4, short runs")
	bin := fs.String("bin", "", "signsgd binary that trains (default: this one)")
	if ok, err := cli.ParseFlags(fs, args, stdout, "usage: signsgd accuracy-scale [--out DIR] [--workers 9,33,...] [--fractions 0,0.2,...] [--datasets logreg,mnist] [--quick]"); !ok {
		return err
	}
	c := Full()
	if *quick {
		c = Quick()
	}
	if *workersS != "" {
		c.Workers = nil
		for _, s := range strings.Split(*workersS, ",") {
			n, err := strconv.Atoi(strings.TrimSpace(s))
			if err != nil || n < 2 {
				return cli.UsageError("accuracy-scale: --workers: %q is not a number of workers (2 or more)", s)
			}
			c.Workers = append(c.Workers, n)
		}
	}
	if *fracsS != "" {
		c.Fractions = nil
		for _, s := range strings.Split(*fracsS, ",") {
			f, err := strconv.ParseFloat(strings.TrimSpace(s), 64)
			if err != nil || f < 0 || f >= 0.5 {
				return cli.UsageError("accuracy-scale: --fractions: %q is not a fraction in [0, 0.5)", s)
			}
			c.Fractions = append(c.Fractions, f)
		}
	}
	if *datasets != "" {
		var keep []Setup
		for _, d := range strings.Split(*datasets, ",") {
			i := slices.IndexFunc(c.Setups, func(s Setup) bool { return s.Dataset == strings.TrimSpace(d) })
			if i < 0 {
				return cli.UsageError("accuracy-scale: --datasets: unknown %q (want logreg, mnist)", d)
			}
			keep = append(keep, c.Setups[i])
		}
		c.Setups = keep
	}
	if *bin == "" {
		exe, err := os.Executable()
		if err != nil {
			return err
		}
		*bin = exe
	}
	runs := filepath.Join(*out, "accuracy-runs")
	if err := os.MkdirAll(runs, 0o755); err != nil {
		return cli.UsageError("accuracy-scale: --out %s: %v", *out, err)
	}
	fmt.Fprintf(stdout, "accuracy-scale: %d runs (%s)\n", c.Size(), *out)
	t0 := time.Now()
	pts, err := Run(c, *bin, runs, stdout)
	if err != nil {
		return err
	}
	quoted := make([]string, len(args))
	for i, a := range args {
		quoted[i] = a
		if a == "" || strings.ContainsAny(a, " \t\"'$") {
			quoted[i] = strconv.Quote(a)
		}
	}
	command := strings.TrimSpace("bin/signsgd accuracy-scale " + strings.Join(quoted, " "))
	const base = "accuracy-vs-workers"
	if err := cli.WriteFileAtomic(filepath.Join(*out, base+".csv"), func(w io.Writer) error { return writeCSV(w, pts) }); err != nil {
		return err
	}
	if err := drawFigure(c, pts, filepath.Join(*out, base+".png")); err != nil {
		return err
	}
	mdPath := filepath.Join(*out, base+".md")
	md := markdown(c, pts, command, machine(), base+".png", keptReading(mdPath), time.Since(t0))
	if err := cli.WriteFileAtomic(mdPath, func(w io.Writer) error { _, err := io.WriteString(w, md); return err }); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "accuracy-scale: %d runs in %v; %s\n", len(pts), time.Since(t0).Round(time.Second), mdPath)
	return nil
}
