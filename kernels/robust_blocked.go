package kernels

import "sync"

// The blocked passes behind the robust aggregators of robust.go: how the
// coordinates are cut into blocks that stay in cache and chunks whose
// float64 sums are added in a fixed order, the one-pass step of GeoMedian
// and CenteredClip, the float64 means, and the sorting network of the
// medians. The block kernels they call are in robust_kernels.go (portable)
// and robust_amd64.s.

// robustGrain is the fewest coordinates a thread takes in the robust
// aggregators that split the coordinates themselves across threads.
const robustGrain = 1 << 15

// f64Block is how many coordinates of m rows the float64 kernels widen
// into scratch at a time: 128 KiB of it (L2), a multiple of distLanes. Rows
// of 4 KiB a block stream from memory faster than rows of 1 KiB.
func f64Block(m int) int { return min(2048, max(distLanes, (16384/m)&^(distLanes-1))) }

// keyBlock is how many coordinates of m rows the sorting kernels hold in
// scratch at a time: 32 KiB of it, a multiple of 16.
func keyBlock(m int) int { return min(1024, max(16, (8192/m)&^15)) }

// robustChunk is how many coordinates a chunk of chunkSums has: the fixed
// partition of the float64 sums of squares, whatever the thread count. A
// multiple of distLanes; a variable so that tests can make it small and
// cover many chunks with short vectors.
var robustChunk = 1 << 16

// chunkSums returns nsum sums over the coordinates 0..d-1: the chunks of
// robustChunk coordinates are split across threads; each thread makes its
// scratch and its work function with newWork, which adds a chunk's
// coordinates lo..hi-1 into nsum lane accumulators (distLanes each,
// zeroed); a chunk's lanes are added by reduceLanes, and the chunks' sums
// in chunk order.
func chunkSums(d, nsum int, newWork func() func(acc []float64, lo, hi int)) []float64 {
	nc := (d + robustChunk - 1) / robustChunk
	part := make([]float64, nc*nsum)
	parallelFor(nc, 1, func(c0, c1 int) {
		work := newWork()
		acc := make([]float64, nsum*distLanes)
		for c := c0; c < c1; c++ {
			clear(acc)
			work(acc, c*robustChunk, min(d, (c+1)*robustChunk))
			for i := range nsum {
				part[c*nsum+i] = reduceLanes(acc[i*distLanes : (i+1)*distLanes])
			}
		}
	})
	sums := make([]float64, nsum)
	for c := range nc {
		for i, x := range part[c*nsum : (c+1)*nsum] {
			sums[i] += x
		}
	}
	return sums
}

// reduceLanes adds the lanes of a sum pairwise: lane l and l+16, then l and
// l+8, and so on.
func reduceLanes(a []float64) float64 {
	var t [distLanes]float64
	copy(t[:], a)
	for h := distLanes / 2; h >= 1; h /= 2 {
		for l := range h {
			t[l] += t[l+h]
		}
	}
	return t[0]
}

// The steps of robustStep.
const (
	stepCopy = iota // z = src
	stepGeo         // z = sum_i w_i v_i (geoStepGo)
	stepClip        // z = z + sum_i w_i (v_i - z) (clipStepGo)
)

// robustStep does one pass of GeoMedian or CenteredClip over the
// coordinates, block by block while each is in cache: z (dst) takes its
// step, reading the vectors' block (and prefetching the next one) and
// widening it into scratch, and, if dist, the squared distances of the new
// z to every vector are summed from the scratch (in float64, chunkSums'
// order). It returns those M sums, then
// (stepGeo) the squared length of z's move and the squared norm of the z
// before it.
func robustStep(dst, src []float32, rows rowSet, w []float64, step int, dist bool) []float64 {
	m := len(rows.vecs)
	b := f64Block(m)
	src1 := rowSet{vecs: [][]float32{src}}
	if step == stepCopy {
		src1 = newRowSet(src1.vecs)
	}
	return chunkSums(len(dst), m+2, func() func(acc []float64, lo, hi int) {
		s := make([]float64, m*b)
		zf := make([]float64, b)
		return func(acc []float64, lo, hi int) {
			for k := lo; k < hi; k += b {
				n := min(b, hi-k)
				npad := (n + distLanes - 1) &^ (distLanes - 1)
				z := dst[k : k+n]
				switch step {
				case stepCopy:
					copy(z, src[k:k+n])
					cvtRows(zf, b, src1, k, n, npad)
					if dist {
						cvtRows(s, b, rows, k, n, npad)
					}
				case stepGeo:
					geoStep(z, zf, acc[m*distLanes:], s, b, w, rows, k, n, npad)
				case stepClip:
					clipStep(z, zf, s, b, w, rows, k, n, npad)
				}
				if dist {
					clear(zf[n:npad])
					sqDiffLanes(acc[:m*distLanes], zf, s, b, m, npad)
				}
			}
		}
	})
}

// meanRows writes dst = the mean of rows (meanRowsNaive's float
// operations), block by block across threads.
func meanRows(dst []float32, rows rowSet) {
	m := len(rows.vecs)
	if m == 1 {
		copy(dst, rows.vecs[0])
		return
	}
	idx := make([]int32, m)
	for i := range idx {
		idx[i] = int32(i)
	}
	b := f64Block(m)
	inv := 1 / float64(m)
	parallelFor(len(dst), robustGrain, func(lo, hi int) {
		s := make([]float64, m*b)
		for k := lo; k < hi; k += b {
			n := min(b, hi-k)
			cvtRows(s, b, rows, k, n, n)
			sumRows(dst[k:k+n], s, b, idx, inv, n)
		}
	})
}

// sortedMean writes dst[k] = the mean of the values first..first+cnt-1 of
// vecs[0][k], ..., vecs[M-1][k] in ascending order (the sum from the
// smallest in float64, times inv, rounded once to float32). A block of
// coordinates is copied into scratch as orderKeys, one row per vector, and
// sorted column-wise by Batcher's odd-even merge sort, each comparator a
// row-wide min and max (compareExchange); rows outside the ones wanted are
// left partly sorted (selectionNetwork).
func sortedMean(dst []float32, vecs [][]float32, first, cnt int, inv float64) {
	m, d := len(vecs), len(dst)
	if d == 0 {
		return
	}
	rows := newRowSet(vecs)
	b := keyBlock(m)
	net := selectionNetwork(m, first, cnt)
	offs := make([]int32, len(net))
	for i, r := range net {
		offs[i] = r * int32(b)
	}
	parallelFor(d, robustGrain, func(lo, hi int) {
		ks := make([]int32, m*b)
		for k := lo; k < hi; k += b {
			n := min(b, hi-k)
			npad := (n + 15) &^ 15
			orderKeys(ks, b, rows, k, n, npad)
			compareExchange(ks, offs, npad)
			keysMean(dst[k:k+n], ks, b, first, cnt, inv, n)
		}
	})
}

// selectionNetwork returns the comparators, as pairs of rows a < b, of
// Batcher's odd-even merge sort of m values (padded to a power of two),
// without the comparators that touch a row >= m (the padding would be +Inf,
// which such a comparator leaves in place) and without those that rows
// first..first+cnt-1 of the result do not depend on.
func selectionNetwork(m, first, cnt int) []int32 {
	key := [3]int{m, first, cnt}
	if n, ok := selectionNetworks.Load(key); ok {
		return n.([]int32)
	}
	var all [][2]int32
	n := 1
	for n < m {
		n *= 2
	}
	for p := 1; p < n; p *= 2 {
		for k := p; k >= 1; k /= 2 {
			for j := k % p; j+k < n; j += 2 * k {
				for i := range min(k, n-j-k) {
					a, b := i+j, i+j+k
					if a/(2*p) == b/(2*p) && b < m {
						all = append(all, [2]int32{int32(a), int32(b)})
					}
				}
			}
		}
	}
	need := make([]bool, m)
	for r := first; r < first+cnt; r++ {
		need[r] = true
	}
	var kept [][2]int32
	for c := len(all) - 1; c >= 0; c-- {
		a, b := all[c][0], all[c][1]
		if need[a] || need[b] {
			need[a], need[b] = true, true
			kept = append(kept, all[c])
		}
	}
	net := make([]int32, 0, 2*len(kept))
	for c := len(kept) - 1; c >= 0; c-- {
		net = append(net, kept[c][0], kept[c][1])
	}
	selectionNetworks.Store(key, net)
	return net
}

// selectionNetworks caches selectionNetwork's results by (m, first, cnt).
var selectionNetworks sync.Map
