//go:build amd64 && !noasm

package kernels

// maxPool2x2AVX512 (pool_amd64.s) is maxPoolPlane for 2x2 windows with
// stride 2 and no padding over one plane x of w columns, into y and am (oh
// x ow), sixteen outputs a step: output (oy, i) is the first maximum, by
// maxKey, of x[2oy][2i], x[2oy][2i+1], x[2oy+1][2i], x[2oy+1][2i+1] (the
// order in which the general path's maxRow meets them), with its value and
// plane index. Reference: maxPoolPlane's general path.
//
//go:noescape
func maxPool2x2AVX512(y *float32, am *int32, x *float32, w, oh, ow int)

// maxPool2x2Fast pools one plane with the AVX-512 kernel where the CPU has
// it and reports whether it did.
func maxPool2x2Fast(y []float32, am []int32, x []float32, w, oh, ow int) bool {
	if !haveAVX512 || !useAsm || oh < 1 || ow < 1 {
		return false
	}
	_, _, _ = y[oh*ow-1], am[oh*ow-1], x[(2*oh-1)*w+2*ow-1]
	maxPool2x2AVX512(&y[0], &am[0], &x[0], w, oh, ow)
	return true
}
