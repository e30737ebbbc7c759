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

// softmaxCrossEntropyNaive is the reference for SoftmaxCrossEntropy: each
// probability's exponential computed where it is used.
func softmaxCrossEntropyNaive(dLogits, logits, labels []float32, batch, classes int) (loss float64, correct int) {
	for n := 0; n < batch; n++ {
		z := logits[n*classes : (n+1)*classes]
		label := int(labels[n])
		mx, arg := argmax(z)
		if arg == label {
			correct++
		}
		sum := 0.0
		for _, v := range z {
			sum += math.Exp(float64(v - mx))
		}
		loss += math.Log(sum) - float64(z[label]-mx)
		for c, v := range z {
			p := math.Exp(float64(v-mx)) / sum
			if c == label {
				p--
			}
			dLogits[n*classes+c] = float32(p / float64(batch))
		}
	}
	return loss / float64(batch), correct
}

// The loss and gradient are bit for bit the reference's, with the
// exponentials kept (10 classes) and recomputed (1000), infinities and
// NaNs among the logits.
func TestSoftmaxCrossEntropyMatchesNaive(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 6))
	inf := float32(math.Inf(1))
	nan := float32(math.NaN())
	for _, classes := range []int{1, 10, 16, 17, 1000} {
		batch := 7
		logits, labels := randSlice(rng, batch*classes), make([]float32, batch)
		for i := range labels {
			labels[i] = float32(rng.IntN(classes))
		}
		// specials in the last rows: an infinity of each sign, a NaN
		logits[(batch-1)*classes] = inf
		logits[(batch-2)*classes+classes/2] = -inf
		logits[(batch-3)*classes+classes-1] = nan
		d, dn := make([]float32, len(logits)), make([]float32, len(logits))
		loss, correct := SoftmaxCrossEntropy(d, logits, labels, batch, classes)
		lossN, correctN := softmaxCrossEntropyNaive(dn, logits, labels, batch, classes)
		if math.Float64bits(loss) != math.Float64bits(lossN) || correct != correctN {
			t.Fatalf("%d classes: loss %v correct %d, reference %v %d", classes, loss, correct, lossN, correctN)
		}
		for i := range d {
			if math.Float32bits(d[i]) != math.Float32bits(dn[i]) {
				t.Fatalf("%d classes: gradient %v at %d, reference %v", classes, d[i], i, dn[i])
			}
		}
	}
}

// reluSpecials puts zeros of both signs, infinities, NaNs of both signs,
// subnormals and the smallest normal among x.
func reluSpecials(rng *rand.Rand, x []float32) {
	for i := range x {
		switch rng.IntN(9) {
		case 0:
			x[i] = 0
		case 1:
			x[i] = float32(math.Copysign(0, -1))
		case 2:
			x[i] = math.SmallestNonzeroFloat32
		case 3:
			x[i] = -math.SmallestNonzeroFloat32
		case 4:
			x[i] = float32(math.Inf(1 - 2*rng.IntN(2)))
		case 5:
			x[i] = math.Float32frombits(0x7fc00000 | uint32(rng.IntN(2))<<31)
		}
	}
}

// TestReluForwardMatchesNaive: ReluForward is Go's max(v, 0) bit for bit
// (-0 made +0; a NaN stays a NaN, whose payload Go's max does not fix)
// with the AVX-512 loop and without it, on every tail length, at
// unaligned starts, and in place.
func TestReluForwardMatchesNaive(t *testing.T) {
	rng := rand.New(rand.NewPCG(27, 28))
	for _, asm := range []bool{true, false} {
		func() {
			defer setUseAsm(asm)()
			for _, n := range []int{0, 1, 15, 16, 17, 31, 33, 1000, reluGrain*3 + 5} {
				for _, off := range []int{0, 1, 3} {
					in := randSlice(rng, n+off)[off:]
					reluSpecials(rng, in)
					want := make([]float32, n)
					ReluForwardNaive(want, in)
					got := make([]float32, n+off)[off:]
					ReluForward(got, in)
					ReluForward(in, in)
					same := func(a, b float32) bool {
						return math.Float32bits(a) == math.Float32bits(b) || a != a && b != b
					}
					for i := range want {
						if !same(got[i], want[i]) || !same(in[i], want[i]) {
							t.Fatalf("asm=%v n=%d off=%d at %d: got %v (in place %v), want %v", asm, n, off, i, got[i], in[i], want[i])
						}
					}
				}
			}
		}()
	}
}

func TestReluBackwardMatchesNaive(t *testing.T) {
	rng := rand.New(rand.NewPCG(25, 26))
	for _, asm := range []bool{true, false} {
		func() {
			defer setUseAsm(asm)()
			for _, n := range []int{0, 1, 7, 16, 17, 1000, reluGrain*3 + 5} {
				for _, off := range []int{0, 1} {
					out, dOut := randSlice(rng, n+off)[off:], randSlice(rng, n)
					reluSpecials(rng, out)
					a, b := make([]float32, n), make([]float32, n)
					ReluBackward(a, dOut, out)
					ReluBackwardNaive(b, dOut, out)
					for i := range a {
						// The naive test is y > 0, false for a NaN; the fast
						// ones keep dOut where y's bits are a positive int32.
						nan := out[i] != out[i] && math.Float32bits(out[i])>>31 == 0
						if math.Float32bits(a[i]) != math.Float32bits(b[i]) && !(a[i] == 0 && b[i] == 0) && !(nan && a[i] == dOut[i]) {
							t.Fatalf("asm=%v n=%d off=%d at %d (out %v): fast %v naive %v", asm, n, off, i, out[i], a[i], b[i])
						}
					}
					ReluBackward(dOut, dOut, out) // in place
					for i := range a {
						if math.Float32bits(dOut[i]) != math.Float32bits(a[i]) {
							t.Fatalf("asm=%v n=%d off=%d at %d: in place %v, want %v", asm, n, off, i, dOut[i], a[i])
						}
					}
				}
			}
		}()
	}
}

// BenchmarkRelu is the ReLU's forward and backward on one thread over a
// layer's worth of pre-activations (mnistnet's second convolution at batch
// 14: 14 x 64 x 28 x 28), half of them negative; /kernel=go is the
// portable loop on a CPU that would take the assembly.
func BenchmarkRelu(b *testing.B) {
	n := 14 * 64 * 28 * 28
	for _, pass := range []string{"forward", "backward"} {
		oneThreadKernels(b, pass, func(b *testing.B) {
			rng := rand.New(rand.NewPCG(1, 2))
			x, d := randSlice(rng, n), randSlice(rng, n)
			y := make([]float32, n)
			ReluForward(y, x)
			b.SetBytes(int64(8 * n))
			for range b.N {
				if pass == "forward" {
					ReluForward(d, x)
				} else {
					ReluBackward(d, x, y)
				}
			}
		})
	}
}
