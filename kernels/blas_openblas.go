//go:build cgo && !purego

package kernels

import (
	"gonum.org/v1/gonum/blas"
	"gonum.org/v1/netlib/blas/netlib"

	"signsgd/kernels/internal/openblas"
)

const blasName = "openblas"

var gemm blas.Float32Level3 = netlib.Implementation{}

// SetBLASThreads sets OpenBLAS's thread count (n >= 1).
func SetBLASThreads(n int) { openblas.SetThreads(n) }

// BLASThreads returns OpenBLAS's thread count.
func BLASThreads() int { return openblas.Threads() }
