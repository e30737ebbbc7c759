package data

import (
	"fmt"
	"math/rand/v2"
	"runtime"
	"sync"
	"sync/atomic"
)

// SyntheticImagesName is the dataset name of SyntheticImages.
const SyntheticImagesName = "imagenet-synthetic"

// syntheticImages is the Source of SyntheticImages.
type syntheticImages struct {
	n, classes, c, h, w int
	seed                uint64
	offset              []float32 // (classes, c)
}

// SyntheticImages is an ImageNet-shaped Source for benchmarks: n samples
// of shape (c, h, w) in classes classes, each generated on the fly from
// (seed, index) when batched. Sample i's label is a hash of (seed, i)
// modulo classes; its values are N(0, 1) noise plus a per-channel offset
// in [-0.25, 0.25] that depends on the class only (not on the seed, so a
// test set from another seed shares it), which makes the task a little
// learnable. It panics if a size is not positive.
func SyntheticImages(n, classes, c, h, w int, seed uint64) Source {
	if n <= 0 || classes <= 0 || c <= 0 || h <= 0 || w <= 0 {
		panic(fmt.Sprintf("data.SyntheticImages: n %d, classes %d, shape (%d, %d, %d): want positive sizes", n, classes, c, h, w))
	}
	s := &syntheticImages{n: n, classes: classes, c: c, h: h, w: w, seed: seed, offset: make([]float32, classes*c)}
	for k := range s.offset {
		u := float64(imageMix(uint64(k)^0x51a7e71c)>>11) / (1 << 53)
		s.offset[k] = float32(0.5*u - 0.25)
	}
	return s
}

// String names the dataset: "imagenet-synthetic".
func (s *syntheticImages) String() string { return SyntheticImagesName }

// Len implements Source.
func (s *syntheticImages) Len() int { return s.n }

// NumClasses implements Source.
func (s *syntheticImages) NumClasses() int { return s.classes }

// Shape implements Source: (c, h, w).
func (s *syntheticImages) Shape() []int { return []int{s.c, s.h, s.w} }

// Label implements Labeled.
func (s *syntheticImages) Label(i int) int { return s.label(i) }

// label is sample i's class.
func (s *syntheticImages) label(i int) int {
	return int(imageMix(s.seed^imageMix(uint64(i))) % uint64(s.classes))
}

// Batch implements Source, generating the samples on GOMAXPROCS
// goroutines; epoch is ignored (there is no augmentation).
func (s *syntheticImages) Batch(x, y []float32, idx []int, epoch int) error {
	ss := s.c * s.h * s.w
	if len(x) < len(idx)*ss || len(y) < len(idx) {
		return fmt.Errorf("%s: batch of %d samples into buffers of %d and %d values", SyntheticImagesName, len(idx), len(x), len(y))
	}
	for _, i := range idx {
		if i < 0 || i >= s.n {
			return fmt.Errorf("%s: sample %d out of range [0, %d)", SyntheticImagesName, i, s.n)
		}
	}
	var next atomic.Int64
	work := func() {
		for {
			r := int(next.Add(1)) - 1
			if r >= len(idx) {
				return
			}
			i := idx[r]
			label := s.label(i)
			y[r] = float32(label)
			rng := rand.New(rand.NewPCG(imageMix(s.seed), uint64(i)))
			hw := s.h * s.w
			for c := range s.c {
				off := s.offset[label*s.c+c]
				out := x[r*ss+c*hw : r*ss+(c+1)*hw]
				for j := range out {
					out[j] = float32(rng.NormFloat64()) + off
				}
			}
		}
	}
	var wg sync.WaitGroup
	for range min(runtime.GOMAXPROCS(0), len(idx)) - 1 {
		wg.Go(work)
	}
	work()
	wg.Wait()
	return nil
}
