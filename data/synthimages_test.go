package data

import (
	"math"
	"slices"
	"testing"
)

func TestSyntheticImages(t *testing.T) {
	const n, classes, c, h, w = 400, 10, 3, 32, 32
	a, b := SyntheticImages(n, classes, c, h, w, 5), SyntheticImages(n, classes, c, h, w, 5)
	if a.Len() != n || a.NumClasses() != classes || !slices.Equal(a.Shape(), []int{c, h, w}) {
		t.Fatalf("Len %d classes %d shape %v", a.Len(), a.NumClasses(), a.Shape())
	}
	if s, ok := a.(interface{ String() string }); !ok || s.String() != "imagenet-synthetic" {
		t.Fatal("SyntheticImages is not named imagenet-synthetic")
	}
	ss := SampleSize(a)
	idx := make([]int, n)
	for i := range idx {
		idx[i] = n - 1 - i
	}
	batch := func(s Source, idx []int, epoch int) ([]float32, []float32) {
		x, y := make([]float32, len(idx)*ss), make([]float32, len(idx))
		if err := s.Batch(x, y, idx, epoch); err != nil {
			t.Fatal(err)
		}
		return x, y
	}
	x1, y1 := batch(a, idx, 0)
	x2, y2 := batch(b, idx, 3)
	if !slices.Equal(x1, x2) || !slices.Equal(y1, y2) {
		t.Fatal("same seed, different samples")
	}
	x3, _ := batch(a, idx[5:6], 0)
	if !slices.Equal(x3, x1[5*ss:6*ss]) {
		t.Fatal("a sample depends on its batch")
	}
	x4, y4 := batch(SyntheticImages(n, classes, c, h, w, 6), idx, 0)
	if slices.Equal(x1, x4) || slices.Equal(y1, y4) {
		t.Fatal("seeds 5 and 6 gave the same samples")
	}
	// moments, label range
	sum, sq := 0.0, 0.0
	count := make([]int, classes)
	for _, v := range x1 {
		sum += float64(v)
		sq += float64(v) * float64(v)
	}
	for _, l := range y1 {
		if l != float32(int(l)) || l < 0 || int(l) >= classes {
			t.Fatalf("label %v", l)
		}
		count[int(l)]++
	}
	mean := sum / float64(len(x1))
	std := math.Sqrt(sq/float64(len(x1)) - mean*mean)
	if math.Abs(mean) > 0.1 || math.Abs(std-1) > 0.05 {
		t.Fatalf("mean %.3f std %.3f", mean, std)
	}
	for k, m := range count {
		if m < n/classes/3 {
			t.Fatalf("class %d has %d of %d samples", k, m, n)
		}
	}
	// learnable: the per-channel means of seed 6's samples, matched to the
	// class means of seed 5's, predict the label well above chance
	chanMeans := func(x []float32, r int) [c]float64 {
		var m [c]float64
		for ch := range c {
			for _, v := range x[r*ss+ch*h*w : r*ss+(ch+1)*h*w] {
				m[ch] += float64(v)
			}
			m[ch] /= h * w
		}
		return m
	}
	var centre [classes][c]float64
	for r, l := range y1 {
		m := chanMeans(x1, r)
		for ch := range c {
			centre[int(l)][ch] += m[ch] / float64(count[int(l)])
		}
	}
	right := 0
	for r, l := range y4 {
		m := chanMeans(x4, r)
		best, bestD := -1, math.Inf(1)
		for k := range classes {
			d := 0.0
			for ch := range c {
				d += (m[ch] - centre[k][ch]) * (m[ch] - centre[k][ch])
			}
			if d < bestD {
				best, bestD = k, d
			}
		}
		if best == int(l) {
			right++
		}
	}
	if right < 3*n/classes {
		t.Fatalf("nearest class mean: %d of %d right, chance is %d", right, n, n/classes)
	}
	if err := a.Batch(make([]float32, ss), make([]float32, 1), []int{n}, 0); err == nil {
		t.Fatal("index n: no error")
	}
}
