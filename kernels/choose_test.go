package kernels

import (
	"encoding/json"
	"io"
	"maps"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
	"testing/fstest"
)

// testTable is a calibration of a made-up CPU.
func testTable(cpu CPU) *Table {
	return &Table{CPU: cpu, BLAS: BLASName(), BLASCore: BLASCore(), Threads: 2, Reps: 3, Entries: []Entry{
		{Kernel: KernelSgemm, Class: GemmShape{M: 512, N: 49, K: 4608}.Class(), NS: map[string]float64{ChoiceAVX512: 9, ChoiceBLAS: 4}},
		{Kernel: KernelSgemm, Class: GemmShape{M: 64, N: 3136, K: 576}.Class(), NS: map[string]float64{ChoiceAVX512: 3, ChoiceBLAS: 4}},
		{Kernel: KernelConv, Class: "in64.out64.tiles1024", NS: map[string]float64{ChoiceWinograd: 5, ChoiceIm2col: 2}},
		{Kernel: KernelVote, Class: VoteClass(9), NS: map[string]float64{ChoiceAVX512: 5, ChoiceAVX2: 5}},
	}}
}

func tableFS(t *testing.T, tb *Table) fstest.MapFS {
	for i := range tb.Entries {
		tb.Entries[i].choose()
	}
	data, err := json.Marshal(tb)
	if err != nil {
		t.Fatal(err)
	}
	return fstest.MapFS{"calibration/" + tb.CPU.Key() + ".json": {Data: data}}
}

// decisions lists a chooser's decisions on a few shapes.
func decisions(ch *chooser) []string {
	var d []string
	for _, g := range []GemmShape{{M: 512, N: 49, K: 4608}, {M: 64, N: 3136, K: 576}, {M: 64, N: 25, K: 516}, {M: 1024, N: 1024, K: 1024}} {
		d = append(d, ch.decide(KernelSgemm, g.Class(), ChoiceAVX512, func() string { return "" }))
	}
	cs := ConvShape{Batch: 14, InC: 64, InH: 14, InW: 14, OutC: 64, KH: 3, KW: 3, Stride: 1, Pad: 1, Layout: CNHW}
	d = append(d, ch.decide(KernelConv, ConvClass(cs), convDefault(KernelConv, cs), func() string { return "" }))
	for _, m := range []int{9, 64} {
		d = append(d, ch.decide(KernelVote, VoteClass(m), ChoiceAVX512, func() string { return "" }))
	}
	return d
}

// A product's transpositions are part of its decision: a table that
// gives A B of a class to OpenBLAS and A B^T of the same sizes to our
// kernel gets each its own choice from ChooseSgemm, whichever is asked
// first, and A^T B, which the table lacks, the default rule.
func TestChooseSgemmByTranspositions(t *testing.T) {
	cpu := CPU{Vendor: "AuthenticAMD", Family: 25, Model: 17, Name: "test", Features: []string{"avx2", "avx512f"}}
	plain := GemmShape{M: 64, N: 64, K: 48}
	nt, tn := plain, plain
	nt.TransB, tn.TransA = true, true
	if plain.Class() == nt.Class() || nt.Class() == tn.Class() {
		t.Fatalf("classes %q, %q, %q: want three", plain.Class(), nt.Class(), tn.Class())
	}
	tb := &Table{CPU: cpu, BLAS: BLASName(), BLASCore: BLASCore(), Threads: 2, Reps: 3, Entries: []Entry{
		{Kernel: KernelSgemm, Class: plain.Class(), NS: map[string]float64{ChoiceAVX512: 9, ChoiceBLAS: 4}},
		{Kernel: KernelSgemm, Class: nt.Class(), NS: map[string]float64{ChoiceAVX512: 3, ChoiceBLAS: 5}},
	}}
	fsys := tableFS(t, tb)
	want := map[GemmShape]string{plain: ChoiceBLAS, nt: ChoiceAVX512, tn: kernelChoices[KernelSgemm][0]}
	for _, order := range [][]GemmShape{{plain, nt, tn}, {tn, nt, plain}} {
		ch, err := newChooser(cpu, fsys, "")
		if err != nil {
			t.Fatal(err)
		}
		prev := testChooser.Swap(ch)
		for _, g := range order {
			for range 2 { // the second from the decisions seen
				if got := ChooseSgemm(g); got != want[g] {
					testChooser.Store(prev)
					t.Fatalf("order %v: ChooseSgemm(%v) = %s, want %s", order, g, got, want[g])
				}
			}
		}
		testChooser.Store(prev)
	}
}

// The decisions are a function of the table (and SIGNSGD_KERNELS) only.
func TestChooserDeterministic(t *testing.T) {
	cpu := CPU{Vendor: "AuthenticAMD", Family: 25, Model: 17, Name: "test", Features: []string{"avx2", "avx512f"}}
	fsys := tableFS(t, testTable(cpu))
	want := "blas avx512 avx512 avx512 im2col avx512 avx512"
	for i := 0; i < 3; i++ {
		ch, err := newChooser(cpu, fsys, "")
		if err != nil {
			t.Fatal(err)
		}
		if got := strings.Join(decisions(ch), " "); got != want {
			t.Fatalf("run %d: decisions %q, want %q", i, got, want)
		}
	}
	// Forced choices win over the table.
	ch, err := newChooser(cpu, fsys, "report,sgemm:openblas,conv:winograd,vote:avx2")
	if err != nil {
		t.Fatal(err)
	}
	if got, want := strings.Join(decisions(ch), " "), "blas blas blas blas winograd avx2 avx2"; got != want {
		t.Fatalf("forced: %q, want %q", got, want)
	}
	// Another CPU, or the same model with other features, is uncalibrated:
	// the default rules.
	other := cpu
	other.Features = []string{"avx2"}
	for _, c := range []CPU{other, {Vendor: "GenuineIntel", Family: 6, Model: 85}} {
		ch, err := newChooser(c, fsys, "")
		if err != nil {
			t.Fatal(err)
		}
		if ch.table != nil {
			t.Fatalf("%v: calibrated by a table of %v", c, cpu)
		}
		if got, want := strings.Join(decisions(ch), " "), "avx512 avx512 avx512 avx512 winograd avx512 avx512"; got != want {
			t.Fatalf("%v: %q, want the default rules %q", c, got, want)
		}
		if !strings.Contains(ch.Summary(), "uncalibrated") {
			t.Fatalf("summary %q does not say uncalibrated", ch.Summary())
		}
	}
	// A table measured against another BLAS leaves the products to the
	// default rule.
	tb := testTable(cpu)
	tb.BLAS = "elsewhere"
	ch, err = newChooser(cpu, tableFS(t, tb), "")
	if err != nil {
		t.Fatal(err)
	}
	if got := decisions(ch)[0]; got != ChoiceAVX512 {
		t.Fatalf("table of another BLAS: sgemm %s, want the default", got)
	}
	if _, err := newChooser(cpu, fsys, "sgemm:fast"); err == nil {
		t.Fatal("sgemm:fast accepted")
	}
}

// Every choice of every kernel still matches its naive twin.
func TestForcedChoicesMatchNaive(t *testing.T) {
	for _, spec := range []string{
		"sgemm:avx512,conv:winograd,vote:avx512",
		"sgemm:blas,conv:im2col,vote:avx2",
		"sgemm:blas,conv:winograd",
		"sgemm:avx512,conv:im2col",
	} {
		t.Run(spec, func(t *testing.T) {
			restore, err := ForceKernels(spec)
			if err != nil {
				t.Fatal(err)
			}
			defer restore()
			t.Run("sgemm", TestSgemmMatchesNaive)
			t.Run("conv", TestConv2DMatchesNaive)
			t.Run("vote", TestVoteMatchesNaive)
		})
	}
}

func TestParseCPUInfo(t *testing.T) {
	c := parseCPUInfo(strings.NewReader("processor\t: 0\nvendor_id\t: AuthenticAMD\ncpu family\t: 25\nmodel\t\t: 17\nmodel name\t: AMD EPYC 9R14\n\nprocessor\t: 1\nvendor_id\t: Other\n"), CPU{Vendor: "unknown"})
	if c.Key() != "AuthenticAMD-25-17" || c.Name != "AMD EPYC 9R14" {
		t.Fatalf("parsed %+v", c)
	}
}

// A table named for the core OpenBLAS runs (OPENBLAS_CORETYPE) is read
// before the CPU's own: there OpenBLAS wins a product class, and the
// chooser takes it; without that file the CPU's table decides.
func TestChooserReadsCoreTable(t *testing.T) {
	cpu := CPU{Vendor: "GenuineIntel", Family: 6, Model: 207, Name: "test", Features: []string{"avx2", "avx512f"}}
	own := testTable(cpu)
	own.Entries[0].NS = map[string]float64{ChoiceAVX512: 4, ChoiceBLAS: 9} // this CPU's own core: ours wins
	fsys := tableFS(t, own)
	forced := testTable(cpu) // measured with the forced core: OpenBLAS wins 512 x 49 x 4608
	for i := range forced.Entries {
		forced.Entries[i].choose()
	}
	data, err := json.Marshal(forced)
	if err != nil {
		t.Fatal(err)
	}
	withCore := fstest.MapFS{}
	for k, v := range fsys {
		withCore[k] = v
	}
	withCore["calibration/"+TableName(cpu, BLASCore())] = &fstest.MapFile{Data: data}
	for _, c := range []struct {
		fsys fstest.MapFS
		file string
		want string
	}{{fsys, TableName(cpu, ""), ChoiceAVX512}, {withCore, TableName(cpu, BLASCore()), ChoiceBLAS}} {
		ch, err := newChooser(cpu, c.fsys, "")
		if err != nil {
			t.Fatal(err)
		}
		if got := decisions(ch)[0]; got != c.want {
			t.Errorf("tables %v: sgemm 512x49x4608 %s, want %s", keys(c.fsys), got, c.want)
		}
		if !strings.HasSuffix(ch.tableFile, c.file) {
			t.Errorf("read %s, want %s", ch.tableFile, c.file)
		}
	}
	if got, want := TableName(cpu, "SkylakeX"), "GenuineIntel-6-207-SkylakeX.json"; got != want {
		t.Errorf("TableName = %q, want %q", got, want)
	}
}

func keys(m fstest.MapFS) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	return out
}

// TestKeepUnmeasured: a calibration of some classes keeps the earlier
// table's other classes and its own measurements of the classes it
// measured, and refuses a table of another CPU or core.
func TestKeepUnmeasured(t *testing.T) {
	cpu := CPU{Vendor: "GenuineIntel", Family: 6, Model: 207}
	entry := func(class string, wino, im2col float64) Entry {
		e := Entry{Kernel: KernelConv, Class: class, NS: map[string]float64{ChoiceWinograd: wino, ChoiceIm2col: im2col}}
		e.choose()
		return e
	}
	now := &Table{CPU: cpu, BLAS: "openblas", BLASCore: "SkylakeX", Threads: 2,
		Entries: []Entry{entry("k5.in64.out64.tiles4096", 1, 2)}}
	old := &Table{CPU: cpu, BLAS: "openblas", BLASCore: "SkylakeX", Threads: 2,
		Entries: []Entry{entry("k5.in64.out64.tiles4096", 3, 2), entry("in64.out64.tiles1024", 5, 4)}}
	if err := now.KeepUnmeasured(old); err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, e := range now.Entries {
		got = append(got, e.Class+"="+e.Choice)
	}
	if want := "in64.out64.tiles1024=im2col k5.in64.out64.tiles4096=winograd"; strings.Join(got, " ") != want {
		t.Errorf("merged classes %q, want %q", strings.Join(got, " "), want)
	}
	other := *old
	other.BLASCore = "Haswell"
	if err := now.KeepUnmeasured(&other); err == nil || !strings.Contains(err.Error(), "Haswell") {
		t.Errorf("a Haswell table merged into a SkylakeX one: %v", err)
	}
}

// medianTimes takes turns: a warm-up round, then reps rounds, each running
// every function once in order; each function gets reps timings.
func TestMedianTimesTakesTurns(t *testing.T) {
	var order []int
	fns := []func(){func() { order = append(order, 0) }, func() { order = append(order, 1) }, func() { order = append(order, 2) }}
	for _, reps := range []int{1, 4, 5} {
		order = order[:0]
		ts := medianTimes(reps, fns)
		if len(ts) != len(fns) {
			t.Fatalf("reps %d: %d medians for %d functions", reps, len(ts), len(fns))
		}
		if len(order) != (reps+1)*len(fns) {
			t.Fatalf("reps %d: %d runs, want %d", reps, len(order), (reps+1)*len(fns))
		}
		for i, f := range order {
			if f != i%len(fns) {
				t.Fatalf("reps %d: run %d was function %d, want %d (order %v)", reps, i, f, i%len(fns), order)
			}
		}
	}
}

// Calibrate times every choice of two products (one plain, one with B
// transposed, each a class of its own) and of a convolution, picks the
// faster of each, and leaves the chooser as it found it.
func TestCalibrateSmall(t *testing.T) {
	before := activeChooser()
	conv := ConvShape{Batch: 8, InC: 16, InH: 12, InW: 12, OutC: 16, KH: 3, KW: 3, Stride: 1, Pad: 1, Layout: CNHW}
	defer setSwitch(&wgMinTiles, 1)()
	products := []GemmShape{{M: 64, N: 96, K: 40}, {M: 64, N: 96, K: 40, TransB: true}}
	tb, err := Calibrate(Shapes{Sgemm: products, Conv: map[string][]ConvShape{KernelConv: {conv}}, Layers: []ConvShape{conv}}, 3, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if activeChooser() != before {
		t.Fatal("Calibrate left another chooser active")
	}
	want := map[string][]string{KernelConv: convChoices(conv)}
	classes := []string{KernelConv + "/" + ConvClass(conv)}
	if haveFastGemm() {
		want[KernelSgemm] = kernelChoices[KernelSgemm]
		classes = append(classes, KernelSgemm+"/m64.n128.k64", KernelSgemm+"/m64.n128.k64.nt")
	}
	var got []string
	for _, e := range tb.Entries {
		got = append(got, e.Kernel+"/"+e.Class)
	}
	if slices.Sort(got); !slices.Equal(got, slices.Sorted(slices.Values(classes))) {
		t.Fatalf("entries %v, want %v", got, classes)
	}
	for _, e := range tb.Entries {
		choices := want[e.Kernel]
		if len(e.NS) != len(choices) {
			t.Fatalf("%s %s: times of %v, want one for each of %v", e.Kernel, e.Class, e.NS, choices)
		}
		best := ""
		for _, c := range choices {
			if e.NS[c] <= 0 {
				t.Fatalf("%s %s: %s timed %v ns", e.Kernel, e.Class, c, e.NS[c])
			}
			if best == "" || e.NS[c] < e.NS[best] {
				best = c
			}
		}
		if e.Choice != best {
			t.Fatalf("%s %s: chose %s, the fastest was %s (%v)", e.Kernel, e.Class, e.Choice, best, e.NS)
		}
	}
}

// RecordShapes tells a network's layers from the convolutions they only
// run as their input gradient's (the calibration times those on their
// forward pass alone), and withClass takes its choice on one class only.
func TestRecordShapesLayersAndClassChoice(t *testing.T) {
	defer setSwitch(&wgMinTiles, 1)()
	s := ConvShape{Batch: 2, InC: 16, InH: 6, InW: 6, OutC: 32, KH: 3, KW: 3, Stride: 1, Pad: 1, Layout: CNHW}
	tr := s.transposed()
	rng := rand.New(rand.NewPCG(9, 10))
	in, w, dOut := randSlice(rng, s.inLen()), randSlice(rng, s.wLen()), randSlice(rng, s.outLen())
	out, dIn, dW := make([]float32, s.outLen()), make([]float32, s.inLen()), make([]float32, s.wLen())
	cols := make([]float32, s.ColsLen())
	ch, err := newChooser(ThisCPU(), fstest.MapFS{}, "")
	if err != nil {
		t.Fatal(err)
	}
	prev := testChooser.Swap(ch)
	defer testChooser.Store(prev)
	got := RecordShapes(func() {
		Conv2DForward(out, in, w, nil, s, cols)
		Conv2DBackward(dIn, dW, nil, dOut, in, w, s, cols)
	})
	if !slices.Equal(got.Layers, []ConvShape{s}) {
		t.Fatalf("layers %v, want only %v", got.Layers, s)
	}
	if !slices.Contains(got.Conv[KernelConv], s) || !slices.Contains(got.Conv[KernelConv], tr) {
		t.Fatalf("conv shapes %v, want %v and its input gradient's %v", got.Conv[KernelConv], s, tr)
	}
	var all Shapes
	all.Merge(got)
	all.Merge(got)
	if !slices.Equal(all.Layers, got.Layers) {
		t.Fatalf("merged layers %v, want %v once", all.Layers, got.Layers)
	}

	if ConvClass(s) == ConvClass(tr) {
		t.Fatalf("the two shapes share class %s: the check below needs two", ConvClass(s))
	}
	// A base whose table chose F(4x4, 3x3) for the input gradient's class
	// and F(2x2, 3x3) for the layer's; withClass gives the layer's class
	// im2col and must leave the other class, and the base, as they were.
	tb := &Table{CPU: ThisCPU(), Entries: []Entry{
		{Kernel: KernelConv, Class: ConvClass(s), NS: map[string]float64{ChoiceWinograd: 1, ChoiceIm2col: 2, ChoiceWinograd4: 3}},
		{Kernel: KernelConv, Class: ConvClass(tr), NS: map[string]float64{ChoiceWinograd: 3, ChoiceIm2col: 2, ChoiceWinograd4: 1}},
	}}
	for i := range tb.Entries {
		tb.Entries[i].choose()
	}
	base, err := newChooser(ThisCPU(), tableFS(t, tb), "")
	if err != nil {
		t.Fatal(err)
	}
	before := maps.Clone(base.byClass)
	testChooser.Store(base.withClass(KernelConv, ConvClass(s), ChoiceIm2col))
	if c := ChooseConv(s); c != ChoiceIm2col {
		t.Errorf("class %s: %s, want the one given, %s", ConvClass(s), c, ChoiceIm2col)
	}
	if c := ChooseConv(tr); c != ChoiceWinograd4 {
		t.Errorf("class %s: %s, want the table's %s", ConvClass(tr), c, ChoiceWinograd4)
	}
	if !maps.Equal(base.byClass, before) {
		t.Errorf("withClass changed its base chooser: %v, was %v", base.byClass, before)
	}
}

// A convolution of few tiles keeps im2col by the default rule, and takes
// the Winograd path where a table measured its class faster there: the
// tile count is a default, not a limit the table cannot cross.
func TestFewTilesFollowTheTable(t *testing.T) {
	small := ConvShape{Batch: 8, InC: 512, InH: 7, InW: 7, OutC: 512, KH: 3, KW: 3, Stride: 1, Pad: 1, Layout: CNHW}
	large := small
	large.Batch = 64
	if th, tw := small.wgTiles2(); small.Batch*th*tw >= wgMinTiles {
		t.Fatalf("%s has %d tiles, want fewer than %d", DescribeConv(small), small.Batch*th*tw, wgMinTiles)
	}
	cpu := ThisCPU()
	bare, err := newChooser(cpu, fstest.MapFS{}, "")
	if err != nil {
		t.Fatal(err)
	}
	tb := &Table{CPU: cpu, Entries: []Entry{{Kernel: KernelConv, Class: ConvClass(small), NS: map[string]float64{ChoiceWinograd: 1, ChoiceIm2col: 2}}}}
	tb.Entries[0].choose()
	measured, err := newChooser(cpu, tableFS(t, tb), "")
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		ch   *chooser
		s    ConvShape
		want bool
	}{{bare, small, false}, {bare, large, true}, {measured, small, true}} {
		prev := testChooser.Swap(c.ch)
		got := c.s.winograd()
		testChooser.Store(prev)
		if got != c.want {
			t.Errorf("%s with table %q: Winograd %v, want %v", DescribeConv(c.s), c.ch.tableFile, got, c.want)
		}
	}
}

// ForceKernels' chooser keeps the active one's table and forced choices,
// with its own spec's over them, and leaves the active one as it was.
func TestForcedChooserLayersOnTheActive(t *testing.T) {
	cpu := ThisCPU()
	s := ConvShape{Batch: 8, InC: 64, InH: 56, InW: 56, OutC: 64, KH: 3, KW: 3, Stride: 1, Pad: 1, Layout: CNHW}
	tb := &Table{CPU: cpu, Entries: []Entry{{Kernel: KernelConv, Class: ConvClass(s), NS: map[string]float64{ChoiceWinograd: 3, ChoiceIm2col: 2, ChoiceWinograd4: 1}}}}
	tb.Entries[0].choose()
	base, err := newChooser(cpu, tableFS(t, tb), "vote:avx2,sgemm:avx512")
	if err != nil {
		t.Fatal(err)
	}
	prev := testChooser.Swap(base)
	defer testChooser.Store(prev)
	restore, err := ForceKernels("sgemm:blas,dgrad:col2im")
	if err != nil {
		t.Fatal(err)
	}
	ch := activeChooser()
	want := map[string]string{KernelVote: ChoiceAVX2, KernelSgemm: ChoiceBLAS, KernelDgrad: ChoiceCol2im}
	if !maps.Equal(ch.forced, want) {
		t.Errorf("forced %v, want %v", ch.forced, want)
	}
	if c := ChooseConv(s); c != ChoiceWinograd4 {
		t.Errorf("conv %s: %s, want the table's %s", ConvClass(s), c, ChoiceWinograd4)
	}
	restore()
	if activeChooser() != base || !maps.Equal(base.forced, map[string]string{KernelVote: ChoiceAVX2, KernelSgemm: ChoiceAVX512}) {
		t.Errorf("after restore: forced %v", activeChooser().forced)
	}
}
