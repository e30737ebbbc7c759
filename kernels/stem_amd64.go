//go:build amd64 && !noasm

package kernels

import "unsafe"

//go:generate python3 asmgen/stem_avx512.py

// stemRowAVX512V4 and stemRowAVX512V3 (stem_amd64.s) compute four output
// channels by four or three vectors of sixteen columns of one output row
// of the direct stem convolution (stem.go): for j < 4 and each column i,
//
//	out[j*ostride/4 + i] = bias[j] + sum over r < n, kw < 7 of
//		w[(r*7 + kw)*4 + j] * (split row r, offset to the block's first
//		column)'s input column 2i + kw - 3
//
// summed over r, then kw, one FMA each; rows[r] is split row r's address.
//
//go:noescape
func stemRowAVX512V4(rows *uintptr, n int, w, bias, out *float32, ostride int)

//go:noescape
func stemRowAVX512V3(rows *uintptr, n int, w, bias, out *float32, ostride int)

// stemWgradAVX512 (stem_amd64.s) is the direct stem's filter gradient for
// two output channels and one window row: for each of the nrows rows r
// (rows[r], a split input row; channel 0's output-gradient row at grad + r
// grow bytes, channel 1's gstride bytes on) and each of its nvec vectors
// v,
//
//	acc[(j*7 + kw)*16 + l] += gradient j at column 16v + l
//		* the row's input column 2(16v + l) + kw - 3
//
// (acc's sums are loaded and stored back; the caller sums each sixteen
// lanes at the end).
//
//go:noescape
func stemWgradAVX512(rows *uintptr, nrows, nvec int, grad *float32, grow, gstride int, acc *float32)

// stemWgradKernel runs stemWgradAVX512.
func stemWgradKernel(rows *uintptr, nrows, nvec int, grad *float32, grow, gstride int, acc *float32) {
	stemWgradAVX512(rows, nrows, nvec, grad, grow, gstride, acc)
}

// stemFast says whether the direct stem kernels run on this CPU.
var stemFast = haveAVX512

// stemRow runs the kernel for a block of nv (4 or 3) vectors.
func stemRow(nv int, rows *uintptr, n int, w, bias, out *float32, ostride int) {
	if nv == 4 {
		stemRowAVX512V4(rows, n, w, bias, out, ostride)
	} else {
		stemRowAVX512V3(rows, n, w, bias, out, ostride)
	}
}

// uintptrOf is the address of x's first value, for the kernels' tables of
// rows: the callers keep the slices alive past the kernels' calls
// (runtime.KeepAlive), since an address held as a uintptr does not.
func uintptrOf(x []float32) uintptr { return uintptr(unsafe.Pointer(&x[0])) }
