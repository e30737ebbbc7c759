//go:build amd64 && !noasm

#include "textflag.h"

// func reluForwardAVX512(out, in *float32, n int)
//
// out[i] = max(in[i], 0) as Go defines max: in[i] where in[i] > 0 or is
// NaN, else +0 (also for -0). The compare "not less or equal, unordered"
// (predicate 6) is true exactly there; a zeroing move keeps those lanes.
// n is a multiple of 16.
TEXT ·reluForwardAVX512(SB), NOSPLIT, $0-24
	MOVQ out+0(FP), DI
	MOVQ in+8(FP), SI
	MOVQ n+16(FP), CX
	VPXORD Z31, Z31, Z31
	SHRQ $4, CX
	JZ fdone
floop:
	VMOVUPS (SI), Z0
	VCMPPS $6, Z31, Z0, K1 // in > 0 or NaN
	VMOVAPS.Z Z0, K1, Z0
	VMOVUPS Z0, (DI)
	ADDQ $64, SI
	ADDQ $64, DI
	DECQ CX
	JNZ floop
fdone:
	VZEROUPPER
	RET

// func reluBackwardAVX512(dIn, dOut, out *float32, n int)
//
// dIn[i] = dOut[i] where out[i], read as an int32, is positive (a float32
// > 0, or a NaN with the sign bit clear, as reluBackward's bit test), else
// +0. n is a multiple of 16.
TEXT ·reluBackwardAVX512(SB), NOSPLIT, $0-32
	MOVQ dIn+0(FP), DI
	MOVQ dOut+8(FP), SI
	MOVQ out+16(FP), DX
	MOVQ n+24(FP), CX
	VPXORD Z31, Z31, Z31
	SHRQ $4, CX
	JZ bdone
bloop:
	VMOVDQU32 (DX), Z1
	VPCMPGTD Z31, Z1, K1 // out's bits > 0 as an int32
	VMOVDQU32.Z (SI), K1, Z0
	VMOVDQU32 Z0, (DI)
	ADDQ $64, SI
	ADDQ $64, DI
	ADDQ $64, DX
	DECQ CX
	JNZ bloop
bdone:
	VZEROUPPER
	RET
