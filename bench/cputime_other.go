//go:build !unix

package bench

import "math"

// ProcessCPU is not measured here: NaN.
func ProcessCPU() float64 { return math.NaN() }
