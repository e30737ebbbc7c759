// Package kernels holds the compute kernels of signsgd: packing gradient signs
// into bit planes, counting a majority vote over packed sign vectors with
// bit-sliced (carry-save) counters, applying the sign update straight from the
// bits, the plain float32 sum that distributed SGD's server does, and the
// network layers' forward and backward passes.
//
// Every fast kernel has a naive reference beside it (same file, suffix
// Naive), and the tests cross-check the two on odd lengths and random inputs.
//
// # Ternary signs
//
// A sign is ternary: sign(0) = 0 means "abstain". A vector of N signs is
// packed into two bit planes of ceil(N/64) little-endian uint64 words each:
//
//	coordinate i  ->  word i/64, bit i%64
//	NZ  plane: 1 where the coordinate is non-zero
//	Neg plane: 1 where the coordinate is negative (only where NZ is 1)
//
//	value:  +1 -> NZ=1 Neg=0     -1 -> NZ=1 Neg=1     0 -> NZ=0 Neg=0
//
// The canonical form has Neg a subset of NZ and every bit at or above N in
// the last word clear; Canonicalize restores it, and every decoder of
// untrusted bytes must call it (a Neg bit without its NZ bit would otherwise
// count as two votes).
//
// # Vote counting
//
// With canonical inputs, the vote sum at a coordinate is
// V = count(NZ) - 2*count(Neg). Vote keeps both counts as bit-sliced
// counters (plane j holds bit j of the 64 counts of one word) fed by
// carry-save adders, four voters at a time, so the work per word is a few
// logical operations per voter instead of a loop over 64 bits. The result
// sign(V) is formed with a bit-sliced comparison of the two counters, and
// ties (V = 0) follow a TieRule.
package kernels
