//go:build amd64 && !noasm

#include "textflag.h"

// MIX(z, t) is splitmix64's finalizer on the eight uint64 lanes of Zz:
// z = (z ^ z>>30) * C2; z = (z ^ z>>27) * C3; z ^= z>>31, with C2 in Z29
// and C3 in Z28; Zt is scratch.
#define MIX(z, t) \
	VPSRLQ $30, z, t \
	VPXORQ t, z, z \
	VPMULLQ Z29, z, z \
	VPSRLQ $27, z, t \
	VPXORQ t, z, z \
	VPMULLQ Z28, z, z \
	VPSRLQ $31, z, t \
	VPXORQ t, z, z

// func dropoutAVX512(out, in, mask *float32, n int, seed, thresh uint64, scale float32)
//
// DropoutForward's loop over elements 0 .. n-1 (n a multiple of 16):
// element i is kept, mask scale, where dropoutHash(seed, i)>>11 >= thresh,
// else mask 0; out = in * mask. Sixteen elements a step, their hashes in
// two registers of eight uint64 lanes.
TEXT ·dropoutAVX512(SB), NOSPLIT, $0-52
	MOVQ out+0(FP), DI
	MOVQ in+8(FP), SI
	MOVQ mask+16(FP), DX
	MOVQ n+24(FP), CX
	VPBROADCASTQ seed+32(FP), Z20
	VPBROADCASTQ thresh+40(FP), Z22
	VBROADCASTSS scale+48(FP), Z23
	MOVQ $0x9e3779b97f4a7c15, AX
	VPBROADCASTQ AX, Z27 // C1
	MOVQ $0xbf58476d1ce4e5b9, AX
	VPBROADCASTQ AX, Z29 // C2
	MOVQ $0x94d049bb133111eb, AX
	VPBROADCASTQ AX, Z28 // C3
	// Z0 = i + 1 for elements 0 .. 7, Z1 for 8 .. 15; Z26 = 16.
	VMOVDQU64 ·dropoutLanes(SB), Z0
	MOVQ $8, AX
	VPBROADCASTQ AX, Z25
	VPADDQ Z25, Z0, Z1
	MOVQ $16, AX
	VPBROADCASTQ AX, Z26
	SHRQ $4, CX
	JZ done
loop:
	// z = seed + (i+1) C1
	VPMULLQ Z27, Z0, Z2
	VPADDQ Z20, Z2, Z2
	VPMULLQ Z27, Z1, Z3
	VPADDQ Z20, Z3, Z3
	MIX(Z2, Z4)
	MIX(Z3, Z5)
	VPSRLQ $11, Z2, Z2
	VPSRLQ $11, Z3, Z3
	VPCMPUQ $5, Z22, Z2, K1 // h>>11 >= thresh
	VPCMPUQ $5, Z22, Z3, K2
	KUNPCKBW K1, K2, K3 // K2 high, K1 low: elements 0 .. 15
	VMOVAPS.Z Z23, K3, Z6
	VMOVUPS Z6, (DX)
	VMULPS (SI), Z6, Z7
	VMOVUPS Z7, (DI)
	VPADDQ Z26, Z0, Z0
	VPADDQ Z26, Z1, Z1
	ADDQ $64, SI
	ADDQ $64, DI
	ADDQ $64, DX
	DECQ CX
	JNZ loop
done:
	VZEROUPPER
	RET

DATA ·dropoutLanes+0(SB)/8, $1
DATA ·dropoutLanes+8(SB)/8, $2
DATA ·dropoutLanes+16(SB)/8, $3
DATA ·dropoutLanes+24(SB)/8, $4
DATA ·dropoutLanes+32(SB)/8, $5
DATA ·dropoutLanes+40(SB)/8, $6
DATA ·dropoutLanes+48(SB)/8, $7
DATA ·dropoutLanes+56(SB)/8, $8
GLOBL ·dropoutLanes(SB), RODATA|NOPTR, $64
