package nn

import (
	"math"
	"math/rand/v2"
)

// Arena collects the parameter tensors of a network while it is built and
// then allocates them as views of one flat vector (and the gradients of
// another), initialised in the order they were added.
type Arena struct {
	specs []paramSpec
	n     int
	data  []float32
	grad  []float32
}

type paramSpec struct {
	n          int
	data, grad *[]float32
	init       Init
}

// Init fills a freshly allocated parameter tensor.
type Init func(p []float32, rng *rand.Rand)

// Add registers a tensor of n values; data and grad are set by Alloc.
func (a *Arena) Add(n int, data, grad *[]float32, init Init) {
	a.specs = append(a.specs, paramSpec{n: n, data: data, grad: grad, init: init})
	a.n += n
}

// Alloc allocates every registered tensor and initialises it from seed.
func (a *Arena) Alloc(seed uint64) {
	a.data = make([]float32, a.n)
	a.grad = make([]float32, a.n)
	rng := rand.New(rand.NewPCG(seed, 0x1417))
	off := 0
	for _, s := range a.specs {
		*s.data = a.data[off : off+s.n : off+s.n]
		*s.grad = a.grad[off : off+s.n : off+s.n]
		if s.init != nil {
			s.init(*s.data, rng)
		}
		off += s.n
	}
}

// Uniform draws from U(-bound, bound): PyTorch's default for Linear and
// Conv2d weights and biases, bound = 1/sqrt(fan_in).
func Uniform(bound float64) Init {
	return func(p []float32, rng *rand.Rand) {
		for i := range p {
			p[i] = float32((2*rng.Float64() - 1) * bound)
		}
	}
}

// KaimingNormalFanOut draws from N(0, 2/fanOut): torchvision's ResNet
// convolutions.
func KaimingNormalFanOut(fanOut int) Init {
	std := math.Sqrt(2 / float64(fanOut))
	return func(p []float32, rng *rand.Rand) {
		for i := range p {
			p[i] = float32(rng.NormFloat64() * std)
		}
	}
}

// Const fills with v (batch norm's gamma = 1, beta = 0).
func Const(v float32) Init {
	return func(p []float32, _ *rand.Rand) {
		for i := range p {
			p[i] = v
		}
	}
}
