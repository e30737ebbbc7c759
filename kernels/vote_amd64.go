//go:build amd64 && !noasm

package kernels

import (
	"math/bits"
	"unsafe"

	"golang.org/x/sys/cpu"
)

//go:generate python3 asmgen/vote_avx2.py
//go:generate python3 asmgen/vote_avx512.py

// voteAVX2 (vote_amd64.s) counts the vote of the m voters whose planes are
// nzs[v], negs[v] (byte offset off into each) over n words (n a multiple
// of 4), as voteWords does with the tie rule TieZero, and also marks the
// ties:
//
//	for w := 0; w < n; w++ {
//		for b := 0; b < 64; b++ {
//			V := sum over v of nzBit(v, w, b) - 2*negBit(v, w, b)
//			outNZ[w] bit b = V != 0; outNeg[w] bit b = V < 0; outEq[w] bit b = V == 0
//		}
//	}
//
// scratch holds the bit-sliced counters between voters.
//
//go:noescape
func voteAVX2(nz, neg *unsafe.Pointer, m int, off uintptr, n int, scratch *[8][4]uint64, outNZ, outNeg, outEq *uint64)

// voteAVX512P1 .. voteAVX512P8 (vote_avx512_amd64.s) are voteAVX2's loop
// over n words (n a multiple of 8) for m voters with bits.Len(m) = P, the
// planes they count in; mplanes holds m bit-sliced, the NZ count of a group
// where no voter abstains.
//
//go:noescape
func voteAVX512P1(nz, neg *unsafe.Pointer, m int, off uintptr, n int, mplanes *[8][8]uint64, outNZ, outNeg, outEq *uint64)

//go:noescape
func voteAVX512P2(nz, neg *unsafe.Pointer, m int, off uintptr, n int, mplanes *[8][8]uint64, outNZ, outNeg, outEq *uint64)

//go:noescape
func voteAVX512P3(nz, neg *unsafe.Pointer, m int, off uintptr, n int, mplanes *[8][8]uint64, outNZ, outNeg, outEq *uint64)

//go:noescape
func voteAVX512P4(nz, neg *unsafe.Pointer, m int, off uintptr, n int, mplanes *[8][8]uint64, outNZ, outNeg, outEq *uint64)

//go:noescape
func voteAVX512P5(nz, neg *unsafe.Pointer, m int, off uintptr, n int, mplanes *[8][8]uint64, outNZ, outNeg, outEq *uint64)

//go:noescape
func voteAVX512P6(nz, neg *unsafe.Pointer, m int, off uintptr, n int, mplanes *[8][8]uint64, outNZ, outNeg, outEq *uint64)

//go:noescape
func voteAVX512P7(nz, neg *unsafe.Pointer, m int, off uintptr, n int, mplanes *[8][8]uint64, outNZ, outNeg, outEq *uint64)

//go:noescape
func voteAVX512P8(nz, neg *unsafe.Pointer, m int, off uintptr, n int, mplanes *[8][8]uint64, outNZ, outNeg, outEq *uint64)

// voteAVX512 runs the AVX-512 kernel for bits.Len(m) planes (a switch,
// not a table of funcs, so that the arguments stay on the caller's stack).
func voteAVX512(nz, neg *unsafe.Pointer, m int, off uintptr, n int, mplanes *[8][8]uint64, outNZ, outNeg, outEq *uint64) {
	switch bits.Len(uint(m)) {
	case 1:
		voteAVX512P1(nz, neg, m, off, n, mplanes, outNZ, outNeg, outEq)
	case 2:
		voteAVX512P2(nz, neg, m, off, n, mplanes, outNZ, outNeg, outEq)
	case 3:
		voteAVX512P3(nz, neg, m, off, n, mplanes, outNZ, outNeg, outEq)
	case 4:
		voteAVX512P4(nz, neg, m, off, n, mplanes, outNZ, outNeg, outEq)
	case 5:
		voteAVX512P5(nz, neg, m, off, n, mplanes, outNZ, outNeg, outEq)
	case 6:
		voteAVX512P6(nz, neg, m, off, n, mplanes, outNZ, outNeg, outEq)
	case 7:
		voteAVX512P7(nz, neg, m, off, n, mplanes, outNZ, outNeg, outEq)
	default:
		voteAVX512P8(nz, neg, m, off, n, mplanes, outNZ, outNeg, outEq)
	}
}

// haveAVX2 says whether the AVX2 vote kernel runs on this CPU (read once);
// haveAVX512 (sgemm_amd64.go) likewise for the AVX-512 one.
var haveAVX2 = cpu.X86.HasAVX2

// voteBlock is the number of words the AVX2 kernel does per call.
const voteBlock = 256

// voteWordsFast counts words lo..hi-1 of the vote with AVX-512 (eight words
// at a time) or AVX2 (four) when the CPU has them and there are at most 255
// voters (eight count planes); the words left over go through the portable
// voteWords.
func voteWordsFast(dst Signs, nzs, negs []unsafe.Pointer, opt VoteOptions, lo, hi int) {
	m := len(nzs)
	if !haveAVX2 || !useAsm || m == 0 || m > 255 {
		voteWords(dst, nzs, negs, opt, lo, hi)
		return
	}
	var eq [voteBlock]uint64
	w := lo
	if haveAVX512 && useAVX512 && ChooseVote(m) == ChoiceAVX512 {
		// count(NZ) = m, bit-sliced, for the groups where no voter abstains.
		var mplanes [8][8]uint64
		for j := range mplanes {
			for i := range mplanes[j] {
				mplanes[j][i] = -(uint64(m) >> uint(j) & 1)
			}
		}
		for ; w+8 <= hi; w += voteBlock {
			n := min(voteBlock, (hi-w)&^7)
			voteAVX512(&nzs[0], &negs[0], m, uintptr(w)*8, n, &mplanes, &dst.NZ[w], &dst.Neg[w], &eq[0])
			if opt.Tie != TieZero {
				applyTies(dst, eq[:n], opt, w)
			}
			if n < voteBlock {
				w += n
				break
			}
		}
	}
	var scratch [8][4]uint64
	for ; w+4 <= hi; w += voteBlock {
		n := min(voteBlock, (hi-w)&^3)
		voteAVX2(&nzs[0], &negs[0], m, uintptr(w)*8, n, &scratch, &dst.NZ[w], &dst.Neg[w], &eq[0])
		if opt.Tie != TieZero {
			applyTies(dst, eq[:n], opt, w)
		}
		if n < voteBlock {
			w += n
			break
		}
	}
	if w < hi {
		voteWords(dst, nzs, negs, opt, w, hi)
	}
}
