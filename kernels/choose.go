package kernels

import (
	"bufio"
	"cmp"
	"embed"
	"encoding/json"
	"fmt"
	"io"
	"io/fs"
	"maps"
	"math/bits"
	"os"
	"runtime"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"

	"golang.org/x/sys/cpu"
)

// Choosing between implementations of one kernel
//
// Five kernels have two or three implementations each, all checked
// against the kernel's Naive reference, whose speeds rank differently on
// different CPUs (on the AMD EPYC Zen 4 OpenBLAS multiplies m=512 n=49
// k=4608 1.5-1.9x as fast as our micro-kernel, which wins most other
// shapes there and on the Intel Xeon):
//
//	kernel  choices                         shape class (each size rounded up to a power of two)
//	sgemm   avx512 | blas                   m, n, k of the product, and which operands
//	                                        it reads transposed (GemmShape)
//	conv    winograd | im2col | winograd4x4 InC, OutC, 2x2 output tiles over the batch
//	                                        (and the kernel size when not 3)
//	dgrad   byconv | col2im                 as conv
//	stem    im2col | direct                 InC, OutC, output width and pixels
//	vote    avx512 | avx2                   voters
//
// A choice is made only between implementations the shape and the CPU
// can run (the micro-kernel's tile fill, Winograd's geometry, the CPU's
// features decide that); among them it is a function of the shape's
// class and of the calibration table of this CPU, nothing else:
//
//  1. SIGNSGD_KERNELS forces a choice ("sgemm:blas,conv:im2col,vote:avx2";
//     "report" prints each decision once, to stderr, with its reason);
//  2. else the table in calibration/ whose CPU (vendor, family, model and
//     features) is this one, written by `signsgd bench kernels
//     --calibrate`, gives the choice measured fastest for the class;
//  3. else (an uncalibrated CPU, a class the table lacks, or a table
//     measured with another BLAS) a default rule, the same on every CPU.
//
// So two runs on one machine, and every rank on one node, choose alike,
// and a run's model stays reproducible bit for bit.
//
// The default rules are safe on both vendors measured: the micro-kernel
// wherever it fills its tiles (ahead of OpenBLAS on the conv shapes on
// Intel Xeon and AMD EPYC Zen 4 alike: BenchmarkSgemm), Winograd F(2x2,
// 3x3) for 3x3 convolutions with enough channels and a class of 256 tiles
// or more (ahead of PyTorch on both; F(4x4, 3x3), faster on large images
// but not on small ones, only where a table measured it), AVX-512 for the
// vote where the CPU has it (exact either way; vpternlogq on both).

// Kernel names and their choices.
const (
	KernelSgemm = "sgemm"
	KernelConv  = "conv"
	KernelVote  = "vote"
	// KernelStem is ResNet's 7x7 stride-2 first layer (stem.go): its
	// forward pass and, as a first layer, its filter gradient.
	KernelStem = "stem"
	// KernelDgrad is a stride-1 convolution's input gradient (conv.go's
	// dInByConv): the forward convolution of dOut with the flipped
	// filters, or col2im of w^T x dOut.
	KernelDgrad = "dgrad"

	ChoiceAVX512   = "avx512"
	ChoiceBLAS     = "blas"
	ChoiceWinograd = "winograd"
	// ChoiceWinograd4 is F(4x4, 3x3) for a 3x3 (winograd4.go); for a 5x5
	// it is F(2x2, 5x5), as ChoiceWinograd.
	ChoiceWinograd4 = "winograd4x4"
	ChoiceIm2col    = "im2col"
	ChoiceAVX2      = "avx2"
	// ChoiceDirect is the stem's convolution without im2col.
	ChoiceDirect = "direct"
	// ChoiceByConv and ChoiceCol2im are KernelDgrad's two forms.
	ChoiceByConv = "byconv"
	ChoiceCol2im = "col2im"
)

// kernelChoices lists each kernel's choices, the default rule's first.
var kernelChoices = map[string][]string{
	KernelSgemm: {ChoiceAVX512, ChoiceBLAS},
	KernelConv:  {ChoiceWinograd, ChoiceIm2col, ChoiceWinograd4},
	KernelVote:  {ChoiceAVX512, ChoiceAVX2},
	KernelStem:  {ChoiceIm2col, ChoiceDirect},
	KernelDgrad: {ChoiceByConv, ChoiceCol2im},
}

// CPU identifies a processor for the calibration tables.
type CPU struct {
	Vendor   string   `json:"vendor"` // GenuineIntel, AuthenticAMD
	Family   int      `json:"family"`
	Model    int      `json:"model"`
	Name     string   `json:"name"`     // the model name, for people
	Features []string `json:"features"` // those the kernels use, sorted
}

// Key names the CPU's table: vendor-family-model.
func (c CPU) Key() string { return fmt.Sprintf("%s-%d-%d", c.Vendor, c.Family, c.Model) }

// Same reports whether c and d are the same CPU for the kernels: same
// key and the same features (a VM that hides AVX-512 is another CPU).
func (c CPU) Same(d CPU) bool {
	return c.Key() == d.Key() && strings.Join(c.Features, ",") == strings.Join(d.Features, ",")
}

func (c CPU) String() string {
	return fmt.Sprintf("%s (%s family %d model %d; %s)", c.Name, c.Vendor, c.Family, c.Model, strings.Join(c.Features, " "))
}

var thisCPU = sync.OnceValue(func() CPU {
	c := CPU{Vendor: "unknown", Name: runtime.GOARCH}
	if f, err := os.Open("/proc/cpuinfo"); err == nil {
		c = parseCPUInfo(f, c)
		f.Close()
	}
	for _, f := range []struct {
		name string
		has  bool
	}{{"avx2", cpu.X86.HasAVX2}, {"avx512f", cpu.X86.HasAVX512F}, {"avx512bw", cpu.X86.HasAVX512BW}, {"fma", cpu.X86.HasFMA}} {
		if f.has {
			c.Features = append(c.Features, f.name)
		}
	}
	sort.Strings(c.Features)
	return c
})

// ThisCPU is the CPU this process runs on (the first processor of
// /proc/cpuinfo, and the features Go detects).
func ThisCPU() CPU { return thisCPU() }

// parseCPUInfo reads the first processor's vendor, family, model and
// name from /proc/cpuinfo's text.
func parseCPUInfo(r io.Reader, c CPU) CPU {
	sc := bufio.NewScanner(r)
	for sc.Scan() {
		k, v, ok := strings.Cut(sc.Text(), ":")
		if !ok {
			if strings.TrimSpace(sc.Text()) == "" && c.Vendor != "unknown" {
				break // end of the first processor
			}
			continue
		}
		k, v = strings.TrimSpace(k), strings.TrimSpace(v)
		switch k {
		case "vendor_id":
			c.Vendor = v
		case "cpu family":
			c.Family, _ = strconv.Atoi(v)
		case "model":
			c.Model, _ = strconv.Atoi(v)
		case "model name":
			c.Name = v
		}
	}
	return c
}

// Table is one CPU's calibration: the choice measured fastest for each
// kernel and shape class the networks use.
type Table struct {
	CPU      CPU     `json:"cpu"`
	BLAS     string  `json:"blas"`      // BLASName() when measured
	BLASCore string  `json:"blas_core"` // BLASCore() when measured
	Threads  int     `json:"threads"`
	Reps     int     `json:"reps"`
	Entries  []Entry `json:"entries"`
}

// Entry is one kernel's shape class: the median time of each choice,
// summed over the measured shapes of the class, and the fastest.
type Entry struct {
	Kernel string             `json:"kernel"`
	Class  string             `json:"class"`
	Shapes []string           `json:"shapes"`
	NS     map[string]float64 `json:"ns"`
	Choice string             `json:"choice"`
	// Disturbed marks a class one of whose shapes other processes
	// disturbed on every try of its timing (Calibrate): its choice may be
	// wrong.
	Disturbed bool `json:"disturbed,omitempty"`
}

// Choose returns, for each class, the choice with the least time (ties
// to the default rule's choice): the table's decisions.
func (e *Entry) choose() {
	best := ""
	for _, c := range kernelChoices[e.Kernel] {
		if t, ok := e.NS[c]; ok && (best == "" || t < e.NS[best]) {
			best = c
		}
	}
	e.Choice = best
}

//go:embed calibration
var calibrationFS embed.FS

// chooser holds the decisions' inputs, fixed at the first decision.
type chooser struct {
	cpu       CPU
	table     *Table // nil: uncalibrated
	tableFile string
	byClass   map[string]string // kernel/class -> choice
	forced    map[string]string // kernel -> choice (SIGNSGD_KERNELS)
	report    bool
	out       io.Writer
	reported  sync.Map // kernel/class -> struct{}
	header    sync.Once

	mu        sync.RWMutex
	sgemmSeen map[GemmShape]string   // ChooseSgemm's decisions so far
	convSeen  map[convSeenKey]string // chooseConvShape's
	// voteSeen[b] is ChooseVote's decision for 2^b voters: the vote runs
	// every step, and its steady state must not allocate.
	voteSeen [64]atomic.Pointer[string]
}

var theChooser = sync.OnceValue(func() *chooser {
	ch, err := newChooser(ThisCPU(), calibrationFS, os.Getenv("SIGNSGD_KERNELS"))
	if err != nil {
		panic("kernels: " + err.Error())
	}
	ch.out = os.Stderr
	return ch
})

// testChooser replaces theChooser in tests.
var testChooser atomic.Pointer[chooser]

func activeChooser() *chooser {
	if ch := testChooser.Load(); ch != nil {
		return ch
	}
	return theChooser()
}

// newChooser reads the table of c from fsys and the setting env.
func newChooser(c CPU, fsys fs.FS, env string) (*chooser, error) {
	forced, report, err := parseKernelsSetting(env)
	if err != nil {
		return nil, err
	}
	ch := &chooser{cpu: c, forced: forced, report: report, out: io.Discard, sgemmSeen: map[GemmShape]string{}, convSeen: map[convSeenKey]string{}}
	name := "calibration/" + TableName(c, BLASCore())
	if _, err := fs.Stat(fsys, name); err != nil {
		name = "calibration/" + TableName(c, "")
	}
	data, err := fs.ReadFile(fsys, name)
	if err != nil {
		return ch, nil // uncalibrated
	}
	t := new(Table)
	if err := json.Unmarshal(data, t); err != nil {
		return nil, fmt.Errorf("%s: %v", name, err)
	}
	if !t.CPU.Same(c) {
		return ch, nil // same model, other features: uncalibrated
	}
	ch.useTable(t, name)
	return ch, nil
}

// CheckSetting reports a malformed SIGNSGD_KERNELS, which would otherwise
// stop the program at its first kernel decision; a program calls it at
// start.
func CheckSetting() error {
	_, _, err := parseKernelsSetting(os.Getenv("SIGNSGD_KERNELS"))
	return err
}

// parseKernelsSetting reads SIGNSGD_KERNELS's syntax: "report" and
// kernel:choice items, comma-separated.
func parseKernelsSetting(env string) (forced map[string]string, report bool, err error) {
	forced = map[string]string{}
	for _, f := range strings.Split(env, ",") {
		f = strings.TrimSpace(f)
		if f == "" {
			continue
		}
		if f == "report" {
			report = true
			continue
		}
		k, v, ok := strings.Cut(f, ":")
		if v == "openblas" || v == "gonum" {
			v = ChoiceBLAS
		}
		if !ok || !validChoice(k, v) {
			return nil, false, fmt.Errorf("SIGNSGD_KERNELS: %q is not report or kernel:choice (%s)", f, choicesText())
		}
		forced[k] = v
	}
	return forced, report, nil
}

// TableName is the file of CPU c's calibration table: VENDOR-FAMILY-MODEL.json,
// or VENDOR-FAMILY-MODEL-CORE.json for a table measured with OpenBLAS
// running the kernels of another core (OPENBLAS_CORETYPE=CORE; Debian's
// OpenBLAS runs its SSE3 Prescott kernels on Intel models newer than it
// knows, and OPENBLAS_CORETYPE=SkylakeX gives it AVX-512 ones). The
// chooser reads the table named for the core OpenBLAS runs, if there is
// one, before the CPU's own.
func TableName(c CPU, blasCore string) string {
	if blasCore == "" {
		return c.Key() + ".json"
	}
	return c.Key() + "-" + blasCore + ".json"
}

// useTable makes t the chooser's table.
func (ch *chooser) useTable(t *Table, name string) {
	ch.table, ch.tableFile = t, name
	ch.byClass = map[string]string{}
	for _, e := range t.Entries {
		if e.Kernel == KernelSgemm && (t.BLAS != BLASName() || t.BLASCore != BLASCore()) {
			continue // measured against another BLAS, or OPENBLAS_CORETYPE differs
		}
		if validChoice(e.Kernel, e.Choice) {
			ch.byClass[e.Kernel+"/"+e.Class] = e.Choice
		}
	}
}

// Choices lists kernel's implementations, the default rule's first.
func Choices(kernel string) []string { return kernelChoices[kernel] }

// Kernels is the kernels that have choices, sorted.
func Kernels() []string { return slices.Sorted(maps.Keys(kernelChoices)) }

func validChoice(kernel, choice string) bool {
	for _, c := range kernelChoices[kernel] {
		if c == choice {
			return true
		}
	}
	return false
}

// choicesText lists every kernel's choices, as SIGNSGD_KERNELS spells
// them: "conv:winograd|im2col|winograd4x4, ...".
func choicesText() string {
	var parts []string
	for _, k := range Kernels() {
		parts = append(parts, k+":"+strings.Join(kernelChoices[k], "|"))
	}
	return strings.Join(parts, ", ")
}

// pow2Class rounds n up to a power of two.
func pow2Class(n int) int {
	if n <= 1 {
		return 1
	}
	return 1 << bits.Len(uint(n-1))
}

// GemmShape is what the chooser decides a product on: its sizes and
// which operands it reads transposed. The transpositions matter as much
// as the sizes: on the Intel VM of the notes, with one thread, OpenBLAS
// computes a 64 x 64 x 48 A B^T (a Winograd filter gradient's) at about
// half its speed on the same A B (73 against 144 GFLOP/s), while our
// kernel, which packs a transposed B where it reads a plain one in place,
// runs both at 90-125: the faster of the two differs between them.
type GemmShape struct {
	M, N, K        int
	TransA, TransB bool
}

// Class is the shape class of g: its sizes rounded up to powers of two,
// then ".tn", ".nt" or ".tt" when an operand is transposed (none for
// A B, the classes of tables measured before the transpositions counted).
func (g GemmShape) Class() string {
	c := fmt.Sprintf("m%d.n%d.k%d", pow2Class(g.M), pow2Class(g.N), pow2Class(g.K))
	if g.TransA || g.TransB {
		c += "." + g.ops()
	}
	return c
}

// ops is "nn", "nt", "tn" or "tt": which of A and B are transposed.
func (g GemmShape) ops() string {
	o := [2]byte{'n', 'n'}
	if g.TransA {
		o[0] = 't'
	}
	if g.TransB {
		o[1] = 't'
	}
	return string(o[:])
}

// denseStrides are the row strides of g's operands stored without
// padding (lda, ldb; C's is N), as the calibration and BenchmarkSgemm
// lay them out.
func (g GemmShape) denseStrides() (lda, ldb int) {
	lda, ldb = g.K, g.N
	if g.TransA {
		lda = g.M
	}
	if g.TransB {
		ldb = g.K
	}
	return lda, ldb
}

// String is the shape as the report and the calibration print it.
func (g GemmShape) String() string {
	s := fmt.Sprintf("m=%d n=%d k=%d", g.M, g.N, g.K)
	if g.TransA || g.TransB {
		s += " " + g.ops()
	}
	return s
}

// compareGemm orders shapes by sizes, then transpositions (plain first).
func compareGemm(a, b GemmShape) int {
	trans := func(t bool) int {
		if t {
			return 1
		}
		return 0
	}
	return cmp.Or(cmp.Compare(a.M, b.M), cmp.Compare(a.N, b.N), cmp.Compare(a.K, b.K),
		cmp.Compare(trans(a.TransA), trans(b.TransA)), cmp.Compare(trans(a.TransB), trans(b.TransB)))
}

// ConvClass is the shape class of a convolution for the Winograd choice;
// a 5x5's (F(2x2, 5x5)) starts with "k5.".
func ConvClass(s ConvShape) string {
	th, tw := s.wgTiles2()
	c := fmt.Sprintf("in%d.out%d.tiles%d", pow2Class(s.InC), pow2Class(s.OutC), pow2Class(s.Batch*th*tw))
	if s.KH != 3 {
		c = fmt.Sprintf("k%d.", s.KH) + c
	}
	return c
}

// convChoices is the choices a convolution of shape s has: F(4x4, 3x3)
// only for a 3x3 (for a 5x5, ChoiceWinograd4 would time F(2x2, 5x5)
// twice).
func convChoices(s ConvShape) []string {
	var cs []string
	for _, c := range kernelChoices[KernelConv] {
		if c != ChoiceWinograd4 || s.KH == 3 {
			cs = append(cs, c)
		}
	}
	return cs
}

// VoteClass is the shape class of a vote of m voters.
func VoteClass(m int) string { return fmt.Sprintf("voters%d", pow2Class(m)) }

// decide returns the choice for kernel on class, shape describing the
// shape for the report.
func (ch *chooser) decide(kernel, class, def string, shape func() string) string {
	choice, why := "", ""
	if f, ok := ch.forced[kernel]; ok {
		choice, why = f, "forced by SIGNSGD_KERNELS"
	} else if c, ok := ch.byClass[kernel+"/"+class]; ok {
		choice, why = c, "measured, "+ch.tableFile
	} else {
		choice = def
		why = "default rule (uncalibrated CPU)"
		if ch.table != nil {
			why = "default rule (class not in " + ch.tableFile + ")"
		}
	}
	if ch.report {
		ch.header.Do(func() { fmt.Fprintln(ch.out, "kernels:", ch.Summary()) })
		if _, seen := ch.reported.LoadOrStore(kernel+"/"+class, struct{}{}); !seen {
			fmt.Fprintf(ch.out, "kernels: %s %s (class %s): %s, %s\n", kernel, shape(), class, choice, why)
		}
	}
	return choice
}

// Summary says which CPU this is and whether a table calibrates it.
func (ch *chooser) Summary() string {
	s := "CPU " + ch.cpu.String() + "; BLAS " + BLASName() + " (" + BLASCore() + blasCoreNote() + "); "
	if ch.table == nil {
		s += "uncalibrated (no table calibration/" + ch.cpu.Key() + ".json for these features): default rules"
	} else {
		s += "calibrated by " + ch.tableFile
	}
	if len(ch.forced) > 0 {
		var f []string
		for k, v := range ch.forced {
			f = append(f, k+":"+v)
		}
		sort.Strings(f)
		s += "; forced " + strings.Join(f, ",")
	}
	return s
}

// ChooserSummary says which CPU this is, whether a calibration table
// covers it and what SIGNSGD_KERNELS forces.
func ChooserSummary() string { return activeChooser().Summary() }

// ChooseSgemm is the choice for a product of shape g (avx512 or blas).
func ChooseSgemm(g GemmShape) string {
	ch := activeChooser()
	if !ch.report && len(ch.forced) == 0 && len(ch.byClass) == 0 {
		return ChoiceAVX512 // the default rule, without formatting a class
	}
	ch.mu.RLock()
	c, ok := ch.sgemmSeen[g]
	ch.mu.RUnlock()
	if ok {
		return c
	}
	c = ch.decide(KernelSgemm, g.Class(), kernelChoices[KernelSgemm][0], g.String)
	ch.mu.Lock()
	ch.sgemmSeen[g] = c
	ch.mu.Unlock()
	return c
}

// ChooseConv is the choice for a convolution Winograd can compute.
func ChooseConv(s ConvShape) string { return chooseConvShape(KernelConv, s) }

// StemClass is the shape class of a stem convolution (stem.go): its
// channels and its output's width and pixels, in powers of two.
func StemClass(s ConvShape) string {
	return fmt.Sprintf("in%d.out%d.w%d.px%d", pow2Class(s.InC), pow2Class(s.OutC), pow2Class(s.OutW()), pow2Class(s.Batch*s.OutH()*s.OutW()))
}

// ChooseStem is the choice for a convolution the direct stem path can
// take. The default rule is im2col: the direct kernel is measured on the
// CPUs whose tables time it.
func ChooseStem(s ConvShape) string { return chooseConvShape(KernelStem, s) }

// ChooseDgrad is the form of a stride-1 convolution's input gradient (the
// shapes dInByConv can take), by ConvClass. The default rule is the
// convolution of dOut with the flipped filters.
func ChooseDgrad(s ConvShape) string { return chooseConvShape(KernelDgrad, s) }

// convKernels are the kernels chosen per convolution shape.
var convKernels = []string{KernelConv, KernelStem, KernelDgrad}

// ClassOf is the shape class of convolution s for kernel, one of
// convKernels: StemClass for the stem, ConvClass for the others.
func ClassOf(kernel string, s ConvShape) string {
	if kernel == KernelStem {
		return StemClass(s)
	}
	return ConvClass(s)
}

// ChooseFor is the choice of kernel, one of convKernels, for s.
func ChooseFor(kernel string, s ConvShape) string { return chooseConvShape(kernel, s) }

// DescribeConv is the shape a report and a table name: channels, size,
// filter and batch.
func DescribeConv(s ConvShape) string {
	return fmt.Sprintf("in=%d out=%d %dx%d k%d batch=%d", s.InC, s.OutC, s.InH, s.InW, s.KH, s.Batch)
}

// chooseConvShape is the choice of kernel (one of convKernels) for s,
// remembered per shape; with no table, no forcing and no report, the
// kernel's default rule (convDefault) at once.
func chooseConvShape(kernel string, s ConvShape) string {
	ch := activeChooser()
	if !ch.report && len(ch.forced) == 0 && len(ch.byClass) == 0 {
		return convDefault(kernel, s)
	}
	key := convSeenKey{kernel, s}
	ch.mu.RLock()
	c, ok := ch.convSeen[key]
	ch.mu.RUnlock()
	if ok {
		return c
	}
	c = ch.decide(kernel, ClassOf(kernel, s), convDefault(kernel, s), func() string { return DescribeConv(s) })
	ch.mu.Lock()
	ch.convSeen[key] = c
	ch.mu.Unlock()
	return c
}

// convDefault is kernel's default rule for s, the choice of a CPU without
// a table or of a class its table lacks: the kernel's first choice, but
// im2col for a convolution whose class counts fewer than wgMinTiles 2x2
// output tiles (128 or fewer), whose Winograd products are too thin to
// pay for its transforms on either known vendor's CPUs (a table measures
// such classes too). It depends on the class alone, as the table does.
func convDefault(kernel string, s ConvShape) string {
	if kernel == KernelConv {
		if th, tw := s.wgTiles2(); pow2Class(s.Batch*th*tw) < wgMinTiles {
			return ChoiceIm2col
		}
	}
	return kernelChoices[kernel][0]
}

// convSeenKey is a decision chooseConvShape remembers.
type convSeenKey struct {
	kernel string
	s      ConvShape
}

// ChooseVote is the choice for a vote of m voters on a CPU with AVX-512.
func ChooseVote(m int) string {
	ch := activeChooser()
	if !ch.report && len(ch.forced) == 0 && len(ch.byClass) == 0 {
		return ChoiceAVX512
	}
	b := bits.Len(uint(pow2Class(m)))
	if c := ch.voteSeen[b].Load(); c != nil {
		return *c
	}
	c := ch.decide(KernelVote, VoteClass(m), kernelChoices[KernelVote][0], func() string { return fmt.Sprintf("voters=%d", m) })
	ch.voteSeen[b].Store(&c)
	return c
}

// ForceKernels makes the choices of spec (SIGNSGD_KERNELS's syntax)
// replace this process's until the returned function restores them: for
// benchmarks and calibration, which time each choice.
func ForceKernels(spec string) (restore func(), err error) {
	ch, err := forcedChooser(spec)
	if err != nil {
		return nil, err
	}
	prev := testChooser.Swap(ch)
	return func() { testChooser.Store(prev) }, nil
}

// derive returns a chooser that decides as ch, with maps of its own (its
// decisions' caches empty) for the caller to change.
func (ch *chooser) derive() *chooser {
	n := &chooser{cpu: ch.cpu, table: ch.table, tableFile: ch.tableFile, byClass: maps.Clone(ch.byClass), forced: maps.Clone(ch.forced),
		report: ch.report, out: ch.out, sgemmSeen: map[GemmShape]string{}, convSeen: map[convSeenKey]string{}}
	if n.byClass == nil {
		n.byClass = map[string]string{}
	}
	if n.forced == nil {
		n.forced = map[string]string{}
	}
	return n
}

// withClass returns a chooser that decides as ch but takes choice for
// kernel on class: the calibration times one class's choices with the
// others' as the table in use gives them.
func (ch *chooser) withClass(kernel, class, choice string) *chooser {
	n := ch.derive()
	n.byClass[kernel+"/"+class] = choice
	return n
}

// BuiltInTable returns the calibration table this binary decides by on
// this CPU, as embedded when it was built: its path below the kernels
// folder ("calibration/VENDOR-FAMILY-MODEL.json") and its bytes, or ""
// and nil on an uncalibrated CPU. A table written by a calibration since
// takes effect only once the binary is rebuilt.
func BuiltInTable() (name string, data []byte) {
	ch := activeChooser()
	if ch.table == nil {
		return "", nil
	}
	data, err := fs.ReadFile(calibrationFS, ch.tableFile)
	if err != nil {
		return "", nil
	}
	return ch.tableFile, data
}

// forcedChooser is the chooser ForceKernels makes active: the active
// one's table and forced choices, with spec's over them.
func forcedChooser(spec string) (*chooser, error) {
	forced, report, err := parseKernelsSetting(spec)
	if err != nil {
		return nil, err
	}
	ch := activeChooser().derive()
	maps.Copy(ch.forced, forced)
	ch.report = ch.report || report
	return ch, nil
}
