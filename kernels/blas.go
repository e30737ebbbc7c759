package kernels

import (
	"sync"

	"gonum.org/v1/gonum/blas"
)

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
//
// On amd64 CPUs with AVX-512 (and without the noasm tag) a product whose
// rows and columns fill the kernel's 8 x 48 tiles goes to sgemmAVX512; a
// small one that fills them only transposed is computed as C^T by it; any
// other goes to the BLAS in one call. Where both can take it, the chooser
// (choose.go, ChooseSgemm) decides by the CPU's calibration table. Large products for the AVX-512 kernel are
// split into blocks of rows or columns across BLASThreads() goroutines;
// its sum for an entry does not depend on the split, so there the result
// does not depend on the threads. Without the kernel, large BLAS products
// are split likewise (deterministic for a given thread count).
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
	ours, chosenBLAS := sgemmOurs(GemmShape{m, n, k, transA, transB})
	fast := ours && useFastGemm(m, n)
	t := gemmThreads()
	if m*n*k < gemmSplitWork || !fast && haveFastGemm() && !chosenBLAS {
		// Next to the AVX-512 kernel the BLAS only gets the small or
		// oddly shaped products: they stay whole, so that the result
		// does not depend on the threads (the BLAS's rounding of an
		// entry may depend on where its blocks split). A product the
		// chooser gives to the BLAS is split as without the kernel.
		t = 1
	}
	if t <= 1 {
		sgemmSerial(transA, transB, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc)
		return
	}
	// Split C into t blocks of columns (or of rows when it is taller than
	// wide), each computed by one call on its own goroutine. The split
	// depends only on the shape and t, and each entry of C is computed by
	// one call exactly as it would be unsplit, so results are
	// deterministic.
	splitN := n >= m
	size, align := m, gemmSplitAlignM
	if splitN {
		size, align = n, gemmSplitAlignN
	}
	t = min(t, max(1, size/align))
	if t <= 1 {
		sgemm1(fast, transA, transB, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc)
		return
	}
	chunk := (size + t - 1) / t
	chunk = (chunk + align - 1) / align * align
	part := func(lo, hi int) {
		if splitN {
			bo := lo // column lo of op(B)
			if transB {
				bo = lo * ldb
			}
			sgemm1(fast, transA, transB, m, hi-lo, k, alpha, a, lda, b[bo:], ldb, beta, c[lo:], ldc)
			return
		}
		ao := lo * lda // row lo of op(A)
		if transA {
			ao = lo
		}
		sgemm1(fast, transA, transB, hi-lo, n, k, alpha, a[ao:], lda, b, ldb, beta, c[lo*ldc:], ldc)
	}
	runParallel((size+chunk-1)/chunk, func(i int) { part(i*chunk, min((i+1)*chunk, size)) })
}

// sgemmSerial is Sgemm on the calling goroutine alone (m, n, k >= 1), for
// callers that split their work across threads themselves.
func sgemmSerial(transA, transB bool, m, n, k int, alpha float32, a []float32, lda int, b []float32, ldb int, beta float32, c []float32, ldc int) {
	ours, _ := sgemmOurs(GemmShape{m, n, k, transA, transB})
	fast := ours && useFastGemm(m, n)
	if ours && !fast && m*n <= transposedGemmMax && useFastGemm(n, m) {
		transposedGemm(transA, transB, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc)
		return
	}
	sgemm1(fast, transA, transB, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc)
}

// sgemmOurs reports whether the chooser gives a product of shape g to the
// AVX-512 kernel, where the kernel can take it directly or transposed
// (ChooseSgemm; false without the kernel), and toBLAS whether it gives it to
// the BLAS instead.
func sgemmOurs(g GemmShape) (ours, toBLAS bool) {
	m, n := g.M, g.N
	if !haveFastGemm() || !useFastGemm(m, n) && !(m*n <= transposedGemmMax && useFastGemm(n, m)) {
		return false, false
	}
	if r := shapeRecorder.Load(); r != nil {
		r.addSgemm(g)
	}
	ours = ChooseSgemm(g) == ChoiceAVX512
	return ours, !ours
}

// Sgemm splits a product across gemmThreads() goroutines when it has at
// least gemmSplitWork multiply-adds, into blocks of a multiple of
// gemmSplitAlignM rows or gemmSplitAlignN columns (whole tiles of the
// AVX-512 kernel).
const (
	gemmSplitWork   = 1 << 20
	gemmSplitAlignM = 16
	gemmSplitAlignN = 48
)

// transposedGemmMax is the largest C (entries) that Sgemm computes
// transposed, when only C^T fills the AVX-512 kernel's tiles (a
// convolution's dW with few inputs per filter, OutC x InC*KH*KW).
const transposedGemmMax = 1 << 16

var transposedPool = sync.Pool{New: func() any { return new([transposedGemmMax]float32) }}

// transposedGemm computes T = alpha op(B)^T op(A)^T (n, m) with the
// AVX-512 kernel into a pooled buffer, then C = T^T + beta C.
func transposedGemm(transA, transB bool, m, n, k int, alpha float32, a []float32, lda int, b []float32, ldb int, beta float32, c []float32, ldc int) {
	buf := transposedPool.Get().(*[transposedGemmMax]float32)
	defer transposedPool.Put(buf)
	t := buf[:n*m]
	sgemmFast(!transB, !transA, n, m, k, alpha, b, ldb, a, lda, 0, t, m)
	for i := 0; i < m; i++ {
		row := c[i*ldc : i*ldc+n]
		for j := range row {
			if beta == 0 {
				row[j] = t[j*m+i]
			} else {
				row[j] = t[j*m+i] + beta*row[j]
			}
		}
	}
}

// sgemm1 is one part of Sgemm: the AVX-512 kernel when fast, else one BLAS
// call.
func sgemm1(fast, transA, transB bool, m, n, k int, alpha float32, a []float32, lda int, b []float32, ldb int, beta float32, c []float32, ldc int) {
	if fast {
		sgemmFast(transA, transB, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc)
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
