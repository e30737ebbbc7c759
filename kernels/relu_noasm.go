//go:build !amd64 || noasm

package kernels

// reluForwardFast and reluBackwardFast do nothing without assembly: the
// portable loops of dense.go do every value.
func reluForwardFast(out, in []float32) int         { return 0 }
func reluBackwardFast(dIn, dOut, out []float32) int { return 0 }
