//go:build amd64 && !noasm

#include "textflag.h"

// The batch norm's per-channel sums over whole blocks of 16 values, in
// float64, lane l of acc (and of acc[16:]) taking the values 16j + l: the
// same operations in the same order as the loops of shiftedSums,
// dotCentered and dotCenteredMasked (batchnorm.go), so bit for bit the same. acc holds the 16
// lanes of the first sum, then the 16 of the second; the kernels add to
// them. n is a multiple of 16.

// LOADACC loads the 32 lanes of acc (at DI) into Z0-Z3; STOREACC stores
// them back and returns.
#define LOADACC \
	VMOVUPD (DI), Z0 \
	VMOVUPD 64(DI), Z1 \
	VMOVUPD 128(DI), Z2 \
	VMOVUPD 192(DI), Z3

#define STOREACC \
	VMOVUPD Z0, (DI) \
	VMOVUPD Z1, 64(DI) \
	VMOVUPD Z2, 128(DI) \
	VMOVUPD Z3, 192(DI) \
	VZEROUPPER \
	RET

// DOTS adds the 16 values of grad in Z6 (the first 8, as float64) and Z7
// to Z0 and Z1, and grad * (x - mu) to Z2 and Z3, x - mu in float32 from
// the 16 values at R8 and mu in Y15.
#define DOTS \
	VMOVUPS (R8), Y4 \
	VMOVUPS 32(R8), Y5 \
	VSUBPS Y15, Y4, Y4 \
	VSUBPS Y15, Y5, Y5 \
	VCVTPS2PD Y4, Z4 \
	VCVTPS2PD Y5, Z5 \
	VADDPD Z6, Z0, Z0 \
	VADDPD Z7, Z1, Z1 \
	VMULPD Z6, Z4, Z4 \
	VMULPD Z7, Z5, Z5 \
	VADDPD Z4, Z2, Z2 \
	VADDPD Z5, Z3, Z3

// func bnSumsAVX512(x *float32, n int, k float64, acc *[32]float64)
//
// acc[l] += x - k; acc[16+l] += (x - k)^2.
TEXT ·bnSumsAVX512(SB), NOSPLIT, $0-32
	MOVQ x+0(FP), SI
	MOVQ n+8(FP), CX
	VBROADCASTSD k+16(FP), Z31
	MOVQ acc+24(FP), DI
	LOADACC
	SHRQ $4, CX
	JZ sumsdone
sumsloop:
	VCVTPS2PD (SI), Z4
	VCVTPS2PD 32(SI), Z5
	VSUBPD Z31, Z4, Z4
	VSUBPD Z31, Z5, Z5
	VADDPD Z4, Z0, Z0
	VADDPD Z5, Z1, Z1
	VMULPD Z4, Z4, Z4
	VMULPD Z5, Z5, Z5
	VADDPD Z4, Z2, Z2
	VADDPD Z5, Z3, Z3
	ADDQ $64, SI
	DECQ CX
	JNZ sumsloop
sumsdone:
	STOREACC

// func bnDotsAVX512(grad, x *float32, n int, mu float32, acc *[32]float64)
//
// acc[l] += grad; acc[16+l] += grad * (x - mu), x - mu in float32.
TEXT ·bnDotsAVX512(SB), NOSPLIT, $0-40
	MOVQ grad+0(FP), SI
	MOVQ x+8(FP), R8
	MOVQ n+16(FP), CX
	VBROADCASTSS mu+24(FP), Y15
	MOVQ acc+32(FP), DI
	LOADACC
	SHRQ $4, CX
	JZ dotsdone
dotsloop:
	VCVTPS2PD (SI), Z6
	VCVTPS2PD 32(SI), Z7
	DOTS
	ADDQ $64, SI
	ADDQ $64, R8
	DECQ CX
	JNZ dotsloop
dotsdone:
	STOREACC

// func bnDotsMaskedAVX512(grad, y, x *float32, n int, mu float32, acc *[32]float64)
//
// bnDotsAVX512 of reluGrad(grad, y): grad where y's bits, as an int32, are
// positive, else +0.
TEXT ·bnDotsMaskedAVX512(SB), NOSPLIT, $0-48
	MOVQ grad+0(FP), SI
	MOVQ y+8(FP), R9
	MOVQ x+16(FP), R8
	MOVQ n+24(FP), CX
	VBROADCASTSS mu+32(FP), Y15
	MOVQ acc+40(FP), DI
	LOADACC
	VPXORD Z14, Z14, Z14
	SHRQ $4, CX
	JZ maskeddone
maskedloop:
	VMOVDQU32 (R9), Z8
	VPCMPGTD Z14, Z8, K1
	VMOVUPS.Z (SI), K1, Z9
	VEXTRACTF32X8 $1, Z9, Y10
	VCVTPS2PD Y9, Z6
	VCVTPS2PD Y10, Z7
	DOTS
	ADDQ $64, SI
	ADDQ $64, R9
	ADDQ $64, R8
	DECQ CX
	JNZ maskedloop
maskeddone:
	STOREACC
