//go:build amd64 && !noasm

#include "textflag.h"

// KEY(v, k, t) sets Zk to maxKey(Zv): the bits as an int32, the low 31
// flipped for a negative value, and MaxInt32 for a NaN; Z29 holds
// 0x7fffffff, Z28 0x7f800000; Zt and K7 are scratch.
#define KEY(v, k, t) \
	VPSRAD $31, v, t \
	VPANDD Z29, t, t \
	VPXORD v, t, k \
	VPANDD Z29, v, t \
	VPCMPD $6, Z28, t, K7 \
	VMOVDQA32 Z29, K7, k

// TAKE(k, v, i) replaces the running maximum (key Z20, value Z21, index
// Z22) by key Zk, value Zv and index Zi in the lanes where Zk is strictly
// larger: the first maximum wins.
#define TAKE(k, v, i) \
	VPCMPD $6, Z20, k, K6 \
	VMOVDQA32 k, K6, Z20 \
	VMOVDQA32 v, K6, Z21 \
	VMOVDQA32 i, K6, Z22

// TAKEIN(k, v, i, valid) is TAKE in the lanes of mask valid only.
// K6 is scratch.
#define TAKEIN(k, v, i, valid) \
	VPCMPD $6, Z20, k, K6 \
	KANDW valid, K6, K6 \
	VMOVDQA32 k, K6, Z20 \
	VMOVDQA32 v, K6, Z21 \
	VMOVDQA32 i, K6, Z22

// func maxPool2x2AVX512(y *float32, am *int32, x *float32, w, oh, ow int)
//
// maxPoolPlane for 2x2 windows, stride 2, no padding, over one plane x (h
// >= 2 oh rows of w >= 2 ow): output (oy, i) is the first maximum, by
// maxKey, of x[2oy][2i], x[2oy][2i+1], x[2oy+1][2i], x[2oy+1][2i+1], in
// that order; y gets its value and am its plane index. Sixteen outputs a
// step; loads and stores are masked to the row, so nothing outside the
// plane's rows is read or written.
TEXT ·maxPool2x2AVX512(SB), NOSPLIT, $0-48
	MOVQ y+0(FP), DI
	MOVQ am+8(FP), R14
	MOVQ x+16(FP), SI
	MOVQ w+24(FP), R8
	MOVQ oh+32(FP), R9
	MOVQ ow+40(FP), R10
	MOVL $0x7fffffff, AX
	VPBROADCASTD AX, Z29
	MOVL $0x7f800000, AX
	VPBROADCASTD AX, Z28
	VMOVDQU32 ·wgEven(SB), Z30
	VMOVDQU32 ·wgOdd(SB), Z31
	VMOVDQU32 ·poolIota2(SB), Z27 // 0, 2, ..., 30
	XORQ R11, R11 // oy
	TESTQ R9, R9
	JZ done
row:
	// R12: plane index of row 2 oy, column 0; R13: its address.
	MOVQ R11, R12
	IMULQ R8, R12
	SHLQ $1, R12
	LEAQ (SI)(R12*4), R13
	XORQ BX, BX // i0
group:
	MOVQ R10, CX
	SUBQ BX, CX // outputs left in the row
	JLE rowdone
	// K1: min(16, CX) outputs; K2, K3: the 2 min(16, CX) inputs, split.
	MOVQ $0xFFFF, AX
	CMPQ CX, $16
	JGE full
	MOVQ $1, AX
	SHLQ CX, AX
	DECQ AX
full:
	KMOVW AX, K1
	MOVQ CX, DX
	SHLQ $1, DX
	MOVQ $0xFFFF, AX
	CMPQ DX, $16
	JGE lofull
	MOVQ $1, AX
	SHLXQ DX, AX, AX
	DECQ AX
lofull:
	KMOVW AX, K2
	SUBQ $16, DX
	XORQ AX, AX
	TESTQ DX, DX
	JLE hiset
	MOVQ $0xFFFF, AX
	CMPQ DX, $16
	JGE hiset
	MOVQ $1, AX
	SHLXQ DX, AX, AX
	DECQ AX
hiset:
	KMOVW AX, K3
	// Row 2 oy from column 2 i0: a (evens) and b (odds); row 2 oy + 1: c, d.
	LEAQ (R13)(BX*8), DX
	VMOVUPS.Z (DX), K2, Z0
	VMOVUPS.Z 64(DX), K3, Z1
	VMOVAPS Z0, Z2
	VPERMT2PS Z1, Z30, Z0 // a
	VPERMT2PS Z1, Z31, Z2 // b
	LEAQ (DX)(R8*4), DX
	VMOVUPS.Z (DX), K2, Z3
	VMOVUPS.Z 64(DX), K3, Z4
	VMOVAPS Z3, Z5
	VPERMT2PS Z4, Z30, Z3 // c
	VPERMT2PS Z4, Z31, Z5 // d
	// Indices: a at R12 + 2 (i0 + lane), b one more, c and d w on.
	LEAQ (R12)(BX*2), AX
	VPBROADCASTD AX, Z10
	VPADDD Z27, Z10, Z10 // a
	MOVL $1, AX
	VPBROADCASTD AX, Z15
	VPADDD Z15, Z10, Z11 // b
	VPBROADCASTD R8, Z14
	VPADDD Z14, Z10, Z12 // c
	VPADDD Z14, Z11, Z13 // d
	KEY(Z0, Z20, Z16)
	VMOVAPS Z0, Z21
	VMOVDQA32 Z10, Z22
	KEY(Z2, Z17, Z16)
	TAKE(Z17, Z2, Z11)
	KEY(Z3, Z17, Z16)
	TAKE(Z17, Z3, Z12)
	KEY(Z5, Z17, Z16)
	TAKE(Z17, Z5, Z13)
	// Store at output (oy, i0).
	MOVQ R11, AX
	IMULQ R10, AX
	ADDQ BX, AX
	VMOVUPS Z21, K1, (DI)(AX*4)
	VMOVDQU32 Z22, K1, (R14)(AX*4)
	ADDQ $16, BX
	JMP group
rowdone:
	INCQ R11
	CMPQ R11, R9
	JLT row
done:
	VZEROUPPER
	RET

// func maxPool3x3s2p1AVX512(y *float32, am *int32, x *float32, h, w, oh, ow int)
//
// maxPoolPlane for 3x3 windows, stride 2, padding 1 (ResNet's stem) over
// one plane x (h x w): output (oy, i) is the first maximum, by maxKey, of
// the window's inputs inside the plane, rows 2oy-1..2oy+1 and in each the
// columns 2i-1, 2i, 2i+1, in that order (the general path's); y gets its
// value and am its plane index. Sixteen outputs a step; loads and stores
// are masked to the plane's rows, and a candidate outside the plane never
// takes part (every window holds its centre, so one always wins).
TEXT ·maxPool3x3s2p1AVX512(SB), NOSPLIT, $8-56
	MOVQ y+0(FP), DI
	MOVQ am+8(FP), R14
	MOVQ x+16(FP), SI
	MOVQ h+24(FP), BX
	MOVQ w+32(FP), R8
	MOVQ oh+40(FP), R9
	MOVQ ow+48(FP), R10
	MOVL $0x7fffffff, AX
	VPBROADCASTD AX, Z29
	MOVL $0x7f800000, AX
	VPBROADCASTD AX, Z28
	MOVL $0x80000000, AX
	VPBROADCASTD AX, Z26 // MinInt32: below every key
	MOVL $1, AX
	VPBROADCASTD AX, Z25
	VMOVDQU32 ·wgEven(SB), Z30
	VMOVDQU32 ·wgOdd(SB), Z31
	VMOVDQU32 ·poolIota2(SB), Z27
	XORQ R11, R11 // oy
	TESTQ R9, R9
	JZ p3done
p3row:
	XORQ R12, R12 // i0
p3group:
	MOVQ R10, CX
	SUBQ R12, CX // outputs left in the row
	JLE p3rowdone
	MOVQ $0xFFFF, AX
	CMPQ CX, $16
	JGE m1
	XORQ AX, AX
	CMPQ CX, $0
	JLE m1
	MOVQ $1, AX
	SHLXQ CX, AX, AX
	DECQ AX
m1:
	KMOVW AX, K1
	KMOVW K1, AX
	TESTQ R12, R12
	JNZ p3kl
	ANDL $0xFFFE, AX
p3kl:
	KMOVW AX, K2
	MOVQ R8, CX
	SHRQ $1, CX
	SUBQ R12, CX
	MOVQ $0xFFFF, AX
	CMPQ CX, $16
	JGE m2
	XORQ AX, AX
	CMPQ CX, $0
	JLE m2
	MOVQ $1, AX
	SHLXQ CX, AX, AX
	DECQ AX
m2:
	KMOVW AX, K3
	KANDW K1, K3, K3
	MOVQ R8, CX
	SUBQ R12, CX
	SUBQ R12, CX
	MOVQ $0xFFFF, AX
	CMPQ CX, $16
	JGE m3
	XORQ AX, AX
	CMPQ CX, $0
	JLE m3
	MOVQ $1, AX
	SHLXQ CX, AX, AX
	DECQ AX
m3:
	KMOVW AX, K4
	SUBQ $16, CX
	MOVQ $0xFFFF, AX
	CMPQ CX, $16
	JGE m4
	XORQ AX, AX
	CMPQ CX, $0
	JLE m4
	MOVQ $1, AX
	SHLXQ CX, AX, AX
	DECQ AX
m4:
	KMOVW AX, K5
	MOVQ R8, CX
	SUBQ R12, CX
	SUBQ R12, CX
	ADDQ $2, CX
	MOVQ $0xFFFF, AX
	CMPQ CX, $16
	JGE m5
	XORQ AX, AX
	CMPQ CX, $0
	JLE m5
	MOVQ $1, AX
	SHLXQ CX, AX, AX
	DECQ AX
m5:
	KMOVW AX, K6
	KMOVW K6, AX
	TESTQ R12, R12
	JNZ p3kb
	ANDL $0xFFFC, AX
p3kb:
	KMOVW AX, K6
	SUBQ $16, CX
	MOVQ $0xFFFF, AX
	CMPQ CX, $16
	JGE m6
	XORQ AX, AX
	CMPQ CX, $0
	JLE m6
	MOVQ $1, AX
	SHLXQ CX, AX, AX
	DECQ AX
m6:
	KMOVW AX, K7
	KMOVW K6, kb0-8(SP) // the second loads' masks: K6 and K7 are scratch below
	KMOVW K7, kb1-6(SP)
	VMOVDQA32 Z26, Z20 // running key
	VPXORD Z21, Z21, Z21 // value
	VPXORD Z22, Z22, Z22 // index
	// The window's rows inside the plane, 2 oy - 1 .. 2 oy + 1 clipped to
	// 0 .. h - 1 (R13 to CX), in order.
	MOVQ R11, R13
	SHLQ $1, R13
	LEAQ 1(R13), CX
	DECQ R13
	JNS p3first
	XORQ R13, R13
p3first:
	CMPQ CX, BX
	JLT p3win
	LEAQ -1(BX), CX
p3win:
	MOVQ R13, R15
	IMULQ R8, R15
	LEAQ (R15)(R12*2), R15
	LEAQ (SI)(R15*4), DX
	KMOVW kb0-8(SP), K6
	KMOVW kb1-6(SP), K7
	VMOVUPS.Z (DX), K4, Z0
	VMOVUPS.Z 64(DX), K5, Z1
	VMOVAPS Z0, Z2
	VPERMT2PS Z1, Z30, Z0 // columns 2i
	VPERMT2PS Z1, Z31, Z2 // columns 2i+1
	VMOVUPS.Z -8(DX), K6, Z3
	VMOVUPS.Z 56(DX), K7, Z4
	VPERMT2PS Z4, Z31, Z3 // columns 2i-1
	VPBROADCASTD R15, Z10
	VPADDD Z27, Z10, Z10 // index of 2i
	VPADDD Z25, Z10, Z11 // 2i+1
	VPSUBD Z25, Z10, Z12 // 2i-1
	KEY(Z3, Z17, Z16)
	TAKEIN(Z17, Z3, Z12, K2)
	KEY(Z0, Z17, Z16)
	TAKEIN(Z17, Z0, Z10, K1)
	KEY(Z2, Z17, Z16)
	TAKEIN(Z17, Z2, Z11, K3)
	INCQ R13
	CMPQ R13, CX
	JLE p3win
	MOVQ R11, AX
	IMULQ R10, AX
	ADDQ R12, AX
	VMOVUPS Z21, K1, (DI)(AX*4)
	VMOVDQU32 Z22, K1, (R14)(AX*4)
	ADDQ $16, R12
	JMP p3group
p3rowdone:
	INCQ R11
	CMPQ R11, R9
	JLT p3row
p3done:
	VZEROUPPER
	RET

DATA ·poolIota2+0(SB)/4, $0
DATA ·poolIota2+4(SB)/4, $2
DATA ·poolIota2+8(SB)/4, $4
DATA ·poolIota2+12(SB)/4, $6
DATA ·poolIota2+16(SB)/4, $8
DATA ·poolIota2+20(SB)/4, $10
DATA ·poolIota2+24(SB)/4, $12
DATA ·poolIota2+28(SB)/4, $14
DATA ·poolIota2+32(SB)/4, $16
DATA ·poolIota2+36(SB)/4, $18
DATA ·poolIota2+40(SB)/4, $20
DATA ·poolIota2+44(SB)/4, $22
DATA ·poolIota2+48(SB)/4, $24
DATA ·poolIota2+52(SB)/4, $26
DATA ·poolIota2+56(SB)/4, $28
DATA ·poolIota2+60(SB)/4, $30
GLOBL ·poolIota2(SB), RODATA|NOPTR, $64
