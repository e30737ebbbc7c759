// Package openblas links OpenBLAS into the program (so the netlib cgo BLAS
// binding finds its cblas symbols without CGO_LDFLAGS), keeps OpenBLAS
// itself single-threaded (package kernels threads its products) and
// exposes its thread count and core. It is separate from package kernels
// because a package with cgo cannot also hold Go assembly.
package openblas
