//go:build linux && amd64 && !noasm

package kernels

import (
	"math"
	"math/rand/v2"
	"testing"
)

// TestStride2MatchesGo: the AVX-512 stride-2 gather and scatter-add give
// the Go loops' values bit for bit (finiteInput's NaN payloads, zeros of
// both signs and infinities included) for every length around their
// sixteen-value step, with the strided buffer and the dense one each
// ending, and beginning, at an inaccessible page: neither reads or writes
// past the values it owns. The scatter-add leaves the odd lanes as they
// were.
func TestStride2MatchesGo(t *testing.T) {
	if !haveAVX512 {
		t.Skip("no AVX-512 on this CPU")
	}
	rng := rand.New(rand.NewPCG(71, 72))
	for n := 1; n <= 70; n++ {
		for _, atEnd := range []bool{true, false} {
			strided := guardedFloats(t, 2*n-1, atEnd)
			dense := guardedFloats(t, n, !atEnd)
			copy(strided, finiteInput(rng, len(strided)))
			want := make([]float32, n)
			gather2Go(want, strided)
			gather2AVX512(&dense[0], &strided[0], n)
			for i := range want {
				if math.Float32bits(dense[i]) != math.Float32bits(want[i]) {
					t.Fatalf("gather2 n=%d: dst[%d] = %v, want %v", n, i, dense[i], want[i])
				}
			}

			copy(dense, finiteInput(rng, len(dense)))
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
