//go:build amd64 && !noasm

package kernels

// The AVX-512 kernels are in stride_amd64.s.

// gather2AVX512 is dst[i] = src[2i] for i < n (n >= 1), reading no value
// of src past src[2n-2].
//
//go:noescape
func gather2AVX512(dst, src *float32, n int)

// scatterAdd2AVX512 is dst[2i] += src[i] for i < n (n >= 1), touching no
// value of dst past dst[2n-2].
//
//go:noescape
func scatterAdd2AVX512(dst, src *float32, n int)

// pairLanes spread sixteen values two lanes each (the first eight, then
// the last eight). gather2AVX512 takes the even lanes of two registers by
// winograd_amd64.s's ·wgEven.
var pairLanes = [32]int32{0, 0, 1, 1, 2, 2, 3, 3, 4, 4, 5, 5, 6, 6, 7, 7, 8, 8, 9, 9, 10, 10, 11, 11, 12, 12, 13, 13, 14, 14, 15, 15}

// gather2Fast does gather2 with AVX-512 where the CPU has it and reports
// whether it did.
func gather2Fast(dst, src []float32) bool {
	n := len(dst)
	if n == 0 || !haveAVX512 || !useAsm {
		return false
	}
	_ = src[2*n-2]
	gather2AVX512(&dst[0], &src[0], n)
	return true
}

// scatterAdd2Fast does scatterAdd2 with AVX-512 where the CPU has it and
// reports whether it did.
func scatterAdd2Fast(dst, src []float32) bool {
	n := len(src)
	if n == 0 || !haveAVX512 || !useAsm {
		return false
	}
	_ = dst[2*n-2]
	scatterAdd2AVX512(&dst[0], &src[0], n)
	return true
}
