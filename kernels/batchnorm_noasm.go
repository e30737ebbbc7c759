//go:build !amd64 || noasm

package kernels

// Without assembly the callers' loops do every value.

func bnSums16(x []float32, k float64, acc *[32]float64) int { return 0 }

func bnDots16(g, x []float32, mu float32, acc *[32]float64) int { return 0 }

func bnDotsMasked16(g, y, x []float32, mu float32, acc *[32]float64) int { return 0 }

func bnBwdApply16(dx, dy, y, x []float32, a, k, mu, b0 float32) int { return 0 }

func bnFwdApply16(y, x []float32, mu, scale, shift float32, relu bool) int { return 0 }

func bnAddReluApply16(y, x, s []float32, mu, scale, shift, smu, sscale, sshift float32, bnSkip bool) int {
	return 0
}
