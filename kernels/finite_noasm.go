//go:build !amd64 || noasm

package kernels

// addFiniteFast and zeroNonFiniteFast do nothing without assembly: the
// portable loops of finite.go do every value.
func addFiniteFast(dst, src []float32, scale float32, both bool) int { return 0 }

func zeroNonFiniteFast(x []float32) int { return 0 }
