//go:build amd64 && !noasm

package kernels

import "unsafe"

// The AVX-512 block kernels are in robust_amd64.s. Each wrapper below
// gives its kernel the whole multiples of 16 or 32 coordinates and the
// portable kernel of robust_kernels.go the rest; the slice expressions
// before each call are its bounds checks.

// sanitizeAVX512 is sanitizeGo's loop over v[0:n] (n a multiple of 16):
//
//	for i := 0; i < n; i++ {
//		if v[i] is NaN or ±Inf { v[i] = 0; count++ }
//	}
//	return count
//
//go:noescape
func sanitizeAVX512(v *float32, n int) int

// cvtRowsAVX512 is cvtRowsGo's widening for k in [0, n) (n a multiple of
// 16), rows[r] the r-th float32 vector and off its first coordinate in
// bytes:
//
//	for r := 0; r < m; r++ {
//		for k := 0; k < n; k++ {
//			s[r*stride+k] = float64(rows[r][off/4+k])
//		}
//	}
//
//go:noescape
func cvtRowsAVX512(s *float64, stride int, rows *unsafe.Pointer, m int, off uintptr, n int)

// sqDiffLanesAVX512 is sqDiffLanesGo's loop (n a multiple of distLanes):
//
//	for r := 0; r < m; r++ {
//		for k := 0; k < n; k++ {
//			d := x[k] - s[r*stride+k]
//			acc[r*distLanes+k%distLanes] = fma(d, d, acc[r*distLanes+k%distLanes])
//		}
//	}
//
//go:noescape
func sqDiffLanesAVX512(acc, x, s *float64, stride, m, n int)

// geoStepAVX512 is geoStepGo's loop for k in [0, n) (n a multiple of
// distLanes): the rows widened into s as cvtRowsAVX512 does, then
//
//	a := w[0] * s[k]
//	for r := 1; r < m; r++ { a = fma(w[r], s[r*stride+k], a) }
//	zo := float64(z[k]); z[k] = float32(a); zf[k] = float64(z[k])
//	mv[k%distLanes] += (zf[k]-zo)^2; mv[distLanes+k%distLanes] += zo^2
//
//go:noescape
func geoStepAVX512(z *float32, zf, mv, s *float64, stride int, w *float64, m, n int, rows *unsafe.Pointer, off uintptr)

// clipStepAVX512 is clipStepGo's loop for k in [0, n) (n a multiple of
// distLanes): the rows widened into s as cvtRowsAVX512 does, then
//
//	c := float64(z[k])
//	a := w[0] * (s[k] - c)
//	for r := 1; r < m; r++ { a = fma(w[r], s[r*stride+k]-c, a) }
//	z[k] = float32(c + a); zf[k] = float64(z[k])
//
//go:noescape
func clipStepAVX512(z *float32, zf, s *float64, stride int, w *float64, m, n int, rows *unsafe.Pointer, off uintptr)

// sumRowsAVX512 is sumRowsGo's loop (n a multiple of distLanes):
//
//	for k := 0; k < n; k++ {
//		a := s[idx[0]*stride+k]
//		for j := 1; j < cnt; j++ { a += s[idx[j]*stride+k] }
//		dst[k] = float32(a * inv)
//	}
//
//go:noescape
func sumRowsAVX512(dst *float32, s *float64, stride int, idx *int32, cnt int, inv float64, n int)

// orderKeysAVX512 is orderKeysGo's loop (n a multiple of 16): the
// float32s as int32 keys that sort as the floats do,
//
//	for r := 0; r < m; r++ {
//		for k := 0; k < n; k++ {
//			ks[r*stride+k] = orderKey(math.Float32bits(rows[r][off/4+k]))
//		}
//	}
//
//go:noescape
func orderKeysAVX512(ks *int32, stride int, rows *unsafe.Pointer, m int, off uintptr, n int)

// compareExchangeAVX512 is compareExchangeGo's loop over a sorting
// network's pairs of row offsets (n a multiple of 16):
//
//	for c := 0; c < pairs; c++ {
//		a, b := net[2*c], net[2*c+1]
//		for k := 0; k < n; k++ {
//			ks[a+k], ks[b+k] = min(ks[a+k], ks[b+k]), max(ks[a+k], ks[b+k])
//		}
//	}
//
//go:noescape
func compareExchangeAVX512(ks *int32, net *int32, pairs, n int)

// keysMeanAVX512 is keysMeanGo's loop (n a multiple of 16):
//
//	for k := 0; k < n; k++ {
//		a := float64(fromOrderKey(ks[first*stride+k]))
//		for r := first + 1; r < first+cnt; r++ { a += float64(fromOrderKey(ks[r*stride+k])) }
//		dst[k] = float32(a * inv)
//	}
//
//go:noescape
func keysMeanAVX512(dst *float32, ks *int32, stride, first, cnt int, inv float64, n int)

// haveRobustAsm says whether the AVX-512 block kernels run.
func haveRobustAsm() bool { return haveAVX512 && useAsm }

func cvtRows(s []float64, stride int, rows rowSet, off, n, npad int) {
	k := 0
	if m := len(rows.ptrs); haveRobustAsm() && n >= 16 {
		k = n &^ 15
		_ = s[(m-1)*stride+k-1]
		for _, v := range rows.vecs {
			_ = v[off : off+k]
		}
		cvtRowsAVX512(&s[0], stride, &rows.ptrs[0], m, uintptr(off)*4, k)
	}
	if k < npad {
		cvtRowsGo(s, stride, rows.vecs, off, k, n, npad)
	}
}

func sqDiffLanes(acc, x, s []float64, stride, m, n int) {
	k := 0
	if haveRobustAsm() && n >= distLanes && m > 0 {
		k = n &^ (distLanes - 1)
		_ = acc[m*distLanes-1]
		_ = x[k-1]
		_ = s[(m-1)*stride+k-1]
		sqDiffLanesAVX512(&acc[0], &x[0], &s[0], stride, m, k)
	}
	if k < n {
		sqDiffLanesGo(acc, x, s, stride, m, k, n)
	}
}

func geoStep(z []float32, zf, mv, s []float64, stride int, w []float64, rows rowSet, off, n, npad int) {
	k := 0
	if m := len(w); haveRobustAsm() && n >= distLanes {
		k = n &^ (distLanes - 1)
		_, _, _ = z[k-1], zf[k-1], mv[2*distLanes-1]
		_ = s[(m-1)*stride+k-1]
		checkRows(rows, m, off, k)
		geoStepAVX512(&z[0], &zf[0], &mv[0], &s[0], stride, &w[0], m, k, &rows.ptrs[0], uintptr(off)*4)
	}
	geoStepGo(z, zf, mv, s, stride, w, rows.vecs, off, k, n, npad)
}

func clipStep(z []float32, zf, s []float64, stride int, w []float64, rows rowSet, off, n, npad int) {
	k := 0
	if m := len(w); haveRobustAsm() && n >= distLanes {
		k = n &^ (distLanes - 1)
		_, _ = z[k-1], zf[k-1]
		_ = s[(m-1)*stride+k-1]
		checkRows(rows, m, off, k)
		clipStepAVX512(&z[0], &zf[0], &s[0], stride, &w[0], m, k, &rows.ptrs[0], uintptr(off)*4)
	}
	clipStepGo(z, zf, s, stride, w, rows.vecs, off, k, n, npad)
}

// checkRows panics unless rows has m vectors holding coordinates off..off+n-1.
func checkRows(rows rowSet, m, off, n int) {
	_ = rows.ptrs[m-1]
	for _, v := range rows.vecs[:m] {
		_ = v[off : off+n]
	}
}

func sumRows(dst []float32, s []float64, stride int, idx []int32, inv float64, n int) {
	k := 0
	if haveRobustAsm() && n >= distLanes && len(idx) > 0 {
		k = n &^ (distLanes - 1)
		_ = dst[k-1]
		for _, i := range idx {
			_ = s[int(i)*stride : int(i)*stride+k]
		}
		sumRowsAVX512(&dst[0], &s[0], stride, &idx[0], len(idx), inv, k)
	}
	sumRowsGo(dst, s, stride, idx, inv, k, n)
}

func orderKeys(ks []int32, stride int, rows rowSet, off, n, npad int) {
	k := 0
	if m := len(rows.ptrs); haveRobustAsm() && n >= 16 {
		k = n &^ 15
		_ = ks[(m-1)*stride+k-1]
		for _, v := range rows.vecs {
			_ = v[off : off+k]
		}
		orderKeysAVX512(&ks[0], stride, &rows.ptrs[0], m, uintptr(off)*4, k)
	}
	if k < npad {
		orderKeysGo(ks, stride, rows.vecs, off, k, n, npad)
	}
}

func compareExchange(ks []int32, net []int32, n int) {
	k := 0
	if haveRobustAsm() && n >= 16 && len(net) > 0 {
		k = n &^ 15
		for _, o := range net {
			_ = ks[int(o) : int(o)+k]
		}
		compareExchangeAVX512(&ks[0], &net[0], len(net)/2, k)
	}
	if k < n {
		compareExchangeGo(ks, net, k, n)
	}
}

func keysMean(dst []float32, ks []int32, stride, first, cnt int, inv float64, n int) {
	k := 0
	if haveRobustAsm() && n >= 16 {
		k = n &^ 15
		_ = dst[k-1]
		_ = ks[(first+cnt-1)*stride+k-1]
		keysMeanAVX512(&dst[0], &ks[0], stride, first, cnt, inv, k)
	}
	keysMeanGo(dst, ks, stride, first, cnt, inv, k, n)
}

func sanitize(v []float32) int {
	k, c := 0, 0
	if haveRobustAsm() && len(v) >= 16 {
		k = len(v) &^ 15
		c = sanitizeAVX512(&v[0], k)
	}
	return c + sanitizeGo(v[k:])
}
