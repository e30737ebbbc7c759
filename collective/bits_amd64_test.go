//go:build linux && amd64 && !noasm

package collective

import (
	"fmt"
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
// (scatterCopyBMI2), scalar and eight words at a time, copies the non-zero
// plane, returns its count and scatters the signs as the naive scatter
// does. Given a stream shorter than the count (an untrusted payload, which
// the decoder then refuses), it still copies and counts, and reads nothing
// past the stream's last word: the stream ends at an inaccessible page.
// The sizes put words past the last group of eight, and the densities
// make the groups take from zero to nine stream words.
func TestScatterCopyAgainstNaive(t *testing.T) {
	if !useBMI2 {
		t.Skip("no BMI2 on this CPU")
	}
	rng := rand.New(rand.NewPCG(9, 2))
	for _, wide := range []bool{false, true} {
		if wide && !useScatter512 {
			t.Log("no AVX-512 VPOPCNTDQ on this CPU: the eight-word pass is not run")
			continue
		}
		for _, w := range []int{1, 2, 3, 7, 8, 9, 16, 17, 23, 300} {
			for _, zero := range []float64{0, 0.01, 0.5, 0.9, 0.99, 1} {
				s := randomSigns(rng, 64*w, zero, 30)
				nnz := onesCount(s.NZ)
				stream := make([]uint64, max(1, kernels.Words(nnz)))
				gatherSignBitsNaive(stream, s)
				for _, short := range []int{0, 1, 2, 9, len(stream) - 1} {
					if short >= len(stream) {
						continue
					}
					in := guardedWords(t, len(stream)-short)
					copy(in, stream)
					got := kernels.NewSigns(64 * w)
					for i := range got.Neg {
						got.NZ[i], got.Neg[i] = rng.Uint64(), rng.Uint64()
					}
					n := scatterCopyBMI2(got.Neg, got.NZ, s.NZ, in, wide)
					if n != nnz {
						t.Fatalf("wide=%v w=%d zero=%v short=%d: count %d, want %d", wide, w, zero, short, n, nnz)
					}
					for i := range s.NZ {
						if got.NZ[i] != s.NZ[i] {
							t.Fatalf("wide=%v w=%d zero=%v short=%d: non-zero word %d not copied", wide, w, zero, short, i)
						}
					}
					if short > 0 {
						continue // the signs are garbage: the decoder refuses them
					}
					if err := equalSigns(got, s); err != nil {
						t.Fatalf("wide=%v w=%d zero=%v: %v", wide, w, zero, err)
					}
				}
			}
		}
	}
}

// TestGatherAgainstNaive: the sign gather (gatherBMI2) writes the naive
// gather's stream, the last word masked by the tail, into an out that ends
// at an inaccessible page (nothing is written past it), over sizes and
// densities from no bits to all of them, and a stream of whole words
// followed by words with no sign.
func TestGatherAgainstNaive(t *testing.T) {
	if !useBMI2 {
		t.Skip("no BMI2 on this CPU")
	}
	rng := rand.New(rand.NewPCG(17, 3))
	for _, n := range []int{1, 64, 65, 64*8 + 1, 64 * 9, 64*9 + 7, 64*16 + 63, 64 * 17, 64*300 + 5} {
		for _, zero := range []float64{0, 0.01, 0.375, 0.5, 0.9, 0.99, 1} {
			s := randomSigns(rng, n, zero, 30)
			if zero == 1 && n > 128 {
				// A stream of whole words, then zero masks: out is
				// full while words remain.
				s.NZ[0], s.NZ[1] = ^uint64(0), ^uint64(0)
				s.Neg[0], s.Neg[1] = rng.Uint64(), rng.Uint64()
			}
			// Bits past N in the last word, set: the tail must drop them.
			if n%64 != 0 {
				s.NZ[len(s.NZ)-1] |= ^uint64(0) << uint(n%64)
				s.Neg[len(s.Neg)-1] |= rng.Uint64() << uint(n%64)
			}
			nnz := countNZ(s)
			want := make([]uint64, kernels.Words(nnz))
			gatherSignBitsNaive(want, s)
			if len(want) == 0 {
				continue
			}
			got := guardedWords(t, len(want))
			gatherBMI2(got, s.NZ, s.Neg, tailMask(s, len(s.NZ)-1))
			for w := range want {
				if got[w] != want[w] {
					t.Fatalf("n=%d zero=%v: stream word %d of %d = %x, want %x", n, zero, w, len(want), got[w], want[w])
				}
			}
		}
	}
}

// BenchmarkScatterCopy is the worker's decode of a result chunk's planes
// (the vote's 16384 words, three coordinates in eight non-zero as a vote
// of four with ties leaves them): the scalar loop and eight words at a
// time.
func BenchmarkScatterCopy(b *testing.B) {
	rng := rand.New(rand.NewPCG(3, 4))
	const w = 1 << 14
	s := randomSigns(rng, 64*w, 0.375, 0)
	stream := make([]uint64, kernels.Words(onesCount(s.NZ)))
	gatherSignBitsNaive(stream, s)
	got := kernels.NewSigns(64 * w)
	for _, wide := range []bool{false, true} {
		if wide && !useScatter512 {
			continue
		}
		b.Run(fmt.Sprintf("wide=%v", wide), func(b *testing.B) {
			b.SetBytes(8 * w)
			for b.Loop() {
				scatterCopyBMI2(got.Neg, got.NZ, s.NZ, stream, wide)
			}
		})
	}
}

// BenchmarkGather is rank 0's encode of a result chunk (the vote's 16384
// words, three coordinates in eight tied to zero as a vote of four leaves
// them): the sign bits of the non-zero coordinates appended to a stream.
func BenchmarkGather(b *testing.B) {
	if !useBMI2 {
		b.Skip("no BMI2 on this CPU")
	}
	rng := rand.New(rand.NewPCG(5, 6))
	const w = 1 << 14
	s := randomSigns(rng, 64*w, 0.375, 0)
	out := make([]uint64, kernels.Words(onesCount(s.NZ)))
	b.SetBytes(8 * w)
	for b.Loop() {
		gatherBMI2(out, s.NZ, s.Neg, ^uint64(0))
	}
}
