package kernels

import (
	"math"
	"math/rand/v2"
	"testing"
)

// Gradient checks against central finite differences. The layers compute in
// float32, so the step and tolerance are sized for float32 round-off.
const (
	fdStep = 1e-2
	fdTol  = 2e-2 // |analytic - numeric| <= fdTol * max(1, |numeric|)
)

// tinyNet is dense(I->H) ReLU dense(H->C) with a softmax or MSE head.
type tinyNet struct {
	b, i, h, c int
	p          []float32 // w1 (H,I), b1 (H), w2 (C,H), b2 (C)
	mse        bool
}

func (n tinyNet) split(p []float32) (w1, b1, w2, b2 []float32) {
	o := 0
	take := func(k int) []float32 { s := p[o : o+k]; o += k; return s }
	return take(n.h * n.i), take(n.h), take(n.c * n.h), take(n.c)
}

func (n tinyNet) lossGrad(x, y []float32, grad []float32) float64 {
	w1, b1, w2, b2 := n.split(n.p)
	h := make([]float32, n.b*n.h)
	out := make([]float32, n.b*n.c)
	DenseForward(h, x, w1, b1, n.b, n.i, n.h)
	ReluForward(h, h)
	DenseForward(out, h, w2, b2, n.b, n.h, n.c)
	dOut := make([]float32, len(out))
	var loss float64
	if n.mse {
		loss = MeanSquaredError(dOut, out, y)
	} else {
		loss, _ = SoftmaxCrossEntropy(dOut, out, y, n.b, n.c)
	}
	if grad != nil {
		clear(grad)
		gw1, gb1, gw2, gb2 := n.split(grad)
		dh := make([]float32, len(h))
		DenseBackward(dh, gw2, gb2, dOut, h, w2, n.b, n.h, n.c)
		ReluBackward(dh, dh, h)
		DenseBackward(nil, gw1, gb1, dh, x, w1, n.b, n.i, n.h)
	}
	return loss
}

func TestDenseGradientsFiniteDifferences(t *testing.T) {
	rng := rand.New(rand.NewPCG(21, 22))
	for _, mse := range []bool{false, true} {
		n := tinyNet{b: 5, i: 4, h: 6, c: 3, mse: mse}
		if mse {
			n.c = 1
		}
		n.p = make([]float32, n.h*n.i+n.h+n.c*n.h+n.c)
		for i := range n.p {
			n.p[i] = float32(rng.NormFloat64() * 0.7)
		}
		x := make([]float32, n.b*n.i)
		for i := range x {
			x[i] = float32(rng.NormFloat64())
		}
		y := make([]float32, n.b)
		for i := range y {
			if mse {
				y[i] = float32(rng.NormFloat64())
			} else {
				y[i] = float32(rng.IntN(n.c))
			}
		}
		grad := make([]float32, len(n.p))
		n.lossGrad(x, y, grad)
		for k := range n.p {
			old := n.p[k]
			n.p[k] = old + fdStep
			up := n.lossGrad(x, y, nil)
			n.p[k] = old - fdStep
			down := n.lossGrad(x, y, nil)
			n.p[k] = old
			num := (up - down) / (2 * fdStep)
			if d := math.Abs(float64(grad[k]) - num); d > fdTol*math.Max(1, math.Abs(num)) {
				t.Fatalf("mse=%v parameter %d: analytic %v, finite difference %v", mse, k, grad[k], num)
			}
		}
	}
}

func TestDenseMatchesNaive(t *testing.T) {
	rng := rand.New(rand.NewPCG(23, 24))
	for _, sh := range [][3]int{{1, 1, 1}, {5, 7, 3}, {14, 784, 128}, {3, 40, 2}} {
		b, in, out := sh[0], sh[1], sh[2]
		x, w, bias, dOut := randSlice(rng, b*in), randSlice(rng, out*in), randSlice(rng, out), randSlice(rng, b*out)
		y1, y2 := make([]float32, b*out), make([]float32, b*out)
		DenseForward(y1, x, w, bias, b, in, out)
		DenseForwardNaive(y2, x, w, bias, b, in, out)
		dw1, dw2 := randSlice(rng, out*in), make([]float32, out*in)
		copy(dw2, dw1)
		db1, db2 := make([]float32, out), make([]float32, out)
		dx1, dx2 := make([]float32, b*in), make([]float32, b*in)
		DenseBackward(dx1, dw1, db1, dOut, x, w, b, in, out)
		DenseBackwardNaive(dx2, dw2, db2, dOut, x, w, b, in, out)
		for _, p := range [][2][]float32{{y1, y2}, {dw1, dw2}, {db1, db2}, {dx1, dx2}} {
			for i := range p[0] {
				if d := math.Abs(float64(p[0][i] - p[1][i])); d > 1e-4*(1+math.Abs(float64(p[1][i]))) {
					t.Fatalf("shape %v: SGEMM dense %v, naive %v at %d", sh, p[0][i], p[1][i], i)
				}
			}
		}
	}
}

func TestSoftmaxCrossEntropyValues(t *testing.T) {
	// equal logits: loss log(C), gradient (1/C - onehot)/B
	logits := []float32{0, 0, 0, 0}
	d := make([]float32, 4)
	loss, _ := SoftmaxCrossEntropy(d, logits, []float32{1, 0}, 2, 2)
	if math.Abs(loss-math.Log(2)) > 1e-7 || d[0] != 0.25 || d[1] != -0.25 || d[2] != -0.25 || d[3] != 0.25 {
		t.Fatalf("loss %v grad %v", loss, d)
	}
	// huge logits stay finite
	loss, correct := SoftmaxCrossEntropy(nil, []float32{1e30, -1e30}, []float32{0}, 1, 2)
	if math.IsNaN(loss) || math.IsInf(loss, 0) || correct != 1 {
		t.Fatalf("loss %v correct %d", loss, correct)
	}
}

func TestReluBackwardMatchesNaive(t *testing.T) {
	rng := rand.New(rand.NewPCG(25, 26))
	for _, n := range []int{0, 1, 7, 1000, reluGrain*3 + 5} {
		out, dOut := randSlice(rng, n), randSlice(rng, n)
		for i := range out {
			switch rng.IntN(6) {
			case 0:
				out[i] = 0
			case 1:
				out[i] = float32(math.Copysign(0, -1))
			case 2:
				out[i] = math.SmallestNonzeroFloat32
			case 3:
				out[i] = float32(math.Inf(1))
			}
		}
		a, b := make([]float32, n), make([]float32, n)
		ReluBackward(a, dOut, out)
		ReluBackwardNaive(b, dOut, out)
		for i := range a {
			if math.Float32bits(a[i]) != math.Float32bits(b[i]) && !(a[i] == 0 && b[i] == 0) {
				t.Fatalf("n=%d at %d (out %v): fast %v naive %v", n, i, out[i], a[i], b[i])
			}
		}
	}
}
