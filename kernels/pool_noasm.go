//go:build !amd64 || noasm

package kernels

// maxPool2x2Fast does nothing without assembly: the general path pools.
func maxPool2x2Fast(y []float32, am []int32, x []float32, w, oh, ow int) bool { return false }

// maxPool3x3s2p1Fast likewise.
func maxPool3x3s2p1Fast(y []float32, am []int32, x []float32, h, w, oh, ow int) bool {
	return false
}
