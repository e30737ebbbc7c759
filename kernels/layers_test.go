package kernels

import (
	"fmt"
	"math"
	"math/rand/v2"
	"runtime"
	"strings"
	"testing"
)

// convTol bounds |fast - naive| for the convolutions relative to the
// magnitude of each entry, the same sum computed over absolute values
// (sum |w||x| for the output, sum |dOut||x| for dW, ...): float32 SGEMM
// rounding is a few eps32 (6e-8) times that times sqrt(terms) at worst here,
// while an indexing bug is off by O(1) of it.
const convTol = 1e-4

// Finite-difference gradient checks. The loss is L = sum_i out_i R_i for a
// fixed random R (so dL/dout = R), summed in float64 over the float32
// forward's output. Each input or parameter entry x is moved to float32(x+h)
// and float32(x-h), the float32 forward re-run, and the derivative is
// (L+ - L-) divided by the difference of the two stored float32 values, so
// rounding x±h costs nothing. The forward stays float32, so h trades its
// round-off, about eps32 sum|out R| / 2h ~ 1e-4 for these sizes, against the
// truncation error h^2/6 times L's third derivative (zero for the piecewise-linear layers, ~1e-5
// for batch norm); h = 1e-2 keeps both far below the tolerance.
const (
	layerFDStep = 1e-2
	layerFDTol  = 1e-2 // |analytic - numeric| <= layerFDTol * max(1, |numeric|)
)

// Values that gradient buffers start from, to check that backward passes
// accumulate into parameter gradients and overwrite input gradients.
const (
	gradInit    = 0.25
	garbageInit = 7
)

// fdVar is one tensor to perturb and the analytic gradient of L for it.
type fdVar struct {
	name string
	x    []float32
	grad []float32
}

// checkFD compares each fdVar's gradient against central differences of
// L = sum out*r, where forward recomputes out from the current tensors.
func checkFD(t *testing.T, layer string, out, r []float32, forward func(), vars ...fdVar) {
	t.Helper()
	loss := func() float64 {
		forward()
		s := 0.0
		for i, v := range out {
			s += float64(v) * float64(r[i])
		}
		return s
	}
	for _, v := range vars {
		bad := 0
		for i := range v.x {
			orig := v.x[i]
			v.x[i] = orig + layerFDStep
			xp, lp := v.x[i], loss()
			v.x[i] = orig - layerFDStep
			xm, lm := v.x[i], loss()
			v.x[i] = orig
			num := (lp - lm) / (float64(xp) - float64(xm))
			if d := math.Abs(float64(v.grad[i]) - num); !(d <= layerFDTol*max(1, math.Abs(num))) {
				if bad++; bad <= 5 {
					t.Errorf("%s: d%s[%d] = %v, finite difference %v", layer, v.name, i, v.grad[i], num)
				}
			}
		}
	}
	forward()
}

func fill(s []float32, v float32) []float32 {
	for i := range s {
		s[i] = v
	}
	return s
}

func filled(n int, v float32) []float32 { return fill(make([]float32, n), v) }

// sub returns a - v elementwise (the accumulated part of a gradient).
func sub(a []float32, v float32) []float32 {
	d := make([]float32, len(a))
	for i, x := range a {
		d[i] = x - v
	}
	return d
}

func absSlice(s []float32) []float32 {
	if s == nil {
		return nil
	}
	a := make([]float32, len(s))
	for i, v := range s {
		a[i] = float32(math.Abs(float64(v)))
	}
	return a
}

// closeTo checks |got - want| <= tol * (mag + slack) entrywise.
func closeTo(t *testing.T, what string, got, want, mag []float32, slack, tol float64) {
	t.Helper()
	for i := range want {
		if d := math.Abs(float64(got[i] - want[i])); !(d <= tol*(float64(mag[i])+slack)) {
			t.Fatalf("%s: [%d] = %v, want %v (magnitude %v)", what, i, got[i], want[i], mag[i])
		}
	}
}

func convShapes() []ConvShape {
	var shapes []ConvShape
	i := 0
	for _, k := range []int{1, 3, 5, 7} {
		for _, stride := range []int{1, 2} {
			for _, pad := range []int{0, 1, 2, 3} {
				i++
				s := ConvShape{Batch: 1 + i%3, InC: 1 + i%4, InH: 7 + i%5, InW: 9 + i%4, OutC: 2 + i%5, KH: k, KW: k, Stride: stride, Pad: pad}
				if s.Check() == nil {
					shapes = append(shapes, s)
				}
			}
		}
	}
	return append(shapes,
		// The pointwise path and its near misses.
		ConvShape{Batch: 3, InC: 17, InH: 5, InW: 7, OutC: 9, KH: 1, KW: 1, Stride: 1, Pad: 0},
		ConvShape{Batch: 2, InC: 64, InH: 6, InW: 6, OutC: 32, KH: 1, KW: 1, Stride: 1, Pad: 0},
		ConvShape{Batch: 2, InC: 8, InH: 7, InW: 7, OutC: 16, KH: 1, KW: 1, Stride: 2, Pad: 0},
		ConvShape{Batch: 1, InC: 3, InH: 5, InW: 5, OutC: 4, KH: 1, KW: 1, Stride: 1, Pad: 1},
		// Rectangular kernels, stride 3, a window wider than the input,
		// and padding larger than the kernel.
		ConvShape{Batch: 2, InC: 3, InH: 8, InW: 11, OutC: 5, KH: 2, KW: 5, Stride: 1, Pad: 1},
		ConvShape{Batch: 1, InC: 2, InH: 13, InW: 10, OutC: 3, KH: 3, KW: 2, Stride: 3, Pad: 2},
		ConvShape{Batch: 2, InC: 2, InH: 3, InW: 4, OutC: 3, KH: 5, KW: 5, Stride: 1, Pad: 2},
		ConvShape{Batch: 1, InC: 2, InH: 4, InW: 4, OutC: 2, KH: 3, KW: 3, Stride: 2, Pad: 4},
		// ResNet's stem and a 3x3 stride-2 downsampling, small.
		ConvShape{Batch: 2, InC: 3, InH: 23, InW: 21, OutC: 8, KH: 7, KW: 7, Stride: 2, Pad: 3},
		ConvShape{Batch: 3, InC: 16, InH: 9, InW: 9, OutC: 32, KH: 3, KW: 3, Stride: 2, Pad: 1},
		// 3x3 stride-1 convolutions with enough channels for the Winograd
		// path (channel-major): odd and even sizes, every padding it takes,
		// a 1x1 image, and their input gradients (padding 2 - Pad).
		ConvShape{Batch: 3, InC: 16, InH: 7, InW: 9, OutC: 24, KH: 3, KW: 3, Stride: 1, Pad: 1},
		ConvShape{Batch: 2, InC: 20, InH: 6, InW: 5, OutC: 16, KH: 3, KW: 3, Stride: 1, Pad: 0},
		ConvShape{Batch: 2, InC: 16, InH: 5, InW: 8, OutC: 17, KH: 3, KW: 3, Stride: 1, Pad: 2},
		ConvShape{Batch: 2, InC: 32, InH: 1, InW: 1, OutC: 16, KH: 3, KW: 3, Stride: 1, Pad: 1},
		// A tile row of F(4x4, 3x3) longer than 16 tiles.
		ConvShape{Batch: 1, InC: 16, InH: 6, InW: 70, OutC: 16, KH: 3, KW: 3, Stride: 1, Pad: 1},
		// The same for 5x5 (F(2x2, 5x5)): every padding 0..4, odd and even
		// sizes, an output of one pixel, and a tile row longer than 16.
		ConvShape{Batch: 2, InC: 16, InH: 9, InW: 7, OutC: 17, KH: 5, KW: 5, Stride: 1, Pad: 2},
		ConvShape{Batch: 1, InC: 17, InH: 6, InW: 11, OutC: 16, KH: 5, KW: 5, Stride: 1, Pad: 0},
		ConvShape{Batch: 2, InC: 16, InH: 8, InW: 8, OutC: 16, KH: 5, KW: 5, Stride: 1, Pad: 1},
		ConvShape{Batch: 1, InC: 16, InH: 3, InW: 5, OutC: 18, KH: 5, KW: 5, Stride: 1, Pad: 3},
		ConvShape{Batch: 2, InC: 16, InH: 5, InW: 4, OutC: 16, KH: 5, KW: 5, Stride: 1, Pad: 4},
		ConvShape{Batch: 1, InC: 16, InH: 1, InW: 1, OutC: 16, KH: 5, KW: 5, Stride: 1, Pad: 2},
		ConvShape{Batch: 1, InC: 16, InH: 4, InW: 37, OutC: 16, KH: 5, KW: 5, Stride: 1, Pad: 2},
	)
}

func TestConv2DMatchesNaive(t *testing.T) {
	rng := rand.New(rand.NewPCG(41, 42))
	var cases []convCase
	for _, c := range []convCase{{ConvShape{Layout: NCHW}, colsBudget}, {ConvShape{Layout: CNHW}, colsBudget}, {ConvShape{Layout: CNHW}, 1}} {
		for _, s := range convShapes() {
			s.Layout = c.s.Layout
			cases = append(cases, convCase{s, c.budget})
		}
	}
	defer setWgMinTiles(1)() // the default rule: the Winograd path on every shape it can take, however small
	// The chooser's default, then F(4x4, 3x3) for every 3x3 it can take,
	// then the input gradient as col2im wherever the default convolves.
	for _, force := range []string{"", "conv:" + ChoiceWinograd4, KernelDgrad + ":" + ChoiceCol2im} {
		if force != "" {
			restore, err := ForceKernels(force)
			if err != nil {
				t.Fatal(err)
			}
			defer restore()
		}
		testConvCases(t, rng, cases, force)
	}
}

type convCase struct {
	s      ConvShape
	budget int // colsBudget: 1 makes every block of a CNHW batch one image
}

// testConvCases is TestConv2DMatchesNaive's check of each case, under the
// chooser's forced choices (named in the failures).
func testConvCases(t *testing.T, rng *rand.Rand, cases []convCase, force string) {
	t.Helper()
	for si, c := range cases {
		s := c.s
		func() {
			defer setColsBudget(c.budget)()
			name := fmt.Sprintf("%s %s %+v blocks of %d", BLASName(), force, s, s.blockImages())
			in := randSlice(rng, s.inLen())
			w := randSlice(rng, s.wLen())
			var bias []float32
			if si%2 == 0 {
				bias = randSlice(rng, s.OutC)
			}
			cols := filled(s.ColsLen(), garbageInit)
			if s.pointwise() {
				cols = nil // needs no scratch
			}

			got := filled(s.outLen(), garbageInit)
			want := make([]float32, s.outLen())
			mag := make([]float32, s.outLen())
			Conv2DForward(got, in, w, bias, s, cols)
			Conv2DForwardNaive(want, in, w, bias, s)
			Conv2DForwardNaive(mag, absSlice(in), absSlice(w), absSlice(bias), s)
			closeTo(t, name+" forward", got, want, mag, 1e-6, convTol)

			dOut := randSlice(rng, s.outLen())
			for _, withDIn := range []bool{true, false} {
				dW, dWRef := filled(s.wLen(), gradInit), filled(s.wLen(), gradInit)
				var dB, dBRef []float32
				if bias != nil {
					dB, dBRef = filled(s.OutC, gradInit), filled(s.OutC, gradInit)
				}
				var dIn, dInRef []float32
				if withDIn {
					dIn, dInRef = filled(s.inLen(), garbageInit), make([]float32, s.inLen())
				}
				Conv2DBackward(dIn, dW, dB, dOut, in, w, s, cols)
				Conv2DBackwardNaive(dInRef, dWRef, dBRef, dOut, in, w, s)
				mW, mB, mIn := make([]float32, s.wLen()), make([]float32, s.OutC), make([]float32, s.inLen())
				Conv2DBackwardNaive(mIn, mW, mB, absSlice(dOut), absSlice(in), absSlice(w), s)
				closeTo(t, name+" dW", dW, dWRef, mW, gradInit, convTol)
				if bias != nil {
					closeTo(t, name+" dBias", dB, dBRef, mB, gradInit, convTol)
				}
				if withDIn {
					closeTo(t, name+" dIn", dIn, dInRef, mIn, 1e-6, convTol)
				}
			}
		}()
	}
}

// TestLayersDoNotAllocate: the hot paths take their scratch from the
// caller.
func TestLayersDoNotAllocate(t *testing.T) {
	if raceEnabled {
		t.Skip("allocation counts under the race detector: sync.Pool drops items at random")
	}
	rng := rand.New(rand.NewPCG(55, 56))
	for _, s := range []ConvShape{
		{Batch: 2, InC: 3, InH: 9, InW: 9, OutC: 4, KH: 3, KW: 3, Stride: 2, Pad: 1},
		{Batch: 2, InC: 3, InH: 9, InW: 9, OutC: 4, KH: 1, KW: 1, Stride: 1, Pad: 0},
		{Batch: 2, InC: 3, InH: 9, InW: 9, OutC: 4, KH: 3, KW: 3, Stride: 2, Pad: 1, Layout: CNHW},
		{Batch: 2, InC: 3, InH: 9, InW: 9, OutC: 4, KH: 1, KW: 1, Stride: 1, Pad: 0, Layout: CNHW},
	} {
		in, w, bias := randSlice(rng, s.inLen()), randSlice(rng, s.wLen()), randSlice(rng, s.OutC)
		out, cols := make([]float32, s.outLen()), make([]float32, s.ColsLen())
		dIn, dW, dB := make([]float32, s.inLen()), make([]float32, s.wLen()), make([]float32, s.OutC)
		if n := testing.AllocsPerRun(10, func() {
			Conv2DForward(out, in, w, bias, s, cols)
			Conv2DBackward(dIn, dW, dB, out, in, w, s, cols)
		}); n != 0 {
			t.Errorf("conv %+v: %v allocations", s, n)
		}
	}
	// The Winograd path hands its closures to the threads (a few
	// allocations a call, whatever the size), nothing per tile or channel.
	s := ConvShape{Batch: 8, InC: 32, InH: 14, InW: 14, OutC: 32, KH: 3, KW: 3, Stride: 1, Pad: 1, Layout: CNHW}
	if !s.winograd() {
		t.Fatalf("%+v does not take the Winograd path", s)
	}
	in, w := randSlice(rng, s.inLen()), randSlice(rng, s.wLen())
	out, dIn, dW, cols := make([]float32, s.outLen()), make([]float32, s.inLen()), make([]float32, s.wLen()), make([]float32, s.ColsLen())
	if n := testing.AllocsPerRun(10, func() {
		Conv2DForward(out, in, w, nil, s, cols)
		Conv2DBackward(dIn, dW, nil, out, in, w, s, cols)
	}); n > 32 {
		t.Errorf("conv %+v: %v allocations", s, n)
	}
	// The direct stem (forced): its scratch is ColsLen's, so a call
	// allocates only its closures, not its sums or split rows.
	func() {
		restore, err := ForceKernels(KernelStem + ":" + ChoiceDirect)
		if err != nil {
			t.Fatal(err)
		}
		defer restore()
		s := ConvShape{Batch: 2, InC: 3, InH: 96, InW: 96, OutC: 8, KH: 7, KW: 7, Stride: 2, Pad: 3, Layout: CNHW}
		if !s.stemDirect() {
			t.Skip("no direct stem on this CPU")
		}
		in, w := randSlice(rng, s.inLen()), randSlice(rng, s.wLen())
		out, dW, cols := make([]float32, s.outLen()), make([]float32, s.wLen()), make([]float32, s.ColsLen())
		run := func() {
			Conv2DForward(out, in, w, nil, s, cols)
			Conv2DBackward(nil, dW, nil, out, in, w, s, cols)
		}
		run()
		var m0, m1 runtime.MemStats
		runtime.ReadMemStats(&m0)
		const calls = 10
		for range calls {
			run()
		}
		runtime.ReadMemStats(&m1)
		if per := (m1.TotalAlloc - m0.TotalAlloc) / calls; per > 4096 {
			t.Errorf("stem %+v: %d bytes allocated a call", s, per)
		}
	}()
	const b, c, h = 2, 3, 8
	x := randSlice(rng, b*c*h*h)
	y, dx, mask := make([]float32, len(x)), make([]float32, len(x)), make([]float32, len(x))
	g, gb, sm, si, run := make([]float32, c), make([]float32, c), make([]float32, c), make([]float32, c), NewBatchNormState(c)
	pooled, arg, gap := make([]float32, b*c*16), make([]int32, b*c*16), make([]float32, b*c)
	if n := testing.AllocsPerRun(10, func() {
		BatchNormForward(y, x, g, gb, b, c, h*h, true, run, BatchNormMomentum, BatchNormEps, sm, si)
		BatchNormBackward(dx, g, gb, y, x, g, sm, si, b, c, h*h)
		MaxPool2DForward(pooled, x, arg, b, c, h, h, 3, 2, 1)
		MaxPool2DBackward(dx, pooled, arg, b, c, h, h, 3, 2, 1)
		GlobalAvgPoolForward(gap, x, b, c, h*h)
		GlobalAvgPoolBackward(dx, gap, b, c, h*h)
		DropoutForward(y, x, mask, 0.5, 1)
		DropoutBackward(dx, y, mask)
		AddInPlace(y, x)
	}); n != 0 {
		t.Errorf("other layers: %v allocations", n)
	}
}

func TestConvShapeCheck(t *testing.T) {
	ok := ConvShape{Batch: 2, InC: 3, InH: 5, InW: 5, OutC: 4, KH: 3, KW: 3, Stride: 2, Pad: 1}
	if err := ok.Check(); err != nil {
		t.Fatal(err)
	}
	if ok.OutH() != 3 || ok.OutW() != 3 || ok.ColsLen() != 27*9 {
		t.Fatalf("OutH %d OutW %d ColsLen %d, want 3 3 243", ok.OutH(), ok.OutW(), ok.ColsLen())
	}
	for field, mod := range map[string]func(*ConvShape){
		"Batch":  func(s *ConvShape) { s.Batch = 0 },
		"InC":    func(s *ConvShape) { s.InC = -1 },
		"InH":    func(s *ConvShape) { s.InH = 0 },
		"InW":    func(s *ConvShape) { s.InW = 0 },
		"OutC":   func(s *ConvShape) { s.OutC = 0 },
		"KH":     func(s *ConvShape) { s.KH = 8 }, // no output rows
		"KW":     func(s *ConvShape) { s.KW = 0 },
		"Stride": func(s *ConvShape) { s.Stride = 0 },
		"Pad":    func(s *ConvShape) { s.Pad = -1 },
		"Layout": func(s *ConvShape) { s.Layout = 7 },
	} {
		s := ok
		mod(&s)
		err := s.Check()
		if err == nil || !strings.Contains(err.Error(), field) {
			t.Errorf("%s: Check() = %v, want an error naming %s", field, err, field)
		}
	}
	defer func() {
		if r := recover(); r == nil || !strings.Contains(fmt.Sprint(r), "cols") {
			t.Errorf("short cols: panic %v, want one naming cols", r)
		}
	}()
	Conv2DForward(make([]float32, ok.outLen()), make([]float32, ok.inLen()), make([]float32, ok.wLen()), nil, ok, make([]float32, ok.ColsLen()-1))
}

func TestConv2DGradientsFiniteDifferences(t *testing.T) {
	rng := rand.New(rand.NewPCG(43, 44))
	for _, s := range []ConvShape{
		{Batch: 2, InC: 3, InH: 5, InW: 5, OutC: 4, KH: 3, KW: 3, Stride: 2, Pad: 1},
		{Batch: 2, InC: 3, InH: 5, InW: 5, OutC: 4, KH: 1, KW: 1, Stride: 1, Pad: 0},
		{Batch: 1, InC: 2, InH: 6, InW: 5, OutC: 3, KH: 3, KW: 2, Stride: 1, Pad: 2},
		{Batch: 2, InC: 3, InH: 5, InW: 5, OutC: 4, KH: 3, KW: 3, Stride: 2, Pad: 1, Layout: CNHW},
		{Batch: 3, InC: 2, InH: 4, InW: 4, OutC: 3, KH: 1, KW: 1, Stride: 1, Pad: 0, Layout: CNHW},
	} {
		in, w, bias := randSlice(rng, s.inLen()), randSlice(rng, s.wLen()), randSlice(rng, s.OutC)
		out, r, cols := make([]float32, s.outLen()), randSlice(rng, s.outLen()), make([]float32, s.ColsLen())
		forward := func() { Conv2DForward(out, in, w, bias, s, cols) }
		forward()
		dIn, dW, dB := filled(s.inLen(), garbageInit), filled(s.wLen(), gradInit), filled(s.OutC, gradInit)
		Conv2DBackward(dIn, dW, dB, r, in, w, s, cols)
		checkFD(t, fmt.Sprintf("conv %+v", s), out, r, forward,
			fdVar{"in", in, dIn}, fdVar{"w", w, sub(dW, gradInit)}, fdVar{"bias", bias, sub(dB, gradInit)})
	}
}

func TestBatchNormGradientsFiniteDifferences(t *testing.T) {
	rng := rand.New(rand.NewPCG(45, 46))
	for _, sh := range [][3]int{{2, 3, 25}, {4, 3, 1}} { // (B, C, 5x5) and (B, C)
		b, c, hw := sh[0], sh[1], sh[2]
		in := randSlice(rng, b*c*hw)
		for i := range in {
			in[i] = 1.5*in[i] + float32(i/hw%c) - 1 // per-channel offsets and scale
		}
		gamma, beta := randSlice(rng, c), randSlice(rng, c)
		for i := range gamma {
			gamma[i] += 1.5
		}
		out, r := make([]float32, len(in)), randSlice(rng, len(in))
		sm, si := make([]float32, c), make([]float32, c)
		forward := func() {
			BatchNormForward(out, in, gamma, beta, b, c, hw, true, BatchNormState{}, BatchNormMomentum, BatchNormEps, sm, si)
		}
		forward()
		dIn, dG, dB := filled(len(in), garbageInit), filled(c, gradInit), filled(c, gradInit)
		BatchNormBackward(dIn, dG, dB, r, in, gamma, sm, si, b, c, hw)
		checkFD(t, fmt.Sprintf("batchnorm b=%d c=%d hw=%d", b, c, hw), out, r, forward,
			fdVar{"in", in, dIn}, fdVar{"gamma", gamma, sub(dG, gradInit)}, fdVar{"beta", beta, sub(dB, gradInit)})
	}
}

// TestBatchNormRunningStats checks one training step against PyTorch's
// formulas (momentum 0.1, unbiased variance in the running variance) and
// evaluation mode against the running statistics.
func TestBatchNormRunningStats(t *testing.T) {
	rng := rand.New(rand.NewPCG(47, 48))
	const b, c, hw = 4, 3, 6
	const n = b * hw
	in := randSlice(rng, b*c*hw)
	for i := range in {
		in[i] = 2*in[i] + 1000*float32(i/hw%c) // channel 2 has mean ~2000
	}
	gamma, beta := randSlice(rng, c), randSlice(rng, c)
	run := NewBatchNormState(c)
	for ch := range c {
		if run.Mean[ch] != 0 || run.Var[ch] != 1 {
			t.Fatalf("NewBatchNormState: channel %d starts at %v, %v; want 0, 1", ch, run.Mean[ch], run.Var[ch])
		}
		run.Mean[ch], run.Var[ch] = 0.5*float32(ch), 2+float32(ch)
	}
	old := BatchNormState{Mean: append([]float32(nil), run.Mean...), Var: append([]float32(nil), run.Var...)}
	out, sm, si := make([]float32, len(in)), make([]float32, c), make([]float32, c)
	BatchNormForward(out, in, gamma, beta, b, c, hw, true, run, BatchNormMomentum, BatchNormEps, sm, si)
	rel := func(got float32, want float64) bool {
		return math.Abs(float64(got)-want) <= 1e-6*max(1, math.Abs(want))
	}
	for ch := range c {
		var vals []float64
		for i := 0; i < b; i++ {
			for j := 0; j < hw; j++ {
				vals = append(vals, float64(in[(i*c+ch)*hw+j]))
			}
		}
		mean, ss := 0.0, 0.0
		for _, v := range vals {
			mean += v
		}
		mean /= n
		for _, v := range vals {
			ss += (v - mean) * (v - mean)
		}
		biased, unbiased := ss/n, ss/(n-1)
		wantMean := 0.9*float64(old.Mean[ch]) + 0.1*mean
		wantVar := 0.9*float64(old.Var[ch]) + 0.1*unbiased
		if !rel(run.Mean[ch], wantMean) || !rel(run.Var[ch], wantVar) {
			t.Errorf("channel %d: running mean, var = %v, %v; want %v, %v", ch, run.Mean[ch], run.Var[ch], wantMean, wantVar)
		}
		if !rel(sm[ch], mean) || !rel(si[ch], 1/math.Sqrt(biased+BatchNormEps)) {
			t.Errorf("channel %d: saved mean, invstd = %v, %v; want %v, %v", ch, sm[ch], si[ch], mean, 1/math.Sqrt(biased+BatchNormEps))
		}
		for i := 0; i < b; i++ {
			for j := 0; j < hw; j++ {
				k := (i*c+ch)*hw + j
				want := (float64(in[k])-mean)/math.Sqrt(biased+BatchNormEps)*float64(gamma[ch]) + float64(beta[ch])
				if math.Abs(float64(out[k])-want) > 1e-5*max(1, math.Abs(want)) {
					t.Fatalf("train out[%d] = %v, want %v", k, out[k], want)
				}
			}
		}
	}

	// Evaluation: the running statistics, which stay put, and no saves.
	after := BatchNormState{Mean: append([]float32(nil), run.Mean...), Var: append([]float32(nil), run.Var...)}
	BatchNormForward(out, in, gamma, beta, b, c, hw, false, run, BatchNormMomentum, BatchNormEps, nil, nil)
	for k, x := range in {
		ch := k / hw % c
		want := (float64(x)-float64(run.Mean[ch]))/math.Sqrt(float64(run.Var[ch])+BatchNormEps)*float64(gamma[ch]) + float64(beta[ch])
		if math.Abs(float64(out[k])-want) > 1e-5*max(1, math.Abs(want)) {
			t.Fatalf("eval out[%d] = %v, want %v", k, out[k], want)
		}
	}
	for ch := range c {
		if run.Mean[ch] != after.Mean[ch] || run.Var[ch] != after.Var[ch] {
			t.Fatalf("evaluation changed the running statistics of channel %d", ch)
		}
	}
}

// naiveMaxPool is the textbook loop over every window position with
// explicit padding checks.
func naiveMaxPool(in []float32, b, c, h, w, k, stride, pad int) ([]float32, []int32) {
	oh, ow := PoolOut(h, k, stride, pad), PoolOut(w, k, stride, pad)
	out, arg := make([]float32, b*c*oh*ow), make([]int32, b*c*oh*ow)
	for pl := 0; pl < b*c; pl++ {
		for y := 0; y < oh; y++ {
			for x := 0; x < ow; x++ {
				best, bi := float32(math.Inf(-1)), int32(-1)
				for ky := 0; ky < k; ky++ {
					for kx := 0; kx < k; kx++ {
						iy, ix := y*stride-pad+ky, x*stride-pad+kx
						if iy < 0 || iy >= h || ix < 0 || ix >= w {
							continue
						}
						if v := in[pl*h*w+iy*w+ix]; bi < 0 || v > best {
							best, bi = v, int32(iy*w+ix)
						}
					}
				}
				out[(pl*oh+y)*ow+x], arg[(pl*oh+y)*ow+x] = best, bi
			}
		}
	}
	return out, arg
}

// distinctNegative returns n distinct negative values 0.1 apart in random
// order: no ties within 2h, and a zero from the padding would beat them all.
func distinctNegative(rng *rand.Rand, n int) []float32 {
	s := make([]float32, n)
	for i, p := range rng.Perm(n) {
		s[i] = -0.1 * float32(p+1)
	}
	return s
}

func TestMaxPool(t *testing.T) {
	rng := rand.New(rand.NewPCG(49, 50))
	for _, g := range [][7]int{ // b, c, h, w, k, stride, pad
		{2, 3, 5, 5, 3, 2, 1},
		{2, 3, 5, 5, 2, 2, 0},
		{1, 2, 7, 6, 3, 1, 1},
		{2, 2, 9, 8, 3, 2, 1},
		{1, 1, 4, 4, 4, 1, 2},
	} {
		b, c, h, w, k, stride, pad := g[0], g[1], g[2], g[3], g[4], g[5], g[6]
		name := fmt.Sprintf("maxpool %v", g)
		in := distinctNegative(rng, b*c*h*w)
		oh, ow := PoolOut(h, k, stride, pad), PoolOut(w, k, stride, pad)
		out, arg := filled(b*c*oh*ow, garbageInit), make([]int32, b*c*oh*ow)
		forward := func() { MaxPool2DForward(out, in, arg, b, c, h, w, k, stride, pad) }
		forward()
		wantOut, wantArg := naiveMaxPool(in, b, c, h, w, k, stride, pad)
		for i := range out {
			if out[i] != wantOut[i] || arg[i] != wantArg[i] || out[i] >= 0 {
				t.Fatalf("%s: out[%d] = %v at %d, want %v at %d (padding never wins)", name, i, out[i], arg[i], wantOut[i], wantArg[i])
			}
		}
		r := randSlice(rng, len(out))
		dIn := filled(len(in), garbageInit)
		MaxPool2DBackward(dIn, r, arg, b, c, h, w, k, stride, pad)
		checkFD(t, name, out, r, forward, fdVar{"in", in, dIn})
	}
}

// TestMaxPoolSpecialValues: NaN propagates (first NaN's index), -Inf and
// ties pick the first position in row-major order, and the padding loses
// even to -Inf.
func TestMaxPoolSpecialValues(t *testing.T) {
	nan, inf := float32(math.NaN()), float32(math.Inf(1))
	in := []float32{
		-inf, -inf, 2, 2,
		-inf, -inf, 2, 2,
		1, nan, 5, inf,
		nan, 3, 7, 7,
	}
	out, arg := make([]float32, 4), make([]int32, 4)
	MaxPool2DForward(out, in, arg, 1, 1, 4, 4, 2, 2, 0)
	wantArg := []int32{0, 2, 9, 11}
	for i := range out {
		if arg[i] != wantArg[i] || !(out[i] == in[arg[i]] || out[i] != out[i] && in[arg[i]] != in[arg[i]]) {
			t.Errorf("2x2 window %d: %v at %d, want %v at %d", i, out[i], arg[i], in[wantArg[i]], wantArg[i])
		}
	}
	MaxPool2DForward(out, in, arg, 1, 1, 4, 4, 3, 2, 1) // 3x3 windows, padded
	if arg[0] != 0 || out[0] != -inf {
		t.Errorf("all -Inf window with padding: %v at %d, want -Inf at 0", out[0], arg[0])
	}
	if arg[2] != 9 || out[2] == out[2] {
		t.Errorf("window with two NaNs: %v at %d, want NaN at 9", out[2], arg[2])
	}
}

func TestGlobalAvgPool(t *testing.T) {
	rng := rand.New(rand.NewPCG(51, 52))
	const b, c, hw = 2, 3, 25
	in := randSlice(rng, b*c*hw)
	out, r := filled(b*c, garbageInit), randSlice(rng, b*c)
	forward := func() { GlobalAvgPoolForward(out, in, b, c, hw) }
	forward()
	for i := range out {
		want := 0.0
		for _, v := range in[i*hw : (i+1)*hw] {
			want += float64(v)
		}
		if want /= hw; math.Abs(float64(out[i])-want) > 1e-6 {
			t.Fatalf("out[%d] = %v, want %v", i, out[i], want)
		}
	}
	dIn := filled(len(in), garbageInit)
	GlobalAvgPoolBackward(dIn, r, b, c, hw)
	checkFD(t, "global avg pool", out, r, forward, fdVar{"in", in, dIn})
}

func TestDropout(t *testing.T) {
	rng := rand.New(rand.NewPCG(53, 54))
	const n, p = 100000, float32(0.3)
	in := randSlice(rng, n)
	out, mask := make([]float32, n), make([]float32, n)
	DropoutForward(out, in, mask, p, 99)
	kept := 0
	for i, m := range mask {
		switch m {
		case 0:
		case 1 / (1 - p):
			kept++
		default:
			t.Fatalf("mask[%d] = %v, want 0 or %v", i, m, 1/(1-p))
		}
		if out[i] != in[i]*m {
			t.Fatalf("out[%d] = %v, want %v * %v", i, out[i], in[i], m)
		}
	}
	// Binomial(n, 0.7): standard deviation 145.
	if frac := float64(kept) / n; math.Abs(frac-0.7) > 0.006 {
		t.Errorf("kept %v of the inputs, want 0.7", frac)
	}
	again, other := make([]float32, n), make([]float32, n)
	DropoutForward(make([]float32, n), in, again, p, 99)
	DropoutForward(make([]float32, n), in, other, p, 100)
	same := 0
	for i := range mask {
		if again[i] != mask[i] {
			t.Fatalf("the mask is not a function of the seed: [%d] %v then %v", i, mask[i], again[i])
		}
		if other[i] == mask[i] {
			same++
		}
	}
	if same > n*7/10 { // independent masks agree on 0.7^2 + 0.3^2 = 58%
		t.Errorf("seeds 99 and 100 agree on %d of %d", same, n)
	}

	DropoutForward(out, in, mask, 0, 1)
	for i := range in {
		if out[i] != in[i] || mask[i] != 1 {
			t.Fatalf("p = 0: out[%d] = %v mask %v, want %v and 1", i, out[i], mask[i], in[i])
		}
	}
	DropoutForward(out, in, mask, 1, 1)
	for i := range in {
		if out[i] != 0 || mask[i] != 0 {
			t.Fatalf("p = 1: out[%d] = %v mask %v, want 0", i, out[i], mask[i])
		}
	}

	// Gradient with the mask fixed by the seed.
	small := randSlice(rng, 2*3*25)
	so, sm, r := make([]float32, len(small)), make([]float32, len(small)), randSlice(rng, len(small))
	forward := func() { DropoutForward(so, small, sm, 0.5, 7) }
	forward()
	dIn := filled(len(small), garbageInit)
	DropoutBackward(dIn, r, sm)
	checkFD(t, "dropout", so, r, forward, fdVar{"in", small, dIn})
}

func TestAddInPlace(t *testing.T) {
	dst, src := []float32{1, 2, 3}, []float32{10, 20, 30}
	AddInPlace(dst, src)
	for i, want := range []float32{11, 22, 33} {
		if dst[i] != want {
			t.Fatalf("dst = %v", dst)
		}
	}
	defer func() {
		if r := recover(); r == nil || !strings.HasPrefix(fmt.Sprint(r), "kernels: ") {
			t.Errorf("length mismatch: panic %v", r)
		}
	}()
	AddInPlace(dst, src[:2])
}

// BenchmarkConv2D runs ResNet-18-like convolutions at batch 8 and
// mnistnet's 5x5 at batch 14. Backward
// computes dW and dIn (two SGEMMs the size of the forward one), except the
// stem, whose input needs no gradient.
func BenchmarkConv2D(b *testing.B) {
	for _, c := range []struct {
		name  string
		s     ConvShape
		first bool
	}{
		{"64c56x56k3", ConvShape{Batch: 8, InC: 64, InH: 56, InW: 56, OutC: 64, KH: 3, KW: 3, Stride: 1, Pad: 1}, false},
		{"256c14x14k3", ConvShape{Batch: 8, InC: 256, InH: 14, InW: 14, OutC: 256, KH: 3, KW: 3, Stride: 1, Pad: 1}, false},
		{"3to64c224k7s2", ConvShape{Batch: 8, InC: 3, InH: 224, InW: 224, OutC: 64, KH: 7, KW: 7, Stride: 2, Pad: 3}, true},
		{"256to64c56k1", ConvShape{Batch: 8, InC: 256, InH: 56, InW: 56, OutC: 64, KH: 1, KW: 1, Stride: 1, Pad: 0}, false},
		// ResNet-18's four 3x3 stages, channel-major: Winograd against im2col.
		{"cnhw/64c56x56k3", ConvShape{Batch: 8, InC: 64, InH: 56, InW: 56, OutC: 64, KH: 3, KW: 3, Stride: 1, Pad: 1, Layout: CNHW}, false},
		{"cnhw/128c28x28k3", ConvShape{Batch: 8, InC: 128, InH: 28, InW: 28, OutC: 128, KH: 3, KW: 3, Stride: 1, Pad: 1, Layout: CNHW}, false},
		{"cnhw/256c14x14k3", ConvShape{Batch: 8, InC: 256, InH: 14, InW: 14, OutC: 256, KH: 3, KW: 3, Stride: 1, Pad: 1, Layout: CNHW}, false},
		{"cnhw/512c7x7k3", ConvShape{Batch: 8, InC: 512, InH: 7, InW: 7, OutC: 512, KH: 3, KW: 3, Stride: 1, Pad: 1, Layout: CNHW}, false},
		// mnistnet's 5x5 layer (batch 14): F(2x2, 5x5) against im2col.
		{"cnhw/64c28x28k5", ConvShape{Batch: 14, InC: 64, InH: 28, InW: 28, OutC: 64, KH: 5, KW: 5, Stride: 1, Pad: 2, Layout: CNHW}, false},
		{"cnhw/64c14x14k3b14", ConvShape{Batch: 14, InC: 64, InH: 14, InW: 14, OutC: 64, KH: 3, KW: 3, Stride: 1, Pad: 1, Layout: CNHW}, false},
	} {
		if !c.s.winograd() {
			benchConv(b, c.name, c.s, c.first)
			continue
		}
		// Each Winograd form the shape can take, forced, and im2col.
		for _, choice := range convChoices(c.s) {
			func() {
				restore, err := ForceKernels("conv:" + choice)
				if err != nil {
					b.Fatal(err)
				}
				defer restore()
				benchConv(b, c.name+"/"+choice, c.s, c.first)
			}()
		}
	}
}

// benchConv times one convolution's forward and backward passes.
func benchConv(b *testing.B, name string, s ConvShape, first bool) {
	{
		c := struct {
			name  string
			first bool
		}{name, first}
		rng := rand.New(rand.NewPCG(1, 2))
		in, w, bias := randSlice(rng, s.inLen()), randSlice(rng, s.wLen()), randSlice(rng, s.OutC)
		out, cols := make([]float32, s.outLen()), make([]float32, s.ColsLen())
		dOut, dW := randSlice(rng, s.outLen()), make([]float32, s.wLen())
		var dIn []float32
		if !c.first {
			dIn = make([]float32, s.inLen())
		}
		flops := 2 * float64(s.Batch*s.OutC*s.InC*s.KH*s.KW*s.OutH()*s.OutW())
		b.Run(BLASName()+"/"+c.name+"/fwd", func(b *testing.B) {
			for range b.N {
				Conv2DForward(out, in, w, bias, s, cols)
			}
			b.ReportMetric(flops*float64(b.N)/b.Elapsed().Seconds()/1e9, "GFLOP/s")
		})
		b.Run(BLASName()+"/"+c.name+"/bwd", func(b *testing.B) {
			for range b.N {
				Conv2DBackward(dIn, dW, nil, dOut, in, w, s, cols)
			}
			f := 2 * flops
			if c.first {
				f = flops
			}
			b.ReportMetric(f*float64(b.N)/b.Elapsed().Seconds()/1e9, "GFLOP/s")
		})
	}
}

type convLayer struct {
	s     ConvShape
	count int
}

type convBufs struct{ in, w, out, cols, dOut, dW, dIn []float32 }

// BenchmarkConv2DResNet18 runs the forward and backward passes of all 20
// convolutions of ResNet-18 on 224x224 images at batch 8 (the stem without
// an input gradient) and reports images per second: an upper bound on the
// whole network's speed.
func BenchmarkConv2DResNet18(b *testing.B) {
	conv := func(inC, hw, outC, k, stride, pad int) ConvShape {
		return ConvShape{Batch: 8, InC: inC, InH: hw, InW: hw, OutC: outC, KH: k, KW: k, Stride: stride, Pad: pad}
	}
	layers := []convLayer{
		{conv(3, 224, 64, 7, 2, 3), 1},
		{conv(64, 56, 64, 3, 1, 1), 4},
		{conv(64, 56, 128, 3, 2, 1), 1}, {conv(128, 28, 128, 3, 1, 1), 3}, {conv(64, 56, 128, 1, 2, 0), 1},
		{conv(128, 28, 256, 3, 2, 1), 1}, {conv(256, 14, 256, 3, 1, 1), 3}, {conv(128, 28, 256, 1, 2, 0), 1},
		{conv(256, 14, 512, 3, 2, 1), 1}, {conv(512, 7, 512, 3, 1, 1), 3}, {conv(256, 14, 512, 1, 2, 0), 1},
	}
	for _, layout := range []Layout{NCHW, CNHW} {
		rng := rand.New(rand.NewPCG(5, 6))
		var bs []convBufs
		flops := 0.0
		for i := range layers {
			layers[i].s.Layout = layout
			s := layers[i].s
			x := convBufs{in: randSlice(rng, s.inLen()), w: randSlice(rng, s.wLen()), out: make([]float32, s.outLen()),
				cols: make([]float32, s.ColsLen()), dOut: randSlice(rng, s.outLen()), dW: make([]float32, s.wLen())}
			f := 2 * float64(s.Batch*s.OutC*s.InC*s.KH*s.KW*s.OutH()*s.OutW())
			flops += 2 * f * float64(layers[i].count)
			if i > 0 {
				x.dIn = make([]float32, s.inLen())
				flops += f * float64(layers[i].count)
			}
			bs = append(bs, x)
		}
		for _, wino := range []bool{true, false} {
			name := layout.String()
			if layout == CNHW && !wino {
				name += "-im2col" // the Winograd path off: every 3x3 through im2col
			} else if layout == NCHW && !wino {
				continue // NCHW never takes it
			}
			b.Run(BLASName()+"/"+name, func(b *testing.B) {
				defer setUseWinograd(wino)()
				benchConvLayers(b, layers, bs, flops)
			})
		}
	}
}

// benchConvLayers runs every layer's forward and backward pass count
// times per iteration.
func benchConvLayers(b *testing.B, layers []convLayer, bs []convBufs, flops float64) {
	for range b.N {
		for i, l := range layers {
			x := bs[i]
			for range l.count {
				Conv2DForward(x.out, x.in, x.w, nil, l.s, x.cols)
				Conv2DBackward(x.dIn, x.dW, nil, x.dOut, x.in, x.w, l.s, x.cols)
			}
		}
	}
	sec := b.Elapsed().Seconds()
	b.ReportMetric(flops*float64(b.N)/sec/1e9, "GFLOP/s")
	b.ReportMetric(8*float64(b.N)/sec, "img/s")
}

// BenchmarkLayers times the other layers on ResNet-18's largest
// activations (batch 8, 64 channels of 112x112 and 56x56).
func BenchmarkLayers(b *testing.B) {
	rng := rand.New(rand.NewPCG(3, 4))
	const n, c, h = 8, 64, 56
	x := randSlice(rng, n*c*h*h)
	y, dx := make([]float32, len(x)), make([]float32, len(x))
	g, gb := make([]float32, c), make([]float32, c)
	sm, si, run := make([]float32, c), make([]float32, c), NewBatchNormState(c)
	b.Run("BatchNormFwd", func(b *testing.B) {
		b.SetBytes(int64(4 * len(x)))
		for range b.N {
			BatchNormForward(y, x, g, gb, n, c, h*h, true, run, BatchNormMomentum, BatchNormEps, sm, si)
		}
	})
	b.Run("BatchNormBwd", func(b *testing.B) {
		b.SetBytes(int64(4 * len(x)))
		for range b.N {
			BatchNormBackward(dx, g, gb, y, x, g, sm, si, n, c, h*h)
		}
	})
	big := randSlice(rng, n*c*112*112)
	arg := make([]int32, len(x))
	dbig := make([]float32, len(big))
	b.Run("MaxPoolFwd", func(b *testing.B) {
		b.SetBytes(int64(4 * len(big)))
		for range b.N {
			MaxPool2DForward(y, big, arg, n, c, 112, 112, 3, 2, 1)
		}
	})
	b.Run("MaxPoolBwd", func(b *testing.B) {
		b.SetBytes(int64(4 * len(big)))
		for range b.N {
			MaxPool2DBackward(dbig, y, arg, n, c, 112, 112, 3, 2, 1)
		}
	})
}

func TestTransposeBlocks(t *testing.T) {
	rng := rand.New(rand.NewPCG(57, 58))
	for _, sh := range [][3]int{{1, 1, 1}, {3, 5, 1}, {4, 3, 7}, {2, 1, 9}, {0, 3, 2}} {
		rows, cols, block := sh[0], sh[1], sh[2]
		src := randSlice(rng, rows*cols*block)
		dst := filled(len(src), garbageInit)
		TransposeBlocks(dst, src, rows, cols, block)
		for i := 0; i < rows; i++ {
			for j := 0; j < cols; j++ {
				for k := 0; k < block; k++ {
					if got, want := dst[(j*rows+i)*block+k], src[(i*cols+j)*block+k]; got != want {
						t.Fatalf("%v: dst[%d][%d][%d] = %v, want %v", sh, j, i, k, got, want)
					}
				}
			}
		}
		back := make([]float32, len(src))
		TransposeBlocks(back, dst, cols, rows, block)
		for i := range src {
			if back[i] != src[i] {
				t.Fatalf("%v: transposing back gives [%d] = %v, want %v", sh, i, back[i], src[i])
			}
		}
	}
}

// TestFusedLayersMatchUnfused: batch norm with ReLU, and add with ReLU,
// give bit for bit what the separate kernels give, at sizes that split
// across goroutines and with one thread (the same bits either way).
func TestFusedLayersMatchUnfused(t *testing.T) {
	defer SetThreads(0)
	rng := rand.New(rand.NewPCG(59, 60))
	for _, sh := range [][3]int{{2, 3, 25}, {1, 16, 8 * 1000}, {3, 5, 7}} {
		b, c, hw := sh[0], sh[1], sh[2]
		n := b * c * hw
		in, gamma, beta, dOut := randSlice(rng, n), randSlice(rng, c), randSlice(rng, c), randSlice(rng, n)
		var ref [][]float32
		for _, threads := range []int{1, 2} {
			SetThreads(threads)
			run := NewBatchNormState(c)
			y, sm, si := make([]float32, n), make([]float32, c), make([]float32, c)
			BatchNormForward(y, in, gamma, beta, b, c, hw, true, run, BatchNormMomentum, BatchNormEps, sm, si)
			ReluForward(y, y)
			dy, dx, dg, db := make([]float32, n), make([]float32, n), filled(c, gradInit), filled(c, gradInit)
			ReluBackward(dy, dOut, y)
			BatchNormBackward(dx, dg, db, dy, in, gamma, sm, si, b, c, hw)

			run2 := NewBatchNormState(c)
			y2, sm2, si2 := make([]float32, n), make([]float32, c), make([]float32, c)
			BatchNormReluForward(y2, in, gamma, beta, b, c, hw, true, run2, BatchNormMomentum, BatchNormEps, sm2, si2)
			dx2, dg2, db2 := make([]float32, n), filled(c, gradInit), filled(c, gradInit)
			BatchNormReluBackward(dx2, dg2, db2, dOut, y2, in, gamma, sm2, si2, b, c, hw)
			got := [][]float32{y2, sm2, si2, run2.Mean, run2.Var, dx2, dg2, db2}
			want := [][]float32{y, sm, si, run.Mean, run.Var, dx, dg, db}
			for i := range got {
				for j := range got[i] {
					if math.Float32bits(got[i][j]) != math.Float32bits(want[i][j]) {
						t.Fatalf("%v threads %d: fused output %d [%d] = %v, unfused %v", sh, threads, i, j, got[i][j], want[i][j])
					}
				}
			}
			if ref == nil {
				ref = got
				continue
			}
			for i := range got {
				for j := range got[i] {
					if math.Float32bits(got[i][j]) != math.Float32bits(ref[i][j]) {
						t.Fatalf("%v: output %d [%d] = %v with %d threads, %v with 1", sh, i, j, got[i][j], threads, ref[i][j])
					}
				}
			}
		}

		a, s2 := randSlice(rng, n), randSlice(rng, n)
		for _, threads := range []int{1, 2} {
			SetThreads(threads)
			want := append([]float32(nil), a...)
			AddInPlace(want, s2)
			ReluForward(want, want)
			got := make([]float32, n)
			AddRelu(got, a, s2)
			sum := make([]float32, n)
			Add(sum, a, s2)
			for i := range got {
				if got[i] != want[i] || sum[i] != a[i]+s2[i] {
					t.Fatalf("%v threads %d: AddRelu [%d] = %v, want %v; Add %v, want %v", sh, threads, i, got[i], want[i], sum[i], a[i]+s2[i])
				}
			}
		}
	}
}

// TestMaxPoolThreads: the planes split across goroutines give the same
// result as one thread.
func TestMaxPoolThreads(t *testing.T) {
	defer SetThreads(0)
	rng := rand.New(rand.NewPCG(61, 62))
	const b, c, h, w, k, stride, pad = 4, 16, 30, 30, 3, 2, 1
	in := randSlice(rng, b*c*h*w)
	oh, ow := PoolOut(h, k, stride, pad), PoolOut(w, k, stride, pad)
	dOut := randSlice(rng, b*c*oh*ow)
	var refOut, refDIn []float32
	for _, threads := range []int{1, 2} {
		SetThreads(threads)
		out, arg, dIn := make([]float32, len(dOut)), make([]int32, len(dOut)), filled(len(in), garbageInit)
		MaxPool2DForward(out, in, arg, b, c, h, w, k, stride, pad)
		MaxPool2DBackward(dIn, dOut, arg, b, c, h, w, k, stride, pad)
		if refOut == nil {
			refOut, refDIn = out, dIn
			wantOut, _ := naiveMaxPool(in, b, c, h, w, k, stride, pad)
			for i := range out {
				if out[i] != wantOut[i] {
					t.Fatalf("out[%d] = %v, want %v", i, out[i], wantOut[i])
				}
			}
			continue
		}
		for i := range out {
			if out[i] != refOut[i] {
				t.Fatalf("%d threads: out[%d] = %v, one thread %v", threads, i, out[i], refOut[i])
			}
		}
		for i := range dIn {
			if dIn[i] != refDIn[i] {
				t.Fatalf("%d threads: dIn[%d] = %v, one thread %v", threads, i, dIn[i], refDIn[i])
			}
		}
	}
}

// TestWinogradThreads: the Winograd path's forward and input gradient
// (and the filter gradient beside them) are bit for bit the same whatever
// the threads, over several chunks of tiles.
func TestWinogradThreads(t *testing.T) {
	defer SetThreads(0)
	s := ConvShape{Batch: 8, InC: 16, InH: 28, InW: 27, OutC: 24, KH: 3, KW: 3, Stride: 1, Pad: 1, Layout: CNHW}
	if !s.winograd() {
		t.Fatalf("%+v does not take the Winograd path", s)
	}
	if th, tw := s.wgTiles(); s.Batch*th*tw < 3*s.wgChunk() {
		t.Fatalf("%+v: fewer than 3 chunks of tiles", s)
	}
	rng := rand.New(rand.NewPCG(71, 72))
	in, w, bias, dOut := randSlice(rng, s.inLen()), randSlice(rng, s.wLen()), randSlice(rng, s.OutC), randSlice(rng, s.outLen())
	var ref [][]float32
	for _, threads := range []int{1, 2, 3} {
		SetThreads(threads)
		cols := filled(s.ColsLen(), garbageInit)
		out, dIn, dW := make([]float32, s.outLen()), make([]float32, s.inLen()), make([]float32, s.wLen())
		Conv2DForward(out, in, w, bias, s, cols)
		Conv2DBackward(dIn, dW, nil, dOut, in, w, s, cols)
		got := [][]float32{out, dIn, dW}
		if ref == nil {
			ref = got
			continue
		}
		for k, name := range []string{"out", "dIn", "dW"} {
			for i := range got[k] {
				if math.Float32bits(got[k][i]) != math.Float32bits(ref[k][i]) {
					t.Fatalf("%d threads: %s[%d] = %v, with 1 thread %v", threads, name, i, got[k][i], ref[k][i])
				}
			}
		}
	}
}

// Zero clears every value, split across threads or not.
func TestZero(t *testing.T) {
	defer SetThreads(0)
	for _, threads := range []int{1, 2, 3} {
		SetThreads(threads)
		for _, n := range []int{0, 1, 2*reluGrain - 1, 5*reluGrain + 7} {
			x := make([]float32, n)
			for i := range x {
				x[i] = float32(i%5) + 1
			}
			Zero(x)
			for i, v := range x {
				if math.Float32bits(v) != 0 {
					t.Fatalf("threads %d n %d: x[%d] = %v after Zero", threads, n, i, v)
				}
			}
		}
	}
}

// TestBatchNormAddReluMatchesUnfused: the residual join in one pass gives
// bit for bit what the batch norms and AddRelu give (output, saved and
// running statistics), with an identity and a batch-normed shortcut, in
// training and in evaluation, with one thread and split.
func TestBatchNormAddReluMatchesUnfused(t *testing.T) {
	defer SetThreads(0)
	rng := rand.New(rand.NewPCG(61, 62))
	for _, sh := range [][3]int{{2, 3, 25}, {1, 16, 8 * 1000}, {3, 5, 7}} {
		b, c, hw := sh[0], sh[1], sh[2]
		n := b * c * hw
		in, skip := randSlice(rng, n), randSlice(rng, n)
		for i := range skip { // a shortcut with a mean far from 0
			skip[i] += 20
		}
		params := func() BatchNormParams {
			run := NewBatchNormState(c)
			for i := range run.Mean {
				run.Mean[i], run.Var[i] = float32(rng.NormFloat64()), 1+float32(rng.Float64())
			}
			return BatchNormParams{Gamma: randSlice(rng, c), Beta: randSlice(rng, c), Run: run,
				Momentum: BatchNormMomentum, Eps: BatchNormEps, SaveMean: make([]float32, c), SaveInvStd: make([]float32, c)}
		}
		clone := func(p BatchNormParams) BatchNormParams {
			q := p
			q.Run = BatchNormState{Mean: append([]float32(nil), p.Run.Mean...), Var: append([]float32(nil), p.Run.Var...)}
			q.SaveMean, q.SaveInvStd = make([]float32, c), make([]float32, c)
			return q
		}
		for _, train := range []bool{true, false} {
			for _, bnSkip := range []bool{false, true} {
				p0, s0 := params(), params()
				for _, threads := range []int{1, 2} {
					SetThreads(threads)
					p, sp := clone(p0), clone(s0)
					y := make([]float32, n)
					BatchNormForward(y, in, p.Gamma, p.Beta, b, c, hw, train, p.Run, p.Momentum, p.Eps, p.SaveMean, p.SaveInvStd)
					s := skip
					if bnSkip {
						s = make([]float32, n)
						BatchNormForward(s, skip, sp.Gamma, sp.Beta, b, c, hw, train, sp.Run, sp.Momentum, sp.Eps, sp.SaveMean, sp.SaveInvStd)
					}
					want := make([]float32, n)
					AddRelu(want, y, s)

					q, sq := clone(p0), clone(s0)
					var sqp *BatchNormParams
					if bnSkip {
						sqp = &sq
					}
					got := make([]float32, n)
					BatchNormAddReluForward(got, in, q, skip, sqp, b, c, hw, train)
					pairs := [][2][]float32{{got, want}, {q.SaveMean, p.SaveMean}, {q.SaveInvStd, p.SaveInvStd}, {q.Run.Mean, p.Run.Mean}, {q.Run.Var, p.Run.Var},
						{sq.SaveMean, sp.SaveMean}, {sq.Run.Mean, sp.Run.Mean}, {sq.Run.Var, sp.Run.Var}}
					for k, pr := range pairs {
						for j := range pr[0] {
							if math.Float32bits(pr[0][j]) != math.Float32bits(pr[1][j]) {
								t.Fatalf("%v train %v bn shortcut %v threads %d: fused output %d [%d] = %v, unfused %v", sh, train, bnSkip, threads, k, j, pr[0][j], pr[1][j])
							}
						}
					}
				}
			}
		}
	}
}

// BenchmarkMaxPool2D is mnistnet's first pooling (batch 14, 64 planes of
// 28x28, 2x2 windows, stride 2) and ResNet's stem pooling (batch 8, 64
// planes of 112x112, 3x3 windows, stride 2, padding 1) on one thread;
// /kernel=go is the general path's row-wise maxima, which CPUs without
// AVX-512 take.
func BenchmarkMaxPool2D(b *testing.B) {
	for _, c := range []struct {
		name                         string
		bt, ch, h, w, k, stride, pad int
	}{
		{"2x2", 14, 64, 28, 28, 2, 2, 0},
		{"3x3s2p1", 8, 64, 112, 112, 3, 2, 1},
	} {
		oneThreadKernels(b, c.name, func(b *testing.B) {
			rng := rand.New(rand.NewPCG(1, 2))
			in := randSlice(rng, c.bt*c.ch*c.h*c.w)
			oh, ow := PoolOut(c.h, c.k, c.stride, c.pad), PoolOut(c.w, c.k, c.stride, c.pad)
			out, arg := make([]float32, c.bt*c.ch*oh*ow), make([]int32, c.bt*c.ch*oh*ow)
			b.SetBytes(int64(4 * len(in)))
			for range b.N {
				MaxPool2DForward(out, in, arg, c.bt, c.ch, c.h, c.w, c.k, c.stride, c.pad)
			}
		})
	}
}

// TestDropoutMatchesGo: DropoutForward's AVX-512 loop gives the Go loop's
// masks and outputs bit for bit (NaN, infinities and signed zeros among
// the inputs), on every tail length and for thresholds near 0 and 1.
func TestDropoutMatchesGo(t *testing.T) {
	rng := rand.New(rand.NewPCG(55, 56))
	for _, n := range []int{1, 15, 16, 17, 33, 1000} {
		for _, p := range []float32{1e-6, 0.25, 0.5, 0.9, 1 - 1e-6} {
			in := randSlice(rng, n)
			reluSpecials(rng, in)
			seed := rng.Uint64()
			var got, want [2][]float32
			for k, asm := range []bool{true, false} {
				func() {
					defer setUseAsm(asm)()
					out, mask := make([]float32, n), make([]float32, n)
					DropoutForward(out, in, mask, p, seed)
					got[k], want[k] = out, mask
				}()
			}
			for i := range in {
				o0, o1 := math.Float32bits(got[0][i]), math.Float32bits(got[1][i])
				if want[0][i] != want[1][i] || o0 != o1 && !(got[0][i] != got[0][i] && got[1][i] != got[1][i]) {
					t.Fatalf("n=%d p=%v at %d: asm %v (mask %v), Go %v (mask %v)", n, p, i, got[0][i], want[0][i], got[1][i], want[1][i])
				}
			}
		}
	}
}

// BenchmarkDropout is mnistnet's first dropout (batch 14, 64 x 14 x 14,
// p = 0.25) on one thread; /kernel=go is the Go loop.
func BenchmarkDropout(b *testing.B) {
	n := 14 * 64 * 14 * 14
	oneThreadKernels(b, "p=0.25", func(b *testing.B) {
		rng := rand.New(rand.NewPCG(1, 2))
		in, out, mask := randSlice(rng, n), make([]float32, n), make([]float32, n)
		b.SetBytes(int64(12 * n))
		for i := range b.N {
			DropoutForward(out, in, mask, 0.25, uint64(i))
		}
	})
}

// TestFlipFiltersMatchesNaive: the flipped filters of the input gradient's
// convolution, split across 1 to 3 threads, equal the definition's, for
// 1x1, 3x3 (the unrolled case), 5x5 and 7x7 filters and channel counts
// that do and do not divide among the threads.
func TestFlipFiltersMatchesNaive(t *testing.T) {
	defer SetThreads(0)
	rng := rand.New(rand.NewPCG(71, 72))
	for _, sh := range []struct{ in, out, k int }{{3, 5, 1}, {64, 64, 3}, {257, 96, 3}, {30, 7, 5}, {3, 64, 7}, {129, 33, 7}} {
		s := ConvShape{Batch: 1, InC: sh.in, InH: 8, InW: 8, OutC: sh.out, KH: sh.k, KW: sh.k, Stride: 1, Pad: sh.k / 2}
		w := randSlice(rng, s.wLen())
		want := make([]float32, s.wLen())
		flipFiltersNaive(want, w, s)
		for _, threads := range []int{1, 2, 3} {
			SetThreads(threads)
			got := randSlice(rng, s.wLen())
			flipFilters(got, w, s)
			for i := range want {
				if got[i] != want[i] {
					t.Fatalf("%dx%d filters %d->%d, %d threads: value %d = %v, want %v", sh.k, sh.k, sh.in, sh.out, threads, i, got[i], want[i])
				}
			}
		}
	}
}

// BenchmarkFlipFilters flips ResNet's largest 3x3 filters (512 -> 512,
// 9 MB), as every backward pass of such a layer does: the kernel and the
// one-value-at-a-time definition.
func BenchmarkFlipFilters(b *testing.B) {
	s := ConvShape{Batch: 1, InC: 512, InH: 7, InW: 7, OutC: 512, KH: 3, KW: 3, Stride: 1, Pad: 1}
	w, wt := randSlice(rand.New(rand.NewPCG(1, 2)), s.wLen()), make([]float32, s.wLen())
	for _, naive := range []bool{false, true} {
		b.Run(fmt.Sprintf("naive=%v", naive), func(b *testing.B) {
			b.SetBytes(int64(8 * s.wLen()))
			for b.Loop() {
				if naive {
					flipFiltersNaive(wt, w, s)
				} else {
					flipFilters(wt, w, s)
				}
			}
		})
	}
}

// TestStemMatchesNaive: each choice of the stem (the direct convolution of
// stem.go, forced, and im2col) against the naive convolution, for one to
// four input channels, output widths of 3, 4, 6 and 7 vectors (the blocks
// of four and three), batches of 1 to 3, odd heights, with and without
// bias, into garbage-filled output and scratch; and the filter gradient,
// without (the first layer) and with the input gradient, on one and two
// threads.
func TestStemMatchesNaive(t *testing.T) {
	defer SetThreads(0)
	if !stemFast {
		t.Skip("no direct stem kernel on this CPU")
	}
	rng := rand.New(rand.NewPCG(81, 82))
	for i, sh := range []struct{ b, c, h, w, o int }{{1, 3, 224, 224, 64}, {2, 1, 9, 96, 4}, {3, 4, 17, 128, 8}, {1, 2, 30, 192, 12}, {2, 3, 5, 224, 16}, {24, 3, 128, 96, 4}} {
		s := ConvShape{Batch: sh.b, InC: sh.c, InH: sh.h, InW: sh.w, OutC: sh.o, KH: 7, KW: 7, Stride: 2, Pad: 3, Layout: CNHW}
		if !s.stemShape() {
			t.Fatalf("%+v: not a stem shape", s)
		}
		in, w := randSlice(rng, s.inLen()), randSlice(rng, s.wLen())
		var bias []float32
		if i%2 == 0 {
			bias = randSlice(rng, s.OutC)
		}
		dOut := randSlice(rng, s.outLen())
		dWRef, dInRef := filled(s.wLen(), gradInit), make([]float32, s.inLen())
		mW, mIn := make([]float32, s.wLen()), make([]float32, s.inLen())
		Conv2DBackwardNaive(dInRef, dWRef, nil, dOut, in, w, s)
		Conv2DBackwardNaive(mIn, mW, nil, absSlice(dOut), absSlice(in), absSlice(w), s)
		want, mag := make([]float32, s.outLen()), make([]float32, s.outLen())
		Conv2DForwardNaive(want, in, w, bias, s)
		Conv2DForwardNaive(mag, absSlice(in), absSlice(w), absSlice(bias), s)
		for _, choice := range kernelChoices[KernelStem] {
			func() {
				restore, err := ForceKernels(KernelStem + ":" + choice)
				if err != nil {
					t.Fatal(err)
				}
				defer restore()
				if got := s.stemDirect(); got != (choice == ChoiceDirect) {
					t.Fatalf("%+v: forced %s, the direct path taken: %v", s, choice, got)
				}
				if choice == ChoiceDirect && s.ColsLen() < stemScratchLen(s) {
					t.Fatalf("%+v: ColsLen %d, short of the direct path's scratch %d", s, s.ColsLen(), stemScratchLen(s))
				}
				got := filled(s.outLen(), garbageInit)
				Conv2DForward(got, in, w, bias, s, filled(max(s.ColsLen(), stemScratchLen(s)), garbageInit))
				closeTo(t, fmt.Sprintf("%+v %s", s, choice), got, want, mag, 1e-6, convTol)
				// The filter gradient, as the first layer (no dIn) takes it and
				// with dIn, on 1 and 2 threads.
				for _, withDIn := range []bool{false, true} {
					for _, threads := range []int{1, 2} {
						SetThreads(threads)
						dW := filled(s.wLen(), gradInit)
						var dIn []float32
						if withDIn {
							dIn = filled(s.inLen(), garbageInit)
						}
						Conv2DBackward(dIn, dW, nil, dOut, in, w, s, filled(s.ColsLen(), garbageInit))
						name := fmt.Sprintf("%+v %s dIn=%v threads=%d", s, choice, withDIn, threads)
						closeTo(t, name+" dW", dW, dWRef, mW, gradInit, convTol)
						if withDIn {
							closeTo(t, name+" dIn", dIn, dInRef, mIn, 1e-6, convTol)
						}
					}
				}
				SetThreads(0)
			}()
		}
	}
}

// BenchmarkStem times ResNet's stem at batch 8 (channel-major, as the
// networks run it), forward and backward (the filter gradient), each
// choice forced: im2col and the direct path.
func BenchmarkStem(b *testing.B) {
	s := ConvShape{Batch: 8, InC: 3, InH: 224, InW: 224, OutC: 64, KH: 7, KW: 7, Stride: 2, Pad: 3, Layout: CNHW}
	rng := rand.New(rand.NewPCG(1, 2))
	in, w, bias := randSlice(rng, s.inLen()), randSlice(rng, s.wLen()), randSlice(rng, s.OutC)
	out, cols, dW := make([]float32, s.outLen()), make([]float32, max(s.ColsLen(), stemScratchLen(s))), make([]float32, s.wLen())
	flops := 2 * float64(s.Batch*s.OutC*s.InC*49*s.OutH()*s.OutW())
	for _, choice := range kernelChoices[KernelStem] {
		if choice == ChoiceDirect && !stemFast {
			continue
		}
		b.Run(choice, func(b *testing.B) {
			restore, err := ForceKernels(KernelStem + ":" + choice)
			if err != nil {
				b.Fatal(err)
			}
			defer restore()
			b.Run("fwd", func(b *testing.B) {
				for b.Loop() {
					Conv2DForward(out, in, w, bias, s, cols)
				}
				b.ReportMetric(flops*float64(b.N)/b.Elapsed().Seconds()/1e9, "GFLOP/s")
			})
			b.Run("bwd", func(b *testing.B) { // the first layer's: the filter gradient alone
				for b.Loop() {
					Conv2DBackward(nil, dW, nil, out, in, w, s, cols)
				}
				b.ReportMetric(flops*float64(b.N)/b.Elapsed().Seconds()/1e9, "GFLOP/s")
			})
		})
	}
}
