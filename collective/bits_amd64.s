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
