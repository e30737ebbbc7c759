package job

import (
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"math"
	"math/rand/v2"

	"signsgd/data"
	"signsgd/kernels"
)

// Model is a network with its parameters and their gradient as flat
// float32 vectors (the optimizers see only these).
type Model interface {
	Params() []float32
	Grads() []float32
	// LossGrad zeroes the gradient, then computes the mean loss over the rows
	// idx of ds and its gradient.
	LossGrad(ds data.Dataset, idx []int) float64
	// Evaluate returns the mean loss over ds and, for classification, the
	// accuracy in [0, 1] (NaN for regression).
	Evaluate(ds data.Dataset) (loss, acc float64)
}

// MLP is dense layers with ReLU between them: a softmax cross-entropy head
// for classification (last size = classes) or mean squared error for
// regression (last size = 1).
type MLP struct {
	sizes   []int
	classes int
	params  []float32
	grads   []float32
	w, b    [][]float32 // views into params: w[l] (out, in), b[l] (out)
	dw, db  [][]float32 // views into grads
	acts    [][]float32 // acts[0] input batch, acts[l+1] output of layer l
	dacts   [][]float32
}

// NewMLP builds an MLP with the given layer sizes and PyTorch's default
// initialisation (uniform in +-1/sqrt(fan_in) for weights and biases),
// drawn from seed so every rank starts from the same point.
func NewMLP(sizes []int, classes int, seed uint64) *MLP {
	n := 0
	for l := 0; l+1 < len(sizes); l++ {
		n += sizes[l+1]*sizes[l] + sizes[l+1]
	}
	m := &MLP{sizes: sizes, classes: classes, params: make([]float32, n), grads: make([]float32, n)}
	rng := rand.New(rand.NewPCG(seed, 0x1417))
	off := 0
	for l := 0; l+1 < len(sizes); l++ {
		in, out := sizes[l], sizes[l+1]
		bound := 1 / math.Sqrt(float64(in))
		m.w = append(m.w, m.params[off:off+in*out])
		m.dw = append(m.dw, m.grads[off:off+in*out])
		off += in * out
		m.b = append(m.b, m.params[off:off+out])
		m.db = append(m.db, m.grads[off:off+out])
		off += out
		for _, p := range [][]float32{m.w[l], m.b[l]} {
			for i := range p {
				p[i] = float32((2*rng.Float64() - 1) * bound)
			}
		}
	}
	return m
}

func (m *MLP) Params() []float32 { return m.params }
func (m *MLP) Grads() []float32  { return m.grads }

// forward runs rows idx of ds (all rows if idx is nil) and returns the
// output (B, last size).
func (m *MLP) forward(ds data.Dataset, idx []int) ([]float32, int) {
	b := len(idx)
	if idx == nil {
		b = ds.Len()
	}
	if len(m.acts) == 0 || cap(m.acts[0]) < b*m.sizes[0] {
		m.acts = make([][]float32, len(m.sizes))
		m.dacts = make([][]float32, len(m.sizes))
		for l, s := range m.sizes {
			m.acts[l] = make([]float32, b*s)
			m.dacts[l] = make([]float32, b*s)
		}
	}
	for l, s := range m.sizes {
		m.acts[l] = m.acts[l][:b*s]
		m.dacts[l] = m.dacts[l][:b*s]
	}
	f := m.sizes[0]
	if idx == nil {
		copy(m.acts[0], ds.X)
	} else {
		for r, i := range idx {
			copy(m.acts[0][r*f:(r+1)*f], ds.Row(i))
		}
	}
	last := len(m.sizes) - 2
	for l := 0; l <= last; l++ {
		kernels.DenseForward(m.acts[l+1], m.acts[l], m.w[l], m.b[l], b, m.sizes[l], m.sizes[l+1])
		if l < last {
			kernels.ReluForward(m.acts[l+1], m.acts[l+1])
		}
	}
	return m.acts[last+1], b
}

func (m *MLP) targets(ds data.Dataset, idx []int) []float32 {
	if idx == nil {
		return ds.Y
	}
	y := make([]float32, len(idx))
	for r, i := range idx {
		y[r] = ds.Y[i]
	}
	return y
}

func (m *MLP) head(dOut, out, y []float32, b int) (loss float64, correct int) {
	if m.classes > 0 {
		return kernels.SoftmaxCrossEntropy(dOut, out, y, b, m.classes)
	}
	return kernels.MeanSquaredError(dOut, out, y), 0
}

func (m *MLP) LossGrad(ds data.Dataset, idx []int) float64 {
	out, b := m.forward(ds, idx)
	last := len(m.sizes) - 2
	loss, _ := m.head(m.dacts[last+1], out, m.targets(ds, idx), b)
	clear(m.grads)
	for l := last; l >= 0; l-- {
		var dIn []float32
		if l > 0 {
			dIn = m.dacts[l]
		}
		kernels.DenseBackward(dIn, m.dw[l], m.db[l], m.dacts[l+1], m.acts[l], m.w[l], b, m.sizes[l], m.sizes[l+1])
		if l > 0 {
			kernels.ReluBackward(m.dacts[l], m.dacts[l], m.acts[l])
		}
	}
	return loss
}

func (m *MLP) Evaluate(ds data.Dataset) (loss, acc float64) {
	out, b := m.forward(ds, nil)
	loss, correct := m.head(nil, out, ds.Y, b)
	if m.classes == 0 {
		return loss, math.NaN()
	}
	return loss, float64(correct) / float64(b)
}

// ModelChecksum is the SHA-256 of the parameters as little-endian float32s.
func ModelChecksum(params []float32) string {
	h := sha256.New()
	var buf [4096]byte
	for len(params) > 0 {
		n := min(len(params), len(buf)/4)
		for i, v := range params[:n] {
			binary.LittleEndian.PutUint32(buf[4*i:], math.Float32bits(v))
		}
		h.Write(buf[:4*n])
		params = params[n:]
	}
	return hex.EncodeToString(h.Sum(nil))
}

// newModel builds the model a configuration names.
func newModel(cfg *Config, train data.Dataset) (Model, error) {
	switch cfg.Model {
	case "mlp":
		out := 1
		if train.Classes > 0 {
			out = train.Classes
		}
		return NewMLP([]int{train.Features, cfg.Hidden, out}, train.Classes, cfg.Seed), nil
	}
	return nil, fmt.Errorf("--model: unknown model %q", cfg.Model)
}
