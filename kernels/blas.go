package kernels

import "gonum.org/v1/gonum/blas"

// gemm (declared per build) is the BLAS in use: OpenBLAS through
// gonum.org/v1/netlib (cgo, the default) or gonum's pure-Go BLAS (build tag
// purego, or without cgo). Both satisfy blas.Float32Level3 and the tests
// run under both.

// BLASName says which BLAS the build uses.
func BLASName() string { return blasName }

// Sgemm computes C = alpha op(A) op(B) + beta C for row-major matrices,
// op(X) = X or X^T:
//
//	op(A) (m, k)   op(B) (k, n)   C (m, n)   lda, ldb, ldc: row strides
func Sgemm(transA, transB bool, m, n, k int, alpha float32, a []float32, lda int, b []float32, ldb int, beta float32, c []float32, ldc int) {
	if m == 0 || n == 0 {
		return
	}
	if k == 0 {
		// BLAS would scale C by beta; do it here so both builds agree.
		for i := 0; i < m; i++ {
			row := c[i*ldc : i*ldc+n]
			if beta == 0 {
				clear(row)
			} else {
				Scale(row, beta)
			}
		}
		return
	}
	tA, tB := blas.NoTrans, blas.NoTrans
	if transA {
		tA = blas.Trans
	}
	if transB {
		tB = blas.Trans
	}
	gemm.Sgemm(tA, tB, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc)
}

// SgemmNaive is the reference for Sgemm (float64 accumulation).
func SgemmNaive(transA, transB bool, m, n, k int, alpha float32, a []float32, lda int, b []float32, ldb int, beta float32, c []float32, ldc int) {
	at := func(i, p int) float32 {
		if transA {
			return a[p*lda+i]
		}
		return a[i*lda+p]
	}
	bt := func(p, j int) float32 {
		if transB {
			return b[j*ldb+p]
		}
		return b[p*ldb+j]
	}
	for i := 0; i < m; i++ {
		for j := 0; j < n; j++ {
			s := 0.0
			for p := 0; p < k; p++ {
				s += float64(at(i, p)) * float64(bt(p, j))
			}
			v := float64(alpha) * s
			if beta != 0 {
				v += float64(beta) * float64(c[i*ldc+j])
			}
			c[i*ldc+j] = float32(v)
		}
	}
}
