//go:build !amd64 || noasm

package kernels

// addFiniteFast does nothing without assembly: the portable loop of
// finite.go does every value.
func addFiniteFast(dst, src []float32, scale float32, both bool) int { return 0 }

func addFiniteSumFast(dst []float32, srcs [][]float32, scale float32, ptrs []*float32) int {
	return 0
}
