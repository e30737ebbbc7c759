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
// For each word w of nz (the last one ANDed with tail): v = PEXT(neg[w],
// nz[w]), n = POPCNT(nz[w]), appended to a bit stream whose words are
// stored to out, the last one partial. T, the stream's length so far, is
// the only value carried from word to word by arithmetic (an ADD); v's low
// part goes into acc, the word T/64 being filled (SHLX takes the shift
// T mod 64 itself), and acc is stored to out[T/64] after every word. When
// the word fills (T/64 moves on), acc becomes v's high part, v >> (64 - T
// mod 64), computed as (v >> 1) >> (63 - T mod 64) so that it is 0, not v,
// when T mod 64 is 0: a CMOV, since a tied vote's random masks made a
// branch on it mispredict. The two tests left are predictable: the last
// word, the end of out (a stream of whole words ending before nz does).
TEXT ·gatherBMI2(SB), NOSPLIT, $8-80
	MOVQ out_base+0(FP), DX
	MOVQ out_len+8(FP), AX
	MOVQ AX, outlen-8(SP)
	MOVQ nz_base+24(FP), SI
	MOVQ nz_len+32(FP), CX
	MOVQ neg_base+48(FP), DI
	MOVQ tail+72(FP), R14
	MOVQ CX, R15
	DECQ R15      // the last word's index
	XORQ R13, R13 // w
	XORQ R8, R8   // T: bits in the stream
	XORQ R9, R9   // acc: word T/64 so far
	TESTQ CX, CX
	JZ gdone

gloop:
	MOVQ (SI)(R13*8), BX
	CMPQ R13, R15
	JNE gmasked
	ANDQ R14, BX

gmasked:
	MOVQ (DI)(R13*8), R10
	PEXTQ BX, R10, R10 // v
	POPCNTQ BX, R11    // n
	SHLXQ R8, R10, R12
	ORQ R12, R9        // acc |= v << (T mod 64)
	MOVQ R8, AX
	SHRQ $6, AX        // T/64
	CMPQ AX, outlen-8(SP)
	JAE gfull          // out is full: only zero masks are left
	MOVQ R9, (DX)(AX*8)

gfull:
	MOVQ R8, R12
	NOTQ R12           // 63 - T mod 64, as SHRX reads it
	SHRQ $1, R10
	SHRXQ R12, R10, R12 // hi
	ADDQ R11, R8       // T += n
	MOVQ R8, BX
	SHRQ $6, BX
	CMPQ BX, AX
	CMOVQNE R12, R9    // the word filled: acc = hi
	INCQ R13
	CMPQ R13, CX
	JB gloop

gdone:
	// acc is stored already unless the last word filled one exactly, which
	// leaves it 0 with T mod 64 = 0, or hi went into a word not stored yet.
	TESTQ $63, R8
	JZ gret
	MOVQ R8, AX
	SHRQ $6, AX
	CMPQ AX, outlen-8(SP)
	JAE gret
	MOVQ R9, (DX)(AX*8)

gret:
	RET

// func scatterCopyBMI2(neg, nzOut, nz, in []uint64, wide bool) int
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
//
// With wide set (AVX-512 F and VPOPCNTDQ), eight words go at a time first:
// their popcounts (VPOPCNTQ) and a prefix sum across the lanes give each
// word its bit offset in the stream, so the eight 64-bit windows are cut
// at once (two VPERMQ from the nine stream words the group can touch, two
// variable shifts), and only the eight PDEPs stay scalar, none waiting on
// another. The serial chain of the scalar loop (popcount, offset, load,
// double shift) ran at about ten cycles a word. The stream words are
// loaded under a mask that stops at in's last word, zeros past it (which
// no valid mask takes: a short stream is refused by the caller anyway).
// The scalar loop does the words left over.
TEXT ·scatterCopyBMI2(SB), NOSPLIT, $64-112
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
	MOVBLZX wide+96(FP), AX
	TESTQ AX, AX
	JZ cscalar
	VPXORQ Z31, Z31, Z31
	MOVQ $64, AX
	VPBROADCASTQ AX, Z30
	MOVQ $63, AX
	VPBROADCASTQ AX, Z29

cwide:
	LEAQ 8(R13), AX
	CMPQ AX, R14
	JHI cwidedone
	VMOVDQU64 (SI)(R13*8), Z1
	VMOVDQU64 Z1, (R10)(R13*8)
	VPOPCNTQ Z1, Z2          // n per word
	VALIGNQ $7, Z31, Z2, Z3  // lanes up one, 0 in
	VPADDQ Z3, Z2, Z3
	VALIGNQ $6, Z31, Z3, Z4  // up two
	VPADDQ Z4, Z3, Z3
	VALIGNQ $4, Z31, Z3, Z4  // up four
	VPADDQ Z4, Z3, Z3        // inclusive prefix sum
	VPSUBQ Z2, Z3, Z4        // exclusive
	VPBROADCASTQ CX, Z5
	VPADDQ Z5, Z4, Z4        // each word's bit offset from DX
	VPSRLQ $6, Z4, Z5        // its stream word (0..7)
	VPANDQ Z29, Z4, Z6       // its shift
	VPSUBQ Z6, Z30, Z7       // 64 - shift (64: VPSLLVQ gives 0)
	// The stream words in[DX..DX+8] that exist: rem = 0..9 of them.
	MOVQ R15, AX
	SUBQ DX, AX
	SARQ $3, AX
	INCQ AX
	XORQ BX, BX
	CMPQ AX, BX
	CMOVQLT BX, AX
	MOVQ $9, BX
	CMPQ AX, BX
	CMOVQGT BX, AX
	MOVQ $0x1ff, BX
	BZHIQ AX, BX, BX
	KMOVW BX, K1             // in[DX+j], j < 8
	SHRQ $1, BX
	KMOVW BX, K2             // in[DX+1+j]
	VMOVDQU64.Z (DX), K1, Z8
	VMOVDQU64.Z 8(DX), K2, Z9
	VPERMQ Z8, Z5, Z10       // in[i]
	VPERMQ Z9, Z5, Z11       // in[i+1]
	VPSRLVQ Z6, Z10, Z10
	VPSLLVQ Z7, Z11, Z11
	VPORQ Z11, Z10, Z10      // the next 64 bits of each word
	VMOVDQU64 Z10, v0-64(SP)
	MOVQ v0-64(SP), AX
	PDEPQ 0(SI)(R13*8), AX, AX
	MOVQ AX, 0(DI)(R13*8)
	MOVQ v1-56(SP), AX
	PDEPQ 8(SI)(R13*8), AX, AX
	MOVQ AX, 8(DI)(R13*8)
	MOVQ v2-48(SP), AX
	PDEPQ 16(SI)(R13*8), AX, AX
	MOVQ AX, 16(DI)(R13*8)
	MOVQ v3-40(SP), AX
	PDEPQ 24(SI)(R13*8), AX, AX
	MOVQ AX, 24(DI)(R13*8)
	MOVQ v4-32(SP), AX
	PDEPQ 32(SI)(R13*8), AX, AX
	MOVQ AX, 32(DI)(R13*8)
	MOVQ v5-24(SP), AX
	PDEPQ 40(SI)(R13*8), AX, AX
	MOVQ AX, 40(DI)(R13*8)
	MOVQ v6-16(SP), AX
	PDEPQ 48(SI)(R13*8), AX, AX
	MOVQ AX, 48(DI)(R13*8)
	MOVQ v7-8(SP), AX
	PDEPQ 56(SI)(R13*8), AX, AX
	MOVQ AX, 56(DI)(R13*8)
	VALIGNQ $7, Z3, Z3, Z4   // the group's count to lane 0
	VMOVQ X4, AX
	ADDQ AX, R12
	ADDQ AX, CX
	MOVQ CX, AX
	SHRQ $6, AX
	LEAQ (DX)(AX*8), DX
	ANDQ $63, CX
	ADDQ $8, R13
	JMP cwide

cwidedone:
	VZEROUPPER

cscalar:
	CMPQ R13, R14
	JAE cdone

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
	MOVQ R12, ret+104(FP)
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
