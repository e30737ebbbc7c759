package kernels

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"
)

// Tolerance of Sgemm against the float64-accumulating reference, relative
// to the magnitude sum_p |a||b| of each entry.
const gemmTol = 1e-5

func TestSgemmMatchesNaive(t *testing.T) {
	rng := rand.New(rand.NewPCG(31, 32))
	// The last shapes take the AVX-512 kernel where there is one: rows a
	// multiple of 8 or nearly, columns of 48 or nearly, K across blocks of
	// 256, several row and column blocks, and narrow last panels; and
	// products only whose transpose fills the tiles; last panels of exactly
	// 16 or 32 columns, which the narrow kernels write in place (and the
	// same with fewer than 8 rows in the last row panel).
	for _, sh := range [][3]int{{1, 1, 1}, {3, 5, 7}, {17, 33, 65}, {64, 64, 64}, {1, 100, 3}, {50, 1, 20}, {5, 6, 0},
		{8, 48, 1}, {16, 96, 300}, {64, 400, 37}, {63, 530, 600}, {200, 1000, 70}, {40, 47 * 8, 257}, {272, 144, 520}, {64, 25, 700}, {96, 9, 40},
		{64, 164, 300}, {24, 249, 260}, {512, 392, 70}, {64, 80, 70}, {16, 32, 40}, {72, 112, 48}, {13, 32, 20}, {63, 80, 70}} {
		m, n, k := sh[0], sh[1], sh[2]
		for _, choice := range kernelChoices[KernelSgemm] { // each, whatever this CPU's table chooses
			restore, err := ForceKernels(KernelSgemm + ":" + choice)
			if err != nil {
				t.Fatal(err)
			}
			sgemmCheck(t, rng, choice, m, n, k)
			restore()
		}
	}
}

// sgemmCheck compares Sgemm of random m x n x k operands with SgemmNaive in
// the four transpositions, with choice forced.
func sgemmCheck(t *testing.T, rng *rand.Rand, choice string, m, n, k int) {
	t.Helper()
	for _, tA := range []bool{false, true} {
		for _, tB := range []bool{false, true} {
			lda, ldb, ldc := k+2, n+1, n+3
			if tA {
				lda = m + 2
			}
			if tB {
				ldb = k + 1
			}
			rowsA, rowsB := m, k
			if tA {
				rowsA = k
			}
			if tB {
				rowsB = n
			}
			a := randSlice(rng, max(rowsA*lda, 1))
			b := randSlice(rng, max(rowsB*ldb, 1))
			// beta 0 and 1 take the kernels' store and add into C
			// directly; other betas scale C first.
			for _, beta := range []float32{0.5, 0, 1} {
				c := randSlice(rng, m*ldc)
				want := append([]float32(nil), c...)
				Sgemm(tA, tB, m, n, k, 1.5, a, lda, b, ldb, beta, c, ldc)
				SgemmNaive(tA, tB, m, n, k, 1.5, a, lda, b, ldb, beta, want, ldc)
				for i := range c {
					if d := math.Abs(float64(c[i] - want[i])); d > gemmTol*float64(k+1)*4 {
						t.Fatalf("%s (%s) m=%d n=%d k=%d tA=%v tB=%v beta=%v: c[%d] = %v, want %v", choice, BLASName(), m, n, k, tA, tB, beta, i, c[i], want[i])
					}
				}
			}
		}
	}
}

func randSlice(rng *rand.Rand, n int) []float32 {
	s := make([]float32, n)
	for i := range s {
		s[i] = float32(rng.NormFloat64())
	}
	return s
}

// BenchmarkSgemm reports GFLOP/s on convolution-like shapes (and the
// Winograd filter gradient's A B^T) for each implementation forced, the
// BLAS ("openblas") and, where the CPU has it, the AVX-512 kernel
// ("avx512"), then for what the chooser runs there ("chosen", as a
// network's products get it): the chosen row should keep up with the
// faster of the other two on every shape.
func BenchmarkSgemm(b *testing.B) {
	for _, g := range BenchSgemmShapes {
		m, n, k := g.M, g.N, g.K
		lda, ldb := g.denseStrides()
		shape := fmt.Sprintf("m=%d/n=%d/k=%d", m, n, k)
		if g.TransA || g.TransB {
			shape += "/" + g.ops()
		}
		rows := []string{BLASName()}
		if haveFastGemm() {
			rows = append(rows, ChoiceAVX512, "chosen")
		}
		for _, row := range rows {
			b.Run(row+"/"+shape, func(b *testing.B) {
				switch row {
				case BLASName():
					defer setUseAsm(false)()
				case ChoiceAVX512:
					restore, err := ForceKernels(KernelSgemm + ":" + ChoiceAVX512)
					if err != nil {
						b.Fatal(err)
					}
					defer restore()
				}
				rng := rand.New(rand.NewPCG(1, 2))
				a, bb, c := randSlice(rng, m*k), randSlice(rng, k*n), make([]float32, m*n)
				b.ResetTimer()
				for range b.N {
					Sgemm(g.TransA, g.TransB, m, n, k, 1, a, lda, bb, ldb, 0, c, n)
				}
				b.ReportMetric(2*float64(m*n*k)*float64(b.N)/b.Elapsed().Seconds()/1e9, "GFLOP/s")
			})
		}
	}
}

// sgemmNTAcc (the weight gradient's product) against the reference, in
// both orientations of its partials, with and without segments, with a
// short last segment; and, when segmented, bit for bit the same with 1, 2
// and 3 threads (unsegmented it is Sgemm, which with OpenBLAS alone may
// round differently when split).
func TestSgemmNTAcc(t *testing.T) {
	rng := rand.New(rand.NewPCG(45, 46))
	defer SetThreads(0)
	defer SetBLASThreads(BLASThreads())
	for _, sh := range [][3]int{{64, 64, 4096}, {256, 64, 4096}, {64, 147, 2600}, {30, 100, 3000}, {9, 7, 2055}, {128, 256, 700}, {3, 5, 7}} {
		m, n, k := sh[0], sh[1], sh[2]
		lda, ldb, ldc := k+3, k+1, n+2
		a := randSlice(rng, m*lda)
		b := randSlice(rng, n*ldb)
		c0 := randSlice(rng, m*ldc)
		want := append([]float32(nil), c0...)
		SgemmNaive(false, true, m, n, k, 1, a, lda, b, ldb, 1, want, ldc)
		var ref []float32
		for _, threads := range []int{1, 2, 3} {
			SetThreads(threads)
			SetBLASThreads(threads)
			c := append([]float32(nil), c0...)
			sgemmNTAcc(m, n, k, a, lda, b, ldb, c, ldc)
			for i := range c {
				if d := math.Abs(float64(c[i] - want[i])); d > gemmTol*float64(k+1)*4 {
					t.Fatalf("m=%d n=%d k=%d (%d segments) threads %d: c[%d] = %v, want %v", m, n, k, ntSegments(m, n, k), threads, i, c[i], want[i])
				}
				if ref != nil && ntSegments(m, n, k) > 0 && c[i] != ref[i] {
					t.Fatalf("m=%d n=%d k=%d threads %d: c[%d] = %v, with 1 thread %v", m, n, k, threads, i, c[i], ref[i])
				}
			}
			if ref == nil {
				ref = c
			}
		}
	}
	// The cases above cover what they claim.
	if ntSegments(64, 64, 4096) == 0 || ntSegments(256, 64, 4096) == 0 || ntSegments(128, 256, 700) != 0 {
		t.Fatalf("segments: %d %d %d", ntSegments(64, 64, 4096), ntSegments(256, 64, 4096), ntSegments(128, 256, 700))
	}
	if !(tileArea(64, 256) < tileArea(256, 64)) || tileArea(147, 64) < tileArea(64, 147) {
		t.Fatal("orientation cases changed")
	}
}
