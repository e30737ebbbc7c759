//go:build amd64 && !noasm

#include "textflag.h"

// The AVX-512 forms of PackSigns, MomentumSigns and ApplySignStep, over
// whole words of 64 coordinates (four ZMM registers of 16 float32s each).
// Every float operation is the one the portable Go does, in the same order
// and without fusing, so the results agree bit for bit.
//
// Comparison predicates: NEQ_OQ (0x0c) is false for NaN and for +-0, so it
// gives the NZ bit; LT_OQ (0x11) is false for NaN and -0, so it gives Neg.

// SIGN_BITS puts the NZ bits of the 64 floats in Z0..Z3 into AX and their
// Neg bits into BX; Z31 must be zero. Clobbers K1..K4, R9 and R10.
#define SIGN_BITS \
	VCMPPS $0x0c, Z31, Z0, K1; \
	VCMPPS $0x0c, Z31, Z1, K2; \
	VCMPPS $0x0c, Z31, Z2, K3; \
	VCMPPS $0x0c, Z31, Z3, K4; \
	KMOVW K1, AX; \
	KMOVW K2, R9; \
	SHLQ $16, R9; \
	ORQ R9, AX; \
	KMOVW K3, R9; \
	SHLQ $32, R9; \
	ORQ R9, AX; \
	KMOVW K4, R9; \
	SHLQ $48, R9; \
	ORQ R9, AX; \
	VCMPPS $0x11, Z31, Z0, K1; \
	VCMPPS $0x11, Z31, Z1, K2; \
	VCMPPS $0x11, Z31, Z2, K3; \
	VCMPPS $0x11, Z31, Z3, K4; \
	KMOVW K1, BX; \
	KMOVW K2, R10; \
	SHLQ $16, R10; \
	ORQ R10, BX; \
	KMOVW K3, R10; \
	SHLQ $32, R10; \
	ORQ R10, BX; \
	KMOVW K4, R10; \
	SHLQ $48, R10; \
	ORQ R10, BX

// func packSignsAVX512(grad *float32, words int, nz, neg *uint64)
TEXT ·packSignsAVX512(SB), NOSPLIT, $0-32
	MOVQ grad+0(FP), SI
	MOVQ words+8(FP), CX
	MOVQ nz+16(FP), DI
	MOVQ neg+24(FP), R8
	VPXORD Z31, Z31, Z31
	TESTQ CX, CX
	JZ packdone

packloop:
	VMOVUPS 0(SI), Z0
	VMOVUPS 64(SI), Z1
	VMOVUPS 128(SI), Z2
	VMOVUPS 192(SI), Z3
	SIGN_BITS
	MOVQ AX, (DI)
	MOVQ BX, (R8)
	ADDQ $256, SI
	ADDQ $8, DI
	ADDQ $8, R8
	DECQ CX
	JNZ packloop

packdone:
	VZEROUPPER
	RET

// func momentumSignsAVX512(v, grad *float32, words int, a, beta float32, nz, neg *uint64)
TEXT ·momentumSignsAVX512(SB), NOSPLIT, $0-48
	MOVQ v+0(FP), DX
	MOVQ grad+8(FP), SI
	MOVQ words+16(FP), CX
	VBROADCASTSS a+24(FP), Z29
	VBROADCASTSS beta+28(FP), Z30
	MOVQ nz+32(FP), DI
	MOVQ neg+40(FP), R8
	VPXORD Z31, Z31, Z31
	TESTQ CX, CX
	JZ momdone

momloop:
	// v = a*g + beta*v, four registers.
	VMULPS 0(SI), Z29, Z0
	VMULPS 0(DX), Z30, Z4
	VADDPS Z4, Z0, Z0
	VMULPS 64(SI), Z29, Z1
	VMULPS 64(DX), Z30, Z5
	VADDPS Z5, Z1, Z1
	VMULPS 128(SI), Z29, Z2
	VMULPS 128(DX), Z30, Z6
	VADDPS Z6, Z2, Z2
	VMULPS 192(SI), Z29, Z3
	VMULPS 192(DX), Z30, Z7
	VADDPS Z7, Z3, Z3
	VMOVUPS Z0, 0(DX)
	VMOVUPS Z1, 64(DX)
	VMOVUPS Z2, 128(DX)
	VMOVUPS Z3, 192(DX)
	SIGN_BITS
	MOVQ AX, (DI)
	MOVQ BX, (R8)
	ADDQ $256, SI
	ADDQ $256, DX
	ADDQ $8, DI
	ADDQ $8, R8
	DECQ CX
	JNZ momloop

momdone:
	VZEROUPPER
	RET

// func applySignStepAVX512(x *float32, words int, nz, neg *uint64, lr, wd float32)
//
// x <- x - lr*(sign + wd*x) for 64 coordinates a word; a word whose signs
// are all zero is skipped when wd is zero, as in the portable Go.
TEXT ·applySignStepAVX512(SB), NOSPLIT, $0-40
	MOVQ x+0(FP), DX
	MOVQ words+8(FP), CX
	MOVQ nz+16(FP), DI
	MOVQ neg+24(FP), R8
	VBROADCASTSS lr+32(FP), Z28
	VBROADCASTSS wd+36(FP), Z29
	MOVL wd+36(FP), R11
	ANDL $0x7fffffff, R11 // zero when wd is +-0
	MOVL $0x3f800000, AX
	VPBROADCASTD AX, Z30 // +1
	MOVL $0xbf800000, AX
	VPBROADCASTD AX, Z31 // -1
	TESTQ CX, CX
	JZ stepdone

steploop:
	MOVQ (DI), AX
	MOVQ (R8), BX
	TESTQ AX, AX
	JNZ stepword
	TESTL R11, R11
	JZ stepnext

stepword:
	KMOVW AX, K1
	KMOVW BX, K2
	SHRQ $16, AX
	SHRQ $16, BX
	KMOVW AX, K3
	KMOVW BX, K4
	SHRQ $16, AX
	SHRQ $16, BX
	KMOVW AX, K5
	KMOVW BX, K6
	SHRQ $16, AX
	SHRQ $16, BX
	KMOVW AX, K7
	// sign: +1 where NZ, then -1 where Neg (a subset), else 0.
	VMOVAPS.Z Z30, K1, Z0
	VMOVAPS Z31, K2, Z0
	VMOVAPS.Z Z30, K3, Z1
	VMOVAPS Z31, K4, Z1
	VMOVAPS.Z Z30, K5, Z2
	VMOVAPS Z31, K6, Z2
	VMOVAPS.Z Z30, K7, Z3
	KMOVW BX, K1
	VMOVAPS Z31, K1, Z3
	VMOVUPS 0(DX), Z4
	VMOVUPS 64(DX), Z5
	VMOVUPS 128(DX), Z6
	VMOVUPS 192(DX), Z7
	// t = lr*(sign + wd*x); x = x - t
	VMULPS Z4, Z29, Z8
	VMULPS Z5, Z29, Z9
	VMULPS Z6, Z29, Z10
	VMULPS Z7, Z29, Z11
	VADDPS Z8, Z0, Z8
	VADDPS Z9, Z1, Z9
	VADDPS Z10, Z2, Z10
	VADDPS Z11, Z3, Z11
	VMULPS Z8, Z28, Z8
	VMULPS Z9, Z28, Z9
	VMULPS Z10, Z28, Z10
	VMULPS Z11, Z28, Z11
	VSUBPS Z8, Z4, Z4
	VSUBPS Z9, Z5, Z5
	VSUBPS Z10, Z6, Z6
	VSUBPS Z11, Z7, Z7
	VMOVUPS Z4, 0(DX)
	VMOVUPS Z5, 64(DX)
	VMOVUPS Z6, 128(DX)
	VMOVUPS Z7, 192(DX)

stepnext:
	ADDQ $256, DX
	ADDQ $8, DI
	ADDQ $8, R8
	DECQ CX
	JNZ steploop

stepdone:
	VZEROUPPER
	RET
