package nn

import (
	"math"
	"math/rand/v2"
	"testing"

	"signsgd/kernels"
)

func TestParameterCounts(t *testing.T) {
	cases := []struct {
		model   string
		in      []int
		classes int
		hidden  int
		want    int
	}{
		{"mlp", []int{20}, 2, 40, 922},
		{"mlp", []int{20}, 0, 40, 881},
		{"mlp", []int{1, 28, 28}, 10, 128, 101770},
		{"cnn", []int{1, 28, 28}, 10, 0, 1199882},
		{"mnistnet", []int{1, 28, 28}, 10, 0, 580810},
		{"resnet18", []int{3, 224, 224}, 1000, 0, 11689512},
		{"resnet50", []int{3, 224, 224}, 1000, 0, 25557032},
	}
	for _, c := range cases {
		got, err := ParamCount(c.model, c.in, c.classes, c.hidden)
		if err != nil {
			t.Fatal(err)
		}
		if got != c.want {
			t.Errorf("%s %v: %d parameters, want %d", c.model, c.in, got, c.want)
		}
	}
	if _, err := Build("cnn", []int{20}, 2, 0, 1); err == nil {
		t.Error("cnn on vectors accepted")
	}
	if _, err := Build("vgg", []int{20}, 2, 0, 1); err == nil {
		t.Error("unknown model accepted")
	}
}

// Gradient of a whole small network (conv, batch norm in training mode,
// ReLU, max pool, residual block, global average pool, dense, softmax
// cross-entropy) against central finite differences of its loss. The
// forward passes are float32 and ReLU and max pool have kinks: a step that
// crosses one makes that difference meaningless. So each parameter is
// tried with three steps and passes if one agrees, and at most
// netFDMissFrac of them may fail all three (a wiring mistake breaks most).
const (
	netFDTol      = 2e-2 // relative, with an absolute floor of netFDFloor
	netFDFloor    = 1e-3
	netFDMissFrac = 0.01
)

var netFDSteps = []float32{1e-2, 3e-3, 1e-3, 3e-4, 1e-4}

func TestNetGradientFiniteDifferences(t *testing.T) {
	// Small, so few activations sit near a kink.
	n := &Net{Name: "tiny", In: []int{2, 4, 4}, Classes: 3}
	bd := &builder{arena: &n.arena, shape: []int{2, 4, 4}}
	toCNHW := bd.toChannelMajor()
	c1 := bd.conv(3, 3, 1, 1, true, nil)
	bn1 := bd.batchNorm()
	mp := bd.maxPool(2, 2, 0)
	main := &Sequential{Layers: []Layer{bd.conv(3, 3, 1, 1, false, nil), bd.batchNormRelu(), bd.conv(2, 3, 1, 1, false, nil)}}
	bd.shape = []int{3, 2, 2}
	short := &Sequential{Layers: []Layer{bd.conv(2, 1, 1, 0, false, nil)}}
	gap := bd.globalAvgPool()
	toNCHW := bd.toBatchMajor()
	n.body = &Sequential{Layers: []Layer{toCNHW, c1, bn1, &ReLU{}, mp, &Residual{Main: main, Shortcut: short}, gap, toNCHW, bd.dense(3)}}
	n.arena.Alloc(5)
	rng := rand.New(rand.NewPCG(1, 2))
	b := 3
	x := make([]float32, b*2*4*4)
	for i := range x {
		x[i] = float32(rng.NormFloat64())
	}
	y := []float32{0, 2, 1}
	n.LossGrad(x, y, b, 1)
	grad := append([]float32(nil), n.Grads()...)
	p := n.Params()
	misses := 0
	for k := range p {
		ok := false
		var num float64
		for _, h := range netFDSteps {
			old := p[k]
			p[k] = old + h
			up := n.LossGrad(x, y, b, 1)
			p[k] = old - h
			down := n.LossGrad(x, y, b, 1)
			p[k] = old
			num = (up - down) / float64(2*h)
			if math.Abs(float64(grad[k])-num) <= max(netFDFloor, netFDTol*math.Abs(num)) {
				ok = true
				break
			}
		}
		if !ok {
			misses++
			t.Logf("parameter %d: analytic %v, finite difference %v", k, grad[k], num)
		}
	}
	if float64(misses) > netFDMissFrac*float64(len(p)) {
		t.Fatalf("%d of %d parameters disagree with finite differences", misses, len(p))
	}
	t.Logf("%d parameters, %d disagree at every step", len(p), misses)
}

func TestTrainingStepsLowerTheLoss(t *testing.T) {
	for _, model := range []string{"mlp", "cnn"} {
		n, err := Build(model, []int{1, 28, 28}, 10, 32, 3)
		if err != nil {
			t.Fatal(err)
		}
		rng := rand.New(rand.NewPCG(7, 8))
		b := 16
		x := make([]float32, b*784)
		y := make([]float32, b)
		for i := range x {
			x[i] = float32(rng.NormFloat64())
		}
		for i := range y {
			y[i] = float32(i % 10)
		}
		first := n.LossGrad(x, y, b, 0)
		loss := first
		for step := 0; step < 30; step++ {
			loss = n.LossGrad(x, y, b, 0) // dropout varies with the seed; keep it fixed
			for i, g := range n.Grads() {
				n.Params()[i] -= 0.05 * g
			}
		}
		if !(loss < 0.5*first) {
			t.Errorf("%s: loss %v after 30 steps on one batch, started at %v", model, loss, first)
		}
	}
}

func TestTopK(t *testing.T) {
	logits := []float32{0.1, 0.5, 0.2, 0.9, 0.3, 0.0}
	// rows [0.1 0.5 0.2] and [0.9 0.3 0.0]
	if got := TopK(logits, []float32{1, 2}, 2, 3, 1); got != 1 {
		t.Fatalf("top-1 hits %d, want 1", got)
	}
	if got := TopK(logits, []float32{2, 1}, 2, 3, 2); got != 2 {
		t.Fatalf("top-2 hits %d, want 2", got)
	}
	if got := TopK(logits, []float32{0, 2}, 2, 3, 2); got != 0 {
		t.Fatalf("top-2 hits %d, want 0", got)
	}
}

// TestGradientsDeterministic: a training step gives the same gradient bit
// for bit run after run, with one thread and with two (no reduction whose
// order depends on the scheduling).
func TestGradientsDeterministic(t *testing.T) {
	defer kernels.SetThreads(0)
	defer kernels.SetBLASThreads(kernels.BLASThreads())
	for _, model := range []string{"cnn", "mnistnet"} {
		rng := rand.New(rand.NewPCG(9, 10))
		b := 6
		x := make([]float32, b*784)
		y := make([]float32, b)
		for i := range x {
			x[i] = float32(rng.NormFloat64())
		}
		for i := range y {
			y[i] = float32(i % 10)
		}
		var ref []float32
		for i, threads := range []int{1, 1, 2, 2} {
			if i%2 == 0 {
				ref = nil
			}
			kernels.SetThreads(threads)
			kernels.SetBLASThreads(threads)
			n, err := Build(model, []int{1, 28, 28}, 10, 0, 4)
			if err != nil {
				t.Fatal(err)
			}
			n.LossGrad(x, y, b, 3)
			g := n.Grads()
			if ref == nil {
				ref = append([]float32(nil), g...)
				continue
			}
			for i := range g {
				if math.Float32bits(g[i]) != math.Float32bits(ref[i]) {
					t.Fatalf("%s, %d threads: gradient [%d] = %v, first run %v", model, threads, i, g[i], ref[i])
				}
			}
		}
	}
}

// TestFusedJoinMatchesUnfused: residual blocks whose branches end in batch
// norms (identity and convolutional shortcuts, as ResNet's) give bit for
// bit the same loss, gradient, running statistics and evaluation outputs
// with the join fused as with each layer on its own.
func TestFusedJoinMatchesUnfused(t *testing.T) {
	rng := rand.New(rand.NewPCG(11, 12))
	b := 4
	x := make([]float32, b*3*8*8)
	for i := range x {
		x[i] = float32(rng.NormFloat64())
	}
	y := []float32{0, 2, 1, 3}
	type result struct {
		loss      float64
		grad, out []float32
		top1      int
	}
	run := func(fused bool) (result, *Net) {
		defer setFuseJoins(fused)()
		n, err := Build("resnet18", []int{3, 8, 8}, 4, 0, 7)
		if err != nil {
			t.Fatal(err)
		}
		var r result
		for step := range 2 { // the second step sees updated running statistics
			r.loss = n.LossGrad(x, y, b, uint64(step))
		}
		r.grad = append([]float32(nil), n.Grads()...)
		_, r.top1, _ = n.Eval(x, y, b)
		r.out = append([]float32(nil), n.body.Forward(&Ctx{}, x, b)...)
		return r, n
	}
	want, nu := run(false)
	got, nf := run(true)
	if joined := 0; true {
		for _, l := range nf.body.Layers {
			if r, ok := l.(*Residual); ok {
				if _, _, ok := r.joinable(); ok {
					joined++
				}
			}
		}
		if joined != 8 {
			t.Fatalf("%d of resnet18's 8 blocks joinable", joined)
		}
	}
	if math.Float64bits(got.loss) != math.Float64bits(want.loss) || got.top1 != want.top1 {
		t.Fatalf("fused: loss %v top-1 %d, unfused %v %d", got.loss, got.top1, want.loss, want.top1)
	}
	for _, pr := range [][2][]float32{{got.grad, want.grad}, {got.out, want.out}, {nf.Params(), nu.Params()}} {
		for i := range pr[0] {
			if math.Float32bits(pr[0][i]) != math.Float32bits(pr[1][i]) {
				t.Fatalf("fused [%d] = %v, unfused %v", i, pr[0][i], pr[1][i])
			}
		}
	}
}
