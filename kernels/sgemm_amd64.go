//go:build amd64 && !noasm

package kernels

import (
	"sync"

	"golang.org/x/sys/cpu"
)

//go:generate python3 asmgen/sgemm_avx512.py

// sgemmKernel8x48 is in sgemm_amd64.s.
//
//go:noescape
func sgemmKernel8x48(k int, a, b, c *float32, ldb, ldc int, add bool)

// haveAVX512 says whether the AVX-512 SGEMM runs on this CPU (read once).
var haveAVX512 = cpu.X86.HasAVX512F

// Blocking of sgemmAVX512: an MC x KC block of A is packed into 8-row
// panels (the L2 cache holds it); then, one 48-column panel of B at a time
// (the KC x 48 panel the L1 cache holds: used in place when B is not
// transposed, else packed), the micro-kernel multiplies every 8-row panel
// of the A block by it, keeping its 8 x 48 tile of C in 24 registers.
const (
	gemmMR = 8
	gemmNR = 48
	gemmKC = 256
	gemmMC = 256
)

// gemmPacks are one call's packing buffers, pooled.
type gemmPacks struct {
	a    [gemmMC * gemmKC]float32
	b    [gemmKC * gemmNR]float32
	tile [gemmMR * gemmNR]float32
}

var gemmPackPool = sync.Pool{New: func() any { return new(gemmPacks) }}

// useFastGemm reports whether Sgemm gives an m x n product to sgemmFast:
// when the CPU has AVX-512 and the product fills the micro-kernel's 8 x 48
// tiles well enough (padding adds at most half on either side; the kernel
// is about twice as fast as an AVX2 BLAS).
func useFastGemm(m, n int) bool {
	return haveAVX512 && useAsm && tilePad(m, gemmMR)*2 <= m && tilePad(n, gemmNR)*2 <= n
}

// haveFastGemm reports whether useFastGemm can be true at all.
func haveFastGemm() bool { return haveAVX512 && useAsm }

// sgemmFast is the AVX-512 product, sgemmAVX512.
func sgemmFast(transA, transB bool, m, n, k int, alpha float32, a []float32, lda int, b []float32, ldb int, beta float32, c []float32, ldc int) {
	sgemmAVX512(transA, transB, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc)
}

// tilePad is how many rows or columns padding n to a multiple of t adds.
func tilePad(n, t int) int { return (t - n%t) % t }

// sgemmAVX512 computes C = alpha op(A) op(B) + beta C (m, n, k >= 1). Each
// entry of C is summed over p in increasing order (blocks of KC in order,
// then one FMA per p), whatever the blocking of M and N, so splitting C
// across goroutines does not change it.
//
// Reference: SgemmNaive.
func sgemmAVX512(transA, transB bool, m, n, k int, alpha float32, a []float32, lda int, b []float32, ldb int, beta float32, c []float32, ldc int) {
	if beta != 0 && beta != 1 {
		for i := 0; i < m; i++ {
			Scale(c[i*ldc:i*ldc+n], beta)
		}
	}
	pk := gemmPackPool.Get().(*gemmPacks)
	defer gemmPackPool.Put(pk)
	for ic := 0; ic < m; ic += gemmMC {
		mb := min(gemmMC, m-ic)
		for pc := 0; pc < k; pc += gemmKC {
			kb := min(gemmKC, k-pc)
			packA(pk.a[:], a, lda, transA, ic, mb, pc, kb, alpha)
			sgemmBlock(pk, pk.a[:], ic, mb, pc, kb, pc > 0 || beta != 0, n, b, ldb, transB, c, ldc)
		}
	}
}

// sgemmBlock multiplies one packed MC x KC block of A, pa, by the matching
// rows of op(B), into (add) or onto rows ic.. of C.
func sgemmBlock(pk *gemmPacks, pa []float32, ic, mb, pc, kb int, add bool, n int, b []float32, ldb int, transB bool, c []float32, ldc int) {
	for jr := 0; jr < n; jr += gemmNR {
		cols := min(gemmNR, n-jr)
		pb, pld := &pk.b[0], gemmNR
		if !transB && cols == gemmNR { // B's rows in place
			pb, pld = &b[pc*ldb+jr], ldb
		} else {
			packB(pk.b[:], b, ldb, transB, pc, kb, jr, cols)
		}
		for ir := 0; ir < mb; ir += gemmMR {
			panel := &pa[ir*kb]
			rows := min(gemmMR, mb-ir)
			off := (ic+ir)*ldc + jr
			if rows == gemmMR && cols == gemmNR {
				sgemmKernel8x48(kb, panel, pb, &c[off], pld, ldc, add)
				continue
			}
			sgemmKernel8x48(kb, panel, pb, &pk.tile[0], pld, gemmNR, false)
			for i := 0; i < rows; i++ {
				dst := c[off+i*ldc : off+i*ldc+cols]
				src := pk.tile[i*gemmNR : i*gemmNR+cols]
				if add {
					for j, v := range src {
						dst[j] += v
					}
				} else {
					copy(dst, src)
				}
			}
		}
	}
}

// packedALen is the length of an m x k matrix packed by packAll (or of one
// block packed by packA): its rows rounded up to whole 8-row panels.
func packedALen(m, k int) int { return (m + gemmMR - 1) / gemmMR * gemmMR * k }

// packAll packs all of the m x k row-major matrix a (not transposed) into
// dst (packedALen) in the order sgemmPackedA reads it: for each MC block
// of rows, for each KC block of columns, packA's panels.
func packAll(dst, a []float32, lda, m, k int) {
	off := 0
	for ic := 0; ic < m; ic += gemmMC {
		mb := min(gemmMC, m-ic)
		for pc := 0; pc < k; pc += gemmKC {
			kb := min(gemmKC, k-pc)
			packA(dst[off:], a, lda, false, ic, mb, pc, kb, 1)
			off += packedALen(mb, kb)
		}
	}
}

// sgemmPackedA computes C = A B (m x n, B k x n not transposed) with A
// already packed by packAll: the product sgemmAVX512 would compute, for a
// matrix A used with many B.
func sgemmPackedA(m, n, k int, packed, b []float32, ldb int, c []float32, ldc int) {
	pk := gemmPackPool.Get().(*gemmPacks)
	defer gemmPackPool.Put(pk)
	off := 0
	for ic := 0; ic < m; ic += gemmMC {
		mb := min(gemmMC, m-ic)
		for pc := 0; pc < k; pc += gemmKC {
			kb := min(gemmKC, k-pc)
			sgemmBlock(pk, packed[off:], ic, mb, pc, kb, pc > 0, n, b, ldb, false, c, ldc)
			off += packedALen(mb, kb)
		}
	}
}

// packA copies rows ic..ic+mb-1, columns pc..pc+kb-1 of op(A), times
// alpha, into panels of 8 rows: panel r holds, for each p, the 8 values of
// rows ic+8r.. at column pc+p (zeros past the last row).
func packA(dst, a []float32, lda int, trans bool, ic, mb, pc, kb int, alpha float32) {
	for ir := 0; ir < mb; ir += gemmMR {
		panel := dst[ir*kb : ir*kb+gemmMR*kb]
		rows := min(gemmMR, mb-ir)
		if trans { // op(A)[i][p] = a[p*lda + i]: rows of a are contiguous
			for p := 0; p < kb; p++ {
				src := a[(pc+p)*lda+ic+ir : (pc+p)*lda+ic+ir+rows]
				d := panel[p*gemmMR : p*gemmMR+gemmMR]
				for i, v := range src {
					d[i] = v * alpha
				}
				clear(d[rows:])
			}
			continue
		}
		if rows == gemmMR { // eight values per p, adjacent
			r := (ic + ir) * lda
			s0 := a[r+pc : r+pc+kb]
			s1 := a[r+lda+pc : r+lda+pc+kb]
			s2 := a[r+2*lda+pc : r+2*lda+pc+kb]
			s3 := a[r+3*lda+pc : r+3*lda+pc+kb]
			s4 := a[r+4*lda+pc : r+4*lda+pc+kb]
			s5 := a[r+5*lda+pc : r+5*lda+pc+kb]
			s6 := a[r+6*lda+pc : r+6*lda+pc+kb]
			s7 := a[r+7*lda+pc : r+7*lda+pc+kb]
			s1, s2, s3, s4, s5, s6, s7 = s1[:len(s0)], s2[:len(s0)], s3[:len(s0)], s4[:len(s0)], s5[:len(s0)], s6[:len(s0)], s7[:len(s0)]
			for p := range s0 {
				d := panel[p*gemmMR : p*gemmMR+8 : p*gemmMR+8]
				d[0], d[1], d[2], d[3] = s0[p]*alpha, s1[p]*alpha, s2[p]*alpha, s3[p]*alpha
				d[4], d[5], d[6], d[7] = s4[p]*alpha, s5[p]*alpha, s6[p]*alpha, s7[p]*alpha
			}
			continue
		}
		for i := 0; i < gemmMR; i++ {
			if i >= rows {
				for p := 0; p < kb; p++ {
					panel[p*gemmMR+i] = 0
				}
				continue
			}
			src := a[(ic+ir+i)*lda+pc : (ic+ir+i)*lda+pc+kb]
			for p, v := range src {
				panel[p*gemmMR+i] = v * alpha
			}
		}
	}
}

// packB copies rows pc..pc+kb-1, columns jc..jc+nb-1 of op(B) into panels
// of 48 columns: panel r holds, for each p, the 48 values of row pc+p at
// columns jc+48r.. (zeros past the last column).
func packB(dst, b []float32, ldb int, trans bool, pc, kb, jc, nb int) {
	for jr := 0; jr < nb; jr += gemmNR {
		panel := dst[jr*kb : jr*kb+gemmNR*kb]
		cols := min(gemmNR, nb-jr)
		if !trans { // op(B)[p][j] = b[p*ldb + j]: rows of b are contiguous
			for p := 0; p < kb; p++ {
				d := panel[p*gemmNR : p*gemmNR+gemmNR]
				copy(d, b[(pc+p)*ldb+jc+jr:(pc+p)*ldb+jc+jr+cols])
				clear(d[cols:])
			}
			continue
		}
		// op(B)[p][j] = b[j*ldb + p]: transpose eight rows of b at a
		// time, so each p writes eight adjacent values.
		j := 0
		for ; j+8 <= cols; j += 8 {
			r := (jc + jr + j) * ldb
			s0 := b[r+pc : r+pc+kb]
			s1 := b[r+ldb+pc : r+ldb+pc+kb]
			s2 := b[r+2*ldb+pc : r+2*ldb+pc+kb]
			s3 := b[r+3*ldb+pc : r+3*ldb+pc+kb]
			s4 := b[r+4*ldb+pc : r+4*ldb+pc+kb]
			s5 := b[r+5*ldb+pc : r+5*ldb+pc+kb]
			s6 := b[r+6*ldb+pc : r+6*ldb+pc+kb]
			s7 := b[r+7*ldb+pc : r+7*ldb+pc+kb]
			s1, s2, s3, s4, s5, s6, s7 = s1[:len(s0)], s2[:len(s0)], s3[:len(s0)], s4[:len(s0)], s5[:len(s0)], s6[:len(s0)], s7[:len(s0)]
			for p := range s0 {
				d := panel[p*gemmNR+j : p*gemmNR+j+8 : p*gemmNR+j+8]
				d[0], d[1], d[2], d[3] = s0[p], s1[p], s2[p], s3[p]
				d[4], d[5], d[6], d[7] = s4[p], s5[p], s6[p], s7[p]
			}
		}
		for ; j < gemmNR; j++ {
			if j >= cols {
				for p := 0; p < kb; p++ {
					panel[p*gemmNR+j] = 0
				}
				continue
			}
			src := b[(jc+jr+j)*ldb+pc : (jc+jr+j)*ldb+pc+kb]
			for p, v := range src {
				panel[p*gemmNR+j] = v
			}
		}
	}
}
