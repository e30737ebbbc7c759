//go:build !amd64 || noasm

package kernels

// stemFast is false without the amd64 kernels: the stem goes through
// im2col.
const stemFast = false

func stemRow(nv int, rows *uintptr, n int, w, bias, out *float32, ostride int) {
	panic("kernels: no stem kernel")
}

func stemWgradKernel(rows *uintptr, nrows, nvec int, grad *float32, grow, gstride int, acc *float32) {
	panic("kernels: no stem kernel")
}

func uintptrOf(x []float32) uintptr { panic("kernels: no stem kernel") }
