//go:build !amd64 || noasm

package kernels

// gather2Fast and scatterAdd2Fast do nothing without assembly: the Go
// loops of gather2 and scatterAdd2 do every value.
func gather2Fast(dst, src []float32) bool     { return false }
func scatterAdd2Fast(dst, src []float32) bool { return false }
