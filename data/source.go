package data

import "fmt"

// Source is a dataset the training loop reads batch by batch: the
// in-memory Dataset (synthetic regression, MNIST) and the streamed image
// folders (ImageNet) implement it.
type Source interface {
	// Len is the number of samples.
	Len() int
	// NumClasses is the number of classes (0 for regression).
	NumClasses() int
	// Shape is one sample's shape: (features) for vectors, (C, H, W) for
	// images.
	Shape() []int
	// Batch writes samples idx into x (len(idx) * prod(Shape()) values,
	// row-major) and their targets into y (len(idx)); epoch seeds any
	// random augmentation, so a run's batches depend only on the seed.
	Batch(x, y []float32, idx []int, epoch int) error
}

// SampleSize is the number of float32s of one sample of s.
func SampleSize(s Source) int {
	n := 1
	for _, d := range s.Shape() {
		n *= d
	}
	return n
}

// NumClasses implements Source.
func (d Dataset) NumClasses() int { return d.Classes }

// Shape implements Source: (Features), or (1, 28, 28) for MNIST-sized rows.
func (d Dataset) Shape() []int {
	if d.Image != nil {
		return d.Image
	}
	return []int{d.Features}
}

// Batch implements Source by copying rows.
func (d Dataset) Batch(x, y []float32, idx []int, epoch int) error {
	f := d.Features
	if len(x) < len(idx)*f || len(y) < len(idx) {
		return fmt.Errorf("batch of %d rows into buffers of %d and %d values", len(idx), len(x), len(y))
	}
	for r, i := range idx {
		if i < 0 || i >= d.Len() {
			return fmt.Errorf("row %d out of range [0, %d)", i, d.Len())
		}
		copy(x[r*f:(r+1)*f], d.X[i*f:(i+1)*f])
		y[r] = d.Y[i]
	}
	return nil
}
