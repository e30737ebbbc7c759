package comm

import (
	"bytes"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"maps"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"signsgd/job/cli"
	"signsgd/job/nn"
	"signsgd/kernels"
)

// kernelModels are the networks whose shapes the chooser is calibrated
// on, as BenchmarkStep (job/nn) and `make bench-step` run them.
var kernelModels = []struct {
	name    string
	in      []int
	classes int
	hidden  int
	batch   int
}{
	{"mlp", []int{1, 28, 28}, 10, 128, 128},
	{"cnn", []int{1, 28, 28}, 10, 0, 14},
	{"mnistnet", []int{1, 28, 28}, 10, 0, 14},
	{"resnet18", []int{3, 224, 224}, 1000, 0, 8},
	{"resnet50", []int{3, 224, 224}, 1000, 0, 8},
}

// kernelModelNames is the names of kernelModels, comma-separated.
func kernelModelNames() string {
	names := make([]string, len(kernelModels))
	for i, m := range kernelModels {
		names[i] = m.name
	}
	return strings.Join(names, ",")
}

// kernelVoters are the vote sizes calibrated (the workers of make run,
// the figures' and bench's).
var kernelVoters = []int{3, 9, 16, 64}

// staleTable reports whether disk, the table file at path, differs from
// built, the copy built into this binary: a calibration has written it
// since the build. No file (nil: the binary runs outside a checkout) or
// no built-in table is not an error.
func staleTable(path string, disk, built []byte) error {
	if disk == nil || built == nil || bytes.Equal(disk, built) {
		return nil
	}
	return fmt.Errorf("%s differs from the table built into this binary", path)
}

// kernelsCommand is `signsgd bench kernels`: the CPU, its calibration
// status and the kernel chosen for each shape of the networks'; with
// --calibrate it times every choice and writes this CPU's table.
func kernelsCommand(args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("bench kernels", flag.ContinueOnError)
	calibrate := fs.Bool("calibrate", false, "time each kernel's implementations on the networks' shapes and write this CPU's table")
	out := fs.String("out", "kernels/calibration", "with --calibrate: the table's directory, or a .json file")
	reps := fs.Int("reps", 5, "with --calibrate: timed runs per shape and choice (the median is kept)")
	threads := fs.Int("threads", 2, "threads of the products and convolutions (as bench-step's ResNets)")
	models := fs.String("models", kernelModelNames(), "networks whose shapes are measured")
	keep := fs.Bool("keep", false, "with --calibrate: measure only the --models networks' shapes (not BenchmarkSgemm's) and keep the existing table's other classes")
	record := fs.String("record", "", "without --calibrate: also write the CPU and the choices to DIR/chosen-VENDOR-FAMILY-MODEL.txt (bench/results' record)")
	only := fs.String("kernels", strings.Join(kernels.Kernels(), ","), "with --calibrate --keep: the kernels whose choices are measured (comma list of "+strings.Join(kernels.Kernels(), ", ")+")")
	if ok, err := parseFlags(fs, args, stdout); !ok || err != nil {
		return err
	}
	var kinds []string // distinct
	for _, k := range strings.Split(*only, ",") {
		if !slices.Contains(kernels.Kernels(), k) {
			return cli.UsageError("bench kernels: unknown kernel %q in --kernels (want %s)", k, strings.Join(kernels.Kernels(), ", "))
		}
		if !slices.Contains(kinds, k) {
			kinds = append(kinds, k)
		}
	}
	if *record != "" && *calibrate {
		return cli.UsageError("bench kernels: --record writes the choices of the built-in table: not with --calibrate")
	}
	partial := len(kinds) < len(kernels.Kernels())
	if partial && (!*calibrate || !*keep) {
		return cli.UsageError("bench kernels: --kernels measures part of a table: it needs --calibrate --keep")
	}
	kernels.SetThreads(*threads)
	kernels.SetBLASThreads(*threads)
	defer kernels.SetThreads(0)
	var shapes kernels.Shapes
	for _, name := range strings.Split(*models, ",") {
		found := false
		for _, m := range kernelModels {
			if m.name != name {
				continue
			}
			found = true
			s, err := stepShapes(m.name, m.in, m.classes, m.hidden, m.batch)
			if err != nil {
				return err
			}
			shapes.Merge(s)
		}
		if !found {
			return cli.UsageError("bench kernels: unknown model %q", name)
		}
	}
	if !*keep { // a partial calibration measures the named networks' shapes alone
		shapes.Merge(kernels.Shapes{Sgemm: kernels.BenchSgemmShapes})
	}
	shapes.Vote = kernelVoters
	if partial {
		shapes.Only(kinds)
	}
	var rec bytes.Buffer // what --record keeps
	w := io.MultiWriter(stdout, &rec)
	fmt.Fprintln(w, "kernels:", kernels.ChooserSummary())
	name, built := kernels.BuiltInTable()
	if !*calibrate {
		if name != "" {
			p := filepath.Join("kernels", name)
			disk, _ := os.ReadFile(p) // none where the binary runs outside a checkout
			if err := staleTable(p, disk, built); err != nil {
				fmt.Fprintf(stderr, "bench kernels: %v: the choices below are the built-in table's; rebuild (make build) to use the file\n", err)
			}
		}
		printChoices(w, shapes)
		if *record == "" {
			return nil
		}
		if err := os.MkdirAll(*record, 0o755); err != nil {
			return err
		}
		path := filepath.Join(*record, "chosen-"+kernels.ThisCPU().Key()+".txt")
		return cli.WriteFileAtomic(path, func(f io.Writer) error {
			_, err := f.Write(rec.Bytes())
			return err
		})
	}
	path := *out
	if !strings.HasSuffix(path, ".json") {
		core := "" // a table for the CPU's own OpenBLAS core, or named for the forced one
		if os.Getenv("OPENBLAS_CORETYPE") != "" {
			core = kernels.BLASCore()
		}
		path = filepath.Join(path, kernels.TableName(kernels.ThisCPU(), core))
	}
	var prev *kernels.Table // the table --keep extends, read (and checked) before the timing
	if *keep {
		old, err := os.ReadFile(path)
		if err != nil {
			return fmt.Errorf("bench kernels --keep: %w", err)
		}
		if filepath.Base(path) == filepath.Base(name) {
			// The classes it does not measure are timed beside the
			// built-in table's choices, and the file's are kept: they
			// must be the same.
			if err := staleTable(path, old, built); err != nil {
				return fmt.Errorf("bench kernels --keep: %w: rebuild (make build) first", err)
			}
		}
		prev = new(kernels.Table)
		if err := json.Unmarshal(old, prev); err != nil {
			return fmt.Errorf("bench kernels --keep: %s: %w", path, err)
		}
	}
	t, err := kernels.Calibrate(shapes, *reps, stderr)
	if err != nil {
		return err
	}
	if prev != nil {
		if err := t.KeepUnmeasured(prev); err != nil {
			return fmt.Errorf("bench kernels --keep: %s: %w", path, err)
		}
	}
	data, err := json.MarshalIndent(t, "", "  ")
	if err != nil {
		return err
	}
	if err := cli.WriteFileAtomic(path, func(w io.Writer) error {
		_, err := w.Write(append(data, '\n'))
		return err
	}); err != nil {
		return err
	}
	for _, e := range t.Entries {
		fmt.Fprintf(stdout, "%s %s: %s (", e.Kernel, e.Class, e.Choice)
		sep := ""
		for _, c := range kernels.Choices(e.Kernel) {
			if v, ok := e.NS[c]; ok { // a 5x5 has no F(4x4, 3x3) to time
				fmt.Fprintf(stdout, "%s%s %.3f ms", sep, c, v/1e6)
				sep = ", "
			}
		}
		fmt.Fprintln(stdout, ")")
	}
	fmt.Fprintf(stdout, "wrote %s (%d classes); rebuild to embed it\n", path, len(t.Entries))
	return nil
}

// stepShapes runs one training step of a network and returns the shapes
// that met a choice.
func stepShapes(model string, in []int, classes, hidden, batch int) (kernels.Shapes, error) {
	n, err := nn.Build(model, in, classes, hidden, 1)
	if err != nil {
		return kernels.Shapes{}, err
	}
	size := batch
	for _, d := range in {
		size *= d
	}
	rng := rand.New(rand.NewPCG(1, 2))
	x := make([]float32, size)
	for i := range x {
		x[i] = float32(rng.NormFloat64())
	}
	y := make([]float32, batch)
	for i := range y {
		y[i] = float32(rng.IntN(classes))
	}
	return kernels.RecordShapes(func() { n.LossGrad(x, y, batch, 0) }), nil
}

// printChoices prints the decision for every shape.
func printChoices(w io.Writer, s kernels.Shapes) {
	for _, g := range s.Sgemm {
		fmt.Fprintf(w, "sgemm %s (%s): %s\n", g, g.Class(), kernels.ChooseSgemm(g))
	}
	for _, k := range slices.Sorted(maps.Keys(s.Conv)) {
		for _, c := range s.Conv[k] {
			fmt.Fprintf(w, "%s %s (%s): %s\n", k, kernels.DescribeConv(c), kernels.ClassOf(k, c), kernels.ChooseFor(k, c))
		}
	}
	for _, m := range s.Vote {
		fmt.Fprintf(w, "vote voters=%d (%s): %s\n", m, kernels.VoteClass(m), kernels.ChooseVote(m))
	}
}
