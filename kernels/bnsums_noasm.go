//go:build !amd64 || noasm

package kernels

func bnSums16(x []float32, k float64, acc *[32]float64) { bnSumsGo(x, k, acc) }

func bnDots16(g, x []float32, mu float32, acc *[32]float64) { bnDotsGo(g, x, mu, acc) }

func bnDotsMasked16(g, y, x []float32, mu float32, acc *[32]float64) {
	bnDotsMaskedGo(g, y, x, mu, acc)
}

func bnBwdApply16(dx, dy, y, x []float32, a, k, mu, b0 float32) int { return 0 }

func bnFwdApply16(y, x []float32, mu, scale, shift float32, relu bool) int { return 0 }

func bnAddReluApply16(y, x, s []float32, mu, scale, shift, smu, sscale, sshift float32, bnSkip bool) int {
	return 0
}
