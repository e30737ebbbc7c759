package collective

import (
	"math/rand/v2"
	"testing"

	"signsgd/kernels"
)

// BenchmarkDecodeResultInPlace: a result chunk with ties (2^20
// coordinates), decoded from a payload whose sign plane is copied into
// words first (copy) or scattered where it lies (in-place, as postVote
// receives it).
func BenchmarkDecodeResultInPlace(b *testing.B) {
	const n = 1 << 20
	rng := rand.New(rand.NewPCG(1, 2))
	r := EncodeSignsWire(nil, randomSigns(rng, n, 0.3, 0), CompressNone)
	s := kernels.NewSigns(n)
	for _, inPlace := range []bool{false, true} {
		var p []byte
		if inPlace {
			buf := make([]byte, 1+len(r)+8)
			p = buf[1 : 1+copy(buf[1:], r)]
		} else {
			p = append(make([]byte, 0, len(r)), r...)
		}
		name := "copy"
		if inPlace {
			name = "in-place"
		}
		b.Run(name, func(b *testing.B) {
			b.SetBytes(int64(len(p)))
			for range b.N {
				if err := DecodeSignsWire(s, p); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
