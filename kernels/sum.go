package kernels

import "fmt"

// sumBlock is the number of float32s SumFloat32 keeps in cache at a time.
const sumBlock = 4096

// SumFloat32 writes dst[i] = vecs[0][i] + vecs[1][i] + ... in that order: the
// float32 sum plain distributed SGD's server does. It works block by block so
// dst stays in cache while every input streams once, split across Threads()
// goroutines when large.
//
// Reference: SumFloat32Naive (same order of additions, so bit-identical).
func SumFloat32(dst []float32, vecs [][]float32) {
	checkSum("SumFloat32", dst, vecs)
	if len(vecs) == 0 {
		clear(dst)
		return
	}
	parallelFor(len(dst), 16*sumBlock, func(lo, hi int) { sumRange(dst, vecs, lo, hi) })
}

// sumRange sums coordinates lo..hi-1, a cache block at a time.
func sumRange(dst []float32, vecs [][]float32, lo0, hi0 int) {
	for lo := lo0; lo < hi0; lo += sumBlock {
		hi := min(lo+sumBlock, hi0)
		d := dst[lo:hi:hi]
		copy(d, vecs[0][lo:hi])
		for _, v := range vecs[1:] {
			s := v[lo:hi:hi]
			s = s[:len(d)]
			for i, x := range s {
				d[i] += x
			}
		}
	}
}

// SumFloat32Naive is the reference for SumFloat32: one coordinate at a time.
func SumFloat32Naive(dst []float32, vecs [][]float32) {
	checkSum("SumFloat32Naive", dst, vecs)
	for i := range dst {
		var s float32
		for v, x := range vecs {
			if v == 0 {
				s = x[i]
			} else {
				s += x[i]
			}
		}
		dst[i] = s
	}
}

func checkSum(op string, dst []float32, vecs [][]float32) {
	for i, v := range vecs {
		if len(v) != len(dst) {
			panic(fmt.Sprintf("kernels: %s: vector %d has length %d, want %d", op, i, len(v), len(dst)))
		}
	}
}

// Scale multiplies x by a in place.
func Scale(x []float32, a float32) {
	for i := range x {
		x[i] *= a
	}
}
