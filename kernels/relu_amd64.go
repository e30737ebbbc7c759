//go:build amd64 && !noasm

package kernels

// The AVX-512 kernels are in relu_amd64.s.

// reluForwardAVX512 is reluForward's loop over n values (n a multiple of
// 16): out[i] = max(in[i], 0).
//
//go:noescape
func reluForwardAVX512(out, in *float32, n int)

// reluBackwardAVX512 is reluBackward's loop over n values (n a multiple
// of 16): dIn[i] = dOut[i] where the bits of out[i] are a positive int32,
// else 0.
//
//go:noescape
func reluBackwardAVX512(dIn, dOut, out *float32, n int)

// reluForwardFast does the whole blocks of 16 values of reluForward with
// AVX-512 where the CPU has it, and returns how many it did (0 without
// it: the Go loop does all). The Go loop's max branches on every value, a
// coin flip on a layer's pre-activations.
func reluForwardFast(out, in []float32) int {
	n := len(in) &^ 15
	if n == 0 || !haveAVX512 || !useAsm {
		return 0
	}
	_ = out[n-1]
	reluForwardAVX512(&out[0], &in[0], n)
	return n
}

// reluBackwardFast is reluForwardFast for reluBackward.
func reluBackwardFast(dIn, dOut, out []float32) int {
	n := len(out) &^ 15
	if n == 0 || !haveAVX512 || !useAsm {
		return 0
	}
	_, _ = dIn[n-1], dOut[n-1]
	reluBackwardAVX512(&dIn[0], &dOut[0], &out[0], n)
	return n
}
