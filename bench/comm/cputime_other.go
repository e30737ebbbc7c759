//go:build !unix

package comm

import "math"

// processCPU is not measured here: NaN.
func processCPU() float64 { return math.NaN() }
