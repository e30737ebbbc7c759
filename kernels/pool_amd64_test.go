//go:build linux && amd64 && !noasm

package kernels

import (
	"math"
	"math/rand/v2"
	"syscall"
	"testing"
	"unsafe"
)

// guardedFloats returns n float32s that end where an inaccessible page
// begins: a read past the last one faults.
func guardedFloats(t *testing.T, n int) []float32 {
	t.Helper()
	page := syscall.Getpagesize()
	size := (4*n+page-1)/page*page + page
	mem, err := syscall.Mmap(-1, 0, size, syscall.PROT_READ|syscall.PROT_WRITE, syscall.MAP_ANON|syscall.MAP_PRIVATE)
	if err != nil {
		t.Skipf("mmap: %v", err)
	}
	t.Cleanup(func() { syscall.Munmap(mem) })
	if err := syscall.Mprotect(mem[size-page:], syscall.PROT_NONE); err != nil {
		t.Skipf("mprotect: %v", err)
	}
	return unsafe.Slice((*float32)(unsafe.Pointer(&mem[size-page-4*n])), n)
}

// TestMaxPool2x2MatchesGeneral: the AVX-512 2x2, stride-2 pooling gives
// the general path's values and indices bit for bit (NaNs of both signs,
// zeros of both signs, infinities and ties included) for every row length
// around the kernel's 16-output step, and for odd widths and heights whose
// last row or column no window takes; the plane's last element lies at an
// inaccessible page's edge, and nothing past the outputs is written. With
// the assembly off the general path runs, and must agree with itself.
func TestMaxPool2x2MatchesGeneral(t *testing.T) {
	rng := rand.New(rand.NewPCG(61, 62))
	for _, h := range []int{2, 3, 4, 7, 28} {
		for _, w := range []int{2, 3, 14, 28, 31, 32, 33, 34, 64, 67} {
			x := guardedFloats(t, h*w)
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
			oh, ow := PoolOut(h, 2, 2, 0), PoolOut(w, 2, 2, 0)
			wantY, wantA := make([]float32, oh*ow), make([]int32, oh*ow)
			func() {
				defer setSwitch(&useMaxPool2x2, false)()
				maxPoolPlane(wantY, wantA, x, h, w, oh, ow, 2, 2, 0)
			}()
			for _, asm := range []bool{true, false} {
				func() {
					defer setUseAsm(asm)()
					y, a := make([]float32, oh*ow+1), make([]int32, oh*ow+1)
					y[oh*ow], a[oh*ow] = 42, 42
					maxPoolPlane(y[:oh*ow], a[:oh*ow], x, h, w, oh, ow, 2, 2, 0)
					for i := range wantY {
						if a[i] != wantA[i] || math.Float32bits(y[i]) != math.Float32bits(wantY[i]) {
							t.Fatalf("asm=%v %dx%d: output %d = %v at %d, want %v at %d", asm, h, w, i, y[i], a[i], wantY[i], wantA[i])
						}
					}
					if y[oh*ow] != 42 || a[oh*ow] != 42 {
						t.Fatalf("asm=%v %dx%d: wrote past the outputs", asm, h, w)
					}
				}()
			}
		}
	}
}
