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

// maxPool3x3s2p1AVX512 (pool_amd64.s) is maxPoolPlane for 3x3 windows with
// stride 2 and padding 1 (ResNet's stem) over one plane x (h x w), into y
// and am (oh x ow), sixteen outputs a step: output (oy, i) is the first
// maximum, by maxKey, of the window's inputs inside the plane in the
// general path's order (rows 2oy-1..2oy+1, in each the columns 2i-1, 2i,
// 2i+1), with its value and plane index. Reference: the general path.
//
//go:noescape
func maxPool3x3s2p1AVX512(y *float32, am *int32, x *float32, h, w, oh, ow int)

// maxPool3x3s2p1Fast pools one plane with the AVX-512 kernel where the CPU
// has it and reports whether it did.
func maxPool3x3s2p1Fast(y []float32, am []int32, x []float32, h, w, oh, ow int) bool {
	if !haveAVX512 || !useAsm || oh < 1 || ow < 1 {
		return false
	}
	_, _, _ = y[oh*ow-1], am[oh*ow-1], x[h*w-1]
	maxPool3x3s2p1AVX512(&y[0], &am[0], &x[0], h, w, oh, ow)
	return true
}
