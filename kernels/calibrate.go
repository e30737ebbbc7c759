package kernels

import (
	"fmt"
	"io"
	"maps"
	"math/rand/v2"
	"slices"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// shapeSet collects the shapes that reach a choice (RecordShapes).
type shapeSet struct {
	mu     sync.Mutex
	sgemm  map[GemmShape]bool
	conv   map[string]map[ConvShape]bool // by kernel, one of convKernels
	layers map[ConvShape]bool            // passed to Conv2DForward
}

var shapeRecorder atomic.Pointer[shapeSet]

func (r *shapeSet) addSgemm(g GemmShape) {
	r.mu.Lock()
	r.sgemm[g] = true
	r.mu.Unlock()
}

// addConv records s as a shape that met kernel's choice.
func (r *shapeSet) addConv(kernel string, s ConvShape) {
	r.mu.Lock()
	if r.conv[kernel] == nil {
		r.conv[kernel] = map[ConvShape]bool{}
	}
	r.conv[kernel][s] = true
	r.mu.Unlock()
}

// recordLayer records s as a network's layer (Conv2DForward's shape) if
// shapes are being recorded.
func recordLayer(s ConvShape) {
	if r := shapeRecorder.Load(); r != nil {
		r.mu.Lock()
		r.layers[s] = true
		r.mu.Unlock()
	}
}

// recordConv records s for kernel if shapes are being recorded.
func recordConv(kernel string, s ConvShape) {
	if r := shapeRecorder.Load(); r != nil {
		r.addConv(kernel, s)
	}
}

// BenchSgemmShapes are BenchmarkSgemm's products: ResNet's first stages
// and its last at batch 1, a square one (all A B), and the filter
// gradient of mnistnet's 5x5 layer on its Winograd path (A B^T, 64 x 64
// over a chunk of 48 tiles). A whole calibration (not --keep) measures
// them beside the networks' own, so the chooser's decision on them is
// measured too.
var BenchSgemmShapes = []GemmShape{{M: 64, N: 3136, K: 576}, {M: 512, N: 49, K: 4608}, {M: 64, N: 784, K: 1600},
	{M: 64, N: 1600, K: 784}, {M: 1024, N: 1024, K: 1024}, {M: 64, N: 64, K: 48, TransB: true}}

// Shapes are the shapes of the products and convolutions that have two
// implementations to choose from, as a network's step meets them.
type Shapes struct {
	Sgemm []GemmShape
	Conv  map[string][]ConvShape // by kernel, one of convKernels (KernelConv, KernelStem, KernelDgrad)
	Vote  []int                  // voters
	// Layers are the convolutions a network runs as layers (forward and
	// backward passes). A shape in Conv[KernelConv] that is not one is
	// only met as a layer's input gradient, the forward convolution of
	// dOut with the flipped filters, and is timed on that pass alone.
	Layers []ConvShape
}

// RecordShapes runs fn and returns the shapes it took a choice on, sorted.
func RecordShapes(fn func()) Shapes {
	r := &shapeSet{sgemm: map[GemmShape]bool{}, conv: map[string]map[ConvShape]bool{}, layers: map[ConvShape]bool{}}
	shapeRecorder.Store(r)
	defer shapeRecorder.Store(nil)
	fn()
	var s Shapes
	for k := range r.sgemm {
		s.Sgemm = append(s.Sgemm, k)
	}
	slices.SortFunc(s.Sgemm, compareGemm)
	for kernel, set := range r.conv {
		s.addConv(kernel, sortedShapes(set)...)
	}
	s.Layers = sortedShapes(r.layers)
	return s
}

// sortedShapes is set's shapes in a fixed order.
func sortedShapes(set map[ConvShape]bool) []ConvShape {
	cs := slices.Collect(maps.Keys(set))
	sort.Slice(cs, func(i, j int) bool { return fmt.Sprint(cs[i]) < fmt.Sprint(cs[j]) })
	return cs
}

// addConv adds convolution shapes for kernel, without repeats.
func (s *Shapes) addConv(kernel string, cs ...ConvShape) {
	if s.Conv == nil {
		s.Conv = map[string][]ConvShape{}
	}
	for _, c := range cs {
		if !slices.Contains(s.Conv[kernel], c) {
			s.Conv[kernel] = append(s.Conv[kernel], c)
		}
	}
}

// Only keeps the shapes of the named kernels and drops the others'.
func (s *Shapes) Only(kernels []string) {
	if !slices.Contains(kernels, KernelSgemm) {
		s.Sgemm = nil
	}
	if !slices.Contains(kernels, KernelVote) {
		s.Vote = nil
	}
	for k := range s.Conv {
		if !slices.Contains(kernels, k) {
			delete(s.Conv, k)
		}
	}
}

// Merge adds t's shapes to s (without repeats).
func (s *Shapes) Merge(t Shapes) {
	for _, x := range t.Sgemm {
		if !slices.Contains(s.Sgemm, x) {
			s.Sgemm = append(s.Sgemm, x)
		}
	}
	for _, k := range convKernels {
		s.addConv(k, t.Conv[k]...)
	}
	for _, x := range t.Vote {
		if !slices.Contains(s.Vote, x) {
			s.Vote = append(s.Vote, x)
		}
	}
	for _, x := range t.Layers {
		if !slices.Contains(s.Layers, x) {
			s.Layers = append(s.Layers, x)
		}
	}
}

// Calibrate times every choice of every kernel on shapes (the median of
// reps runs after one warm-up, each with the choice forced) and returns
// this CPU's table: per shape class, the summed medians and the fastest
// choice. The products are timed first and their choices used while the
// convolutions (whose Winograd and im2col paths run products) are timed.
// log gets one line per shape, noting a shape timed again because other
// processes took its cores (timeQuiet), and at the end the count of those
// and the shapes disturbed on every try, whose entries are marked.
func Calibrate(shapes Shapes, reps int, log io.Writer) (*Table, error) {
	reps = max(reps, 1)
	t := &Table{CPU: ThisCPU(), BLAS: BLASName(), BLASCore: BLASCore(), Threads: max(Threads(), BLASThreads()), Reps: reps}
	entries := map[string]*Entry{}
	// retimed counts the shapes timed again (timeQuiet), disturbedShapes
	// lists those disturbed on every try.
	var retimed int
	var disturbedShapes []string
	// add records a shape's timing q, by choice, in its class's entry and
	// logs it.
	add := func(kernel, class, shape string, choices []string, q quietTiming) {
		key := kernel + "/" + class
		e := entries[key]
		if e == nil {
			e = &Entry{Kernel: kernel, Class: class, NS: map[string]float64{}}
			entries[key] = e
		}
		e.Shapes = append(e.Shapes, shape)
		fmt.Fprintf(log, "%s %s (%s):", kernel, shape, class)
		for i, c := range choices {
			e.NS[c] += q.ns[i]
			fmt.Fprintf(log, " %s %.3f ms", c, q.ns[i]/1e6)
		}
		fmt.Fprintln(log, q.note())
		if q.tries > 1 {
			retimed++
		}
		if q.disturbed {
			disturbedShapes = append(disturbedShapes, kernel+" "+shape)
			e.Disturbed = true
		}
	}
	// timeChoices times run under each of kernel's choices (forced), in
	// turns (see medianTimes), and again while other processes disturb
	// it (timeQuiet).
	// A product's or a vote's choice is forced for every shape; a
	// convolution's for its class alone (class), so that the layer's other
	// convolutions (its input gradient's, of another class) take what
	// the table in use gives them, as in a network.
	timeChoices := func(kernel, class string, choices []string, run func()) (quietTiming, error) {
		runs := make([]func(), len(choices))
		for i, c := range choices {
			var ch *chooser
			var err error
			if class != "" {
				ch = activeChooser().withClass(kernel, class, c)
			} else if ch, err = forcedChooser(kernel + ":" + c); err != nil {
				return quietTiming{}, err
			}
			runs[i] = func() { // the swaps take nanoseconds; ch is made outside the timed run
				prev := testChooser.Swap(ch)
				defer testChooser.Store(prev)
				run()
			}
		}
		return timeQuiet(reps, runs, t.Threads), nil
	}
	rng := rand.New(rand.NewPCG(1, 2))
	if haveFastGemm() {
		for _, g := range shapes.Sgemm {
			// Each product with its operands transposed as the
			// network's are (dense strides, beta 0, through Sgemm:
			// split across the threads where it is large, as a
			// product a network computes whole is).
			m, n, k := g.M, g.N, g.K
			lda, ldb := g.denseStrides()
			a, b, c := randFloats(rng, m*k), randFloats(rng, k*n), make([]float32, m*n)
			q, err := timeChoices(KernelSgemm, "", kernelChoices[KernelSgemm], func() { Sgemm(g.TransA, g.TransB, m, n, k, 1, a, lda, b, ldb, 0, c, n) })
			if err != nil {
				return nil, err
			}
			add(KernelSgemm, g.Class(), g.String(), kernelChoices[KernelSgemm], q)
		}
	}
	t.Entries = sortedEntries(entries)
	// The products' choices just measured hold while the convolutions are
	// timed; every class not measured in this run (with --keep, the
	// products too) keeps the table in use's choice; and each kernel's
	// classes, once timed, hold for the kernels timed after it (the input
	// gradient's forms run products and convolutions).
	base := activeChooser()
	ch, err := newChooser(base.cpu, calibrationFS, "")
	if err != nil {
		return nil, err
	}
	ch.useTable(t, "the table being measured")
	for key, c := range base.byClass {
		if _, ok := ch.byClass[key]; !ok {
			ch.byClass[key] = c
		}
	}
	prev := testChooser.Swap(ch)
	defer testChooser.Store(prev)
	for _, kernel := range convKernels {
		if kernel != convKernels[0] { // the classes timed so far decide from now on
			for _, e := range entries {
				e.choose()
				ch.byClass[e.Kernel+"/"+e.Class] = e.Choice
			}
		}
		for _, s := range shapes.Conv[kernel] {
			layer := slices.Contains(shapes.Layers, s)
			choices := shapeChoices(kernel, s)
			q, err := timeChoices(kernel, ClassOf(kernel, s), choices, convRun(kernel, s, layer, rng))
			if err != nil {
				return nil, err
			}
			add(kernel, ClassOf(kernel, s), DescribeConv(s), choices, q)
		}
	}
	if haveFastGemm() { // the AVX-512 vote runs where the AVX-512 SGEMM does
		const d = 1 << 24
		for _, m := range shapes.Vote {
			voters := make([]Signs, m)
			for i := range voters {
				voters[i] = NewSigns(d)
				PackSigns(voters[i], randFloats(rng, d))
			}
			dst := NewSigns(d)
			q, err := timeChoices(KernelVote, "", kernelChoices[KernelVote], func() { Vote(dst, voters, VoteOptions{}) })
			if err != nil {
				return nil, err
			}
			add(KernelVote, VoteClass(m), fmt.Sprintf("voters=%d d=%d", m, d), kernelChoices[KernelVote], q)
		}
	}
	t.Entries = sortedEntries(entries)
	if retimed > 0 {
		fmt.Fprintf(log, "calibrate: %d shapes timed again: while they were timed, other processes (or the VM's neighbours) used more than the cores the calibration's %d threads left idle and %.0f%% of those they need\n", retimed, t.Threads, 100*quietShare)
	}
	if len(disturbedShapes) > 0 {
		fmt.Fprintf(log, "calibrate: still disturbed after %d tries, so their classes' choices may be wrong (marked \"disturbed\" in the table; calibrate again on a quiet machine): %s\n", quietTries, strings.Join(disturbedShapes, "; "))
	}
	return t, nil
}

// KeepUnmeasured adds to t the entries of old, a table measured earlier on
// the same CPU, BLAS core and threads, whose classes t did not measure: a
// calibration of one network's shapes then updates a table rather than
// replacing it. It fails, naming the difference, on another machine's table.
func (t *Table) KeepUnmeasured(old *Table) error {
	if old.CPU.Vendor != t.CPU.Vendor || old.CPU.Family != t.CPU.Family || old.CPU.Model != t.CPU.Model ||
		old.BLAS != t.BLAS || old.BLASCore != t.BLASCore || old.Threads != t.Threads {
		return fmt.Errorf("the earlier table is for %s-%d-%d, %s %s, %d threads, not %s-%d-%d, %s %s, %d threads",
			old.CPU.Vendor, old.CPU.Family, old.CPU.Model, old.BLAS, old.BLASCore, old.Threads,
			t.CPU.Vendor, t.CPU.Family, t.CPU.Model, t.BLAS, t.BLASCore, t.Threads)
	}
	entries := map[string]*Entry{}
	for i := range t.Entries {
		entries[t.Entries[i].Kernel+"/"+t.Entries[i].Class] = &t.Entries[i]
	}
	for i := range old.Entries {
		if e := &old.Entries[i]; entries[e.Kernel+"/"+e.Class] == nil {
			entries[e.Kernel+"/"+e.Class] = e
		}
	}
	t.Entries = sortedEntries(entries)
	return nil
}

func sortedEntries(entries map[string]*Entry) []Entry {
	var out []Entry
	for _, e := range entries {
		e.choose()
		out = append(out, *e)
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].Kernel != out[j].Kernel {
			return out[i].Kernel < out[j].Kernel
		}
		return out[i].Class < out[j].Class
	})
	return out
}

// medianTimes runs each of fns once, then reps rounds of each of them in
// turn, and returns each one's median time in ns. Taking turns, rather
// than all of one's runs and then all of the next's, lets a change of the
// machine's speed during the timing (a shared VM's moves by 2x within
// minutes) weigh on every choice alike.
func medianTimes(reps int, fns []func()) []float64 {
	ts := make([][]float64, len(fns))
	for r := -1; r < reps; r++ { // round -1 warms each up
		for i, fn := range fns {
			t0 := time.Now()
			fn()
			if r >= 0 {
				ts[i] = append(ts[i], float64(time.Since(t0).Nanoseconds()))
			}
		}
	}
	med := make([]float64, len(fns))
	for i, t := range ts {
		sort.Float64s(t)
		if reps%2 == 1 {
			med[i] = t[reps/2]
		} else {
			med[i] = (t[reps/2-1] + t[reps/2]) / 2
		}
	}
	return med
}

func randFloats(rng *rand.Rand, n int) []float32 {
	s := make([]float32, n)
	for i := range s {
		s[i] = float32(rng.NormFloat64())
	}
	return s
}

// shapeChoices is the choices kernel (one of convKernels) has for s.
func shapeChoices(kernel string, s ConvShape) []string {
	if kernel == KernelConv {
		return convChoices(s)
	}
	return kernelChoices[kernel]
}

// convRun returns the work a choice of kernel is timed on for s, in the
// scratch its choice sets (ColsLen, grown as needed): every pass of s the
// choice decides in a network. For KernelConv, a layer's (layer) forward
// and backward passes: a Winograd form computes the forward pass, the
// input gradient (the convolution of dOut with the flipped filters, of
// the same class when InC = OutC) and, for F(4x4, 3x3) and F(2x2, 5x5),
// the filter gradient too, so a form timed on its forward pass alone could
// win there and lose the step; a shape met only as an input gradient's
// convolution, its forward pass. For KernelStem both passes of a first
// layer (no input gradient); for KernelDgrad the whole backward pass,
// input gradient included (the filter gradient is common to both forms).
func convRun(kernel string, s ConvShape, layer bool, rng *rand.Rand) func() {
	in, w, out := randFloats(rng, s.inLen()), randFloats(rng, s.wLen()), randFloats(rng, s.outLen())
	dW := make([]float32, s.wLen())
	var dIn, cols []float32
	backward := kernel != KernelConv || layer
	if backward && kernel != KernelStem {
		dIn = make([]float32, s.inLen())
	}
	return func() {
		if n := s.ColsLen(); len(cols) < n {
			cols = make([]float32, n)
		}
		scratch := cols[:s.ColsLen()]
		if kernel != KernelDgrad {
			Conv2DForward(out, in, w, nil, s, scratch)
		}
		if backward {
			Conv2DBackward(dIn, dW, nil, out, in, w, s, scratch)
		}
	}
}
