//go:build !amd64 || noasm

package kernels

func wgRowPad(n int) int { return 2*n + 4 }

func wgFiltersFast(u []float32, plane int, w []float32, f0, f1 int) int { return 0 }

// wgOutPad is an output row of n tiles: the Go loops write 2n values.
func wgOutPad(n int) int { return 2 * n }

func wgInputRowFast(v []float32, plane int, rows *[4][]float32, n int) bool { return false }

func wgOutputRowFast(rows *[2][]float32, m []float32, plane, n int, bias float32) bool {
	return false
}

func wg5InputRowFast(v []float32, plane int, rows []float32, rowLen, n int, q []float32, ahead int) bool {
	return false
}

func wg5OutputRowFast(rows *[2][]float32, m []float32, plane, n int, bias float32) bool {
	return false
}

func wg5OutGradRowFast(z []float32, plane int, rows *[2][]float32, n int) bool { return false }

func wg43RowPad(n int) int { return 4*n + 2 }

const wg43RLen = 0

func wg43InputRowFast(v []float32, plane int, rows []float32, rowLen, n int, q []float32) bool {
	return false
}

func wg43OutputRowFast(rows *[4][]float32, m []float32, plane, n int, bias float32, r []float32) bool {
	return false
}

func wg43OutGradRowFast(z []float32, plane int, rows *[4][]float32, n int, q []float32) bool {
	return false
}
