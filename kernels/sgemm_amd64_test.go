//go:build amd64 && !noasm

package kernels

import (
	"math"
	"math/rand/v2"
	"testing"
)

// The register transposes, against the definition, at strides that are
// not multiples of 16.
func TestTransposeKernels(t *testing.T) {
	if !haveAVX512 {
		t.Skip("no AVX-512 on this CPU")
	}
	rng := rand.New(rand.NewPCG(41, 42))
	for _, lds := range []int{16, 17, 37, 300} {
		src := randSlice(rng, 15*lds+16)
		for _, ldd := range []int{16, 48, 53} {
			dst := randSlice(rng, 15*ldd+16+5)
			guard := append([]float32(nil), dst...)
			transpose16x16(&src[0], lds, &dst[0], ldd)
			for c := range 16 {
				for r := range 16 {
					if got, want := dst[c*ldd+r], src[r*lds+c]; got != want {
						t.Fatalf("transpose16x16 lds %d ldd %d: dst[%d][%d] = %v, want src[%d][%d] = %v", lds, ldd, c, r, got, r, c, want)
					}
				}
				for r := 16; c < 15 && r < ldd; r++ { // between the rows: untouched
					if dst[c*ldd+r] != guard[c*ldd+r] {
						t.Fatalf("transpose16x16 lds %d ldd %d: wrote dst[%d]", lds, ldd, c*ldd+r)
					}
				}
			}
			if d := dst[15*ldd+16:]; d[0] != guard[15*ldd+16] {
				t.Fatalf("transpose16x16 lds %d ldd %d: wrote past the block", lds, ldd)
			}
		}
		dst := randSlice(rng, 130)
		transpose8x16(&src[0], lds, &dst[0])
		for c := range 16 {
			for r := range 8 {
				if got, want := dst[8*c+r], src[r*lds+c]; got != want {
					t.Fatalf("transpose8x16 lds %d: dst[%d] = %v, want src[%d][%d] = %v", lds, 8*c+r, got, r, c, want)
				}
			}
		}
	}
}

// packA and packB with the register transposes give exactly what the
// portable loops give, for blocks with and without whole 16 x 16 parts.
func TestPackTransposesMatchGo(t *testing.T) {
	if !haveAVX512 {
		t.Skip("no AVX-512 on this CPU")
	}
	rng := rand.New(rand.NewPCG(43, 44))
	const rows, ld = 70, 300
	src := randSlice(rng, rows*ld)
	for _, kb := range []int{1, 15, 16, 17, 40, 256} {
		for _, pc := range []int{0, 3, 44} {
			for _, ic := range []int{0, 5} {
				for _, mb := range []int{8, 13, 64} {
					var got, want [2][]float32
					for _, asm := range []bool{false, true} {
						func() {
							defer setUseAsm(asm)()
							for j, alpha := range []float32{1, 0.5} {
								d := make([]float32, packedALen(mb, kb))
								packA(d, src, ld, false, ic, mb, pc, kb, alpha)
								if asm {
									got[j] = d
								} else {
									want[j] = d
								}
							}
						}()
					}
					for j := range got {
						for e := range got[j] {
							if got[j][e] != want[j][e] {
								t.Fatalf("packA kb %d pc %d ic %d mb %d alpha #%d: [%d] = %v, want %v", kb, pc, ic, mb, j, e, got[j][e], want[j][e])
							}
						}
					}
				}
			}
			for _, jc := range []int{0, 6} {
				for _, nb := range []int{1, 9, 16, 31, 48, 64} {
					var got, want []float32
					for _, asm := range []bool{false, true} {
						func() {
							defer setUseAsm(asm)()
							d := randSlice(rng, (nb+gemmNR-1)/gemmNR*gemmNR*kb)
							packB(d, src, ld, true, pc, kb, jc, nb)
							if asm {
								got = d
							} else {
								want = d
							}
						}()
					}
					// Only what the panel's kernel reads: tileWidth
					// columns of each p (the rest is left as it was).
					for e := range got {
						jr := e / (gemmNR * kb) * gemmNR
						if e%gemmNR >= tileWidth(min(gemmNR, nb-jr)) {
							continue
						}
						if got[e] != want[e] {
							t.Fatalf("packB kb %d pc %d jc %d nb %d: [%d] = %v, want %v", kb, pc, jc, nb, e, got[e], want[e])
						}
					}
				}
			}
		}
	}
}

// The narrow micro-kernels give the 48-column kernel's first 32 or 16
// columns bit for bit, stored and added, and write nothing past them.
func TestNarrowKernelsMatchWide(t *testing.T) {
	if !haveAVX512 {
		t.Skip("no AVX-512 on this CPU")
	}
	rng := rand.New(rand.NewPCG(47, 48))
	for _, k := range []int{1, 7, 256} {
		for _, ldb := range []int{48, 53} {
			a, b := randSlice(rng, 8*k), randSlice(rng, k*ldb)
			for _, add := range []bool{false, true} {
				const ldc = 50
				c0 := randSlice(rng, 8*ldc)
				wide := append([]float32(nil), c0...)
				sgemmKernel8x48(k, &a[0], &b[0], &wide[0], ldb, ldc, add)
				for _, nk := range []struct {
					cols int
					fn   func(k int, a, b, c *float32, ldb, ldc int, add bool)
				}{{32, sgemmKernel8x32}, {16, sgemmKernel8x16}} {
					c := append([]float32(nil), c0...)
					nk.fn(k, &a[0], &b[0], &c[0], ldb, ldc, add)
					for i := range 8 {
						for j := range ldc {
							want := c0[i*ldc+j]
							if j < nk.cols {
								want = wide[i*ldc+j]
							}
							if math.Float32bits(c[i*ldc+j]) != math.Float32bits(want) {
								t.Fatalf("8x%d k %d ldb %d add %v: c[%d][%d] = %v, want %v", nk.cols, k, ldb, add, i, j, c[i*ldc+j], want)
							}
						}
					}
				}
			}
		}
	}
}
