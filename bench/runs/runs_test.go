package runs

import (
	"bytes"
	"crypto/sha256"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"image/png"
	"io"
	"io/fs"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"signsgd/collective"
	"signsgd/job"
	"signsgd/job/cli"
)

// The run folders the tests read, made once by real (short) training:
//
//	a        no adversary                           finished, 3 epochs
//	b        1 Byzantine (signs: the attack fields) finished, 3 epochs
//	c        1 blind                                finished, 3 epochs
//	cut      a's, metrics cut to epoch 1, no summary (a run stopped)
//	corrupt  b's, half a 4th line appended, no summary (killed mid-write)
//	failed   c's config.json and an empty metrics.jsonl
//	notrun   a folder without config.json
var fixture struct {
	once sync.Once
	root string
	err  error
}

func TestMain(m *testing.M) {
	code := m.Run()
	if fixture.root != "" {
		os.RemoveAll(fixture.root)
	}
	os.Exit(code)
}

// train runs a 3-rank logistic regression for 3 epochs in this process
// (every rank a goroutine over the in-memory transport; job.Train is the
// same rank code the launchers run) into dir.
func train(dir string, args ...string) error {
	cfg, err := job.ParseRun(append([]string{"--workers", "3", "--epochs", "3", "--train-limit", "2000", "--quiet", "--out", dir}, args...))
	if err != nil {
		return err
	}
	comms := collective.NewMemWorld(3, 30*time.Second)
	errs := make([]error, len(comms))
	var wg sync.WaitGroup
	for r, c := range comms {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[r] = job.Train(cfg, c, io.Discard)
		}()
	}
	wg.Wait()
	for r, err := range errs {
		if err != nil {
			return fmt.Errorf("%v: rank %d: %w", args, r, err)
		}
	}
	return nil
}

func makeFixture() (string, error) {
	root, err := os.MkdirTemp("", "signsgd-runs-test")
	if err != nil {
		return "", err
	}
	fixture.root = root
	p := func(name string) string { return filepath.Join(root, name) }
	for name, args := range map[string][]string{"a": nil, "b": {"--byzantine", "1"}, "c": {"--blind", "1"}} {
		if err := train(p(name), args...); err != nil {
			return "", err
		}
	}
	if err := copyDir(p("a"), p("cut")); err != nil {
		return "", err
	}
	lines := strings.SplitAfter(string(must(os.ReadFile(p("cut/metrics.jsonl")))), "\n")
	os.WriteFile(p("cut/metrics.jsonl"), []byte(lines[0]), 0o644)
	os.Remove(p("cut/summary.json"))
	if err := copyDir(p("b"), p("corrupt")); err != nil {
		return "", err
	}
	f, err := os.OpenFile(p("corrupt/metrics.jsonl"), os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		return "", err
	}
	f.WriteString(`{"epoch":4,"lr":0.0001,"train_loss":0.69,"test_lo`)
	f.Close()
	os.Remove(p("corrupt/summary.json"))
	os.MkdirAll(p("failed"), 0o755)
	os.WriteFile(p("failed/config.json"), must(os.ReadFile(p("c/config.json"))), 0o644)
	os.WriteFile(p("failed/metrics.jsonl"), nil, 0o644)
	os.MkdirAll(p("notrun"), 0o755)
	os.WriteFile(p("notrun/notes.txt"), []byte("not a run\n"), 0o644)
	return root, nil
}

func must(b []byte, err error) []byte {
	if err != nil {
		panic(err)
	}
	return b
}

func copyDir(src, dst string) error {
	return filepath.WalkDir(src, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(src, path)
		if d.IsDir() {
			return os.MkdirAll(filepath.Join(dst, rel), 0o755)
		}
		b, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		return os.WriteFile(filepath.Join(dst, rel), b, 0o644)
	})
}

// folders returns the fixture's folders named.
func folders(t *testing.T, names ...string) []string {
	t.Helper()
	fixture.once.Do(func() { fixture.root, fixture.err = makeFixture() })
	if fixture.err != nil {
		t.Fatal(fixture.err)
	}
	out := make([]string, len(names))
	for i, n := range names {
		out[i] = filepath.Join(fixture.root, n)
	}
	return out
}

func loadRuns(t *testing.T, dirs []string) []*Run {
	t.Helper()
	runs := make([]*Run, len(dirs))
	for i, d := range dirs {
		r, err := Load(d)
		if err != nil {
			t.Fatal(err)
		}
		runs[i] = r
	}
	return runs
}

// rawRecords reads metrics.jsonl the plain way, as maps (a line that does
// not parse ends it: the fixture only has one, last).
func rawRecords(t *testing.T, dir string) []map[string]any {
	t.Helper()
	var out []map[string]any
	for _, line := range strings.Split(string(must(os.ReadFile(filepath.Join(dir, "metrics.jsonl")))), "\n") {
		var m map[string]any
		if line == "" || json.Unmarshal([]byte(line), &m) != nil {
			break
		}
		out = append(out, m)
	}
	return out
}

func num(m map[string]any, k string) float64 {
	v, ok := m[k].(float64)
	if !ok {
		return math.NaN()
	}
	return v
}

var all = []string{"a", "b", "c", "cut", "corrupt", "failed"}

func TestLoadStatus(t *testing.T) {
	dirs := folders(t, all...)
	runs := loadRuns(t, dirs)
	want := []struct {
		status  Status
		epochs  int
		skipped int
	}{{Finished, 3, 0}, {Finished, 3, 0}, {Finished, 3, 0}, {Incomplete, 1, 0}, {Incomplete, 3, 4}, {Failed, 0, 0}}
	for i, r := range runs {
		if r.Status() != want[i].status || len(r.Records) != want[i].epochs || r.Skipped != want[i].skipped {
			t.Errorf("%s: %s, %d epochs, skipped line %d; want %s, %d, %d", all[i], r.Status(), len(r.Records), r.Skipped,
				want[i].status, want[i].epochs, want[i].skipped)
		}
		if r.PlannedEpochs() != 3 {
			t.Errorf("%s: planned %d epochs, want 3", all[i], r.PlannedEpochs())
		}
	}
	if b := runs[1].Records[2]; b.AttackFlipped == nil || runs[0].Records[2].AttackFlipped != nil {
		t.Fatal("the Byzantine run lacks the attack fields, or the clean run has them")
	}
}

// A corrupt line before the last is an error naming the file and line.
func TestCorruptMiddleLine(t *testing.T) {
	src := folders(t, "a")[0]
	dir := filepath.Join(t.TempDir(), "mid")
	if err := copyDir(src, dir); err != nil {
		t.Fatal(err)
	}
	lines := strings.SplitAfter(string(must(os.ReadFile(filepath.Join(dir, "metrics.jsonl")))), "\n")
	lines[1] = "{\"epoch\": 2, oops\n"
	os.WriteFile(filepath.Join(dir, "metrics.jsonl"), []byte(strings.Join(lines, "")), 0o644)
	_, err := Load(dir)
	if err == nil || !strings.Contains(err.Error(), filepath.Join(dir, "metrics.jsonl")+" line 2:") {
		t.Fatalf("got %v, want an error naming metrics.jsonl line 2", err)
	}
	var stderr bytes.Buffer
	code := cli.Main([]string{"compare", dir}, io.Discard, &stderr, commands)
	if code != 1 || strings.Count(stderr.String(), "\n") != 1 || !strings.Contains(stderr.String(), "line 2") {
		t.Fatalf("exit %d, stderr %q", code, stderr.String())
	}
	// Epochs out of order in the middle are as bad.
	lines[1] = lines[0]
	os.WriteFile(filepath.Join(dir, "metrics.jsonl"), []byte(strings.Join(lines, "")), 0o644)
	if _, err := Load(dir); err == nil || !strings.Contains(err.Error(), "line 2: epoch 1 after epoch 1") {
		t.Fatalf("repeated epoch: %v", err)
	}
}

func cfgRun(dir string, cfg string) *Run {
	m, err := decodeObject([]byte(cfg))
	if err != nil {
		panic(err)
	}
	return &Run{Dir: dir, Config: m}
}

func TestLabelsSynthetic(t *testing.T) {
	runs := []*Run{
		cfgRun("r/1", `{"out": "r/1", "partition": "iid", "lr": 0.0001, "opt": "sgd", "aggregator": "median", "nested": {"a": 1, "b": [1, 2]}, "same": {"x": true}}`),
		cfgRun("r/2", `{"out": "r/2", "lr": 0.0001, "opt": "sgd", "nested": {"b": [1, 2], "a": 2}, "same": {"x": true}}`),
		cfgRun("r/3", `{"out": "r/3", "partition": "iid", "lr": 1e-3, "opt": "sgd", "aggregator": "krum", "nested": {"a": 1, "b": [1, 2]}, "same": {"x": true}}`),
	}
	if got, want := Differing(runs), []string{"aggregator", "lr", "nested", "partition"}; !slices.Equal(got, want) {
		t.Fatalf("differing %v, want %v", got, want)
	}
	want := []string{
		`aggregator=median, lr=0.0001, nested={"a":1,"b":[1,2]}, partition=iid`,
		`aggregator=-, lr=0.0001, nested={"a":2,"b":[1,2]}, partition=-`,
		`aggregator=krum, lr=1e-3, nested={"a":1,"b":[1,2]}, partition=iid`,
	}
	if got := Labels(runs); !slices.Equal(got, want) {
		t.Fatalf("labels\n%q\nwant\n%q", got, want)
	}
	if got, want := Common(runs), []string{"opt=sgd", `same={"x":true}`}; !slices.Equal(got, want) {
		t.Fatalf("common %q, want %q", got, want)
	}
	// One run: its folder. Runs that differ only in where they wrote:
	// their folders. Coinciding labels: the folder added.
	if got := Labels(runs[:1]); !slices.Equal(got, []string{"r/1"}) {
		t.Fatalf("one run: %q", got)
	}
	same := []*Run{cfgRun("x", `{"out": "x", "lr": 1}`), cfgRun("y", `{"out": "y", "lr": 1}`)}
	if got := Labels(same); !slices.Equal(got, []string{"x", "y"}) {
		t.Fatalf("same settings: %q", got)
	}
	dup := append(same, cfgRun("z", `{"out": "z", "lr": 2}`))
	if got, want := Labels(dup), []string{"lr=1 (x)", "lr=1 (y)", "lr=2"}; !slices.Equal(got, want) {
		t.Fatalf("coinciding labels %q, want %q", got, want)
	}
}

// Real runs: the labels name exactly the flags that were changed.
func TestLabelsRealRuns(t *testing.T) {
	runs := loadRuns(t, folders(t, "a", "b", "c"))
	want := []string{"blind=0, byzantine=0", "blind=0, byzantine=1", "blind=1, byzantine=0"}
	if got := Labels(runs); !slices.Equal(got, want) {
		t.Fatalf("labels %q, want %q", got, want)
	}
	// cut is a's copy: the same settings, so both get their folder.
	dirs := folders(t, "a", "cut", "b")
	got := Labels(loadRuns(t, dirs))
	if want := []string{"byzantine=0 (" + dirs[0] + ")", "byzantine=0 (" + dirs[1] + ")", "byzantine=1"}; !slices.Equal(got, want) {
		t.Fatalf("labels %q, want %q", got, want)
	}
}

// commands is the program's command table for these commands.
var commands = []cli.Command{{Name: "plot", Run: PlotCommand}, {Name: "compare", Run: CompareCommand}}

// The CSV table's numbers are the metrics' own, read back exactly.
func TestCompareCSV(t *testing.T) {
	dirs := folders(t, all...)
	var stdout, stderr bytes.Buffer
	if code := cli.Main(append([]string{"compare", "--csv"}, dirs...), &stdout, &stderr, commands); code != 0 {
		t.Fatalf("exit %d: %s", code, stderr.String())
	}
	if !strings.Contains(stderr.String(), filepath.Join(dirs[4], "metrics.jsonl")+" line 4: partial or corrupt last line left out") {
		t.Fatalf("no warning for the corrupt last line; stderr %q", stderr.String())
	}
	table, err := csv.NewReader(&stdout).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	if want := append(slices.Clone(CSVHeader), "blind", "byzantine"); !slices.Equal(table[0], want) {
		t.Fatalf("header %q, want %q", table[0], want)
	}
	if len(table) != 1+len(dirs) {
		t.Fatalf("%d rows, want %d", len(table)-1, len(dirs))
	}
	status := []string{"finished", "finished", "finished", "incomplete", "incomplete", "failed"}
	settings := [][]string{{"0", "0"}, {"0", "1"}, {"1", "0"}, {"0", "0"}, {"0", "1"}, {"1", "0"}}
	for i, row := range table[1:] {
		cell := map[string]string{}
		for j, h := range table[0] {
			cell[h] = row[j]
		}
		name := all[i]
		f := func(k string) float64 {
			if cell[k] == "" {
				return math.NaN()
			}
			v, err := strconv.ParseFloat(cell[k], 64)
			if err != nil {
				t.Fatalf("%s: %s %q: %v", name, k, cell[k], err)
			}
			return v
		}
		eq := func(k string, want float64) {
			if got := f(k); got != want && !(math.IsNaN(got) && math.IsNaN(want)) {
				t.Errorf("%s: %s %v, want %v", name, k, got, want)
			}
		}
		if cell["run"] != dirs[i] || cell["status"] != status[i] || !slices.Equal(row[len(CSVHeader):], settings[i]) {
			t.Errorf("%s: run %q status %q settings %q", name, cell["run"], cell["status"], row[len(CSVHeader):])
		}
		recs := rawRecords(t, dirs[i])
		eq("epochs", float64(len(recs)))
		eq("planned_epochs", 3)
		if len(recs) == 0 {
			for _, k := range CSVHeader[4:] {
				if cell[k] != "" {
					t.Errorf("%s: %s %q for a run with no epochs", name, k, cell[k])
				}
			}
			continue
		}
		last := recs[len(recs)-1]
		eq("final_test_acc", num(last, "test_acc"))
		eq("final_test_loss", num(last, "test_loss"))
		best, bestEpoch := math.Inf(-1), 0.0
		var sent, recv, steps, wall float64
		for _, r := range recs {
			if a := num(r, "test_acc"); a > best {
				best, bestEpoch = a, num(r, "epoch")
			}
			sent += num(r, "steps") * num(r, "bytes_sent_per_step")
			recv += num(r, "steps") * num(r, "bytes_recv_per_step")
			steps += num(r, "steps")
			wall += num(r, "epoch_seconds") + num(r, "eval_seconds")
		}
		eq("best_test_acc", best)
		eq("best_epoch", bestEpoch)
		eq("bytes_sent_per_step", sent/steps)
		eq("bytes_recv_per_step", recv/steps)
		from := "epochs"
		if b, err := os.ReadFile(filepath.Join(dirs[i], "summary.json")); err == nil {
			var s map[string]any
			json.Unmarshal(b, &s)
			wall, from = num(s, "wall_seconds"), "summary"
		}
		eq("wall_seconds", wall)
		if cell["wall_from"] != from {
			t.Errorf("%s: wall_from %q, want %q", name, cell["wall_from"], from)
		}
	}
}

func TestCompareMarkdown(t *testing.T) {
	dirs := folders(t, all...)
	var stdout bytes.Buffer
	if code := cli.Main(append([]string{"compare"}, dirs...), &stdout, io.Discard, commands); code != 0 {
		t.Fatalf("exit %d", code)
	}
	lines := strings.Split(stdout.String(), "\n")
	if want := "| run | status | epochs | final test acc | best test acc (epoch) | final test loss | wall s | bytes/step/worker sent | received | blind | byzantine |"; lines[0] != want {
		t.Fatalf("header\n%s\nwant\n%s", lines[0], want)
	}
	acc := num(rawRecords(t, dirs[0])[2], "test_acc")
	for i, want := range []string{
		fmt.Sprintf("| %s | finished | 3/3 | %.4f |", dirs[0], acc),
		fmt.Sprintf("| %s | incomplete | 1/3 |", dirs[3]),
		fmt.Sprintf("| %s | failed | 0/3 | - | - | - | - | - | - | 1 | 0 |", dirs[5]),
	} {
		row := lines[2+[]int{0, 3, 5}[i]]
		if !strings.HasPrefix(row, want) {
			t.Errorf("row\n%s\nwant it to begin\n%s", row, want)
		}
	}
	if !strings.Contains(stdout.String(), "\nThe same in every run: attack=paper, batch=128, dataset=logreg,") {
		t.Errorf("no line of shared settings:\n%s", stdout.String())
	}
}

// The figure's data: one line per run that has epochs, labelled by what
// differs, holding the metrics' values; the PNG decodes at its size.
func TestPlot(t *testing.T) {
	dirs := folders(t, all...)
	runs := loadRuns(t, dirs)
	labels := Labels(runs)
	panels := Panels(runs)
	var names []string
	for _, p := range panels {
		names = append(names, p.Name)
	}
	if want := []string{"test_acc", "test_loss", "train_loss", "bytes_per_step", "step_ms", "attack_flipped", "attack_zeroed", "attack_unanimous"}; !slices.Equal(names, want) {
		t.Fatalf("panels %q, want %q", names, want)
	}
	field := map[string]func(m map[string]any) float64{
		"test_acc":         func(m map[string]any) float64 { return num(m, "test_acc") },
		"test_loss":        func(m map[string]any) float64 { return num(m, "test_loss") },
		"train_loss":       func(m map[string]any) float64 { return num(m, "train_loss") },
		"bytes_per_step":   func(m map[string]any) float64 { return num(m, "bytes_sent_per_step") + num(m, "bytes_recv_per_step") },
		"step_ms":          func(m map[string]any) float64 { return 1e3 * num(m, "step_seconds") },
		"attack_flipped":   func(m map[string]any) float64 { return 100 * num(m, "attack_flipped") },
		"attack_zeroed":    func(m map[string]any) float64 { return 100 * num(m, "attack_zeroed") },
		"attack_unanimous": func(m map[string]any) float64 { return 100 * num(m, "attack_unanimous") },
	}
	for _, p := range panels {
		// Every run with epochs has a line, but the attack's figures only
		// the Byzantine runs (b and corrupt); failed has none.
		want := []int{0, 1, 2, 3, 4}
		if strings.HasPrefix(p.Name, "attack_") {
			want = []int{1, 4}
		}
		var got []int
		for _, l := range p.Lines {
			got = append(got, l.Run)
			if l.Label != labels[l.Run] {
				t.Errorf("%s: line labelled %q, want %q", p.Name, l.Label, labels[l.Run])
			}
			recs := rawRecords(t, dirs[l.Run])
			if len(l.XY) != len(recs) {
				t.Errorf("%s, %s: %d points, want %d", p.Name, all[l.Run], len(l.XY), len(recs))
				continue
			}
			for k, r := range recs {
				if l.XY[k].X != num(r, "epoch") || l.XY[k].Y != field[p.Name](r) {
					t.Errorf("%s, %s: point %v, want (%v, %v)", p.Name, all[l.Run], l.XY[k], num(r, "epoch"), field[p.Name](r))
				}
			}
		}
		if !slices.Equal(got, want) {
			t.Errorf("%s: lines of runs %v, want %v", p.Name, got, want)
		}
	}

	// The command writes a PNG of that size: 8 panels and the legend are 3 rows.
	out := filepath.Join(t.TempDir(), "fig.png")
	var stdout, stderr bytes.Buffer
	if code := cli.Main(append(append([]string{"plot"}, dirs...), "--out", out), &stdout, &stderr, commands); code != 0 {
		t.Fatalf("exit %d: %s", code, stderr.String())
	}
	if !strings.Contains(stderr.String(), "corrupt/metrics.jsonl line 4") {
		t.Errorf("no warning for the corrupt last line: %q", stderr.String())
	}
	checkPNG(t, out, 1344, 1152)
	// Without Byzantines: 5 panels and the legend, 2 rows; an SVG too.
	two := folders(t, "a", "c")
	if got := len(Panels(loadRuns(t, two))); got != 5 {
		t.Fatalf("%d panels without Byzantines, want 5", got)
	}
	if code := cli.Main(append([]string{"plot", "--out", out}, two...), io.Discard, io.Discard, commands); code != 0 {
		t.Fatal(code)
	}
	checkPNG(t, out, 1344, 768)
	svg := filepath.Join(t.TempDir(), "fig.svg")
	if code := cli.Main(append([]string{"plot", "--out", svg}, two...), io.Discard, io.Discard, commands); code != 0 {
		t.Fatal(code)
	}
	if b, err := os.ReadFile(svg); err != nil || !bytes.Contains(b, []byte("<svg")) || !bytes.Contains(b, []byte(">blind=1<")) {
		t.Fatalf("svg: %v", err)
	}
	// No temporary file left beside the figures.
	for _, d := range []string{filepath.Dir(out), filepath.Dir(svg)} {
		if ents, _ := os.ReadDir(d); len(ents) != 1 {
			t.Fatalf("%s holds %d files", d, len(ents))
		}
	}
}

func checkPNG(t *testing.T, path string, w, h int) {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	img, err := png.Decode(f)
	if err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	if b := img.Bounds(); b.Dx() != w || b.Dy() != h {
		t.Fatalf("%s is %dx%d, want %dx%d", path, b.Dx(), b.Dy(), w, h)
	}
}

// Bad command lines: exit 2, one line naming what is wrong, nothing written.
func TestRefusals(t *testing.T) {
	dirs := folders(t, "a", "b", "notrun")
	tmp := t.TempDir()
	inside := filepath.Join(dirs[0], "fig.png")
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"plot", dirs[0], dirs[2], "--out", filepath.Join(tmp, "x.png")}, "signsgd: plot: " + dirs[2] + ": not a run folder (no config.json)"},
		{[]string{"compare", dirs[0], filepath.Join(tmp, "nope")}, "signsgd: compare: " + filepath.Join(tmp, "nope") + ": not a run folder (no such folder)"},
		{[]string{"compare", filepath.Join(dirs[0], "config.json")}, "signsgd: compare: " + filepath.Join(dirs[0], "config.json") + ": not a run folder (not a folder)"},
		{[]string{"compare", filepath.Join(tmp, "*")}, "signsgd: compare: " + filepath.Join(tmp, "*") + ": matches nothing"},
		{[]string{"plot", dirs[0], "--out", inside}, "signsgd: plot: --out " + inside + " is inside run folder " + dirs[0] + "; run folders are only read"},
		{[]string{"compare", dirs[1], dirs[0], "--out", filepath.Join(dirs[0], "sub", "..", "t.md")}, "is inside run folder " + dirs[0]},
		{[]string{"plot", dirs[0], "--out", filepath.Join(tmp, "x.jpg")}, "signsgd: plot: --out " + filepath.Join(tmp, "x.jpg") + ": want a .png or .svg file"},
		{[]string{"plot", "--out", filepath.Join(tmp, "x.png")}, "signsgd: plot: no run folders given"},
		{[]string{"compare", "--bogus", dirs[0]}, "signsgd: compare: flag provided but not defined: -bogus"},
	} {
		var stderr bytes.Buffer
		code := cli.Main(c.args, io.Discard, &stderr, commands)
		if code != 2 || strings.Count(stderr.String(), "\n") != 1 || !strings.Contains(stderr.String(), c.want) {
			t.Errorf("%q: exit %d, stderr %q; want 2 and %q", c.args, code, stderr.String(), c.want)
		}
	}
	if _, err := os.Stat(inside); err == nil {
		t.Fatal("plot wrote into a run folder")
	}
	if ents, _ := os.ReadDir(tmp); len(ents) != 0 {
		t.Fatalf("refused commands left %d files", len(ents))
	}
}

// Globs are expanded here too, repeats dropped, order kept; flags go
// anywhere among the folders.
func TestExpandAndArgs(t *testing.T) {
	dirs := folders(t, "a", "b", "c")
	root := filepath.Dir(dirs[0])
	got, err := Expand([]string{filepath.Join(root, "c"), filepath.Join(root, "[ab]"), root + "/./c"})
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{dirs[2], dirs[0], dirs[1]}; !slices.Equal(got, want) {
		t.Fatalf("expand %q, want %q", got, want)
	}
	var stdout bytes.Buffer
	if code := cli.Main([]string{"compare", filepath.Join(root, "[ab]"), "--csv", dirs[2]}, &stdout, io.Discard, commands); code != 0 {
		t.Fatal(code)
	}
	if n := strings.Count(stdout.String(), "\n"); n != 4 || !strings.HasPrefix(stdout.String(), "run,") {
		t.Fatalf("compare with a flag among the folders:\n%s", stdout.String())
	}
}

// Neither command changes anything in a run folder.
func TestReadOnly(t *testing.T) {
	dirs := folders(t, all...)
	root := filepath.Dir(dirs[0])
	before := snapshot(t, root)
	out := t.TempDir()
	for _, args := range [][]string{
		{"plot", filepath.Join(root, "*[^n]"), "--out", filepath.Join(out, "f.png")},
		{"compare", filepath.Join(root, "*[^n]"), "--out", filepath.Join(out, "t.csv")},
		{"compare", filepath.Join(root, "*[^n]")},
	} {
		if code := cli.Main(args, io.Discard, io.Discard, commands); code != 0 {
			t.Fatalf("%q: exit %d", args, code)
		}
	}
	if after := snapshot(t, root); !slices.Equal(before, after) {
		t.Fatalf("run folders changed:\n%q\n%q", before, after)
	}
	if b := must(os.ReadFile(filepath.Join(out, "t.csv"))); !bytes.HasPrefix(b, []byte("run,status,")) {
		t.Fatalf("--out t.csv is not CSV: %q", b)
	}
}

func snapshot(t *testing.T, root string) []string {
	var out []string
	filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			t.Fatal(err)
		}
		info, _ := d.Info()
		sum := ""
		if !d.IsDir() {
			sum = fmt.Sprintf("%x", sha256.Sum256(must(os.ReadFile(path))))
		}
		out = append(out, fmt.Sprintf("%s %v %d %v %s", path, info.Mode(), info.Size(), info.ModTime().UnixNano(), sum))
		return nil
	})
	return out
}

// Table on made-up records: the bytes are a mean over steps (epochs of
// unequal length), the best accuracy is the first epoch that reached it, a
// diverged loss is NaN, and a regression has no accuracy.
func TestTableSynthetic(t *testing.T) {
	f := func(v float64) *float64 { return &v }
	cls := cfgRun("cls", `{"out": "cls", "dataset": "logreg", "epochs": 4}`)
	cls.Records = []job.Record{
		{Epoch: 1, TestAcc: f(0.5), TestLoss: 0.7, Steps: 10, BytesSentPerStep: 100, BytesRecvPerStep: 10, EpochSeconds: 1, EvalSeconds: 0.5},
		{Epoch: 2, TestAcc: f(0.7), TestLoss: 0.6, Steps: 20, BytesSentPerStep: 200, BytesRecvPerStep: 20, EpochSeconds: 2, EvalSeconds: 0.5},
		{Epoch: 3, TestAcc: f(0.7), TestLoss: job.Float(math.NaN()), Steps: 10, BytesSentPerStep: 100, BytesRecvPerStep: 10, EpochSeconds: 1, EvalSeconds: 0.5},
	}
	reg := cfgRun("reg", `{"out": "reg", "dataset": "linreg"}`)
	reg.Records = []job.Record{{Epoch: 1, TestLoss: 2, Steps: 5, BytesSentPerStep: 8, BytesRecvPerStep: 8}}
	reg.Summary = &job.Summary{WallSeconds: 42}
	keys, rows := Table([]*Run{cls, reg})
	if !slices.Equal(keys, []string{"dataset", "epochs"}) {
		t.Fatalf("keys %q", keys)
	}
	c, r := rows[0], rows[1]
	if c.Status != Incomplete || c.Epochs != 3 || c.Planned != 4 || *c.FinalAcc != 0.7 || *c.BestAcc != 0.7 || c.BestEpoch != 2 ||
		!math.IsNaN(*c.FinalLoss) || *c.BytesSent != 150 || *c.BytesRecv != 15 || *c.WallSeconds != 5.5 || !c.WallFromEpochs {
		t.Errorf("classification row %+v", c)
	}
	if r.Status != Finished || r.FinalAcc != nil || r.BestAcc != nil || *r.WallSeconds != 42 || r.WallFromEpochs || r.Planned != 0 ||
		!slices.Equal(r.Settings, []string{"linreg", "-"}) {
		t.Errorf("regression row %+v", r)
	}
	var b bytes.Buffer
	WriteMarkdown(&b, []*Run{cls, reg})
	for _, want := range []string{
		"| cls | incomplete | 3/4 | 0.7000 | 0.7000 (2) | NaN | 5.50* | 150 | 15 | logreg | 4 |",
		"| reg | finished | 1 | - | - | 2.0000 | 42.00 | 8 | 8 | linreg | - |",
		"\\* not finished: the sum of its epochs' training and evaluation seconds.",
	} {
		if !strings.Contains(b.String(), want) {
			t.Errorf("markdown lacks\n%s\nin\n%s", want, b.String())
		}
	}
	// No accuracy anywhere: no accuracy panel.
	if p := Panels([]*Run{reg}); len(p) != 4 || p[0].Name != "test_loss" {
		t.Errorf("regression panels %+v", p)
	}
}
