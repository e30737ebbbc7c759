//go:build !amd64 || noasm

package kernels

// dropoutFast does nothing without assembly: DropoutForward's Go loop does
// every element.
func dropoutFast(out, in, mask []float32, seed, thresh uint64, scale float32) int { return 0 }
