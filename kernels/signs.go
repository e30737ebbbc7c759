package kernels

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"
)

// Signs is a ternary vector of N coordinates packed as two bit planes (see
// the package documentation for the layout).
type Signs struct {
	N   int
	NZ  []uint64 // bit i: coordinate i is non-zero
	Neg []uint64 // bit i: coordinate i is negative; a subset of NZ
}

// Words returns the number of uint64 words that hold n bits.
func Words(n int) int { return (n + 63) / 64 }

// NewSigns allocates a zero (all-abstain) vector of n signs.
func NewSigns(n int) Signs {
	w := Words(n)
	return Signs{N: n, NZ: make([]uint64, w), Neg: make([]uint64, w)}
}

// tailMask is the mask of the valid bits of the last word of an n-bit plane.
func tailMask(n int) uint64 {
	if r := n % 64; r != 0 {
		return 1<<uint(r) - 1
	}
	return ^uint64(0)
}

func (s Signs) check(op string) {
	w := Words(s.N)
	if s.N < 0 || len(s.NZ) != w || len(s.Neg) != w {
		panic(fmt.Sprintf("kernels: %s: signs of length %d need %d words per plane, have %d and %d", op, s.N, w, len(s.NZ), len(s.Neg)))
	}
}

// At returns coordinate i as -1, 0 or +1.
func (s Signs) At(i int) int {
	w, b := i/64, uint(i%64)
	if s.NZ[w]>>b&1 == 0 {
		return 0
	}
	if s.Neg[w]>>b&1 == 1 {
		return -1
	}
	return 1
}

// Set sets coordinate i to the sign of v (-1, 0 or +1).
func (s Signs) Set(i, v int) {
	w, b := i/64, uint(i%64)
	s.NZ[w] &^= 1 << b
	s.Neg[w] &^= 1 << b
	if v > 0 {
		s.NZ[w] |= 1 << b
	} else if v < 0 {
		s.NZ[w] |= 1 << b
		s.Neg[w] |= 1 << b
	}
}

// Canonicalize clears Neg bits without their NZ bit and every bit past N.
func (s Signs) Canonicalize() {
	s.check("Canonicalize")
	for i := range s.NZ {
		s.Neg[i] &= s.NZ[i]
	}
	if w := len(s.NZ); w > 0 {
		m := tailMask(s.N)
		s.NZ[w-1] &= m
		s.Neg[w-1] &= m
	}
}

// Negate flips every non-zero sign in place (a blind adversary).
func (s Signs) Negate() {
	for i := range s.NZ {
		s.Neg[i] ^= s.NZ[i]
	}
}

// CopyFrom copies src into s; both must have the same length.
func (s Signs) CopyFrom(src Signs) {
	if s.N != src.N {
		panic(fmt.Sprintf("kernels: CopyFrom: length %d into %d", src.N, s.N))
	}
	copy(s.NZ, src.NZ)
	copy(s.Neg, src.Neg)
}

// PackSigns writes the ternary signs of g into dst (len(g) == dst.N).
// sign(+-0) = 0 and NaN packs as 0 (abstain); +-Inf packs as +-1. Whole
// words go through AVX-512 where the CPU has it, split across Threads()
// goroutines when large.
func PackSigns(dst Signs, g []float32) {
	dst.check("PackSigns")
	if len(g) != dst.N {
		panic(fmt.Sprintf("kernels: PackSigns: %d values into signs of length %d", len(g), dst.N))
	}
	full := len(g) / 64
	parallelFor(full, signGrain, func(lo, hi int) {
		if haveSignStepAsm() {
			packSignsFast(dst, g, lo, hi)
		} else {
			packSignsWords(dst, g, lo, hi)
		}
	})
	if full < len(dst.NZ) {
		dst.NZ[full], dst.Neg[full] = packWord(g[full*64:])
	}
}

// signGrain is the fewest words a goroutine of PackSigns, MomentumSigns or
// ApplySignStep is given.
const signGrain = 1 << 14

// packSignsWords packs whole words lo..hi-1 of g: the portable kernel.
func packSignsWords(dst Signs, g []float32, lo, hi int) {
	for w := lo; w < hi; w++ {
		dst.NZ[w], dst.Neg[w] = packWord(g[w*64 : w*64+64 : w*64+64])
	}
}

// packWord returns the NZ and Neg bits of up to 64 values.
func packWord(blk []float32) (nz, neg uint64) {
	for j, v := range blk {
		b := math.Float32bits(v)
		// a-1 < 0x7f800000 exactly when 0 < a <= +Inf, a = |v| bits:
		// zero wraps around and NaN lies above +Inf.
		n := uint64(((b&0x7fffffff)-1)>>31^1) & uint64(((b&0x7fffffff)-1-0x7f800000)>>31)
		nz |= n << uint(j)
		neg |= (n & uint64(b>>31)) << uint(j)
	}
	return nz, neg
}

// PackSignsNaive is the reference for PackSigns: one coordinate at a time.
func PackSignsNaive(dst Signs, g []float32) {
	for i := range dst.NZ {
		dst.NZ[i], dst.Neg[i] = 0, 0
	}
	for i, v := range g {
		switch {
		case v > 0:
			dst.Set(i, 1)
		case v < 0:
			dst.Set(i, -1)
		}
	}
}

// EncodedLen is the number of bytes Encode writes for n signs: both planes,
// little-endian words, NZ first.
func EncodedLen(n int) int { return 16 * Words(n) }

// Encode appends the wire form of s to b.
func (s Signs) Encode(b []byte) []byte {
	for _, w := range s.NZ {
		b = binary.LittleEndian.AppendUint64(b, w)
	}
	for _, w := range s.Neg {
		b = binary.LittleEndian.AppendUint64(b, w)
	}
	return b
}

// ErrSignsLength reports a wire form whose length does not match the
// expected number of coordinates.
var ErrSignsLength = errors.New("packed signs have the wrong length")

// Decode reads the wire form written by Encode into s (whose N fixes the
// expected length) and canonicalizes it, so untrusted bytes can never make
// one voter count twice.
func (s Signs) Decode(b []byte) error {
	s.check("Decode")
	if len(b) != EncodedLen(s.N) {
		return fmt.Errorf("%w: %d bytes for %d coordinates, want %d", ErrSignsLength, len(b), s.N, EncodedLen(s.N))
	}
	w := len(s.NZ)
	for i := 0; i < w; i++ {
		s.NZ[i] = binary.LittleEndian.Uint64(b[8*i:])
		s.Neg[i] = binary.LittleEndian.Uint64(b[8*(w+i):])
	}
	s.Canonicalize()
	return nil
}
