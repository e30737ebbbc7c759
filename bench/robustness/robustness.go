package robustness

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
	"signsgd/bench/figures"
	"signsgd/job"
	"signsgd/job/cli"
)

// Method is one row of the grid: a name and the `signsgd run` flags that
// select it. Code, when set, is election coding's --code on m workers.
type Method struct {
	Name  string
	Opt   string
	Flags []string
	Code  func(m int) string
}

// Methods are SGD with every aggregator, SGD's median after each
// pre-aggregator, ef-signsgd's scaled signs averaged and by median, then
// the votes: signsgd, signum, sto-signsgd and signum with election coding
// (the repetition code, and the deterministic code with the majority of
// all partitions as its target).
func Methods() []Method {
	var out []Method
	for _, a := range job.Aggregators() {
		out = append(out, Method{Name: "sgd " + a, Opt: "sgd", Flags: []string{"--opt", "sgd", "--aggregator", a}})
	}
	for _, pre := range []string{"nnm", "bucket:2"} {
		out = append(out, Method{Name: "sgd " + pre + "+median", Opt: "sgd", Flags: []string{"--opt", "sgd", "--aggregator", "median", "--pre", pre}})
	}
	for _, a := range []string{"mean", "median"} {
		out = append(out, Method{Name: "ef-signsgd " + a, Opt: "ef-signsgd", Flags: []string{"--opt", "ef-signsgd", "--aggregator", a}})
	}
	for _, o := range []string{"signsgd", "signum", "sto-signsgd"} {
		out = append(out, Method{Name: o + " vote", Opt: o, Flags: []string{"--opt", o}})
	}
	signum := []string{"--opt", "signum"}
	return append(out,
		Method{Name: "signum rep-coded", Opt: "signum", Flags: signum, Code: func(m int) string { return "repetition:" + strconv.Itoa(CodeR(m)) }},
		// B is the run's own Byzantine count (--code's default).
		Method{Name: "signum det-coded", Opt: "signum", Flags: signum, Code: func(int) string { return "deterministic" }})
}

// CodeR is the repetition of the coded method on m workers: the least
// divisor of m from 3 on (3 for 9 workers; m itself for a prime such as
// 17, every worker then holding every partition).
func CodeR(m int) int {
	for r := 3; r < m; r++ {
		if m%r == 0 {
			return r
		}
	}
	return m
}

// Counts are the default Byzantine counts on m workers: none, about half
// the most the vote can outnumber, and that most, (m-1)/2.
func Counts(m int) []int {
	hi := (m - 1) / 2
	if hi < 2 {
		return []int{0, hi}
	}
	return []int{0, hi / 2, hi}
}

// Grid is what to run: every workers x partition x count x method x
// attack.
type Grid struct {
	Dataset, Model string
	Workers        []int
	Partitions     []string // --partition values ("iid", "dirichlet:0.1", ...)
	Counts         []int    // Byzantine ranks; nil: Counts(workers) for each
	Epochs         int
	Seed           uint64
	Extra          []string // more `signsgd run` flags of every run
	LRSGD, LRVote  string   // --lr of sgd and ef-signsgd, and of the votes ("": their default)
	Methods        []Method
	Attacks        []string
	// Launcher is every run's --launcher ("": the run's default, real
	// processes on loopback). "sim" runs the ranks as goroutines of one
	// process: the same model bit for bit (job's TestSimMatchesProcesses),
	// two to three times faster here. The resolved configuration, hence
	// the cache key, does not hold it.
	Launcher string
}

// countsFor are the Byzantine counts run on m workers.
func (g Grid) countsFor(m int) []int {
	if g.Counts == nil {
		return Counts(m)
	}
	var out []int
	for _, f := range g.Counts {
		if f < m {
			out = append(out, f)
		}
	}
	return out
}

// Cell is one run's outcome.
type Cell struct {
	Workers        int
	Partition      string
	Method, Attack string // Attack "" with no Byzantine rank
	Byzantine      int
	Final, Best    float64 // test accuracy (NaN: none)
	Diverged       bool    // the final test loss is not finite
	BytesPerStep   float64 // a worker's, sent
	GradsPerStep   float64 // gradients a worker computes a step (1 without coding)
	Seconds        float64 // wall time of the run
	Reused         bool
	Dir            string
	UpdateCosine   float64 // sgd: last epoch (NaN: not measured)
	SignDisagree   float64 // signs: last epoch (NaN: not measured)
	trainedIn      time.Duration
}

// Key is where a cell sits in the tables: workers, partition, count.
type Key struct {
	Workers   int
	Partition string
	Byzantine int
}

func (c Cell) key() Key { return Key{c.Workers, c.Partition, c.Byzantine} }

// args are the `signsgd run` flags of one cell.
func (g Grid) args(m Method, workers int, partition, attack string, f int) []string {
	a := []string{"--dataset", g.Dataset, "--model", g.Model, "--workers", strconv.Itoa(workers),
		"--epochs", strconv.Itoa(g.Epochs), "--seed", strconv.FormatUint(g.Seed, 10), "--byzantine", strconv.Itoa(f)}
	if partition != "" && partition != "iid" {
		a = append(a, "--partition", partition)
	}
	a = append(a, g.Extra...)
	a = append(a, m.Flags...)
	if lr := g.LRVote; m.Opt == "sgd" || m.Opt == "ef-signsgd" {
		lr = g.LRSGD
		if lr != "" {
			a = append(a, "--lr", lr)
		}
	} else if lr != "" {
		a = append(a, "--lr", lr)
	}
	if m.Code != nil {
		a = append(a, "--code", m.Code(workers))
	}
	if attack != "" {
		a = append(a, "--attack", attack)
	}
	if g.Launcher != "" {
		a = append(a, "--launcher", g.Launcher)
	}
	return a
}

// attacksFor are the attacks of a cell row: none without Byzantines, else
// those of g.Attacks with a form for the method's optimizer.
func (g Grid) attacksFor(m Method, f int) []string {
	if f == 0 {
		return []string{""}
	}
	var atks []string
	for _, a := range g.Attacks {
		if job.AttackApplies(a, m.Opt) {
			atks = append(atks, a)
		}
	}
	return atks
}

// gradsByCount is the gradients a worker of method computes a step, one
// figure when every count has the same (as without coding), else one per
// count, "/" between them (the deterministic code grows with B).
func gradsByCount(cells []Cell, w int, part, method string, counts []int) string {
	var figs []string
	for _, f := range counts {
		i := slices.IndexFunc(cells, func(c Cell) bool { return c.key() == Key{w, part, f} && c.Method == method })
		if i >= 0 {
			figs = append(figs, fmt.Sprintf("%.1f", cells[i].GradsPerStep))
		}
	}
	if len(slices.Compact(slices.Clone(figs))) == 1 {
		return figs[0]
	}
	return strings.Join(figs, " / ")
}

// Size is the number of runs of the grid.
func (g Grid) Size() int {
	n := 0
	for _, w := range g.Workers {
		for range g.Partitions {
			for _, f := range g.countsFor(w) {
				for _, m := range g.Methods {
					n += len(g.attacksFor(m, f))
				}
			}
		}
	}
	return n
}

// Run trains every cell (or reuses it from runsDir) and returns them in
// grid order: workers, partition, count, method, attack.
func Run(g Grid, bin, runsDir string, log io.Writer) ([]Cell, error) {
	var cells []Cell
	total := g.Size()
	for _, w := range g.Workers {
		for _, part := range g.Partitions {
			for _, f := range g.countsFor(w) {
				for _, m := range g.Methods {
					for _, a := range g.attacksFor(m, f) {
						t0 := time.Now()
						dir, reused, err := figures.RunCached(bin, runsDir, g.args(m, w, part, a, f))
						if err != nil {
							return cells, err
						}
						c, err := readCell(dir)
						if err != nil {
							return cells, err
						}
						c.Workers, c.Partition, c.Method, c.Attack, c.Byzantine, c.Reused, c.Dir = w, part, m.Name, a, f, reused, dir
						c.trainedIn = time.Since(t0)
						cells = append(cells, c)
						if log != nil {
							how := "reused"
							if !reused {
								how = "trained in " + c.trainedIn.Round(time.Millisecond).String()
							}
							fmt.Fprintf(log, "robustness: [%d/%d] M=%d %s f=%d %-20s %-10s %.4f (%s)\n", len(cells), total, w, part, f, m.Name, orNone(a), c.Final, how)
						}
					}
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
	c.GradsPerStep = 1
	if sum.Final.GradsPerStep > 0 {
		c.GradsPerStep = sum.Final.GradsPerStep
	}
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

// Worst is, per table (workers, partition, count) and method, the least
// final accuracy over the attacks; a run that diverged (non-finite test
// loss: its accuracy is an artefact of comparing NaNs) counts as 0.
func Worst(cells []Cell) map[Key]map[string]float64 {
	out := map[Key]map[string]float64{}
	for _, c := range cells {
		k := c.key()
		if out[k] == nil {
			out[k] = map[string]float64{}
		}
		acc := accuracy(c)
		if w, ok := out[k][c.Method]; !ok || acc < w {
			out[k][c.Method] = acc
		}
	}
	return out
}

// accuracy is a cell's final accuracy, 0 when it diverged.
func accuracy(c Cell) float64 {
	if math.IsNaN(c.Final) || c.Diverged {
		return 0
	}
	return c.Final
}

// worstAttack names the attacks that reach the worst case of a method.
func worstAttack(cells []Cell, k Key, method string, worst float64) string {
	var names []string
	for _, c := range cells {
		if c.key() == k && c.Method == method && accuracy(c) == worst && c.Attack != "" {
			names = append(names, c.Attack)
		}
	}
	if len(names) > 2 {
		return names[0] + ", ..."
	}
	return strings.Join(names, ", ")
}

// writeCSV writes every cell.
func writeCSV(w io.Writer, g Grid, cells []Cell) error {
	cw := csv.NewWriter(w)
	cw.Write([]string{"dataset", "model", "workers", "partition", "byzantine", "method", "attack", "final_acc", "best_acc",
		"bytes_sent_per_step", "grads_per_step", "wall_seconds", "update_cosine", "sign_disagree", "diverged"})
	num := func(x float64) string {
		if math.IsNaN(x) {
			return ""
		}
		return strconv.FormatFloat(x, 'g', 6, 64)
	}
	for _, c := range cells {
		cw.Write([]string{g.Dataset, g.Model, strconv.Itoa(c.Workers), c.Partition, strconv.Itoa(c.Byzantine), c.Method, orNone(c.Attack),
			num(c.Final), num(c.Best), num(c.BytesPerStep), num(c.GradsPerStep), num(c.Seconds), num(c.UpdateCosine), num(c.SignDisagree), strconv.FormatBool(c.Diverged)})
	}
	cw.Flush()
	return cw.Error()
}

// cellText is a cell of the Markdown tables.
func cellText(c Cell) string {
	if math.IsNaN(c.Final) || c.Diverged {
		return "diverged"
	}
	return fmt.Sprintf("%.4f", c.Final)
}

// markdown is the report: per workers and partition, the worst case over
// the attacks (methods against counts), the bytes and gradients of each
// method, then per count the full table (methods against attacks).
func markdown(g Grid, cells []Cell, command string, elapsed time.Duration, heatmaps map[Key]string) string {
	var b strings.Builder
	fmt.Fprintf(&b, "# Robustness: final test accuracy, every method against every attack\n\n")
	fmt.Fprintf(&b, "Command: `%s`\n\nMachine: %s\n\n", command, bench.Machine())
	trained, wall := 0, 0.0
	for _, c := range cells {
		if !c.Reused {
			trained++
		}
		wall += c.Seconds
	}
	lrs := "sgd's rate " + job.FormatLR(job.DefaultLR("sgd")) + ", the votes' " + job.FormatLR(job.DefaultLR("signum"))
	if g.LRSGD != "" || g.LRVote != "" {
		lrs = fmt.Sprintf("sgd's rate %s, the votes' %s (\"\": the default)", g.LRSGD, g.LRVote)
	}
	launched := "real processes on loopback"
	if g.Launcher == "sim" {
		launched = "`--launcher sim` (the ranks as goroutines of one process; the same model as processes)"
	}
	fmt.Fprintf(&b, "%s/%s, %d epochs, seed %d, flags %q, %s, each run's defaults otherwise; the runs under %s. "+
		"\"signum rep-coded\" is signum with `--code repetition:R`, R = %s; \"signum det-coded\" with `--code deterministic`, "+
		"whose B is the cell's Byzantine count (2B+1 ranks compute every partition, the others about half). "+
		"A cell is the test accuracy after the last epoch; \"-\" marks an attack without a form for that optimizer. "+
		"The worst case is the least over the attacks; a run whose test loss is not finite is \"diverged\" and counts as 0. "+
		"%d runs, %d of them trained by this command in %v (the rest reused from the cache); the runs' own wall times add up to %v.\n\n",
		g.Dataset, g.Model, g.Epochs, g.Seed, strings.Join(g.Extra, " "), lrs, launched, codeRs(g.Workers), len(cells), trained, elapsed.Round(time.Second),
		(time.Duration(wall) * time.Second).Round(time.Second))
	worst := Worst(cells)
	for _, w := range g.Workers {
		counts := g.countsFor(w)
		for _, part := range g.Partitions {
			fmt.Fprintf(&b, "## %d workers, partition %s: worst case over the attacks\n\n", w, part)
			b.WriteString("| method | bytes/step/worker | grads/step/worker |")
			for _, f := range counts {
				fmt.Fprintf(&b, " f = %d |", f)
			}
			b.WriteString("\n| --- | --- | --- |" + strings.Repeat(" --- |", len(counts)) + "\n")
			for _, m := range g.Methods {
				i := slices.IndexFunc(cells, func(c Cell) bool { return c.key() == Key{w, part, 0} && c.Method == m.Name })
				if i < 0 {
					i = slices.IndexFunc(cells, func(c Cell) bool { return c.Workers == w && c.Partition == part && c.Method == m.Name })
				}
				if i < 0 {
					continue
				}
				fmt.Fprintf(&b, "| %s | %.0f | %s |", m.Name, cells[i].BytesPerStep, gradsByCount(cells, w, part, m.Name, counts))
				for _, f := range counts {
					k := Key{w, part, f}
					acc, ok := worst[k][m.Name]
					switch {
					case !ok:
						b.WriteString(" - |")
					case f == 0:
						fmt.Fprintf(&b, " %.4f |", acc)
					default:
						fmt.Fprintf(&b, " %.4f (%s) |", acc, worstAttack(cells, k, m.Name, acc))
					}
				}
				b.WriteString("\n")
			}
			b.WriteString("\n")
			for _, f := range counts {
				if f == 0 {
					continue
				}
				k := Key{w, part, f}
				fmt.Fprintf(&b, "### %d workers, %s, %d Byzantine\n\n", w, part, f)
				if h, ok := heatmaps[k]; ok {
					fmt.Fprintf(&b, "![heatmap](%s)\n\n", h)
				}
				b.WriteString("| method |")
				for _, a := range g.Attacks {
					fmt.Fprintf(&b, " %s |", a)
				}
				b.WriteString(" worst |\n| --- |" + strings.Repeat(" --- |", len(g.Attacks)+1) + "\n")
				for _, m := range g.Methods {
					fmt.Fprintf(&b, "| %s |", m.Name)
					for _, a := range g.Attacks {
						i := slices.IndexFunc(cells, func(c Cell) bool { return c.key() == k && c.Method == m.Name && c.Attack == a })
						if i < 0 {
							b.WriteString(" - |")
						} else {
							fmt.Fprintf(&b, " %s |", cellText(cells[i]))
						}
					}
					if acc, ok := worst[k][m.Name]; ok {
						fmt.Fprintf(&b, " **%.4f** |", acc)
					} else {
						b.WriteString(" - |")
					}
					b.WriteString("\n")
				}
				b.WriteString("\n")
			}
		}
	}
	return b.String()
}

// codeRs says the coded method's R for each number of workers.
func codeRs(workers []int) string {
	var parts []string
	for _, w := range workers {
		parts = append(parts, fmt.Sprintf("%d on %d workers", CodeR(w), w))
	}
	return strings.Join(parts, ", ")
}

// Command is `signsgd robustness`.
func Command(args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("robustness", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	out := fs.String("out", "results/robustness", "results folder: DATASET-MODEL/robustness.md, robustness.csv, heatmaps/; runs/ (the cache)")
	dataset := fs.String("dataset", "logreg", "dataset of every run")
	model := fs.String("model", "mlp", "model of every run")
	workersS := fs.String("workers", "9,17", "ranks of the runs (comma list)")
	partitionsS := fs.String("partitions", "iid,dirichlet:1,dirichlet:0.1", "--partition of the runs (comma list)")
	countsS := fs.String("counts", "", "Byzantine ranks (comma list; default 0, (M-1)/4 and (M-1)/2 for each M)")
	epochs := fs.Int("epochs", 30, "epochs of every run")
	seed := fs.Uint64("seed", 8005, "seed of every run")
	extra := fs.String("extra", "", "more `signsgd run` flags of every run, space separated (like --train-limit 6000)")
	attacksS := fs.String("attacks", strings.Join(defaultAttacks(), ","), "attacks (comma list; default: every attack)")
	lrSGD := fs.String("lr-sgd", "", "--lr of the sgd and ef-signsgd methods (default: theirs)")
	lrVote := fs.String("lr-vote", "", "--lr of the vote methods (default: theirs)")
	methodsS := fs.String("methods", "", "methods by name (comma list; default: every one of Methods)")
	quick := fs.Bool("quick", false, "a small grid: 3 epochs, 9 workers, iid, counts 0 and 4")
	bin := fs.String("bin", "", "signsgd binary that trains (default: this one)")
	launcher := fs.String("launcher", "sim", "--launcher of every run: sim (ranks as goroutines of one process, the same model as processes, faster) or local (one process per rank over loopback)")
	if ok, err := cli.ParseFlags(fs, args, stdout, "usage: signsgd robustness [--out DIR] [--dataset D --model M] [--workers 9,17] [--partitions iid,...] [--epochs N] [--quick]"); !ok {
		return err
	}
	if *launcher != "sim" && *launcher != "local" {
		return cli.UsageError("robustness: --launcher: %q (want sim or local)", *launcher)
	}
	g := Grid{Dataset: *dataset, Model: *model, Epochs: *epochs, Seed: *seed, Extra: strings.Fields(*extra), LRSGD: *lrSGD, LRVote: *lrVote, Launcher: *launcher}
	ints := func(name, v string) ([]int, error) {
		var out []int
		for _, s := range strings.Split(v, ",") {
			n, err := strconv.Atoi(strings.TrimSpace(s))
			if err != nil || n < 0 {
				return nil, cli.UsageError("robustness: --%s: %q is not a count", name, s)
			}
			out = append(out, n)
		}
		return out, nil
	}
	var err error
	if g.Workers, err = ints("workers", *workersS); err != nil {
		return err
	}
	if *countsS != "" {
		if g.Counts, err = ints("counts", *countsS); err != nil {
			return err
		}
	}
	g.Partitions = strings.Split(*partitionsS, ",")
	for _, a := range strings.Split(*attacksS, ",") {
		if !slices.Contains(job.Attacks(), a) {
			return cli.UsageError("robustness: --attacks: unknown attack %q (want %s)", a, strings.Join(job.Attacks(), ", "))
		}
		g.Attacks = append(g.Attacks, a)
	}
	g.Methods = Methods()
	if *methodsS != "" {
		var ms []Method
		for _, name := range strings.Split(*methodsS, ",") {
			i := slices.IndexFunc(g.Methods, func(m Method) bool { return m.Name == name })
			if i < 0 {
				return cli.UsageError("robustness: --methods: unknown method %q", name)
			}
			ms = append(ms, g.Methods[i])
		}
		g.Methods = ms
	}
	if *quick {
		g.Epochs, g.Workers, g.Partitions, g.Counts = 3, []int{9}, []string{"iid"}, []int{0, 4}
	}
	if *bin == "" {
		exe, err := os.Executable()
		if err != nil {
			return err
		}
		*bin = exe
	}
	dir := filepath.Join(*out, g.Dataset+"-"+g.Model)
	if err := os.MkdirAll(filepath.Join(*out, "runs"), 0o755); err != nil {
		return cli.UsageError("robustness: --out %s: %v", *out, err)
	}
	if err := os.MkdirAll(filepath.Join(dir, "heatmaps"), 0o755); err != nil {
		return cli.UsageError("robustness: --out %s: %v", *out, err)
	}
	fmt.Fprintf(stdout, "robustness: %d runs (%s)\n", g.Size(), dir)
	t0 := time.Now()
	cells, err := Run(g, *bin, filepath.Join(*out, "runs"), stdout)
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
	command := strings.TrimSpace("signsgd robustness " + strings.Join(quoted, " "))
	if err := cli.WriteFileAtomic(filepath.Join(dir, "robustness.csv"), func(w io.Writer) error { return writeCSV(w, g, cells) }); err != nil {
		return err
	}
	heat, err := drawHeatmaps(g, cells, filepath.Join(dir, "heatmaps"))
	if err != nil {
		return err
	}
	md := markdown(g, cells, command, time.Since(t0), heat)
	if err := cli.WriteFileAtomic(filepath.Join(dir, "robustness.md"), func(w io.Writer) error {
		_, err := io.WriteString(w, md)
		return err
	}); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "robustness: %d runs in %v; %s\n", len(cells), time.Since(t0).Round(time.Second), filepath.Join(dir, "robustness.md"))
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
