package robustness

import (
	"encoding/csv"
	"encoding/json"
	"errors"
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
	"signsgd/bench/figures"
	"signsgd/job"
)

// Method is one row of the grid: a name and the `signsgd run` flags that
// select it.
type Method struct {
	Name  string
	Opt   string
	Flags []string
}

// Methods are SGD with every aggregator, then SIGNUM's vote.
func Methods() []Method {
	var out []Method
	for _, a := range job.Aggregators() {
		out = append(out, Method{Name: "sgd " + a, Opt: "sgd", Flags: []string{"--opt", "sgd", "--aggregator", a}})
	}
	return append(out, Method{Name: "signum vote", Opt: "signum", Flags: []string{"--opt", "signum"}})
}

// Grid is what to run.
type Grid struct {
	Dataset, Model string
	Workers        int
	Counts         []int // Byzantine ranks
	Epochs         int
	Seed           uint64
	Methods        []Method
	Attacks        []string
}

// Cell is one run's outcome.
type Cell struct {
	Method, Attack string // Attack "" with no Byzantine rank
	Byzantine      int
	Final, Best    float64 // test accuracy (NaN: none)
	Diverged       bool    // the final test loss is not finite
	BytesPerStep   float64 // a worker's, sent
	Seconds        float64 // wall time of the run
	Reused         bool
	Dir            string
	UpdateCosine   float64 // sgd: last epoch (NaN: not measured)
	SignDisagree   float64 // signs: last epoch (NaN: not measured)
	trainedIn      time.Duration
}

// args are the `signsgd run` flags of one cell.
func (g Grid) args(m Method, attack string, f int) []string {
	a := []string{"--dataset", g.Dataset, "--model", g.Model, "--workers", strconv.Itoa(g.Workers),
		"--epochs", strconv.Itoa(g.Epochs), "--seed", strconv.FormatUint(g.Seed, 10), "--byzantine", strconv.Itoa(f)}
	a = append(a, m.Flags...)
	if attack != "" {
		a = append(a, "--attack", attack)
	}
	return a
}

// Run trains every cell (or reuses it from runsDir) and returns them in
// grid order: count, method, attack.
func Run(g Grid, bin, runsDir string, log io.Writer) ([]Cell, error) {
	var cells []Cell
	for _, f := range g.Counts {
		for _, m := range g.Methods {
			atks := []string{""}
			if f > 0 {
				atks = nil
				for _, a := range g.Attacks {
					if job.AttackApplies(a, m.Opt) {
						atks = append(atks, a)
					}
				}
			}
			for _, a := range atks {
				t0 := time.Now()
				dir, reused, err := figures.RunCached(bin, runsDir, g.args(m, a, f))
				if err != nil {
					return cells, err
				}
				c, err := readCell(dir)
				if err != nil {
					return cells, err
				}
				c.Method, c.Attack, c.Byzantine, c.Reused, c.Dir = m.Name, a, f, reused, dir
				c.trainedIn = time.Since(t0)
				cells = append(cells, c)
				if log != nil {
					how := "reused"
					if !reused {
						how = "trained in " + c.trainedIn.Round(time.Millisecond).String()
					}
					fmt.Fprintf(log, "robustness: f=%d %-18s %-10s %.4f (%s)\n", f, m.Name, orNone(a), c.Final, how)
				}
			}
		}
	}
	return cells, nil
}

func orNone(a string) string {
	if a == "" {
		return "none"
	}
	return a
}

// readCell reads a finished run's outcome.
func readCell(dir string) (Cell, error) {
	c := Cell{Final: math.NaN(), Best: math.NaN(), UpdateCosine: math.NaN(), SignDisagree: math.NaN()}
	var sum job.Summary
	b, err := os.ReadFile(filepath.Join(dir, "summary.json"))
	if err != nil {
		return c, err
	}
	if err := json.Unmarshal(b, &sum); err != nil {
		return c, fmt.Errorf("%s: %w", filepath.Join(dir, "summary.json"), err)
	}
	c.Seconds = sum.WallSeconds
	c.BytesPerStep = sum.Final.BytesSentPerStep
	if sum.Final.TestAcc != nil {
		c.Final = *sum.Final.TestAcc
	}
	c.Diverged = math.IsNaN(float64(sum.Final.TestLoss)) || math.IsInf(float64(sum.Final.TestLoss), 0)
	if sum.Final.UpdateCosine != nil {
		c.UpdateCosine = *sum.Final.UpdateCosine
	}
	if sum.Final.SignDisagree != nil {
		c.SignDisagree = *sum.Final.SignDisagree
	}
	lines, err := os.ReadFile(filepath.Join(dir, "metrics.jsonl"))
	if err != nil {
		return c, err
	}
	for i, l := range strings.Split(strings.TrimSpace(string(lines)), "\n") {
		var r job.Record
		if err := json.Unmarshal([]byte(l), &r); err != nil {
			return c, fmt.Errorf("%s line %d: %w", filepath.Join(dir, "metrics.jsonl"), i+1, err)
		}
		if r.TestAcc != nil && (math.IsNaN(c.Best) || *r.TestAcc > c.Best) {
			c.Best = *r.TestAcc
		}
	}
	return c, nil
}

// Worst is, per Byzantine count and method, the least final accuracy over
// the attacks; a run that diverged (non-finite test loss: its accuracy is
// an artefact of comparing NaNs) counts as 0.
func Worst(cells []Cell) map[int]map[string]float64 {
	out := map[int]map[string]float64{}
	for _, c := range cells {
		if out[c.Byzantine] == nil {
			out[c.Byzantine] = map[string]float64{}
		}
		acc := c.Final
		if math.IsNaN(acc) || c.Diverged {
			acc = 0
		}
		if w, ok := out[c.Byzantine][c.Method]; !ok || acc < w {
			out[c.Byzantine][c.Method] = acc
		}
	}
	return out
}

// writeCSV writes every cell.
func writeCSV(w io.Writer, g Grid, cells []Cell) error {
	cw := csv.NewWriter(w)
	cw.Write([]string{"dataset", "model", "workers", "byzantine", "method", "attack", "final_acc", "best_acc", "bytes_sent_per_step", "wall_seconds", "update_cosine", "sign_disagree", "diverged"})
	num := func(x float64) string {
		if math.IsNaN(x) {
			return ""
		}
		return strconv.FormatFloat(x, 'g', 6, 64)
	}
	for _, c := range cells {
		cw.Write([]string{g.Dataset, g.Model, strconv.Itoa(g.Workers), strconv.Itoa(c.Byzantine), c.Method, orNone(c.Attack),
			num(c.Final), num(c.Best), num(c.BytesPerStep), num(c.Seconds), num(c.UpdateCosine), num(c.SignDisagree), strconv.FormatBool(c.Diverged)})
	}
	cw.Flush()
	return cw.Error()
}

// markdown is the report: per Byzantine count, methods against attacks,
// and the worst case over attacks.
func markdown(g Grid, cells []Cell, command string, elapsed time.Duration) string {
	var b strings.Builder
	fmt.Fprintf(&b, "# Robustness: final test accuracy, every method against every attack\n\n")
	fmt.Fprintf(&b, "Command: `%s`\n\nMachine: %s\n\n", command, bench.Machine())
	fmt.Fprintf(&b, "%s/%s, %d workers, %d epochs, seed %d, each run's defaults otherwise (sgd's rate 1e-3, signum's 1e-4 with beta 0.9). "+
		"A cell is the test accuracy after the last epoch; \"-\" marks an attack without a form for that optimizer. "+
		"The worst case is the least over the attacks; a run whose test loss is not finite is \"diverged\" and counts as 0. %d runs in %v.\n\n",
		g.Dataset, g.Model, g.Workers, g.Epochs, g.Seed, len(cells), elapsed.Round(time.Second))
	worst := Worst(cells)
	for _, f := range g.Counts {
		fmt.Fprintf(&b, "## %d of %d workers Byzantine\n\n", f, g.Workers)
		atks := []string{""}
		if f > 0 {
			atks = g.Attacks
		}
		b.WriteString("| method |")
		for _, a := range atks {
			fmt.Fprintf(&b, " %s |", orNone(a))
		}
		if f > 0 {
			b.WriteString(" worst |")
		}
		b.WriteString("\n| --- |" + strings.Repeat(" --- |", len(atks)))
		if f > 0 {
			b.WriteString(" --- |")
		}
		b.WriteString("\n")
		for _, m := range g.Methods {
			fmt.Fprintf(&b, "| %s |", m.Name)
			for _, a := range atks {
				i := slices.IndexFunc(cells, func(c Cell) bool { return c.Byzantine == f && c.Method == m.Name && c.Attack == a })
				switch {
				case i < 0:
					b.WriteString(" - |")
				case math.IsNaN(cells[i].Final) || cells[i].Diverged:
					b.WriteString(" diverged |")
				default:
					fmt.Fprintf(&b, " %.4f |", cells[i].Final)
				}
			}
			if f > 0 {
				fmt.Fprintf(&b, " **%.4f** |", worst[f][m.Name])
			}
			b.WriteString("\n")
		}
		b.WriteString("\n")
	}
	return b.String()
}

// Command is `signsgd robustness`.
func Command(args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("robustness", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	out := fs.String("out", "results/robustness", "results folder: robustness.md, robustness.csv, runs/")
	dataset := fs.String("dataset", "logreg", "dataset of every run")
	model := fs.String("model", "mlp", "model of every run")
	workers := fs.Int("workers", 9, "ranks of every run")
	countsS := fs.String("counts", "0,2,4", "Byzantine ranks (comma list)")
	epochs := fs.Int("epochs", 30, "epochs of every run")
	seed := fs.Uint64("seed", 8005, "seed of every run")
	attacksS := fs.String("attacks", strings.Join(defaultAttacks(), ","), "attacks (comma list; default: every attack)")
	quick := fs.Bool("quick", false, "a small grid: 3 epochs, counts 0 and 2")
	bin := fs.String("bin", "", "signsgd binary that trains (default: this one)")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			fs.SetOutput(stdout)
			fmt.Fprintln(stdout, "usage: signsgd robustness [--out DIR] [--counts 0,2,4] [--epochs N] [--quick]")
			fs.PrintDefaults()
			return nil
		}
		return job.UsageError("robustness: %v", err)
	}
	if fs.NArg() > 0 {
		return job.UsageError("robustness: unexpected argument %q", fs.Arg(0))
	}
	g := Grid{Dataset: *dataset, Model: *model, Workers: *workers, Epochs: *epochs, Seed: *seed, Methods: Methods()}
	for _, s := range strings.Split(*countsS, ",") {
		f, err := strconv.Atoi(strings.TrimSpace(s))
		if err != nil || f < 0 || f >= *workers {
			return job.UsageError("robustness: --counts: %q is not a number of Byzantine ranks below --workers %d", s, *workers)
		}
		g.Counts = append(g.Counts, f)
	}
	for _, a := range strings.Split(*attacksS, ",") {
		if !slices.Contains(job.Attacks(), a) {
			return job.UsageError("robustness: --attacks: unknown attack %q (want %s)", a, strings.Join(job.Attacks(), ", "))
		}
		g.Attacks = append(g.Attacks, a)
	}
	if *quick {
		g.Epochs, g.Counts = 3, []int{0, 2}
	}
	if *bin == "" {
		exe, err := os.Executable()
		if err != nil {
			return err
		}
		*bin = exe
	}
	if err := os.MkdirAll(filepath.Join(*out, "runs"), 0o755); err != nil {
		return job.UsageError("robustness: --out %s: %v", *out, err)
	}
	t0 := time.Now()
	cells, err := Run(g, *bin, filepath.Join(*out, "runs"), stdout)
	if err != nil {
		return err
	}
	command := "signsgd robustness " + strings.Join(args, " ")
	if err := job.WriteFileAtomic(filepath.Join(*out, "robustness.csv"), func(w io.Writer) error { return writeCSV(w, g, cells) }); err != nil {
		return err
	}
	md := markdown(g, cells, strings.TrimSpace(command), time.Since(t0))
	if err := job.WriteFileAtomic(filepath.Join(*out, "robustness.md"), func(w io.Writer) error {
		_, err := io.WriteString(w, md)
		return err
	}); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "robustness: %d runs in %v; %s\n", len(cells), time.Since(t0).Round(time.Second), filepath.Join(*out, "robustness.md"))
	return nil
}

// defaultAttacks are every attack but zero-sum, which is sgd's form of the
// paper's rule (the paper column holds it).
func defaultAttacks() []string {
	var out []string
	for _, a := range job.Attacks() {
		if a != "zero-sum" {
			out = append(out, a)
		}
	}
	return out
}
