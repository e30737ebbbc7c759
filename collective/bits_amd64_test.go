//go:build linux && amd64 && !noasm

package collective

import (
	"math/rand/v2"
	"syscall"
	"testing"
	"unsafe"

	"signsgd/kernels"
)

// guardedWords returns n words that end where an inaccessible page
// begins: a read past the last word faults.
func guardedWords(t *testing.T, n int) []uint64 {
	t.Helper()
	page := syscall.Getpagesize()
	size := (8*n+page-1)/page*page + page
	mem, err := syscall.Mmap(-1, 0, size, syscall.PROT_READ|syscall.PROT_WRITE, syscall.MAP_ANON|syscall.MAP_PRIVATE)
	if err != nil {
		t.Skipf("mmap: %v", err)
	}
	t.Cleanup(func() { syscall.Munmap(mem) })
	if err := syscall.Mprotect(mem[size-page:], syscall.PROT_NONE); err != nil {
		t.Skipf("mprotect: %v", err)
	}
	end := size - page
	return unsafe.Slice((*uint64)(unsafe.Pointer(&mem[end-8*n])), n)
}

// TestScatterCopyAgainstNaive: the fused pass over a received result
// (scatterCopyBMI2) copies the non-zero plane, returns its count and
// scatters the signs as the naive scatter does. Given a stream shorter
// than the count (an untrusted payload, which the decoder then refuses),
// it still copies and counts, and reads nothing past the stream's last
// word: the stream ends at an inaccessible page.
func TestScatterCopyAgainstNaive(t *testing.T) {
	if !useBMI2 {
		t.Skip("no BMI2 on this CPU")
	}
	rng := rand.New(rand.NewPCG(9, 2))
	for _, w := range []int{1, 2, 3, 17, 300} {
		for _, zero := range []float64{0, 0.01, 0.5, 0.99, 1} {
			s := randomSigns(rng, 64*w, zero, 30)
			nnz := onesCount(s.NZ)
			stream := make([]uint64, max(1, kernels.Words(nnz)))
			gatherSignBitsNaive(stream, s)
			for _, short := range []int{0, 1, len(stream) - 1} {
				if short >= len(stream) {
					continue
				}
				in := guardedWords(t, len(stream)-short)
				copy(in, stream)
				got := kernels.NewSigns(64 * w)
				for i := range got.Neg {
					got.NZ[i], got.Neg[i] = rng.Uint64(), rng.Uint64()
				}
				n := scatterCopyBMI2(got.Neg, got.NZ, s.NZ, in)
				if n != nnz {
					t.Fatalf("w=%d zero=%v short=%d: count %d, want %d", w, zero, short, n, nnz)
				}
				for i := range s.NZ {
					if got.NZ[i] != s.NZ[i] {
						t.Fatalf("w=%d zero=%v short=%d: non-zero word %d not copied", w, zero, short, i)
					}
				}
				if short > 0 {
					continue // the signs are garbage: the decoder refuses them
				}
				if err := equalSigns(got, s); err != nil {
					t.Fatalf("w=%d zero=%v: %v", w, zero, err)
				}
			}
		}
	}
}
