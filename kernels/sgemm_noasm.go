//go:build !amd64 || noasm

package kernels

// useFastGemm is false: without assembly every product goes to the BLAS.
func useFastGemm(m, n int) bool { return false }

// haveFastGemm is false: there is no assembly kernel.
func haveFastGemm() bool { return false }

// sgemmFast is never called without assembly.
func sgemmFast(transA, transB bool, m, n, k int, alpha float32, a []float32, lda int, b []float32, ldb int, beta float32, c []float32, ldc int) {
	panic("kernels: sgemmFast without assembly")
}

// packedALen is 0: without assembly there is no packed product.
func packedALen(m, k int) int { return 0 }

// packAll is never called without assembly.
func packAll(dst, a []float32, lda, m, k int) { panic("kernels: packAll without assembly") }

// sgemmPackedA is never called without assembly.
func sgemmPackedA(m, n, k int, packed, b []float32, ldb int, c []float32, ldc int) {
	panic("kernels: sgemmPackedA without assembly")
}
