//go:build amd64 && !noasm

#include "textflag.h"

// func bnBwdApplyAVX512(dx, dy, y, x *float32, n int, a, k, mu, b0 float32)
//
// dx = a g - k (x - mu) - b0 over n (a multiple of 16) values, g = dy, or
// reluGrad(dy, y) when y is not nil: the operations of bnBackwardChannels'
// loops, in their order.
TEXT ·bnBwdApplyAVX512(SB), NOSPLIT, $0-56
	MOVQ dx+0(FP), DI
	MOVQ dy+8(FP), SI
	MOVQ y+16(FP), R9
	MOVQ x+24(FP), R8
	MOVQ n+32(FP), CX
	VBROADCASTSS a+40(FP), Z28
	VBROADCASTSS k+44(FP), Z29
	VBROADCASTSS mu+48(FP), Z30
	VBROADCASTSS b0+52(FP), Z31
	VPXORD Z27, Z27, Z27
	SHRQ $4, CX
	JZ done
	TESTQ R9, R9
	JZ plain
masked:
	VMOVDQU32 (R9), Z0
	VPCMPGTD Z27, Z0, K1
	VMOVUPS.Z (SI), K1, Z1
	VMULPS Z28, Z1, Z1
	VMOVUPS (R8), Z2
	VSUBPS Z30, Z2, Z2
	VMULPS Z29, Z2, Z2
	VSUBPS Z2, Z1, Z1
	VSUBPS Z31, Z1, Z1
	VMOVUPS Z1, (DI)
	ADDQ $64, SI
	ADDQ $64, R9
	ADDQ $64, R8
	ADDQ $64, DI
	DECQ CX
	JNZ masked
	JMP done
plain:
	VMOVUPS (SI), Z1
	VMULPS Z28, Z1, Z1
	VMOVUPS (R8), Z2
	VSUBPS Z30, Z2, Z2
	VMULPS Z29, Z2, Z2
	VSUBPS Z2, Z1, Z1
	VSUBPS Z31, Z1, Z1
	VMOVUPS Z1, (DI)
	ADDQ $64, SI
	ADDQ $64, R8
	ADDQ $64, DI
	DECQ CX
	JNZ plain
done:
	VZEROUPPER
	RET

// AFFINE(mu, scale, shift, r) sets Zr = (Zr - mu) scale + shift.
#define AFFINE(mu, scale, shift, r) \
	VSUBPS mu, r, r \
	VMULPS scale, r, r \
	VADDPS shift, r, r

// RELU(v, d) sets Zd = max(Zv, 0) exactly as Go's max compiles on amd64
// (as -min(min(-v, -0), -v) with the two minima's bits or-ed: +0 for -0,
// a NaN with its sign cleared for a NaN), Z27 holding -0 in every lane;
// Z20-Z22 are scratch, and d may be v.
#define RELU(v, d) \
	VPXORD Z27, v, Z20 \
	VMINPS Z27, Z20, Z21 \
	VMINPS Z20, Z21, Z22 \
	VPORD Z21, Z22, Z22 \
	VPXORD Z27, Z22, d

// func bnFwdApplyAVX512(y, x *float32, n int, mu, scale, shift float32, relu bool)
//
// y = (x - mu) scale + shift, then max(y, 0) when relu, over n (a multiple
// of 16) values: bnForwardChannels' loops.
TEXT ·bnFwdApplyAVX512(SB), NOSPLIT, $0-37
	MOVQ y+0(FP), DI
	MOVQ x+8(FP), SI
	MOVQ n+16(FP), CX
	VBROADCASTSS mu+24(FP), Z28
	VBROADCASTSS scale+28(FP), Z29
	VBROADCASTSS shift+32(FP), Z30
	MOVBQZX relu+36(FP), R9
	MOVL $0x80000000, AX
	VPBROADCASTD AX, Z27
	SHRQ $4, CX
	JZ fwddone
fwdloop:
	VMOVUPS (SI), Z0
	AFFINE(Z28, Z29, Z30, Z0)
	TESTQ R9, R9
	JZ fwdstore
	RELU(Z0, Z0)
fwdstore:
	VMOVUPS Z0, (DI)
	ADDQ $64, SI
	ADDQ $64, DI
	DECQ CX
	JNZ fwdloop
fwddone:
	VZEROUPPER
	RET

// func bnAddReluApplyAVX512(y, x, s *float32, n int, mu, scale, shift, smu, sscale, sshift float32, bnSkip bool)
//
// y = max((x - mu) scale + shift + t, 0) with t = s, or (s - smu) sscale +
// sshift when bnSkip, over n (a multiple of 16) values:
// BatchNormAddReluForward's loops.
TEXT ·bnAddReluApplyAVX512(SB), NOSPLIT, $0-57
	MOVQ y+0(FP), DI
	MOVQ x+8(FP), SI
	MOVQ s+16(FP), R8
	MOVQ n+24(FP), CX
	VBROADCASTSS mu+32(FP), Z28
	VBROADCASTSS scale+36(FP), Z29
	VBROADCASTSS shift+40(FP), Z30
	VBROADCASTSS smu+44(FP), Z24
	VBROADCASTSS sscale+48(FP), Z25
	VBROADCASTSS sshift+52(FP), Z26
	MOVBQZX bnSkip+56(FP), R9
	MOVL $0x80000000, AX
	VPBROADCASTD AX, Z27
	SHRQ $4, CX
	JZ adddone
addloop:
	VMOVUPS (SI), Z0
	AFFINE(Z28, Z29, Z30, Z0)
	VMOVUPS (R8), Z1
	TESTQ R9, R9
	JZ addjoin
	AFFINE(Z24, Z25, Z26, Z1)
addjoin:
	VADDPS Z1, Z0, Z0
	RELU(Z0, Z1)
	VMOVUPS Z1, (DI)
	ADDQ $64, SI
	ADDQ $64, R8
	ADDQ $64, DI
	DECQ CX
	JNZ addloop
adddone:
	VZEROUPPER
	RET
