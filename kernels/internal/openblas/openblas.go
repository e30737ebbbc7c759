// Package openblas links OpenBLAS into the program (so the netlib cgo BLAS
// binding finds its cblas symbols without CGO_LDFLAGS) and exposes its
// thread count. It is separate from package kernels because a package with
// cgo cannot also hold Go assembly.
package openblas

// #cgo LDFLAGS: -lopenblas
// void openblas_set_num_threads(int num_threads);
// int openblas_get_num_threads(void);
import "C"

// SetThreads sets OpenBLAS's thread count (n >= 1).
func SetThreads(n int) { C.openblas_set_num_threads(C.int(max(n, 1))) }

// Threads returns OpenBLAS's thread count.
func Threads() int { return int(C.openblas_get_num_threads()) }
