//go:build amd64 && !noasm

package collective

import "golang.org/x/sys/cpu"

// useBMI2 says whether extractBits and depositBits may use the CPU's PEXT
// and PDEP instructions (BMI2; a few cycles each on current x86 cores).
var useBMI2 = cpu.X86.HasBMI2

// pext64 is x86's PEXT: the bits of v selected by m, packed low.
//
//go:noescape
func pext64(v, m uint64) uint64

// pdep64 is x86's PDEP: the low bits of v spread onto the set bits of m.
//
//go:noescape
func pdep64(v, m uint64) uint64

// gatherBMI2 appends PEXT(neg[w], nz[w]) for every word of nz, the last
// one masked by tail, to a bit stream written to out (its words, the last
// one partial; gatherSignBits with PEXT in one loop, no call per word).
// Go's loop (out zeroed first):
//
//	k := 0 // bits written
//	for w := range nz {
//		m := nz[w] (& tail for the last)
//		v := pext64(neg[w], m)
//		out[k/64] |= v << (k%64); if the bits spill, out[k/64+1] |= v >> (64 - k%64)
//		k += popcount(m)
//	}
//
//go:noescape
func gatherBMI2(out, nz, neg []uint64, tail uint64)

// popcntAVX512 counts the set bits of n words (n a multiple of 16) with
// AVX-512's VPOPCNTQ: onesCountGo's loop,
//
//	for i := 0; i < n; i++ { count += bits.OnesCount64(w[i]) }
//
//go:noescape
func popcntAVX512(w *uint64, n int) int

// usePopcnt512 says whether popcntAVX512 may run.
var usePopcnt512 = cpu.X86.HasAVX512F && cpu.X86.HasAVX512VPOPCNTDQ

// onesCount is the number of set bits in w. Reference: onesCountGo.
func onesCount(w []uint64) int {
	n := 0
	if k := len(w) &^ 15; usePopcnt512 && k > 0 {
		n = popcntAVX512(&w[0], k)
		w = w[k:]
	}
	return n + onesCountGo(w)
}

// scatterCopyBMI2 sets neg[w] to the next popcount(nz[w]) bits of the
// stream in, deposited onto nz[w] by PDEP, copies nz into nzOut (as long
// as nz; it may be nz itself) and returns popcount(nz), the bits it took
// from in: a received non-zero plane copied, counted and its signs
// scattered in one pass. in must not be empty; a stream shorter than the
// count is read no further than its last word (the caller then refuses
// the payload). Go's loop (scatterSignBitsGo, then the copy and count):
//
//	k := 0 // bits read
//	for w := range nz {
//		v := in[k/64] >> (k%64) | in[k/64+1] << (64 - k%64) // the next 64 bits
//		neg[w] = pdep64(v, nz[w])
//		k += popcount(nz[w])
//	}
//
// With wide, eight words go at a time through AVX-512 (VPOPCNTQ and a
// prefix sum give their offsets, so their PDEPs do not wait on each
// other), the scalar loop doing the rest: the caller checks useScatter512.
//
//go:noescape
func scatterCopyBMI2(neg, nzOut, nz, in []uint64, wide bool) int

// useScatter512 says whether scatterCopyBMI2 may go eight words at a time.
var useScatter512 = useBMI2 && usePopcnt512
