package kernels

import (
	"sync"
	"sync/atomic"
)

// The weight gradient of a convolution, dW += dOut cols^T, is a product
// whose inner dimension (the batch's output positions, up to 25,088 for
// a ResNet at batch 8 on 56x56) dwarfs its result (OutC x InC*KH*KW, as
// little as 64 x 64). Sgemm splits the result between the threads, which
// for such a product leaves each thread a sliver that packs the whole of
// one operand again (well below the throughput of the other products:
// BenchmarkConv2D's bwd cases measure it) and, for a result of 64 or 147
// columns, pads half a 48-column tile or balances 96 columns against 51.
//
// sgemmNTAcc instead cuts the inner dimension into segments, a fixed
// number for the shape, that the threads take in turn: each segment's
// product is one serial Sgemm of the whole (small) result into a partial
// of its own, computed in whichever orientation fills the micro-kernel's
// 8 x 48 tiles better, and the partials are then summed in segment order
// into C. Every operand value is packed once, the threads stay busy to the
// end, and since the segments, their order and each segment's product
// depend only on the shape, the result does not depend on the threads.

// Segmenting: a segment has at least ntSegMin inner values, and at least
// 4mn/(m+n) so that writing and reading the m x n partials moves at most
// half as many bytes as reading the segment's operands; it pays from
// ntSegsMin segments on (fewer balance badly between the threads), and the
// partials may take at most ntPartialsMax floats.
const (
	ntSegMin      = 512
	ntSegsMin     = 4
	ntSegsMax     = 64
	ntPartialsMax = 1 << 22
)

// ntSegments is how many segments sgemmNTAcc cuts an m x n x k product
// into (0: it does not pay; use Sgemm).
func ntSegments(m, n, k int) int {
	seg := max(ntSegMin, 4*m*n/(m+n))
	s := min(k/seg, ntSegsMax, ntPartialsMax/(m*n))
	if s < ntSegsMin {
		return 0
	}
	return s
}

// tileArea is the area of an m x n result padded to the AVX-512
// micro-kernel's whole 8 x 48 tiles (gemmMR x gemmNR, where it exists).
func tileArea(m, n int) int {
	const tm, tn = 8, 48
	return (m + tm - 1) / tm * tm * ((n + tn - 1) / tn * tn)
}

var ntPartialPool = sync.Pool{New: func() any { return new([]float32) }}

// sgemmNTAcc computes C += A B^T for A (m x k, row stride lda), B (n x k,
// row stride ldb) and C (m x n, row stride ldc): Sgemm(false, true, m, n,
// k, 1, a, lda, b, ldb, 1, c, ldc), with the inner dimension split into
// segments when that pays (see above). C must not overlap A or B.
//
// Reference: SgemmNaive.
func sgemmNTAcc(m, n, k int, a []float32, lda int, b []float32, ldb int, c []float32, ldc int) {
	if m == 0 || n == 0 || k == 0 {
		return
	}
	segs := ntSegments(m, n, k)
	if segs == 0 {
		Sgemm(false, true, m, n, k, 1, a, lda, b, ldb, 1, c, ldc)
		return
	}
	ntSegmented(m, n, k, segs, a, lda, b, ldb, c, ldc)
}

// ntSegmented is sgemmNTAcc with segs segments.
func ntSegmented(m, n, k, segs int, a []float32, lda int, b []float32, ldb int, c []float32, ldc int) {
	mn := m * n
	pp := ntPartialPool.Get().(*[]float32)
	defer ntPartialPool.Put(pp)
	if cap(*pp) < segs*mn {
		*pp = make([]float32, segs*mn)
	}
	parts := (*pp)[:segs*mn]
	// The transposed orientation computes each partial as B A^T (n x m).
	trans := tileArea(n, m) < tileArea(m, n)
	// No segment is empty: segs <= min(k/512, 64) makes (segs-1) seg < k.
	seg := (k + segs - 1) / segs
	var next atomic.Int32
	work := func() {
		for {
			s := int(next.Add(1)) - 1
			if s >= segs {
				return
			}
			p0 := s * seg
			kb := min(seg, k-p0)
			part := parts[s*mn : (s+1)*mn]
			if trans {
				sgemmSerial(false, true, n, m, kb, 1, b[p0:], ldb, a[p0:], lda, 0, part, m)
			} else {
				sgemmSerial(false, true, m, n, kb, 1, a[p0:], lda, b[p0:], ldb, 0, part, n)
			}
		}
	}
	runParallel(min(gemmThreads(), segs), func(int) { work() })
	// Sum the partials in segment order into the first.
	sum := parts[:mn]
	parallelFor(mn, 1<<14, func(lo, hi int) {
		acc := sum[lo:hi]
		for s := 1; s < segs; s++ {
			p := parts[s*mn+lo : s*mn+hi]
			p = p[:len(acc)]
			for i, v := range p {
				acc[i] += v
			}
		}
	})
	for i := 0; i < m; i++ {
		row := c[i*ldc : i*ldc+n]
		if trans {
			for j := range row {
				row[j] += sum[j*m+i]
			}
			continue
		}
		src := sum[i*n : i*n+n]
		for j, v := range src {
			row[j] += v
		}
	}
}
