//go:build !amd64 || noasm

package kernels

func bnSums16(x []float32, k float64, acc *[32]float64) { bnSumsGo(x, k, acc) }

func bnDots16(g, x []float32, mu float32, acc *[32]float64) { bnDotsGo(g, x, mu, acc) }

func bnDotsMasked16(g, y, x []float32, mu float32, acc *[32]float64) {
	bnDotsMaskedGo(g, y, x, mu, acc)
}
