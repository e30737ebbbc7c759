//go:build amd64 && !noasm

package kernels

import (
	"math/rand/v2"
	"testing"
)

// TestDropoutAVX512FromElement: the kernel called from a later element on
// hashes that element's counter (DropoutForward starts it at 0).
func TestDropoutAVX512FromElement(t *testing.T) {
	if !haveAVX512DQ {
		t.Skip("no AVX-512 DQ on this CPU")
	}
	rng := rand.New(rand.NewPCG(57, 58))
	const n, i0 = 32, 1000
	in, out, mask := randSlice(rng, n), make([]float32, n), make([]float32, n)
	thresh, scale := uint64(0.5*(1<<53)), float32(2)
	dropoutAVX512(&out[0], &in[0], &mask[0], n, 7, i0, thresh, scale)
	for i := range n {
		m := float32(0)
		if dropoutHash(7, uint64(i0+i))>>11 >= thresh {
			m = scale
		}
		if mask[i] != m || out[i] != in[i]*m {
			t.Fatalf("from element %d: element %d has mask %v, want %v", i0, i0+i, mask[i], m)
		}
	}
}
