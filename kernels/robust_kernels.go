package kernels

import (
	"math"
	"unsafe"
)

// The robust aggregators' block kernels in portable Go. Each works on
// coordinates k0..n-1 of a block; the AVX-512 forms (robust_amd64.s) do the
// whole multiples of 8, 16 or 32 at the block's start with the same float
// operations in the same order, and these do the rest (or all, without
// assembly), so the two agree bit for bit. Rows of a block sit in scratch
// one after another, stride values apart.
//
// Sums of squares are kept in 32 float64 lanes per sum: lane l takes the
// coordinates k with k%32 == l of a block (blocks start at multiples of 32
// from their chunk's start, so this is also k%32 of the chunk), in order of
// k; a zmm register holds 8 lanes and the kernels step 32 coordinates at a
// time through four of them.

// distLanes is the number of float64 lanes a sum of squares is kept in.
const distLanes = 32

// rowSet is the input vectors and, for the assembly kernels, the addresses
// of their first elements.
type rowSet struct {
	vecs [][]float32
	ptrs []unsafe.Pointer
}

func newRowSet(vecs [][]float32) rowSet {
	r := rowSet{vecs: vecs, ptrs: make([]unsafe.Pointer, len(vecs))}
	if len(vecs[0]) > 0 {
		for i, v := range vecs {
			r.ptrs[i] = unsafe.Pointer(&v[0])
		}
	}
	return r
}

// subset is the rows idx of r, in that order.
func (r rowSet) subset(idx []int) rowSet {
	s := rowSet{vecs: make([][]float32, len(idx)), ptrs: make([]unsafe.Pointer, len(idx))}
	for j, i := range idx {
		s.vecs[j], s.ptrs[j] = r.vecs[i], r.ptrs[i]
	}
	return s
}

// cvtRowsGo sets s[r*stride+k] = float64(rows[r][off+k]) for k0 <= k < n
// and 0 for n <= k < npad.
func cvtRowsGo(s []float64, stride int, rows [][]float32, off, k0, n, npad int) {
	for r, v := range rows {
		d := s[r*stride : r*stride+npad]
		for k := k0; k < n; k++ {
			d[k] = float64(v[off+k])
		}
		clear(d[n:])
	}
}

// sqDiffLanesGo adds (x[k] - row_r[k])^2 into lane k%32 of acc[32r:32r+32]
// (fused: one rounding) for the m rows of s and k0 <= k < n.
func sqDiffLanesGo(acc, x, s []float64, stride, m, k0, n int) {
	for r := range m {
		row := s[r*stride : r*stride+n]
		a := (*[distLanes]float64)(acc[r*distLanes : (r+1)*distLanes])
		k := k0
		if k%distLanes == 0 {
			for ; k+distLanes <= n; k += distLanes {
				xs := (*[distLanes]float64)(x[k : k+distLanes])
				rs := (*[distLanes]float64)(row[k : k+distLanes])
				for l := range distLanes {
					d := xs[l] - rs[l]
					a[l] = math.FMA(d, d, a[l])
				}
			}
		}
		for ; k < n; k++ {
			d := x[k] - row[k]
			a[k%distLanes] = math.FMA(d, d, a[k%distLanes])
		}
	}
}

// geoStepGo widens coordinates k0..n-1 of the rows (from off) into s
// (cvtRowsGo, zeros from n to npad) and sets z[k] = float32(a) where a =
// w[0]*row_0[k], then a = fma(w[r], row_r[k], a) for r = 1, 2, ...;
// zf[k] = float64(z[k]); and adds (zf[k] - old z[k])^2 into lane k%32 of
// mv[0:32] and old z[k]^2 into mv[32:64].
func geoStepGo(z []float32, zf, mv, s []float64, stride int, w []float64, rows [][]float32, off, k0, n, npad int) {
	cvtRowsGo(s, stride, rows, off, k0, n, npad)
	for k := k0; k < n; k++ {
		a := float64(w[0] * s[k])
		for r := 1; r < len(w); r++ {
			a = math.FMA(w[r], s[r*stride+k], a)
		}
		zn := float32(a)
		zo := float64(z[k])
		zf[k] = float64(zn)
		d := zf[k] - zo
		mv[k%distLanes] += float64(d * d)
		mv[distLanes+k%distLanes] += float64(zo * zo)
		z[k] = zn
	}
}

// clipStepGo widens the rows into s as geoStepGo does and sets z[k] =
// float32(c + a) with c = z[k], a = w[0]*(row_0[k] - c), then a =
// fma(w[r], row_r[k] - c, a); and zf[k] = float64(z[k]).
func clipStepGo(z []float32, zf, s []float64, stride int, w []float64, rows [][]float32, off, k0, n, npad int) {
	cvtRowsGo(s, stride, rows, off, k0, n, npad)
	for k := k0; k < n; k++ {
		c := float64(z[k])
		a := float64(w[0] * (s[k] - c))
		for r := 1; r < len(w); r++ {
			a = math.FMA(w[r], s[r*stride+k]-c, a)
		}
		zn := float32(c + a)
		z[k] = zn
		zf[k] = float64(zn)
	}
}

// sumRowsGo sets dst[k] = float32((row_idx0[k] + row_idx1[k] + ...) * inv),
// the sum in the order of idx.
func sumRowsGo(dst []float32, s []float64, stride int, idx []int32, inv float64, k0, n int) {
	for k := k0; k < n; k++ {
		a := s[int(idx[0])*stride+k]
		for _, i := range idx[1:] {
			a += s[int(i)*stride+k]
		}
		dst[k] = float32(a * inv)
	}
}

// orderKeysGo sets ks[r*stride+k] = orderKey(rows[r][off+k]) for k0 <= k <
// n and 0 for n <= k < npad.
func orderKeysGo(ks []int32, stride int, rows [][]float32, off, k0, n, npad int) {
	for r, v := range rows {
		d := ks[r*stride : r*stride+npad]
		for k := k0; k < n; k++ {
			d[k] = orderKey(math.Float32bits(v[off+k]))
		}
		clear(d[n:])
	}
}

// compareExchangeGo applies the comparator network net (pairs of row
// offsets a < b into ks) to coordinates k0..n-1: row a gets the minimum and
// row b the maximum.
func compareExchangeGo(ks []int32, net []int32, k0, n int) {
	for c := 0; c < len(net); c += 2 {
		ra := ks[int(net[c])+k0 : int(net[c])+n]
		rb := ks[int(net[c+1])+k0 : int(net[c+1])+n]
		rb = rb[:len(ra)]
		for k, x := range ra {
			y := rb[k]
			ra[k], rb[k] = min(x, y), max(x, y)
		}
	}
}

// keysMeanGo sets dst[k] = float32((v_first[k] + ... + v_{first+cnt-1}[k])
// * inv) where v_r is row r of ks turned back into float32s, the sum in
// float64 from the first row.
func keysMeanGo(dst []float32, ks []int32, stride, first, cnt int, inv float64, k0, n int) {
	for k := k0; k < n; k++ {
		a := float64(fromOrderKey(ks[first*stride+k]))
		for r := first + 1; r < first+cnt; r++ {
			a += float64(fromOrderKey(ks[r*stride+k]))
		}
		dst[k] = float32(a * inv)
	}
}

// sanitizeGo zeroes the NaNs and infinities of v and counts them.
func sanitizeGo(v []float32) int {
	n := 0
	for i, x := range v {
		if math.Float32bits(x)&0x7f800000 == 0x7f800000 {
			v[i] = 0
			n++
		}
	}
	return n
}

// fromOrderKey is the float32 whose orderKey is x.
func fromOrderKey(x int32) float32 {
	return math.Float32frombits(uint32(x ^ int32(uint32(x>>31)>>1)))
}
