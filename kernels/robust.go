package kernels

import (
	"fmt"
	"math"
	"slices"
	"sync/atomic"
)

// Robust aggregation of M float32 vectors of length d (SGD's server under
// Byzantine workers): coordinate-wise median and trimmed mean, Krum and
// Multi-Krum, the geometric median, centered clipping and nearest-neighbour
// mixing. Every rule's reference is in robust_naive.go.
//
// Inputs are assumed finite: callers zero NaN and ±Inf first with
// SanitizeFloat32. Each doc comment says what a non-finite input would do
// anyway. Results do not depend on Threads(). Outputs must not alias the
// input vectors (CenteredClip's dst may alias its center).

// SanitizeFloat32 sets every NaN and ±Inf of v to 0 in place and returns how
// many it set: 16 values at a time with AVX-512 (an exponent compare and a
// masked store of zeros), split across Threads() goroutines when long.
//
// Reference: SanitizeFloat32Naive.
func SanitizeFloat32(v []float32) int {
	var n atomic.Int64
	parallelFor(len(v), 4*robustGrain, func(lo, hi int) { n.Add(int64(sanitize(v[lo:hi]))) })
	return int(n.Load())
}

// Median writes dst[k] = the median of vecs[0][k], ..., vecs[M-1][k]: the
// middle value, or for even M the mean of the two middle values a <= b,
// float32((float64(a) + float64(b)) * 0.5), which is exact-rounded and does
// not overflow. Values are ordered as numbers with -0 before +0, so the
// result is one of the inputs' own bits for odd M. A NaN would sort above
// +Inf (below -Inf if its sign bit is set) and ±Inf as the largest and
// smallest values.
//
// Reference: MedianNaive (bit-identical).
func Median(dst []float32, vecs [][]float32) {
	m := checkRobust("Median", dst, vecs)
	if m%2 == 1 {
		sortedMean(dst, vecs, m/2, 1, 1)
	} else {
		sortedMean(dst, vecs, m/2-1, 2, 0.5)
	}
}

// TrimmedMean writes dst[k] = the mean of vecs[0][k], ..., vecs[M-1][k]
// without their f largest and f smallest values: the M-2f values left,
// summed in float64 in ascending order, times 1/(M-2f), rounded once to
// float32. It panics unless 0 <= f and 2f < M. Non-finite inputs are
// ordered as in Median; one that is kept makes the result NaN or ±Inf.
//
// Reference: TrimmedMeanNaive (bit-identical).
func TrimmedMean(dst []float32, vecs [][]float32, f int) {
	m := checkRobust("TrimmedMean", dst, vecs)
	checkTrim("TrimmedMean", m, f)
	sortedMean(dst, vecs, f, m-2*f, 1/float64(m-2*f))
}

// SqDistances writes dist[i*M+j] = ||vecs[i] - vecs[j]||^2 for every pair:
// differences, squares and sums all in float64 (each square added by a
// fused multiply-add), so it neither overflows nor loses the float32
// inputs' precision; symmetric, 0 on the diagonal. dist
// must hold at least M*M values. A non-finite input makes its vector's
// distances +Inf or NaN.
//
// Reference: SqDistancesNaive (the same terms summed in another order: they
// agree to float64 rounding, about 1e-15 relative).
func SqDistances(dist []float64, vecs [][]float32) {
	m := checkDist("SqDistances", dist, vecs)
	rows := newRowSet(vecs)
	b := f64Block(m)
	sums := chunkSums(len(vecs[0]), m*(m-1)/2, func() func(acc []float64, lo, hi int) {
		s := make([]float64, m*b)
		return func(acc []float64, lo, hi int) {
			for k := lo; k < hi; k += b {
				n := min(b, hi-k)
				npad := (n + distLanes - 1) &^ (distLanes - 1)
				cvtRows(s, b, rows, k, n, npad)
				p := 0
				for i := range m - 1 {
					sqDiffLanes(acc[p*distLanes:(p+m-1-i)*distLanes], s[i*b:], s[(i+1)*b:], b, m-1-i, npad)
					p += m - 1 - i
				}
			}
		}
	})
	p := 0
	for i := range m {
		dist[i*m+i] = 0
		for j := i + 1; j < m; j++ {
			dist[i*m+j], dist[j*m+i] = sums[p], sums[p]
			p++
		}
	}
}

// Krum is Krum (m = 1) and Multi-Krum (m > 1) of Blanchard et al., 2017:
// each vector's score is the sum of its k smallest squared distances to the
// others (SqDistances), k = max(M-f-2, 1), or all M-1 others if fewer; the
// m vectors with the lowest scores are selected (ties: the lower index
// first) and dst is their mean (meanRows: for m = 1 that vector itself).
// It returns the selected indices in the order of selection. It panics
// unless f >= 0 and 1 <= m <= M. A non-finite input gives its vector a
// score of +Inf or NaN (a NaN score sorts last) and, if selected, a
// non-finite dst.
//
// Reference: KrumNaive (the same selection unless two scores are within
// float64 rounding of each other; the same dst bits when the selection is
// the same).
func Krum(dst []float32, vecs [][]float32, f, m int) []int {
	mm := checkRobust("Krum", dst, vecs)
	checkKrum("Krum", mm, f, m)
	dist := make([]float64, mm*mm)
	SqDistances(dist, vecs)
	sel := krumSelect(dist, mm, f, m)
	meanRows(dst, newRowSet(vecs).subset(sel))
	return sel
}

// GeoMedian approximates the geometric median of the vectors, the z that
// minimizes sum_i ||z - vecs[i]||, by the smoothed Weiszfeld iteration of
// Pillutla, Kakade and Harchaoui's RFA: z starts at the coordinate-wise
// median (Median; from the mean, one vector a thousand million times
// farther than the rest would still weigh on z after many iterations, since
// each Weiszfeld step only divides its pull by a constant) and each
// iteration sets
//
//	b_i = 1 / max(eps, ||z - vecs[i]||),  w_i = b_i / sum_j b_j,
//	z  <- sum_i w_i vecs[i]   (per coordinate in float64 in the order of i,
//	                           by fused multiply-adds after the first
//	                           product, rounded once to float32)
//
// stopping after iters iterations or after the first iteration that moved z
// by at most tol*||z|| (z before the move). Distances are those of the
// float32 iterate, in float64. When z lands on input vectors (within eps or
// geoCoincide of the largest distance; the
// plain Weiszfeld step would divide by zero there, and a smoothed one stays
// stuck) the step is Vardi and Zhang's (geoWeights, geoBlend): z stays only
// if it is the median, and otherwise leaves at once. dst receives z; the
// return is the number of iterations done. It panics unless eps > 0 and
// iters >= 0. A non-finite input makes z NaN.
//
// Reference: GeoMedianNaive (the distances summed in another order: they
// agree to a few float32 ulps per iteration).
func GeoMedian(dst []float32, vecs [][]float32, iters int, tol, eps float64) int {
	m := checkRobust("GeoMedian", dst, vecs)
	checkGeoMedian("GeoMedian", iters, eps)
	rows := newRowSet(vecs)
	w := make([]float64, m)
	for i := range w {
		w[i] = 1 / float64(m)
	}
	dist := make([]float64, m)
	var old []float32
	Median(dst, vecs)
	sums := robustStep(dst, dst, rows, w, stepCopy, iters > 0)
	for it := 1; it <= iters; it++ {
		for i := range dist {
			dist[i] = math.Sqrt(sums[i])
		}
		eta, total := geoWeights(w, dist, eps)
		if total == 0 {
			return it // every vector is z: z is the median
		}
		if eta == 0 {
			sums = robustStep(dst, nil, rows, w, stepGeo, it < iters)
			if geoConverged(sums[m], sums[m+1], tol) {
				return it
			}
			continue
		}
		// z lies on eta of the vectors: Vardi and Zhang's step.
		if old == nil {
			old = make([]float32, len(dst))
		}
		copy(old, dst)
		moved := robustStep(dst, nil, rows, w, stepGeo, false)[m]
		moved, norm, stop := geoBlend(dst, old, eta, total, moved)
		if stop || geoConverged(moved, norm, tol) {
			return it
		}
		if it < iters {
			sums = robustStep(dst, dst, rows, w, stepCopy, true)
		}
	}
	return iters
}

// CenteredClip is the centered clipping of Karimireddy, He and Jaggi, 2021:
// v starts at center (the previous step's aggregate, zeros at the start)
// and each of iters iterations sets
//
//	c_i = min(1, tau / ||vecs[i] - v||)   (1 when the distance is 0)
//	v  <- v + sum_i (c_i/M) (vecs[i] - v) (per coordinate in float64 in
//	                                       the order of i, by fused
//	                                       multiply-adds after the first
//	                                       product, rounded once to float32)
//
// with tau = radius if radius > 0, else (adaptive) the median over i of
// ||vecs[i] - v|| at that iteration, so a far vector is clipped whatever the
// gradients' scale. Distances are those of the float32 iterate, in float64.
// dst receives v and may alias center (len d). It panics unless iters >= 0.
// A non-finite input makes v NaN.
//
// Reference: CenteredClipNaive (the distances summed in another order: they
// agree to a few float32 ulps per iteration).
func CenteredClip(dst []float32, vecs [][]float32, center []float32, radius float64, iters int) {
	m := checkRobust("CenteredClip", dst, vecs)
	checkCenter("CenteredClip", dst, center, iters)
	if iters == 0 {
		copy(dst, center)
		return
	}
	rows := newRowSet(vecs)
	w := make([]float64, m)
	dist := make([]float64, m)
	sums := robustStep(dst, center, rows, nil, stepCopy, true)
	for it := 1; it <= iters; it++ {
		for i := range dist {
			dist[i] = math.Sqrt(sums[i])
		}
		clipWeights(w, dist, radius)
		sums = robustStep(dst, nil, rows, w, stepClip, it < iters)
	}
}

// NearestNeighborMix is the nearest-neighbour mixing (NNM) of Allouah et
// al., 2023: out[i] = the mean (meanRows) of the M-f vectors nearest to
// vecs[i] by SqDistances, vecs[i] itself included (distance 0), ties broken
// by the lower index, summed nearest first. out holds M vectors of length
// d that do not alias vecs. It panics unless 0 <= f < M. A non-finite input
// makes its vector's distances non-finite and every mean it enters
// non-finite.
//
// Reference: NearestNeighborMixNaive (the same bits unless two distances are
// within float64 rounding of each other).
func NearestNeighborMix(out [][]float32, vecs [][]float32, f int) {
	m := checkMix("NearestNeighborMix", out, vecs, f)
	dist := make([]float64, m*m)
	SqDistances(dist, vecs)
	lists := make([][]int32, m)
	for i := range lists {
		for _, j := range nearest(dist[i*m:(i+1)*m], m-f) {
			lists[i] = append(lists[i], int32(j))
		}
	}
	rows := newRowSet(vecs)
	b := f64Block(m)
	inv := 1 / float64(m-f)
	parallelFor(len(vecs[0]), robustGrain, func(lo, hi int) {
		s := make([]float64, m*b)
		for k := lo; k < hi; k += b {
			n := min(b, hi-k)
			cvtRows(s, b, rows, k, n, n)
			for i, o := range out {
				sumRows(o[k:k+n], s, b, lists[i], inv, n)
			}
		}
	})
}

// orderKey maps a float32's bits to an int32 whose signed order is the
// numbers' order, with -0 before +0 (and NaNs beyond ±Inf by their sign):
// negative values have their magnitude bits flipped. It is its own inverse
// on the bits.
func orderKey(b uint32) int32 {
	x := int32(b)
	return x ^ int32(uint32(x>>31)>>1)
}

// middleFloat32 is the median of sorted s: the middle value, or the mean of
// the two middle values in float64, rounded once to float32.
func middleFloat32(s []float32) float32 {
	m := len(s)
	if m%2 == 1 {
		return s[m/2]
	}
	return float32((float64(s[m/2-1]) + float64(s[m/2])) * 0.5)
}

// middleFloat64 is the median of s (which it sorts): the middle value, or
// the mean of the two middle values.
func middleFloat64(s []float64) float64 {
	slices.Sort(s)
	m := len(s)
	if m%2 == 1 {
		return s[m/2]
	}
	return (s[m/2-1] + s[m/2]) * 0.5
}

// krumSelect returns the m indices with the lowest Krum scores from the
// M x M squared distances, lowest first, ties by the lower index.
func krumSelect(dist []float64, mm, f, m int) []int {
	k := min(max(mm-f-2, 1), mm-1)
	score := make([]float64, mm)
	others := make([]float64, 0, mm)
	for i := range mm {
		others = others[:0]
		for j := range mm {
			if j != i {
				others = append(others, dist[i*mm+j])
			}
		}
		slices.Sort(others)
		s := 0.0
		for _, x := range others[:k] {
			s += x
		}
		score[i] = s
	}
	return nearest(score, m)
}

// nearest returns the indices of the k smallest values of row, smallest
// first, ties by the lower index (NaNs last).
func nearest(row []float64, k int) []int {
	idx := make([]int, len(row))
	for i := range idx {
		idx[i] = i
	}
	slices.SortStableFunc(idx, func(a, b int) int { return compareFloat64(row[a], row[b]) })
	return idx[:k:k]
}

// compareFloat64 orders numbers ascending with NaN after everything.
func compareFloat64(a, b float64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	case a == b:
		return 0
	case a != a && b != b:
		return 0
	case a != a:
		return 1
	}
	return -1
}

// geoCoincide is how close to z, relative to the farthest vector, a vector
// counts as under z: the float32 iterate rarely lands exactly on a vector
// (the mean of vectors that sum to zero is a few ulps from the zero vector),
// and one a few ulps away would take a weight 1/dist large enough to hold z
// there as surely as one exactly under it.
const geoCoincide = 1e-6

// geoWeights sets the weights of a Weiszfeld step from the distances of z
// to the vectors, with Vardi and Zhang's modification (2000) for a z that
// lies on some of them: a vector within max(eps, geoCoincide x the largest
// distance) of z is left out of the step (w_i = 0) and counted in eta; the others get w_i = b_i / total with
// b_i = 1/dist_i and total = sum of their b_i (0 when every vector is
// within eps). The plain smoothed step, 1/max(eps, dist), would give a
// vector under z a weight of 1/eps and hold z there for as many iterations
// as it has, whether or not it is the median.
func geoWeights(w, dist []float64, eps float64) (eta, total float64) {
	thr := eps
	for _, d := range dist {
		if !math.IsInf(d, 0) { // a vector too far to measure weighs 1/Inf = 0
			thr = max(thr, geoCoincide*d)
		}
	}
	for i, d := range dist {
		if d <= thr {
			w[i] = 0
			eta++
			continue
		}
		w[i] = 1 / d
		total += w[i]
	}
	if total == 0 {
		return eta, 0
	}
	for i := range w {
		w[i] /= total
	}
	return eta, total
}

// geoBlend finishes Vardi and Zhang's step: dst holds T, the Weiszfeld step
// over the vectors not under z (old), and moved2 = ||T - z||^2. With
// r = total ||T - z|| (the norm of the pull of those vectors), z is the
// median when r <= eta (dst is set back to z, and stop is true); else
// z <- (1 - eta/r) T + (eta/r) z, per coordinate in float64, rounded once.
// It returns the squared length of the move and the squared norm of old.
func geoBlend(dst, old []float32, eta, total, moved2 float64) (moved, norm float64, stop bool) {
	r := total * math.Sqrt(moved2)
	if r <= eta {
		copy(dst, old)
		return 0, 0, true
	}
	g := eta / r
	for k, t := range dst {
		o := float64(old[k])
		z := float32((1-g)*float64(t) + g*o)
		d := float64(z) - o
		moved += d * d
		norm += o * o
		dst[k] = z
	}
	return moved, norm, false
}

// geoConverged reports whether a move of squared length moved2 from a z of
// squared norm norm2 is at most tol*||z||.
func geoConverged(moved2, norm2, tol float64) bool {
	return math.Sqrt(moved2) <= tol*math.Sqrt(norm2)
}

// clipWeights sets w_i = min(1, tau/dist_i)/M, tau = radius if radius > 0,
// else the median of dist.
func clipWeights(w, dist []float64, radius float64) {
	tau := radius
	if tau <= 0 {
		tau = middleFloat64(slices.Clone(dist))
	}
	inv := 1 / float64(len(dist))
	for i, d := range dist {
		c := 1.0
		if d > tau {
			c = tau / d
		}
		w[i] = c * inv
	}
}

func checkRobust(op string, dst []float32, vecs [][]float32) int {
	if len(vecs) == 0 {
		panic(fmt.Sprintf("kernels: %s: no vectors", op))
	}
	checkSum(op, dst, vecs)
	return len(vecs)
}

func checkTrim(op string, m, f int) {
	if f < 0 || 2*f >= m {
		panic(fmt.Sprintf("kernels: %s: cannot trim f = %d of each end of %d values", op, f, m))
	}
}

func checkDist(op string, dist []float64, vecs [][]float32) int {
	if len(vecs) == 0 {
		panic(fmt.Sprintf("kernels: %s: no vectors", op))
	}
	checkSum(op, vecs[0], vecs)
	m := len(vecs)
	if len(dist) < m*m {
		panic(fmt.Sprintf("kernels: %s: dist has length %d, want at least %d", op, len(dist), m*m))
	}
	return m
}

func checkKrum(op string, mm, f, m int) {
	if f < 0 || m < 1 || m > mm {
		panic(fmt.Sprintf("kernels: %s: f = %d, m = %d of %d vectors", op, f, m, mm))
	}
}

func checkGeoMedian(op string, iters int, eps float64) {
	if iters < 0 || !(eps > 0) {
		panic(fmt.Sprintf("kernels: %s: iters = %d, eps = %g (want iters >= 0, eps > 0)", op, iters, eps))
	}
}

func checkCenter(op string, dst, center []float32, iters int) {
	if len(center) != len(dst) {
		panic(fmt.Sprintf("kernels: %s: center has length %d, want %d", op, len(center), len(dst)))
	}
	if iters < 0 {
		panic(fmt.Sprintf("kernels: %s: iters = %d", op, iters))
	}
}

func checkMix(op string, out, vecs [][]float32, f int) int {
	if len(vecs) == 0 {
		panic(fmt.Sprintf("kernels: %s: no vectors", op))
	}
	m := len(vecs)
	if f < 0 || f >= m {
		panic(fmt.Sprintf("kernels: %s: f = %d of %d vectors", op, f, m))
	}
	if len(out) != m {
		panic(fmt.Sprintf("kernels: %s: %d outputs for %d vectors", op, len(out), m))
	}
	d := len(vecs[0])
	checkSum(op, vecs[0], vecs)
	for i, o := range out {
		if len(o) != d {
			panic(fmt.Sprintf("kernels: %s: output %d has length %d, want %d", op, i, len(o), d))
		}
	}
	return m
}
