//go:build amd64 && !noasm

package kernels

// The AVX-512 kernels are in bnsums_amd64.s (the sums) and bnapply_amd64.s
// (the passes that apply them).

// bnSumsAVX512 is shiftedSums' loop over n values (n a multiple of 16), in
// the same lanes and order:
//
//	for i := 0; i < n; i++ {
//		d := float64(x[i]) - k
//		acc[i&15] += d
//		acc[16+i&15] += d * d
//	}
//
//go:noescape
func bnSumsAVX512(x *float32, n int, k float64, acc *[32]float64)

// bnDotsAVX512 is dotCentered's loop over n values (n a multiple of 16):
//
//	for i := 0; i < n; i++ {
//		gd := float64(grad[i])
//		acc[i&15] += gd
//		acc[16+i&15] += gd * float64(x[i]-mu)
//	}
//
//go:noescape
func bnDotsAVX512(grad, x *float32, n int, mu float32, acc *[32]float64)

// bnDotsMaskedAVX512 is dotCenteredMasked's loop: bnDotsAVX512's with
// gd := float64(reluGrad(grad[i], y[i])).
//
//go:noescape
func bnDotsMaskedAVX512(grad, y, x *float32, n int, mu float32, acc *[32]float64)

// bnSums16, bnDots16 and bnDotsMasked16 add the whole blocks of 16 values
// into the lanes of shiftedSums, dotCentered and dotCenteredMasked with the
// AVX-512 kernels where the CPU has them, and return how many values they
// did (0 without them: the caller's loop does all).
func bnSums16(x []float32, k float64, acc *[32]float64) int {
	n := len(x) &^ 15
	if n == 0 || !haveAVX512 || !useAsm {
		return 0
	}
	bnSumsAVX512(&x[0], n, k, acc)
	return n
}

func bnDots16(g, x []float32, mu float32, acc *[32]float64) int {
	n := len(g) &^ 15
	if n == 0 || !haveAVX512 || !useAsm {
		return 0
	}
	_ = x[n-1]
	bnDotsAVX512(&g[0], &x[0], n, mu, acc)
	return n
}

func bnDotsMasked16(g, y, x []float32, mu float32, acc *[32]float64) int {
	n := len(g) &^ 15
	if n == 0 || !haveAVX512 || !useAsm {
		return 0
	}
	_, _ = y[n-1], x[n-1]
	bnDotsMaskedAVX512(&g[0], &y[0], &x[0], n, mu, acc)
	return n
}

// bnBwdApplyAVX512 is batch norm's backward pass over n values (n a
// multiple of 16), g = dy[i], or reluGrad(dy[i], y[i]) when y is not nil:
//
//	for i := 0; i < n; i++ {
//		dx[i] = a*g - k*(x[i]-mu) - b0
//	}
//
//go:noescape
func bnBwdApplyAVX512(dx, dy, y, x *float32, n int, a, k, mu, b0 float32)

// bnBwdApply16 computes dx = a g - k (x - mu) - b0 over the whole blocks of
// 16 of x (g = dy, or reluGrad(dy, y) when y is not nil) with the AVX-512
// kernel where the CPU has it, and returns how many values it did.
func bnBwdApply16(dx, dy, y, x []float32, a, k, mu, b0 float32) int {
	n := len(x) &^ 15
	if n == 0 || !haveAVX512 || !useAsm {
		return 0
	}
	_, _ = dx[n-1], dy[n-1]
	var yp *float32
	if y != nil {
		_ = y[n-1]
		yp = &y[0]
	}
	bnBwdApplyAVX512(&dx[0], &dy[0], yp, &x[0], n, a, k, mu, b0)
	return n
}

// bnFwdApplyAVX512 is bnForwardChannels' loop over n values (n a multiple
// of 16):
//
//	for i := 0; i < n; i++ {
//		y[i] = (x[i]-mu)*scale + shift // then max(y[i], 0) if relu
//	}
//
//go:noescape
func bnFwdApplyAVX512(y, x *float32, n int, mu, scale, shift float32, relu bool)

// bnAddReluApplyAVX512 is BatchNormAddReluForward's loop over n values (n
// a multiple of 16), the skip branch batch-normed too when bnSkip:
//
//	for i := 0; i < n; i++ {
//		t := s[i]
//		if bnSkip {
//			t = (s[i]-smu)*sscale + sshift
//		}
//		y[i] = max((x[i]-mu)*scale+shift+t, 0)
//	}
//
//go:noescape
func bnAddReluApplyAVX512(y, x, s *float32, n int, mu, scale, shift, smu, sscale, sshift float32, bnSkip bool)

// bnFwdApply16 is bnForwardChannels' loop over the whole blocks of 16 of x
// with the AVX-512 kernel where the CPU has it; it returns how many values
// it did.
func bnFwdApply16(y, x []float32, mu, scale, shift float32, relu bool) int {
	n := len(x) &^ 15
	if n == 0 || !haveAVX512 || !useAsm {
		return 0
	}
	_ = y[n-1]
	bnFwdApplyAVX512(&y[0], &x[0], n, mu, scale, shift, relu)
	return n
}

// bnAddReluApply16 is BatchNormAddReluForward's loop likewise.
func bnAddReluApply16(y, x, s []float32, mu, scale, shift, smu, sscale, sshift float32, bnSkip bool) int {
	n := len(x) &^ 15
	if n == 0 || !haveAVX512 || !useAsm {
		return 0
	}
	_, _ = y[n-1], s[n-1]
	bnAddReluApplyAVX512(&y[0], &x[0], &s[0], n, mu, scale, shift, smu, sscale, sshift, bnSkip)
	return n
}
