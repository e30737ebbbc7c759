package kernels

import (
	"math"
	"slices"
)

// The naive references of the robust aggregators (robust.go): each computes
// its rule straight from the definition, one coordinate or one vector at a
// time, in the float operations and order the fast kernels' doc comments
// state. They are the tests' reference and the fallback that explains the
// fast code.

// SanitizeFloat32Naive is the reference for SanitizeFloat32.
func SanitizeFloat32Naive(v []float32) int {
	n := 0
	for i, x := range v {
		if math.IsNaN(float64(x)) || math.IsInf(float64(x), 0) {
			v[i] = 0
			n++
		}
	}
	return n
}

// MedianNaive is the reference for Median: it sorts each coordinate's M
// values (-0 before +0) and takes the middle one, or the mean of the two
// middle ones.
func MedianNaive(dst []float32, vecs [][]float32) {
	m := checkRobust("MedianNaive", dst, vecs)
	col := make([]float32, m)
	for k := range dst {
		for i, v := range vecs {
			col[i] = v[k]
		}
		sortTotal(col)
		dst[k] = middleFloat32(col)
	}
}

// TrimmedMeanNaive is the reference for TrimmedMean: it sorts each
// coordinate's M values and averages the M-2f in the middle.
func TrimmedMeanNaive(dst []float32, vecs [][]float32, f int) {
	m := checkRobust("TrimmedMeanNaive", dst, vecs)
	checkTrim("TrimmedMeanNaive", m, f)
	col := make([]float32, m)
	inv := 1 / float64(m-2*f)
	for k := range dst {
		for i, v := range vecs {
			col[i] = v[k]
		}
		sortTotal(col)
		s := float64(col[f])
		for _, x := range col[f+1 : m-f] {
			s += float64(x)
		}
		dst[k] = float32(s * inv)
	}
}

// SqDistancesNaive is the reference for SqDistances: each pair's sum of
// squared differences in float64, coordinate by coordinate.
func SqDistancesNaive(dist []float64, vecs [][]float32) {
	m := checkDist("SqDistancesNaive", dist, vecs)
	for i := range m {
		dist[i*m+i] = 0
		for j := i + 1; j < m; j++ {
			s := sqDist(vecs[i], vecs[j])
			dist[i*m+j], dist[j*m+i] = s, s
		}
	}
}

// sqDist is ||a - b||^2 in float64, coordinate by coordinate.
func sqDist(a, b []float32) float64 {
	s := 0.0
	for k := range a {
		d := float64(a[k]) - float64(b[k])
		s += float64(d * d)
	}
	return s
}

// KrumNaive is the reference for Krum, from SqDistancesNaive's distances.
func KrumNaive(dst []float32, vecs [][]float32, f, m int) []int {
	mm := checkRobust("KrumNaive", dst, vecs)
	checkKrum("KrumNaive", mm, f, m)
	dist := make([]float64, mm*mm)
	SqDistancesNaive(dist, vecs)
	return krumFromDistances(dst, vecs, dist, f, m)
}

// krumFromDistances is KrumNaive given the squared distances.
func krumFromDistances(dst []float32, vecs [][]float32, dist []float64, f, m int) []int {
	sel := krumSelect(dist, len(vecs), f, m)
	meanRowsNaive(dst, vecs, sel)
	return sel
}

// meanRowsNaive writes dst = the mean of vecs[idx[0]], vecs[idx[1]], ...:
// their sum in float64 in the order of idx, times 1/len(idx), rounded once
// to float32 (for one vector, that vector).
func meanRowsNaive(dst []float32, vecs [][]float32, idx []int) {
	inv := 1 / float64(len(idx))
	for k := range dst {
		s := float64(vecs[idx[0]][k])
		for _, i := range idx[1:] {
			s += float64(vecs[i][k])
		}
		dst[k] = float32(s * inv)
	}
}

// GeoMedianNaive is the reference for GeoMedian: whole-vector passes, the
// distances summed coordinate by coordinate in float64.
func GeoMedianNaive(dst []float32, vecs [][]float32, iters int, tol, eps float64) int {
	m := checkRobust("GeoMedianNaive", dst, vecs)
	checkGeoMedian("GeoMedianNaive", iters, eps)
	w := make([]float64, m)
	for i := range w {
		w[i] = 1 / float64(m)
	}
	weightedSumNaive(dst, vecs, w)
	dist := make([]float64, m)
	for it := 1; it <= iters; it++ {
		for i, v := range vecs {
			dist[i] = math.Sqrt(sqDist(dst, v))
		}
		geoWeights(w, dist, eps)
		moved, norm := 0.0, 0.0
		for k := range dst {
			s := float64(w[0] * float64(vecs[0][k]))
			for i, v := range vecs[1:] {
				s = math.FMA(w[i+1], float64(v[k]), s)
			}
			z := float32(s)
			d := float64(z) - float64(dst[k])
			moved += float64(d * d)
			norm += float64(float64(dst[k]) * float64(dst[k]))
			dst[k] = z
		}
		if geoConverged(moved, norm, tol) {
			return it
		}
	}
	return iters
}

// weightedSumNaive writes dst[k] = sum_i w[i]*vecs[i][k], in float64 in
// the order of i (each term after the first added by a fused multiply-add),
// rounded once to float32.
func weightedSumNaive(dst []float32, vecs [][]float32, w []float64) {
	for k := range dst {
		s := float64(w[0] * float64(vecs[0][k]))
		for i, v := range vecs[1:] {
			s = math.FMA(w[i+1], float64(v[k]), s)
		}
		dst[k] = float32(s)
	}
}

// CenteredClipNaive is the reference for CenteredClip: whole-vector passes,
// the distances summed coordinate by coordinate in float64.
func CenteredClipNaive(dst []float32, vecs [][]float32, center []float32, radius float64, iters int) {
	m := checkRobust("CenteredClipNaive", dst, vecs)
	checkCenter("CenteredClipNaive", dst, center, iters)
	copy(dst, center)
	dist := make([]float64, m)
	w := make([]float64, m)
	for range iters {
		for i, v := range vecs {
			dist[i] = math.Sqrt(sqDist(dst, v))
		}
		clipWeights(w, dist, radius)
		for k := range dst {
			c := float64(dst[k])
			s := float64(w[0] * (float64(vecs[0][k]) - c))
			for i, v := range vecs[1:] {
				s = math.FMA(w[i+1], float64(v[k])-c, s)
			}
			dst[k] = float32(c + s)
		}
	}
}

// NearestNeighborMixNaive is the reference for NearestNeighborMix, from
// SqDistancesNaive's distances.
func NearestNeighborMixNaive(out [][]float32, vecs [][]float32, f int) {
	m := checkMix("NearestNeighborMixNaive", out, vecs, f)
	dist := make([]float64, m*m)
	SqDistancesNaive(dist, vecs)
	mixFromDistances(out, vecs, dist, f)
}

// mixFromDistances is NearestNeighborMixNaive given the squared distances.
func mixFromDistances(out [][]float32, vecs [][]float32, dist []float64, f int) {
	m := len(vecs)
	for i := range m {
		meanRowsNaive(out[i], vecs, nearest(dist[i*m:(i+1)*m], m-f))
	}
}

// sortTotal sorts s ascending with -0 before +0 (the order of orderKey).
func sortTotal(s []float32) {
	slices.SortFunc(s, func(a, b float32) int {
		ka, kb := orderKey(math.Float32bits(a)), orderKey(math.Float32bits(b))
		switch {
		case ka < kb:
			return -1
		case ka > kb:
			return 1
		}
		return 0
	})
}
