package collective

import (
	"math/bits"
	"sync"

	"signsgd/kernels"
)

// signsPool recycles the sign vectors the vote collectives decode their
// peers' votes into, so a step does not allocate M vectors of d signs.
var signsPool sync.Pool

// getSigns returns a vector of n signs whose contents are undefined (the
// caller overwrites all of it).
func getSigns(n int) kernels.Signs {
	for range 4 {
		v, ok := signsPool.Get().(*kernels.Signs)
		if !ok {
			break
		}
		if v.N == n {
			return *v
		}
	}
	return kernels.NewSigns(n)
}

// putSigns hands vectors from getSigns back once nothing refers to them.
func putSigns(vs []kernels.Signs) {
	for i := range vs {
		v := vs[i]
		signsPool.Put(&v)
	}
}

// slicePools recycles slices of T, one pool per power-of-two capacity so
// that a slice taken always fits. The vote encodes into, receives into and
// decodes through such buffers (bytesPool, wordsPool): fresh multi-megabyte
// buffers are not free, the runtime zeroes them and the kernel faults their
// pages in, which measured here at 10-40 ms a step for a ResNet-18 vote
// (d = 11.7M) against well under a millisecond of real work.
type slicePools[T any] [64]sync.Pool

var (
	bytesPool slicePools[byte]
	wordsPool slicePools[uint64]
)

// sizeClass is the pool of a request for n elements: capacity 1<<class.
func sizeClass(n int) int { return bits.Len(uint(max(n, 1) - 1)) }

// get returns a slice of length n with undefined contents.
func (p *slicePools[T]) get(n int) []T {
	c := sizeClass(n)
	if b, ok := p[c].Get().(*[]T); ok {
		return (*b)[:n]
	}
	return make([]T, n, 1<<c)
}

// put hands a slice back once nothing refers to it. It goes to the largest
// class its capacity covers.
func (p *slicePools[T]) put(b []T) {
	if cap(b) > 0 {
		p[bits.Len(uint(cap(b)))-1].Put(&b)
	}
}

func getBytes(n int) []byte   { return bytesPool.get(n) }
func putBytes(b []byte)       { bytesPool.put(b) }
func getWords(n int) []uint64 { return wordsPool.get(n) }
func putWords(w []uint64)     { wordsPool.put(w) }

// encodeVote is EncodeSignsWire of s, with the vote's compression, into a
// pooled buffer; hand it back with putBytes once sent.
func encodeVote(s kernels.Signs) []byte {
	return EncodeSignsWire(getBytes(MaxSignsWireLen(s.N))[:0], s, voteCompression)
}
