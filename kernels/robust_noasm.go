//go:build !amd64 || noasm

package kernels

// Without assembly the robust aggregators' block kernels are the portable
// ones of robust_kernels.go.

func cvtRows(s []float64, stride int, rows rowSet, off, n, npad int) {
	cvtRowsGo(s, stride, rows.vecs, off, 0, n, npad)
}

func sqDiffLanes(acc, x, s []float64, stride, m, n int) { sqDiffLanesGo(acc, x, s, stride, m, 0, n) }

func geoStep(z []float32, zf, mv, s []float64, stride int, w []float64, rows rowSet, off, n, npad int) {
	geoStepGo(z, zf, mv, s, stride, w, rows.vecs, off, 0, n, npad)
}

func clipStep(z []float32, zf, s []float64, stride int, w []float64, rows rowSet, off, n, npad int) {
	clipStepGo(z, zf, s, stride, w, rows.vecs, off, 0, n, npad)
}

func sumRows(dst []float32, s []float64, stride int, idx []int32, inv float64, n int) {
	sumRowsGo(dst, s, stride, idx, inv, 0, n)
}

func orderKeys(ks []int32, stride int, rows rowSet, off, n, npad int) {
	orderKeysGo(ks, stride, rows.vecs, off, 0, n, npad)
}

func compareExchange(ks []int32, net []int32, n int) { compareExchangeGo(ks, net, 0, n) }

func keysMean(dst []float32, ks []int32, stride, first, cnt int, inv float64, n int) {
	keysMeanGo(dst, ks, stride, first, cnt, inv, 0, n)
}

func sanitize(v []float32) int { return sanitizeGo(v) }
