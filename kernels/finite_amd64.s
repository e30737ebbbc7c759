//go:build amd64 && !noasm

#include "textflag.h"

// AddFinite and AddBothFinite over whole blocks of 16
// float32s. A lane is finite when its exponent bits are not all ones;
// FIN(r) zeroes the lanes of Zr that are not (NaN, +-Inf), with Z30 holding
// the exponent mask 0x7f800000 in every lane; Z29 and K1 are scratch.
#define FIN(r) \
	VPANDD Z30, r, Z29 \
	VPCMPD $4, Z30, Z29, K1 \
	VMOVAPS.Z r, K1, r

// func addFiniteAVX512(dst, src *float32, n int, scale float32, both bool)
//
// dst = (dst + fin(src)) * scale, or (fin(dst) + fin(src)) * scale when
// both; the multiply is left out when scale is 1, as in the Go loops. n is
// a multiple of 16.
TEXT ·addFiniteAVX512(SB), NOSPLIT, $0-29
	MOVQ dst+0(FP), DI
	MOVQ src+8(FP), SI
	MOVQ n+16(FP), CX
	MOVL $0x7f800000, AX
	VPBROADCASTD AX, Z30
	VBROADCASTSS scale+24(FP), Z31
	MOVBLZX both+28(FP), R8
	MOVL scale+24(FP), AX
	XORL R9, R9
	CMPL AX, $0x3f800000 // scale == 1 (as bits: no other float32 is)
	SETNE R9
	SHRQ $4, CX
	JZ done
loop:
	VMOVUPS (SI), Z0
	FIN(Z0)
	VMOVUPS (DI), Z1
	TESTQ R8, R8
	JZ add
	FIN(Z1)
add:
	VADDPS Z0, Z1, Z1
	TESTQ R9, R9
	JZ store
	VMULPS Z31, Z1, Z1
store:
	VMOVUPS Z1, (DI)
	ADDQ $64, SI
	ADDQ $64, DI
	DECQ CX
	JNZ loop
done:
	VZEROUPPER
	RET

// func addFiniteSumAVX512(dst *float32, srcs **float32, k, n int, scale float32)
//
// dst = (...((dst + fin(srcs[0])) + fin(srcs[1])) ... + fin(srcs[k-1]))
// * scale, the multiply left out when scale is 1: AddFinite of each
// source in turn, in one pass over dst. n is a multiple of 16, k >= 1.
TEXT ·addFiniteSumAVX512(SB), NOSPLIT, $0-36
	MOVQ dst+0(FP), DI
	MOVQ srcs+8(FP), R10
	MOVQ k+16(FP), R11
	MOVQ n+24(FP), CX
	MOVL $0x7f800000, AX
	VPBROADCASTD AX, Z30
	VBROADCASTSS scale+32(FP), Z31
	MOVL scale+32(FP), AX
	XORL R9, R9
	CMPL AX, $0x3f800000 // scale == 1 (as bits: no other float32 is)
	SETNE R9
	XORQ BX, BX // byte offset of the block
	SHRQ $4, CX
	JZ sdone
sloop:
	VMOVUPS (DI)(BX*1), Z1
	XORQ DX, DX
ssrc:
	MOVQ (R10)(DX*8), SI
	VMOVUPS (SI)(BX*1), Z0
	FIN(Z0)
	VADDPS Z0, Z1, Z1
	INCQ DX
	CMPQ DX, R11
	JLT ssrc
	TESTQ R9, R9
	JZ sstore
	VMULPS Z31, Z1, Z1
sstore:
	VMOVUPS Z1, (DI)(BX*1)
	ADDQ $64, BX
	DECQ CX
	JNZ sloop
sdone:
	VZEROUPPER
	RET
