//go:build linux && amd64 && !noasm

package kernels

import (
	"math"
	"math/rand/v2"
	"testing"
)

// specialFloat is a float32 that is often a NaN (of either sign, with a
// payload), a zero of either sign, an infinity or a small integer, else
// normal.
func specialFloat(rng *rand.Rand) float32 {
	switch rng.IntN(10) {
	case 0:
		return math.Float32frombits(0x7fc00000 | rng.Uint32()&0x3fffff)
	case 1:
		return math.Float32frombits(0xffc00000 | rng.Uint32()&0x3fffff)
	case 2:
		return float32(math.Copysign(0, -1))
	case 3:
		return float32(math.Inf(1 - 2*rng.IntN(2)))
	case 4:
		return float32(rng.IntN(3))
	}
	return float32(rng.NormFloat64())
}

// TestStride2MatchesGo: the AVX-512 stride-2 gather and scatter-add give
// the Go loops' values bit for bit (NaN payloads, zeros of both signs and
// infinities included) for every length around their sixteen-value step,
// with the strided buffer and the dense one each ending, and beginning, at
// an inaccessible page: neither reads or writes past the values it owns.
// The scatter-add leaves the odd lanes as they were.
func TestStride2MatchesGo(t *testing.T) {
	if !haveAVX512 {
		t.Skip("no AVX-512 on this CPU")
	}
	rng := rand.New(rand.NewPCG(71, 72))
	for n := 1; n <= 70; n++ {
		for _, atEnd := range []bool{true, false} {
			strided := guardedFloats(t, 2*n-1, atEnd)
			dense := guardedFloats(t, n, !atEnd)
			for i := range strided {
				strided[i] = specialFloat(rng)
			}
			want := make([]float32, n)
			gather2Go(want, strided)
			gather2AVX512(&dense[0], &strided[0], n)
			for i := range want {
				if math.Float32bits(dense[i]) != math.Float32bits(want[i]) {
					t.Fatalf("gather2 n=%d: dst[%d] = %v, want %v", n, i, dense[i], want[i])
				}
			}

			for i := range dense {
				dense[i] = specialFloat(rng)
			}
			wantS := append([]float32(nil), strided...)
			scatterAdd2Go(wantS, dense)
			scatterAdd2AVX512(&strided[0], &dense[0], n)
			for i := range wantS {
				if math.Float32bits(strided[i]) != math.Float32bits(wantS[i]) {
					t.Fatalf("scatterAdd2 n=%d: dst[%d] = %v (%#x), want %v (%#x)", n, i, strided[i], math.Float32bits(strided[i]), wantS[i], math.Float32bits(wantS[i]))
				}
			}
		}
	}
}
