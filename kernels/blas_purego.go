//go:build !cgo || purego

package kernels

import (
	"gonum.org/v1/gonum/blas"
	"gonum.org/v1/gonum/blas/gonum"
)

const blasName = "gonum"

var gemm blas.Float32Level3 = gonum.Implementation{}

// SetBLASThreads is a no-op for gonum's BLAS, which uses GOMAXPROCS.
func SetBLASThreads(n int) {}

// BLASThreads returns 0: gonum's BLAS has no thread setting.
func BLASThreads() int { return 0 }
