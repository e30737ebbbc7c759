package nn

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"
	"time"

	"signsgd/kernels"
)

// BenchmarkStep is one training step's forward and backward pass (no
// optimizer): images or samples per second on this machine. ResNets run
// with 2 threads (BLAS and the Go loops), the MNIST networks with 1, as the
// PyTorch timings of bench/torch_step.py do. Beside the mean over b.N
// steps it reports the median step's rate, the statistic torch_step.py
// prints.
func BenchmarkStep(b *testing.B) {
	cases := []struct {
		model   string
		in      []int
		classes int
		hidden  int
		batch   int
		threads int
	}{
		{"mlp", []int{1, 28, 28}, 10, 128, 128, 1},
		{"cnn", []int{1, 28, 28}, 10, 0, 14, 1},
		{"mnistnet", []int{1, 28, 28}, 10, 0, 14, 1},
		{"resnet18", []int{3, 224, 224}, 1000, 0, 8, 2},
		{"resnet50", []int{3, 224, 224}, 1000, 0, 8, 2},
	}
	for _, c := range cases {
		b.Run(fmt.Sprintf("model=%s/batch=%d", c.model, c.batch), func(b *testing.B) {
			kernels.SetBLASThreads(c.threads)
			kernels.SetThreads(c.threads)
			defer kernels.SetBLASThreads(2)
			defer kernels.SetThreads(0)
			n, err := Build(c.model, c.in, c.classes, c.hidden, 1)
			if err != nil {
				b.Fatal(err)
			}
			rng := rand.New(rand.NewPCG(1, 2))
			x := make([]float32, c.batch*prod(c.in))
			for i := range x {
				x[i] = float32(rng.NormFloat64())
			}
			y := make([]float32, c.batch)
			for i := range y {
				y[i] = float32(rng.IntN(c.classes))
			}
			n.LossGrad(x, y, c.batch, 0) // allocate buffers
			steps := make([]float64, b.N)
			b.ResetTimer()
			for i := range b.N {
				t0 := time.Now()
				n.LossGrad(x, y, c.batch, uint64(i))
				steps[i] = time.Since(t0).Seconds()
			}
			b.ReportMetric(float64(c.batch*b.N)/b.Elapsed().Seconds(), "samples/s")
			// PyTorch's figure (bench/torch_step.py) is its median step's.
			slices.Sort(steps)
			med := (steps[(b.N-1)/2] + steps[b.N/2]) / 2
			b.ReportMetric(float64(c.batch)/med, "median-samples/s")
		})
	}
}
