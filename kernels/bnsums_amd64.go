//go:build amd64 && !noasm

package kernels

// The AVX-512 kernels are in bnsums_amd64.s.

//go:noescape
func bnSumsAVX512(x *float32, n int, k float64, acc *[32]float64)

//go:noescape
func bnDotsAVX512(grad, x *float32, n int, mu float32, acc *[32]float64)

//go:noescape
func bnDotsMaskedAVX512(grad, y, x *float32, n int, mu float32, acc *[32]float64)

// bnSums16, bnDots16 and bnDotsMasked16 run the AVX-512 kernels where the
// CPU has them, else the Go (both over len(x) &^ 15 values).
func bnSums16(x []float32, k float64, acc *[32]float64) {
	if n := len(x) &^ 15; n > 0 && haveAVX512 && useAsm {
		bnSumsAVX512(&x[0], n, k, acc)
		return
	}
	bnSumsGo(x, k, acc)
}

func bnDots16(g, x []float32, mu float32, acc *[32]float64) {
	if n := len(g) &^ 15; n > 0 && haveAVX512 && useAsm {
		_ = x[n-1]
		bnDotsAVX512(&g[0], &x[0], n, mu, acc)
		return
	}
	bnDotsGo(g, x, mu, acc)
}

func bnDotsMasked16(g, y, x []float32, mu float32, acc *[32]float64) {
	if n := len(g) &^ 15; n > 0 && haveAVX512 && useAsm {
		_, _ = y[n-1], x[n-1]
		bnDotsMaskedAVX512(&g[0], &y[0], &x[0], n, mu, acc)
		return
	}
	bnDotsMaskedGo(g, y, x, mu, acc)
}
