//go:build cgo && !purego

package kernels

import (
	"sync/atomic"

	"gonum.org/v1/gonum/blas"
	"gonum.org/v1/netlib/blas/netlib"

	"signsgd/kernels/internal/openblas"
)

const blasName = "openblas"

var gemm blas.Float32Level3 = netlib.Implementation{}

// blasThreads is how many goroutines Sgemm splits a large product across;
// OpenBLAS itself stays single-threaded (see package openblas).
var blasThreads atomic.Int32

func init() { blasThreads.Store(int32(openblas.DefaultThreads())) }

// SetBLASThreads sets how many threads a large SGEMM uses (n >= 1): Sgemm
// splits it into that many parts, each a single-threaded OpenBLAS call on
// its own goroutine.
func SetBLASThreads(n int) { blasThreads.Store(int32(max(n, 1))) }

// BLASThreads returns the SGEMM thread count.
func BLASThreads() int { return int(blasThreads.Load()) }

// gemmThreads is how many parts Sgemm may split a product into.
func gemmThreads() int { return BLASThreads() }

// BLASCore names the OpenBLAS core in use (its kernels' target CPU).
func BLASCore() string { return openblas.CoreName() }
