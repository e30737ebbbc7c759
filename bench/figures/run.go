package figures

import (
	"bufio"
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Options say where the grid's runs and figures go and how to run them.
type Options struct {
	Out   string    // results folder: runs/, figures, summary.md
	Bin   string    // the signsgd binary that trains
	Quick bool      // the small grid of the experiments' quick_* fields
	Log   io.Writer // one line per run
}

// Point is one epoch of one run.
type Point struct {
	Epoch     int      `json:"epoch"`
	TrainLoss *float64 `json:"train_loss"`
	TestLoss  *float64 `json:"test_loss"`
	TestAcc   *float64 `json:"test_acc"`
}

// Series is one run's curve.
type Series struct {
	Optimizer string
	Count     int
	Dir       string
	Points    []Point
	Reused    bool
}

// Result is what Run made.
type Result struct {
	Runs, Reused int
	Figures      []string // files written
	Series       map[string][]Series
	Elapsed      time.Duration
}

// runArgs are the `signsgd run` flags of one point of an experiment.
func runArgs(e Experiment, opt string, count int, quick bool) []string {
	epochs, flags := e.Epochs, e.Flags
	if quick {
		if e.QuickEpochs > 0 {
			epochs = e.QuickEpochs
		}
		flags = append(slices.Clone(flags), e.QuickFlags...)
	}
	args := []string{"--dataset", e.Dataset, "--model", e.Model, "--opt", opt,
		"--workers", strconv.Itoa(e.Workers), "--epochs", strconv.Itoa(epochs),
		"--seed", strconv.FormatUint(e.Seed, 10), "--" + e.Adversary, strconv.Itoa(count)}
	// The attack only matters to sign optimizers with Byzantines: leaving
	// it out elsewhere lets those runs be shared between experiments.
	if e.Adversary == "byzantine" && opt != "sgd" && count > 0 && e.Attack != "" {
		args = append(args, "--attack", e.Attack)
	}
	args = append(args, flags...)
	return append(args, e.OptFlags[opt]...)
}

// runKey names a run by its flags.
func runKey(args []string) string {
	h := sha256.Sum256([]byte(strings.Join(args, "\x00")))
	return hex.EncodeToString(h[:8])
}

func counts(e Experiment, quick bool) []int {
	if quick && len(e.QuickCounts) > 0 {
		return e.QuickCounts
	}
	return e.Counts
}

// Run trains every point of the grid that has not finished before, then
// draws the figures and the summary table.
func Run(spec Spec, opt Options) (Result, error) {
	start := time.Now()
	if err := spec.Check(); err != nil {
		return Result{}, err
	}
	if opt.Log == nil {
		opt.Log = io.Discard
	}
	if err := os.MkdirAll(filepath.Join(opt.Out, "runs"), 0o755); err != nil {
		return Result{}, err
	}
	res := Result{Series: map[string][]Series{}}
	spec.Experiments = spec.forGrid(opt.Quick)
	for _, e := range spec.Experiments {
		for _, o := range e.Optimizers {
			for _, c := range counts(e, opt.Quick) {
				s, err := runOne(e, o, c, opt)
				if err != nil {
					return res, err
				}
				res.Runs++
				if s.Reused {
					res.Reused++
				}
				res.Series[e.Name] = append(res.Series[e.Name], s)
			}
		}
		files, err := drawExperiment(e, res.Series[e.Name], opt.Out)
		if err != nil {
			return res, fmt.Errorf("%s: %w", e.Name, err)
		}
		res.Figures = append(res.Figures, files...)
	}
	if err := writeSummary(spec, res, opt); err != nil {
		return res, err
	}
	res.Elapsed = time.Since(start)
	return res, nil
}

// runOne trains one point, or reuses it when runs/<key> holds a finished
// run of the same flags.
func runOne(e Experiment, o string, c int, opt Options) (Series, error) {
	args := runArgs(e, o, c, opt.Quick)
	t0 := time.Now()
	dir, reused, err := RunCached(opt.Bin, filepath.Join(opt.Out, "runs"), args)
	s := Series{Optimizer: o, Count: c, Dir: dir, Reused: reused}
	if err != nil {
		return s, err
	}
	if s.Points, err = readMetrics(dir); err != nil {
		return s, err
	}
	if reused {
		fmt.Fprintf(opt.Log, "figures: %s %s %d %s: reused %s\n", e.Name, o, c, e.Adversary, dir)
	} else {
		fmt.Fprintf(opt.Log, "figures: %s %s %d %s: trained in %v (%s)\n", e.Name, o, c, e.Adversary, time.Since(t0).Round(time.Millisecond), dir)
	}
	return s, nil
}

// RunCached trains `signsgd run ARGS` with bin into runsDir/<key>, or
// reuses the folder when it holds a finished run of the same resolved
// configuration (the one the binary prints with --dry-run, defaults filled
// in, so a run made under other defaults is not reused, and runs whose
// flags differ but resolve alike are shared). It returns the run folder
// and whether it was reused.
func RunCached(bin, runsDir string, args []string) (dir string, reused bool, err error) {
	resolved, err := exec.Command(bin, append(append([]string{"run"}, args...), "--dry-run", "--out", "x")...).Output()
	if err != nil {
		return "", false, fmt.Errorf("run %v --dry-run: %w", args, err)
	}
	key := runKey([]string{string(resolved)})
	dir = filepath.Join(runsDir, key)
	want, _ := json.Marshal(map[string]any{"config": json.RawMessage(resolved)})
	if got, err := os.ReadFile(filepath.Join(dir, "config-key.json")); err == nil && bytes.Equal(bytes.TrimSpace(got), bytes.TrimSpace(want)) {
		if _, err := os.Stat(filepath.Join(dir, "summary.json")); err == nil {
			if _, err := readMetrics(dir); err == nil {
				return dir, true, nil
			}
		}
	}
	if err := os.RemoveAll(dir); err != nil {
		return dir, false, err
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return dir, false, err
	}
	if err := os.WriteFile(filepath.Join(dir, "config-key.json"), append(want, '\n'), 0o644); err != nil {
		return dir, false, err
	}
	flags, _ := json.Marshal(args)
	if err := os.WriteFile(filepath.Join(dir, "args.json"), append(flags, '\n'), 0o644); err != nil {
		return dir, false, err
	}
	cmd := exec.Command(bin, append(append([]string{"run"}, args...), "--out", dir, "--quiet")...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Run(); err != nil {
		return dir, false, fmt.Errorf("run %s %v: %v: %s", key, args, err, strings.TrimSpace(stderr.String()))
	}
	return dir, false, nil
}

func readMetrics(dir string) ([]Point, error) {
	f, err := os.Open(filepath.Join(dir, "metrics.jsonl"))
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var pts []Point
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<16), 1<<20)
	for line := 1; sc.Scan(); line++ {
		var p Point
		if err := json.Unmarshal(sc.Bytes(), &p); err != nil {
			return nil, fmt.Errorf("%s line %d: %w", f.Name(), line, err)
		}
		pts = append(pts, p)
	}
	if err := sc.Err(); err != nil {
		return nil, err
	}
	if len(pts) == 0 {
		return nil, fmt.Errorf("%s: no epochs", f.Name())
	}
	return pts, nil
}

// Final is the last epoch's test accuracy (NaN when there is none).
func (s Series) Final() float64 {
	if len(s.Points) == 0 || s.Points[len(s.Points)-1].TestAcc == nil {
		return nanValue
	}
	return *s.Points[len(s.Points)-1].TestAcc
}

// First is the first epoch's test accuracy.
func (s Series) First() float64 {
	if len(s.Points) == 0 || s.Points[0].TestAcc == nil {
		return nanValue
	}
	return *s.Points[0].TestAcc
}
