//go:build amd64 && !noasm

#include "textflag.h"

// TAILMASKS sets, for the last 1 <= n <= 16 values (n in DX), K1 and K2 to
// the low and high halves of 2n-1 set bits (the strided side's values
// 0..2n-2 in two registers of sixteen) and K3 to n set bits (the dense
// side's). It clobbers AX and CX.
#define TAILMASKS \
	LEAQ -1(DX)(DX*1), CX \
	MOVQ $1, AX \
	SHLQ CX, AX \
	DECQ AX \
	KMOVW AX, K1 \
	SHRQ $16, AX \
	KMOVW AX, K2 \
	MOVQ DX, CX \
	MOVQ $1, AX \
	SHLQ CX, AX \
	DECQ AX \
	KMOVW AX, K3

// func gather2AVX512(dst, src *float32, n int)
//
// dst[i] = src[2i] for i < n, sixteen a step: two loads of sixteen and a
// two-source permute of their even lanes (·wgEven). The last step's
// loads and store are masked to src[..2n-2] and dst[..n-1], so nothing
// past either is touched. n >= 1.
TEXT ·gather2AVX512(SB), NOSPLIT, $0-24
	MOVQ dst+0(FP), DI
	MOVQ src+8(FP), SI
	MOVQ n+16(FP), DX
	VMOVDQU32 ·wgEven(SB), Z2
	CMPQ DX, $16
	JLE glast
gloop:
	VMOVUPS (SI), Z0
	VMOVUPS 64(SI), Z1
	VPERMT2PS Z1, Z2, Z0 // Z0 = the even lanes of (Z0, Z1)
	VMOVUPS Z0, (DI)
	ADDQ $128, SI
	ADDQ $64, DI
	SUBQ $16, DX
	CMPQ DX, $16
	JG gloop
glast:
	// 1 <= n <= 16 outputs left, from the 2n-1 values src[0..2n-2].
	TAILMASKS
	VMOVUPS.Z (SI), K1, Z0
	VMOVUPS.Z 64(SI), K2, Z1
	VPERMT2PS Z1, Z2, Z0
	VMOVUPS Z0, K3, (DI)
	VZEROUPPER
	RET

// func scatterAdd2AVX512(dst, src *float32, n int)
//
// dst[2i] += src[i] for i < n, sixteen a step: each half of the sixteen
// values spread to even lanes (·pairLanes, ·pairLanes+64) and added there
// into sixteen values of dst, the odd lanes kept as they were. Each sum
// is src[i] + dst[2i] in that operand order, as Go compiles the loop's
// +=: of two NaNs, the sum is src's. The last step's loads and stores
// are masked to dst[..2n-2] and src[..n-1]. n >= 1.
TEXT ·scatterAdd2AVX512(SB), NOSPLIT, $0-24
	MOVQ dst+0(FP), DI
	MOVQ src+8(FP), SI
	MOVQ n+16(FP), DX
	VMOVDQU32 ·pairLanes(SB), Z4
	VMOVDQU32 ·pairLanes+64(SB), Z5
	MOVQ $0x5555, AX
	KMOVW AX, K4 // the even lanes
	CMPQ DX, $16
	JLE slast
sloop:
	VMOVUPS (SI), Z6
	VMOVUPS (DI), Z0
	VMOVUPS 64(DI), Z1
	VPERMPS Z6, Z4, Z2 // src[0..7], each in two lanes
	VPERMPS Z6, Z5, Z3 // src[8..15]
	VADDPS Z0, Z2, K4, Z0
	VADDPS Z1, Z3, K4, Z1
	VMOVUPS Z0, (DI)
	VMOVUPS Z1, 64(DI)
	ADDQ $64, SI
	ADDQ $128, DI
	SUBQ $16, DX
	CMPQ DX, $16
	JG sloop
slast:
	TAILMASKS
	VMOVUPS.Z (SI), K3, Z6
	VMOVUPS.Z (DI), K1, Z0
	VMOVUPS.Z 64(DI), K2, Z1
	VPERMPS Z6, Z4, Z2
	VPERMPS Z6, Z5, Z3
	VADDPS Z0, Z2, K4, Z0
	VADDPS Z1, Z3, K4, Z1
	VMOVUPS Z0, K1, (DI)
	VMOVUPS Z1, K2, 64(DI)
	VZEROUPPER
	RET
