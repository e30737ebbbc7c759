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

// gemmThreads is how many parts Sgemm may split a product into: Threads()
// for the AVX-512 kernel, 1 when there is none (gonum's BLAS splits its own
// work across goroutines).
func gemmThreads() int {
	if haveFastGemm() {
		return Threads()
	}
	return 1
}

// BLASCore returns "go": gonum's BLAS is portable Go.
func BLASCore() string { return "go" }
