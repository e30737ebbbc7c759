//go:build amd64 && !noasm

package kernels

import "golang.org/x/sys/cpu"

// dropoutAVX512 (dropout_amd64.s) is DropoutForward's loop over elements
// 0 .. n-1 (n a multiple of 16), the hashes eight to a register:
//
//	for i := 0; i < n; i++ {
//		m := 0; if dropoutHash(seed, i)>>11 >= thresh { m = scale }
//		mask[i], out[i] = m, in[i]*m
//	}
//
//go:noescape
func dropoutAVX512(out, in, mask *float32, n int, seed, thresh uint64, scale float32)

// haveAVX512DQ says whether VPMULLQ (64-bit lane products) runs here.
var haveAVX512DQ = cpu.X86.HasAVX512F && cpu.X86.HasAVX512DQ

// dropoutFast does the whole blocks of 16 elements of DropoutForward's
// loop with AVX-512 where the CPU has it, and returns how many it did (0
// without it: the Go loop does all).
func dropoutFast(out, in, mask []float32, seed, thresh uint64, scale float32) int {
	n := len(in) &^ 15
	if n == 0 || !haveAVX512DQ || !useAsm {
		return 0
	}
	_, _ = out[n-1], mask[n-1]
	dropoutAVX512(&out[0], &in[0], &mask[0], n, seed, thresh, scale)
	return n
}
