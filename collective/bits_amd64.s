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
// partial.
TEXT ·gatherBMI2(SB), NOSPLIT, $0-80
	MOVQ out_base+0(FP), DX
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
	TESTQ BX, BX
	JZ gnext
	MOVQ (DI)(R13*8), AX
	PEXTQ BX, AX, R10 // v
	POPCNTQ BX, R11   // n
	SHLXQ R8, R10, R12
	ORQ R12, R9
	ADDQ R11, R8
	CMPQ R8, $64
	JB gnext
	MOVQ R9, (DX)
	ADDQ $8, DX
	SUBQ $64, R8
	// acc = v >> (64 - old bits) = v >> (n - new bits): the bits of v
	// that did not fit (none when that shift is 64).
	MOVQ R11, R12
	SUBQ R8, R12
	XORQ R9, R9
	CMPQ R12, $64
	JAE gnext
	SHRXQ R12, R10, R9

gnext:
	INCQ R13
	CMPQ R13, CX
	JB gloop

gdone:
	TESTQ R8, R8
	JZ gret
	MOVQ R9, (DX)

gret:
	RET

// func scatterBMI2(neg, nz, in []uint64)
//
// For each word w of nz: the next popcount(nz[w]) bits of the stream in,
// PDEP'd onto nz[w], into neg[w] (0 where nz[w] is 0).
TEXT ·scatterBMI2(SB), NOSPLIT, $0-72
	MOVQ neg_base+0(FP), DI
	MOVQ nz_base+24(FP), SI
	MOVQ nz_len+32(FP), CX
	MOVQ in_base+48(FP), DX
	XORQ R13, R13 // w
	XORQ R8, R8   // bit offset in (DX)
	TESTQ CX, CX
	JZ sdone

sloop:
	MOVQ (SI)(R13*8), BX
	TESTQ BX, BX
	JNZ sword
	MOVQ $0, (DI)(R13*8)
	JMP snext

sword:
	POPCNTQ BX, R11 // n
	MOVQ (DX), AX
	SHRXQ R8, AX, R10 // v = in[i] >> o
	MOVQ R8, R12
	ADDQ R11, R12 // o + n
	CMPQ R12, $64
	JBE sdep
	// o + n > 64 (so o > 0): the rest from in[i+1] << (64 - o).
	MOVQ 8(DX), AX
	MOVQ $64, R15
	SUBQ R8, R15
	SHLXQ R15, AX, AX
	ORQ AX, R10

sdep:
	PDEPQ BX, R10, AX
	MOVQ AX, (DI)(R13*8)
	MOVQ R12, R8
	CMPQ R8, $64
	JB snext
	SUBQ $64, R8
	ADDQ $8, DX

snext:
	INCQ R13
	CMPQ R13, CX
	JB sloop

sdone:
	RET
