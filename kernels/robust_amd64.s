//go:build amd64 && !noasm

#include "textflag.h"

// The AVX-512 block kernels of the robust aggregators: the portable ones of
// robust_kernels.go over whole multiples of 16 (float32 and key rows) or 32
// (float64 rows: four registers of 8 lanes) coordinates, with the same
// float operations in the same order and nothing fused, so the two agree
// bit for bit. Strides are in elements; off is in bytes.

// func sanitizeAVX512(v *float32, n int) int
TEXT ·sanitizeAVX512(SB), NOSPLIT, $0-24
	MOVQ v+0(FP), SI
	MOVQ n+8(FP), CX
	XORQ AX, AX
	MOVL $0x7f800000, DX
	VPBROADCASTD DX, Z1
	VPXORD Z0, Z0, Z0
	SHRQ $4, CX
	JZ sanitizedone

sanitizeloop:
	VPANDD (SI), Z1, Z2
	VPCMPEQD Z1, Z2, K1
	KORTESTW K1, K1
	JZ sanitizenext
	KMOVW K1, DX
	POPCNTL DX, DX
	ADDQ DX, AX
	VMOVDQU32 Z0, K1, (SI)

sanitizenext:
	ADDQ $64, SI
	DECQ CX
	JNZ sanitizeloop

sanitizedone:
	MOVQ AX, ret+16(FP)
	VZEROUPPER
	RET

// func cvtRowsAVX512(s *float64, stride int, rows *unsafe.Pointer, m int, off uintptr, n int)
//
// Each row's next 4 KiB (the next block, at 1024 coordinates) is
// prefetched into L2 as the row is read, so that the next block is on its
// way while this one is worked on.
TEXT ·cvtRowsAVX512(SB), NOSPLIT, $0-48
	MOVQ s+0(FP), DI
	MOVQ stride+8(FP), R8
	SHLQ $3, R8
	MOVQ rows+16(FP), R9
	MOVQ m+24(FP), R10
	MOVQ off+32(FP), R11
	MOVQ n+40(FP), R12
	SHRQ $4, R12
	JZ cvtdone
	TESTQ R10, R10
	JZ cvtdone

cvtrow:
	MOVQ (R9), SI
	ADDQ R11, SI
	MOVQ DI, DX
	MOVQ R12, CX

cvtloop:
	PREFETCHT2 4096(SI)
	VCVTPS2PD (SI), Z0
	VCVTPS2PD 32(SI), Z1
	VMOVUPD Z0, (DX)
	VMOVUPD Z1, 64(DX)
	ADDQ $64, SI
	ADDQ $128, DX
	DECQ CX
	JNZ cvtloop
	ADDQ R8, DI
	ADDQ $8, R9
	DECQ R10
	JNZ cvtrow

cvtdone:
	VZEROUPPER
	RET

// func sqDiffLanesAVX512(acc, x, s *float64, stride, m, n int)
//
// acc[32r + l] = fma(d, d, acc[32r + l]) with d = x[k] - row r of s at k,
// lane l = k%32.
TEXT ·sqDiffLanesAVX512(SB), NOSPLIT, $0-48
	MOVQ acc+0(FP), DI
	MOVQ x+8(FP), SI
	MOVQ s+16(FP), DX
	MOVQ stride+24(FP), R8
	SHLQ $3, R8
	MOVQ m+32(FP), R9
	MOVQ n+40(FP), R10
	SHRQ $5, R10
	JZ sqdone
	TESTQ R9, R9
	JZ sqdone

sqrow:
	VMOVUPD (DI), Z0
	VMOVUPD 64(DI), Z1
	VMOVUPD 128(DI), Z2
	VMOVUPD 192(DI), Z3
	MOVQ SI, AX
	MOVQ DX, BX
	MOVQ R10, CX

sqloop:
	VMOVUPD (AX), Z4
	VMOVUPD 64(AX), Z5
	VMOVUPD 128(AX), Z6
	VMOVUPD 192(AX), Z7
	VSUBPD (BX), Z4, Z4
	VSUBPD 64(BX), Z5, Z5
	VSUBPD 128(BX), Z6, Z6
	VSUBPD 192(BX), Z7, Z7
	VFMADD231PD Z4, Z4, Z0
	VFMADD231PD Z5, Z5, Z1
	VFMADD231PD Z6, Z6, Z2
	VFMADD231PD Z7, Z7, Z3
	ADDQ $256, AX
	ADDQ $256, BX
	DECQ CX
	JNZ sqloop
	VMOVUPD Z0, (DI)
	VMOVUPD Z1, 64(DI)
	VMOVUPD Z2, 128(DI)
	VMOVUPD Z3, 192(DI)
	ADDQ $256, DI
	ADDQ R8, DX
	DECQ R9
	JNZ sqrow

sqdone:
	VZEROUPPER
	RET

// ZSTEP stores the new z (float64 in Z0..Z3) rounded to float32 at (DI)
// and widened again at (SI), leaving the widened values in Z4..Z7.
#define ZSTEP \
	VCVTPD2PS Z0, Y4; \
	VCVTPD2PS Z1, Y5; \
	VCVTPD2PS Z2, Y6; \
	VCVTPD2PS Z3, Y7; \
	VMOVUPS Y4, (DI); \
	VMOVUPS Y5, 32(DI); \
	VMOVUPS Y6, 64(DI); \
	VMOVUPS Y7, 96(DI); \
	VCVTPS2PD Y4, Z4; \
	VCVTPS2PD Y5, Z5; \
	VCVTPS2PD Y6, Z6; \
	VCVTPS2PD Y7, Z7; \
	VMOVUPD Z4, (SI); \
	VMOVUPD Z5, 64(SI); \
	VMOVUPD Z6, 128(SI); \
	VMOVUPD Z7, 192(SI)

// WIDEN widens 32 float32s of the row at (AX) into Z4..Z7 and stores them
// at (r) in the scratch, prefetching the same coordinates of the next block
// of 1024 (4 KiB ahead) into L2.
#define WIDEN(r) \
	PREFETCHT2 4096(AX); \
	PREFETCHT2 4160(AX); \
	VCVTPS2PD (AX), Z4; \
	VCVTPS2PD 32(AX), Z5; \
	VCVTPS2PD 64(AX), Z6; \
	VCVTPS2PD 96(AX), Z7; \
	VMOVUPD Z4, (r); \
	VMOVUPD Z5, 64(r); \
	VMOVUPD Z6, 128(r); \
	VMOVUPD Z7, 192(r)

// func geoStepAVX512(z *float32, zf, mv, s *float64, stride int, w *float64, m, n int, rows *unsafe.Pointer, off uintptr)
//
// Registers: DI z, SI zf, BX row 0 of the scratch, DX the rows' byte
// offset, R8 the stride in bytes, R9 rows, R10 m, R11 w, R12 the row, R13
// its scratch; the move and norm lanes in Z16..Z23.
TEXT ·geoStepAVX512(SB), NOSPLIT, $0-80
	MOVQ z+0(FP), DI
	MOVQ zf+8(FP), SI
	MOVQ mv+16(FP), AX
	MOVQ s+24(FP), BX
	MOVQ stride+32(FP), R8
	SHLQ $3, R8
	MOVQ w+40(FP), R11
	MOVQ m+48(FP), R10
	MOVQ n+56(FP), CX
	MOVQ rows+64(FP), R9
	MOVQ off+72(FP), DX
	SHRQ $5, CX
	JZ geodone
	VMOVUPD (AX), Z16
	VMOVUPD 64(AX), Z17
	VMOVUPD 128(AX), Z18
	VMOVUPD 192(AX), Z19
	VMOVUPD 256(AX), Z20
	VMOVUPD 320(AX), Z21
	VMOVUPD 384(AX), Z22
	VMOVUPD 448(AX), Z23

geostep:
	// Z0..Z3 = w[0]*row 0, then fma(w[r], row r, Z0..Z3).
	MOVQ (R9), AX
	ADDQ DX, AX
	WIDEN(BX)
	VBROADCASTSD (R11), Z8
	VMULPD Z8, Z4, Z0
	VMULPD Z8, Z5, Z1
	VMULPD Z8, Z6, Z2
	VMULPD Z8, Z7, Z3
	MOVQ BX, R13
	MOVQ $1, R12
	CMPQ R12, R10
	JGE georowsdone

georow:
	ADDQ R8, R13
	MOVQ (R9)(R12*8), AX
	ADDQ DX, AX
	WIDEN(R13)
	VBROADCASTSD (R11)(R12*8), Z8
	VFMADD231PD Z8, Z4, Z0
	VFMADD231PD Z8, Z5, Z1
	VFMADD231PD Z8, Z6, Z2
	VFMADD231PD Z8, Z7, Z3
	INCQ R12
	CMPQ R12, R10
	JLT georow

georowsdone:
	// The old z in Z12..Z15, then the step.
	VCVTPS2PD (DI), Z12
	VCVTPS2PD 32(DI), Z13
	VCVTPS2PD 64(DI), Z14
	VCVTPS2PD 96(DI), Z15
	ZSTEP
	// moved += (new - old)^2, norm += old^2, each rounded.
	VSUBPD Z12, Z4, Z4
	VSUBPD Z13, Z5, Z5
	VSUBPD Z14, Z6, Z6
	VSUBPD Z15, Z7, Z7
	VMULPD Z4, Z4, Z4
	VMULPD Z5, Z5, Z5
	VMULPD Z6, Z6, Z6
	VMULPD Z7, Z7, Z7
	VADDPD Z4, Z16, Z16
	VADDPD Z5, Z17, Z17
	VADDPD Z6, Z18, Z18
	VADDPD Z7, Z19, Z19
	VMULPD Z12, Z12, Z12
	VMULPD Z13, Z13, Z13
	VMULPD Z14, Z14, Z14
	VMULPD Z15, Z15, Z15
	VADDPD Z12, Z20, Z20
	VADDPD Z13, Z21, Z21
	VADDPD Z14, Z22, Z22
	VADDPD Z15, Z23, Z23
	ADDQ $128, DI
	ADDQ $256, SI
	ADDQ $256, BX
	ADDQ $128, DX
	DECQ CX
	JNZ geostep
	MOVQ mv+16(FP), AX
	VMOVUPD Z16, (AX)
	VMOVUPD Z17, 64(AX)
	VMOVUPD Z18, 128(AX)
	VMOVUPD Z19, 192(AX)
	VMOVUPD Z20, 256(AX)
	VMOVUPD Z21, 320(AX)
	VMOVUPD Z22, 384(AX)
	VMOVUPD Z23, 448(AX)

geodone:
	VZEROUPPER
	RET

// func clipStepAVX512(z *float32, zf, s *float64, stride int, w *float64, m, n int, rows *unsafe.Pointer, off uintptr)
//
// Registers as in geoStepAVX512; c (the old z) in Z12..Z15.
TEXT ·clipStepAVX512(SB), NOSPLIT, $0-72
	MOVQ z+0(FP), DI
	MOVQ zf+8(FP), SI
	MOVQ s+16(FP), BX
	MOVQ stride+24(FP), R8
	SHLQ $3, R8
	MOVQ w+32(FP), R11
	MOVQ m+40(FP), R10
	MOVQ n+48(FP), CX
	MOVQ rows+56(FP), R9
	MOVQ off+64(FP), DX
	SHRQ $5, CX
	JZ clipdone

clipstep:
	// Z0..Z3 = w[0]*(row 0 - c), then fma(w[r], row r - c, Z0..Z3).
	VCVTPS2PD (DI), Z12
	VCVTPS2PD 32(DI), Z13
	VCVTPS2PD 64(DI), Z14
	VCVTPS2PD 96(DI), Z15
	MOVQ (R9), AX
	ADDQ DX, AX
	WIDEN(BX)
	VBROADCASTSD (R11), Z8
	VSUBPD Z12, Z4, Z4
	VSUBPD Z13, Z5, Z5
	VSUBPD Z14, Z6, Z6
	VSUBPD Z15, Z7, Z7
	VMULPD Z8, Z4, Z0
	VMULPD Z8, Z5, Z1
	VMULPD Z8, Z6, Z2
	VMULPD Z8, Z7, Z3
	MOVQ BX, R13
	MOVQ $1, R12
	CMPQ R12, R10
	JGE cliprowsdone

cliprow:
	ADDQ R8, R13
	MOVQ (R9)(R12*8), AX
	ADDQ DX, AX
	WIDEN(R13)
	VBROADCASTSD (R11)(R12*8), Z8
	VSUBPD Z12, Z4, Z4
	VSUBPD Z13, Z5, Z5
	VSUBPD Z14, Z6, Z6
	VSUBPD Z15, Z7, Z7
	VFMADD231PD Z8, Z4, Z0
	VFMADD231PD Z8, Z5, Z1
	VFMADD231PD Z8, Z6, Z2
	VFMADD231PD Z8, Z7, Z3
	INCQ R12
	CMPQ R12, R10
	JLT cliprow

cliprowsdone:
	VADDPD Z12, Z0, Z0
	VADDPD Z13, Z1, Z1
	VADDPD Z14, Z2, Z2
	VADDPD Z15, Z3, Z3
	ZSTEP
	ADDQ $128, DI
	ADDQ $256, SI
	ADDQ $256, BX
	ADDQ $128, DX
	DECQ CX
	JNZ clipstep

clipdone:
	VZEROUPPER
	RET

// func sumRowsAVX512(dst *float32, s *float64, stride int, idx *int32, cnt int, inv float64, n int)
TEXT ·sumRowsAVX512(SB), NOSPLIT, $0-56
	MOVQ dst+0(FP), DI
	MOVQ s+8(FP), BX
	MOVQ stride+16(FP), R8
	SHLQ $3, R8
	MOVQ idx+24(FP), R9
	MOVQ cnt+32(FP), R10
	VBROADCASTSD inv+40(FP), Z9
	MOVQ n+48(FP), CX
	SHRQ $5, CX
	JZ sumdone
	TESTQ R10, R10
	JZ sumdone

sumstep:
	MOVLQSX (R9), AX
	IMULQ R8, AX
	ADDQ BX, AX
	VMOVUPD (AX), Z0
	VMOVUPD 64(AX), Z1
	VMOVUPD 128(AX), Z2
	VMOVUPD 192(AX), Z3
	LEAQ 4(R9), R11
	MOVQ R10, R12
	DECQ R12
	JZ sumrowsdone

sumrow:
	MOVLQSX (R11), AX
	IMULQ R8, AX
	ADDQ BX, AX
	VADDPD (AX), Z0, Z0
	VADDPD 64(AX), Z1, Z1
	VADDPD 128(AX), Z2, Z2
	VADDPD 192(AX), Z3, Z3
	ADDQ $4, R11
	DECQ R12
	JNZ sumrow

sumrowsdone:
	VMULPD Z9, Z0, Z0
	VMULPD Z9, Z1, Z1
	VMULPD Z9, Z2, Z2
	VMULPD Z9, Z3, Z3
	VCVTPD2PS Z0, Y0
	VCVTPD2PS Z1, Y1
	VCVTPD2PS Z2, Y2
	VCVTPD2PS Z3, Y3
	VMOVUPS Y0, (DI)
	VMOVUPS Y1, 32(DI)
	VMOVUPS Y2, 64(DI)
	VMOVUPS Y3, 96(DI)
	ADDQ $128, DI
	ADDQ $256, BX
	DECQ CX
	JNZ sumstep

sumdone:
	VZEROUPPER
	RET

// KEY turns the int32s (or float32 bits) in z into order keys (or back):
// the magnitude bits of negative values flipped. Clobbers t.
#define KEY(z, t) \
	VPSRAD $31, z, t; \
	VPSRLD $1, t, t; \
	VPXORD t, z, z

// func orderKeysAVX512(ks *int32, stride int, rows *unsafe.Pointer, m int, off uintptr, n int)
TEXT ·orderKeysAVX512(SB), NOSPLIT, $0-48
	MOVQ ks+0(FP), DI
	MOVQ stride+8(FP), R8
	SHLQ $2, R8
	MOVQ rows+16(FP), R9
	MOVQ m+24(FP), R10
	MOVQ off+32(FP), R11
	MOVQ n+40(FP), R12
	SHRQ $4, R12
	JZ keysdone
	TESTQ R10, R10
	JZ keysdone

keysrow:
	MOVQ (R9), SI
	ADDQ R11, SI
	MOVQ DI, DX
	MOVQ R12, CX

keysloop:
	VMOVDQU32 (SI), Z0
	KEY(Z0, Z1)
	VMOVDQU32 Z0, (DX)
	ADDQ $64, SI
	ADDQ $64, DX
	DECQ CX
	JNZ keysloop
	ADDQ R8, DI
	ADDQ $8, R9
	DECQ R10
	JNZ keysrow

keysdone:
	VZEROUPPER
	RET

// func compareExchangeAVX512(ks *int32, net *int32, pairs, n int)
TEXT ·compareExchangeAVX512(SB), NOSPLIT, $0-32
	MOVQ ks+0(FP), DI
	MOVQ net+8(FP), SI
	MOVQ pairs+16(FP), R8
	MOVQ n+24(FP), R9
	SHRQ $4, R9
	JZ cxdone
	TESTQ R8, R8
	JZ cxdone

cxpair:
	MOVLQSX (SI), AX
	MOVLQSX 4(SI), BX
	LEAQ (DI)(AX*4), AX
	LEAQ (DI)(BX*4), BX
	MOVQ R9, CX

cxloop:
	VMOVDQU32 (AX), Z0
	VMOVDQU32 (BX), Z1
	VPMINSD Z1, Z0, Z2
	VPMAXSD Z1, Z0, Z1
	VMOVDQU32 Z2, (AX)
	VMOVDQU32 Z1, (BX)
	ADDQ $64, AX
	ADDQ $64, BX
	DECQ CX
	JNZ cxloop
	ADDQ $8, SI
	DECQ R8
	JNZ cxpair

cxdone:
	VZEROUPPER
	RET

// func keysMeanAVX512(dst *float32, ks *int32, stride, first, cnt int, inv float64, n int)
TEXT ·keysMeanAVX512(SB), NOSPLIT, $0-56
	MOVQ dst+0(FP), DI
	MOVQ ks+8(FP), BX
	MOVQ stride+16(FP), R8
	SHLQ $2, R8
	MOVQ first+24(FP), AX
	IMULQ R8, AX
	ADDQ AX, BX
	MOVQ cnt+32(FP), R10
	VBROADCASTSD inv+40(FP), Z9
	MOVQ n+48(FP), CX
	SHRQ $4, CX
	JZ kmdone
	TESTQ R10, R10
	JZ kmdone

kmstep:
	// The first row's 16 values widened into Z2 (low 8) and Z3 (high 8).
	VMOVDQU32 (BX), Z0
	KEY(Z0, Z1)
	VCVTPS2PD Y0, Z2
	VEXTRACTF64X4 $1, Z0, Y1
	VCVTPS2PD Y1, Z3
	LEAQ (BX)(R8*1), AX
	MOVQ R10, R12
	DECQ R12
	JZ kmrowsdone

kmrow:
	VMOVDQU32 (AX), Z0
	KEY(Z0, Z1)
	VCVTPS2PD Y0, Z4
	VEXTRACTF64X4 $1, Z0, Y1
	VCVTPS2PD Y1, Z5
	VADDPD Z4, Z2, Z2
	VADDPD Z5, Z3, Z3
	ADDQ R8, AX
	DECQ R12
	JNZ kmrow

kmrowsdone:
	VMULPD Z9, Z2, Z2
	VMULPD Z9, Z3, Z3
	VCVTPD2PS Z2, Y2
	VCVTPD2PS Z3, Y3
	VMOVUPS Y2, (DI)
	VMOVUPS Y3, 32(DI)
	ADDQ $64, DI
	ADDQ $64, BX
	DECQ CX
	JNZ kmstep

kmdone:
	VZEROUPPER
	RET
