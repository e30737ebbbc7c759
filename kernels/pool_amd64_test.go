//go:build linux && amd64 && !noasm

package kernels

import (
	"math"
	"math/rand/v2"
	"syscall"
	"testing"
	"unsafe"
)

// guardedFloats returns n float32s between two inaccessible pages, the
// last one at the second's edge (atEnd) or the first one at the first's:
// a read past either end that reaches the page faults.
func guardedFloats(t *testing.T, n int, atEnd bool) []float32 {
	t.Helper()
	page := syscall.Getpagesize()
	size := (4*n+page-1)/page*page + 2*page
	mem, err := syscall.Mmap(-1, 0, size, syscall.PROT_READ|syscall.PROT_WRITE, syscall.MAP_ANON|syscall.MAP_PRIVATE)
	if err != nil {
		t.Skipf("mmap: %v", err)
	}
	t.Cleanup(func() { syscall.Munmap(mem) })
	if err := syscall.Mprotect(mem[:page], syscall.PROT_NONE); err != nil {
		t.Skipf("mprotect: %v", err)
	}
	if err := syscall.Mprotect(mem[size-page:], syscall.PROT_NONE); err != nil {
		t.Skipf("mprotect: %v", err)
	}
	at := page
	if atEnd {
		at = size - page - 4*n
	}
	return unsafe.Slice((*float32)(unsafe.Pointer(&mem[at])), n)
}

// TestMaxPoolFastMatchesGeneral: the AVX-512 poolings (2x2 windows with
// stride 2; 3x3 with stride 2 and padding 1) give the general path's
// values and indices bit for bit (NaNs of both signs, zeros of both signs,
// infinities and ties included) for every row length around the kernels'
// 16-output step, and for odd widths and heights whose last row or column
// no window takes; the plane begins, or ends, at an inaccessible page, and
// nothing past the outputs is written. With the assembly off the general
// path runs, and must agree with itself.
func TestMaxPoolFastMatchesGeneral(t *testing.T) {
	rng := rand.New(rand.NewPCG(61, 62))
	for _, g := range [][3]int{{2, 2, 0}, {3, 2, 1}} {
		k, stride, pad := g[0], g[1], g[2]
		for _, h := range []int{2, 3, 4, 7, 28} {
			for _, w := range []int{2, 3, 14, 28, 31, 32, 33, 34, 64, 67, 112} {
				for _, atEnd := range []bool{true, false} {
					x := guardedFloats(t, h*w, atEnd)
					for i := range x {
						switch rng.IntN(10) {
						case 0:
							x[i] = float32(math.NaN())
						case 1:
							x[i] = math.Float32frombits(0xffc00001) // a negative NaN
						case 2:
							x[i] = float32(math.Copysign(0, -1))
						case 3:
							x[i] = 0
						case 4:
							x[i] = float32(math.Inf(1 - 2*rng.IntN(2)))
						case 5:
							x[i] = float32(rng.IntN(3)) // ties
						default:
							x[i] = float32(rng.NormFloat64())
						}
					}
					oh, ow := PoolOut(h, k, stride, pad), PoolOut(w, k, stride, pad)
					wantY, wantA := make([]float32, oh*ow), make([]int32, oh*ow)
					func() {
						defer setSwitch(&useMaxPoolFast, false)()
						maxPoolPlane(wantY, wantA, x, h, w, oh, ow, k, stride, pad)
					}()
					for _, asm := range []bool{true, false} {
						func() {
							defer setUseAsm(asm)()
							y, a := make([]float32, oh*ow+1), make([]int32, oh*ow+1)
							y[oh*ow], a[oh*ow] = 42, 42
							maxPoolPlane(y[:oh*ow], a[:oh*ow], x, h, w, oh, ow, k, stride, pad)
							for i := range wantY {
								if a[i] != wantA[i] || math.Float32bits(y[i]) != math.Float32bits(wantY[i]) {
									t.Fatalf("%dx%d/%d pad %d, asm=%v %dx%d: output %d = %v at %d, want %v at %d", k, k, stride, pad, asm, h, w, i, y[i], a[i], wantY[i], wantA[i])
								}
							}
							if y[oh*ow] != 42 || a[oh*ow] != 42 {
								t.Fatalf("%dx%d/%d pad %d, asm=%v %dx%d: wrote past the outputs", k, k, stride, pad, asm, h, w)
							}
						}()
					}
				}
			}
		}
	}
}
