package kernels

import (
	"fmt"
	"math"
)

// The float32 sums of the fp32 mean (package collective), with its rule for
// non-finite values: a NaN or an infinity a peer sends counts as 0, so that
// one worker can never make the mean non-finite. fin(v) below is v when v
// is finite and +0 otherwise (-0 stays -0: it is finite).
//
// Every kernel does, coordinate by coordinate, exactly the float32
// operations of its naive twin in the same order (an add, then a multiply
// by scale unless scale is 1), so the fast and the naive forms agree bit
// for bit; the AVX-512 forms are in finite_amd64.s.

// AddFinite sets dst[i] = (dst[i] + fin(src[i])) * scale, the multiply
// left out when scale is 1. dst's own values are kept as they are (the
// server mean's rank 0 adds its peers' vectors into its own).
//
// Reference: AddFiniteNaive.
func AddFinite(dst, src []float32, scale float32) {
	checkFinite("AddFinite", dst, src)
	n := addFiniteFast(dst, src, scale, false)
	addFiniteGo(dst[n:], src[n:], scale, false)
}

// AddFiniteSum adds every vector of srcs into dst in turn, as AddFinite
// of each with scale 1 and of the last with scale, in one pass over dst:
// the server mean's rank 0 sums its peers' segments once all have
// arrived, with the same operations in the same order (bit for bit the
// same result) and a third of the passes over dst for three peers.
//
// Reference: AddFiniteNaive of each source in turn.
func AddFiniteSum(dst []float32, srcs [][]float32, scale float32) {
	if len(srcs) == 0 {
		return
	}
	for _, s := range srcs {
		checkFinite("AddFiniteSum", dst, s)
	}
	var ptrs [16]*float32 // the kernel's table of sources, on the stack
	last := len(srcs) - 1
	n := 0
	if len(srcs) <= len(ptrs) {
		n = addFiniteSumFast(dst, srcs, scale, ptrs[:])
	}
	for i, s := range srcs {
		sc := float32(1)
		if i == last {
			sc = scale
		}
		if n == 0 { // no fast pass: AddFinite of each in turn
			AddFinite(dst, s, sc)
			continue
		}
		addFiniteGo(dst[n:], s[n:], sc, false)
	}
}

// AddBothFinite sets dst[i] = (fin(dst[i]) + fin(src[i])) * scale, the
// multiply left out when scale is 1: the ring mean's step, where a rank's
// own value and the partial sum it received are both neutralised.
//
// Reference: AddBothFiniteNaive.
func AddBothFinite(dst, src []float32, scale float32) {
	checkFinite("AddBothFinite", dst, src)
	n := addFiniteFast(dst, src, scale, true)
	addFiniteGo(dst[n:], src[n:], scale, true)
}

// ZeroNonFinite replaces every NaN and infinity of x by +0: it is
// SanitizeFloat32 (robust.go, threaded, with its AVX-512 block kernel)
// without the count.
//
// Reference: ZeroNonFiniteNaive.
func ZeroNonFinite(x []float32) { SanitizeFloat32(x) }

// fin is v when v is finite, else +0: branch-free, from the exponent bits
// (all ones for NaN and the infinities).
func fin(v float32) float32 {
	b := math.Float32bits(v)
	e := (b >> 23) & 0xff
	keep := (e+1)>>8 - 1 // 0 when e == 0xff, all ones otherwise
	return math.Float32frombits(b & keep)
}

// addFiniteGo is the portable loop of AddFinite (both false) and
// AddBothFinite (both true).
func addFiniteGo(dst, src []float32, scale float32, both bool) {
	src = src[:len(dst)]
	switch {
	case both && scale == 1:
		for i, s := range src {
			dst[i] = fin(dst[i]) + fin(s)
		}
	case both:
		for i, s := range src {
			dst[i] = (fin(dst[i]) + fin(s)) * scale
		}
	case scale == 1:
		for i, s := range src {
			dst[i] = dst[i] + fin(s)
		}
	default:
		for i, s := range src {
			dst[i] = (dst[i] + fin(s)) * scale
		}
	}
}

// isFinite is the naive test: neither NaN nor an infinity.
func isFinite(v float32) bool { return !math.IsNaN(float64(v)) && !math.IsInf(float64(v), 0) }

// AddFiniteNaive is the reference for AddFinite, one coordinate at a time.
func AddFiniteNaive(dst, src []float32, scale float32) {
	checkFinite("AddFiniteNaive", dst, src)
	for i := range dst {
		s := src[i]
		if !isFinite(s) {
			s = 0
		}
		v := dst[i] + s
		if scale != 1 {
			v *= scale
		}
		dst[i] = v
	}
}

// AddBothFiniteNaive is the reference for AddBothFinite.
func AddBothFiniteNaive(dst, src []float32, scale float32) {
	checkFinite("AddBothFiniteNaive", dst, src)
	for i := range dst {
		d, s := dst[i], src[i]
		if !isFinite(d) {
			d = 0
		}
		if !isFinite(s) {
			s = 0
		}
		v := d + s
		if scale != 1 {
			v *= scale
		}
		dst[i] = v
	}
}

// ZeroNonFiniteNaive is the reference for ZeroNonFinite.
func ZeroNonFiniteNaive(x []float32) {
	for i, v := range x {
		if !isFinite(v) {
			x[i] = 0
		}
	}
}

func checkFinite(op string, dst, src []float32) {
	if len(src) != len(dst) {
		panic(fmt.Sprintf("kernels: %s: src has length %d, dst %d", op, len(src), len(dst)))
	}
}
