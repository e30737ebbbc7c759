//go:build amd64 && !noasm

package kernels

// The AVX-512 kernels are in finite_amd64.s.

// addFiniteAVX512 is addFiniteGo's loop over n values (n a multiple of 16),
// fin(v) being v if finite, else 0:
//
//	for i := 0; i < n; i++ {
//		d := dst[i]
//		if both {
//			d = fin(d)
//		}
//		dst[i] = d + fin(src[i]) // times scale when scale != 1
//	}
//
//go:noescape
func addFiniteAVX512(dst, src *float32, n int, scale float32, both bool)

// addFiniteFast does the whole blocks of 16 values of AddFinite (both
// false) or AddBothFinite (both true) with AVX-512 where the CPU has it,
// and returns how many values it did (0 without it: the Go loop does all).
func addFiniteFast(dst, src []float32, scale float32, both bool) int {
	n := len(dst) &^ 15
	if n == 0 || !haveAVX512 || !useAsm {
		return 0
	}
	_ = src[n-1]
	addFiniteAVX512(&dst[0], &src[0], n, scale, both)
	return n
}

// addFiniteSumAVX512 is AddFinite of k sources in turn, in one pass over
// dst's n values (n a multiple of 16): srcs points at k pointers, each to
// n values.
//
//go:noescape
func addFiniteSumAVX512(dst *float32, srcs **float32, k, n int, scale float32)

// addFiniteSumFast does the whole blocks of 16 values of AddFiniteSum for
// up to len(ptrs) sources (ptrs is the caller's scratch for their
// addresses) with AVX-512 where the CPU has it, and returns how many
// values it did.
func addFiniteSumFast(dst []float32, srcs [][]float32, scale float32, ptrs []*float32) int {
	n := len(dst) &^ 15
	if n == 0 || !haveAVX512 || !useAsm || len(srcs) > len(ptrs) {
		return 0
	}
	for i, s := range srcs {
		_ = s[n-1]
		ptrs[i] = &s[0]
	}
	addFiniteSumAVX512(&dst[0], &ptrs[0], len(srcs), n, scale)
	clear(ptrs[:len(srcs)])
	return n
}
