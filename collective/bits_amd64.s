//go:build amd64 && !noasm

#include "textflag.h"

// func pext64(v, m uint64) uint64
TEXT ·pext64(SB), NOSPLIT, $0-24
	MOVQ v+0(FP), AX
	MOVQ m+8(FP), BX
	PEXTQ BX, AX, CX
	MOVQ CX, ret+16(FP)
	RET

// func pdep64(v, m uint64) uint64
TEXT ·pdep64(SB), NOSPLIT, $0-24
	MOVQ v+0(FP), AX
	MOVQ m+8(FP), BX
	PDEPQ BX, AX, CX
	MOVQ CX, ret+16(FP)
	RET

// func gatherBMI2(out, nz, neg []uint64, tail uint64)
//
// For each word w of nz (the last one ANDed with tail): PEXT(neg[w], nz[w])
// appended to a bit stream whose words are stored to out, the last one
// partial. The word being filled is stored after every word of input and
// the carry into the next one is taken with CMOVs: the random masks of a
// tied vote made the branch on it mispredict (15% slower). The two tests
// left are predictable: the last word, the end of out.
TEXT ·gatherBMI2(SB), NOSPLIT, $8-80
	MOVQ out_base+0(FP), DX
	MOVQ out_len+8(FP), AX
	LEAQ (DX)(AX*8), AX
	MOVQ AX, end-8(SP) // one past out's last word
	MOVQ nz_base+24(FP), SI
	MOVQ nz_len+32(FP), CX
	MOVQ neg_base+48(FP), DI
	MOVQ tail+72(FP), R14
	MOVQ CX, R15
	DECQ R15      // the last word's index
	XORQ R13, R13 // w
	XORQ R8, R8   // bits in acc
	XORQ R9, R9   // acc
	TESTQ CX, CX
	JZ gdone

gloop:
	MOVQ (SI)(R13*8), BX
	CMPQ R13, R15
	JNE gmasked
	ANDQ R14, BX

gmasked:
	MOVQ (DI)(R13*8), AX
	PEXTQ BX, AX, R10 // v
	POPCNTQ BX, R11   // n
	SHLXQ R8, R10, R12
	ORQ R12, R9       // acc |= v << bits
	CMPQ DX, end-8(SP)
	JAE gfull         // out is full: only zero masks are left
	MOVQ R9, (DX)

gfull:
	// hi = v >> (64 - bits): the bits of v past the word being filled
	// (none when bits is 0, where SHRX would shift by 64 & 63 = 0).
	MOVQ $64, R12
	SUBQ R8, R12
	SHRXQ R12, R10, R12
	XORQ AX, AX
	TESTQ R8, R8
	CMOVQEQ AX, R12
	ADDQ R11, R8
	CMPQ R8, $64
	CMOVQCC R12, R9 // bits >= 64: acc = hi,
	LEAQ 8(DX), AX
	CMOVQCC AX, DX  // the next word,
	LEAQ -64(R8), AX
	CMOVQCC AX, R8  // bits -= 64
	INCQ R13
	CMPQ R13, CX
	JB gloop

gdone:
	TESTQ R8, R8
	JZ gret
	MOVQ R9, (DX)

gret:
	RET

// func scatterCopyBMI2(neg, nzOut, nz, in []uint64) int
//
// For each word w of nz: the next popcount(nz[w]) bits of the stream in,
// PDEP'd onto nz[w], into neg[w] (0 where nz[w] is 0); nz[w] is also
// copied to nzOut[w] (nzOut may be nz), and the bits taken from in, the
// popcount of nz, are returned: a received non-zero plane is copied,
// counted and its signs scattered in one pass. in must not be empty.
// Without a branch on the data: the next 64 bits of the stream are
// always (in[i+1]:in[i]) >> o, a double shift (SHRD, by 0 when o is 0),
// both loads clamped to in's last word (past it only zero masks remain,
// and PDEP takes no bits for them); the offset and the word advance by
// arithmetic. The branch on o + n > 64 this replaces mispredicted on the
// random masks of a tied vote, half the words (BenchmarkSignsWirePlanes).
// Go's loop: scatterSignBitsGo.
TEXT ·scatterCopyBMI2(SB), NOSPLIT, $0-104
	MOVQ neg_base+0(FP), DI
	MOVQ nzOut_base+24(FP), R10
	MOVQ nz_base+48(FP), SI
	MOVQ nz_len+56(FP), R14
	MOVQ in_base+72(FP), DX
	MOVQ in_len+80(FP), AX
	LEAQ -8(DX)(AX*8), R15 // in's last word
	XORQ R13, R13          // w
	XORQ CX, CX            // o: bit offset in (DX)
	XORQ R12, R12          // bits taken
	TESTQ R14, R14
	JZ cdone

cloop:
	MOVQ (SI)(R13*8), BX
	MOVQ BX, (R10)(R13*8)
	POPCNTQ BX, R11   // n
	ADDQ R11, R12
	MOVQ DX, R9
	CMPQ R9, R15
	CMOVQHI R15, R9   // min(DX, last)
	MOVQ (R9), R8     // in[i]
	LEAQ 8(DX), R9
	CMPQ R9, R15
	CMOVQHI R15, R9   // min(DX + 8, last)
	MOVQ (R9), R9     // in[i+1]
	SHRQ CX, R9, R8   // R8 = in[i] >> o | in[i+1] << (64 - o)
	PDEPQ BX, R8, AX
	MOVQ AX, (DI)(R13*8)
	ADDQ R11, CX      // o += n
	MOVQ CX, AX
	SHRQ $6, AX
	LEAQ (DX)(AX*8), DX
	ANDQ $63, CX
	INCQ R13
	CMPQ R13, R14
	JB cloop

cdone:
	MOVQ R12, ret+96(FP)
	RET

// func popcntAVX512(w *uint64, n int) int
//
// The number of set bits in the n words at w (n a multiple of 16), two
// accumulators of eight lanes each.
TEXT ·popcntAVX512(SB), NOSPLIT, $0-24
	MOVQ w+0(FP), SI
	MOVQ n+8(FP), CX
	VPXORQ Z1, Z1, Z1
	VPXORQ Z3, Z3, Z3
	SHRQ $4, CX
	JZ pdone

ploop:
	VPOPCNTQ (SI), Z0
	VPOPCNTQ 64(SI), Z2
	VPADDQ Z0, Z1, Z1
	VPADDQ Z2, Z3, Z3
	ADDQ $128, SI
	DECQ CX
	JNZ ploop

pdone:
	VPADDQ Z3, Z1, Z1
	VEXTRACTI64X4 $1, Z1, Y2
	VPADDQ Y2, Y1, Y1
	VEXTRACTI128 $1, Y1, X2
	VPADDQ X2, X1, X1
	VPSHUFD $0x4e, X1, X2
	VPADDQ X2, X1, X1
	VMOVQ X1, AX
	MOVQ AX, ret+16(FP)
	VZEROUPPER
	RET
