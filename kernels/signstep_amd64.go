//go:build amd64 && !noasm

package kernels

// The AVX-512 kernels are in signstep_amd64.s.

// packSignsAVX512 is packSignsWords' loop over whole words:
//
//	for w := 0; w < words; w++ {
//		nz[w], neg[w] = packWord(grad[64*w : 64*w+64])
//	}
//
//go:noescape
func packSignsAVX512(grad *float32, words int, nz, neg *uint64)

// momentumSignsAVX512 is momentumRange then packSignsWords in one pass
// (a = 1 - beta):
//
//	for w := 0; w < words; w++ {
//		for i := 64 * w; i < 64*w+64; i++ {
//			v[i] = float32(a*grad[i]) + float32(beta*v[i])
//		}
//		nz[w], neg[w] = packWord(v[64*w : 64*w+64])
//	}
//
//go:noescape
func momentumSignsAVX512(v, grad *float32, words int, a, beta float32, nz, neg *uint64)

// applySignStepAVX512 is applySignStepWords' loop over whole words:
//
//	for i := 0; i < 64*words; i++ {
//		sg := float32(int32(nz[i/64]>>(i%64)&1) - 2*int32(neg[i/64]>>(i%64)&1))
//		x[i] = x[i] - float32(lr*float32(sg+float32(wd*x[i])))
//	}
//
//go:noescape
func applySignStepAVX512(x *float32, words int, nz, neg *uint64, lr, wd float32)

// haveSignStepAsm says whether the AVX-512 pack and update kernels run.
func haveSignStepAsm() bool { return haveAVX512 && useAsm }

// packSignsFast packs whole words lo..hi-1 of g into dst.
func packSignsFast(dst Signs, g []float32, lo, hi int) {
	if hi > lo {
		packSignsAVX512(&g[64*lo], hi-lo, &dst.NZ[lo], &dst.Neg[lo])
	}
}

// momentumSignsFast updates v and packs its signs over whole words lo..hi-1.
func momentumSignsFast(dst Signs, v, g []float32, beta float32, lo, hi int) {
	if hi > lo {
		momentumSignsAVX512(&v[64*lo], &g[64*lo], hi-lo, 1-beta, beta, &dst.NZ[lo], &dst.Neg[lo])
	}
}

// applySignStepFast steps x over whole words lo..hi-1 of s.
func applySignStepFast(x []float32, s Signs, lr, wd float32, lo, hi int) {
	if hi > lo {
		applySignStepAVX512(&x[64*lo], hi-lo, &s.NZ[lo], &s.Neg[lo], lr, wd)
	}
}
