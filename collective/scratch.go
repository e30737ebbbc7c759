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

// bytesPools and wordsPools recycle the buffers a vote encodes into,
// receives into and decodes through, one pool per power-of-two capacity so
// that a buffer taken always fits. Fresh multi-megabyte buffers are not
// free: the runtime zeroes them and the kernel faults their pages in, which
// measured here at 10-40 ms a step for a ResNet-18 vote (d = 11.7M)
// against well under a millisecond of real work.
var bytesPools, wordsPools [64]sync.Pool

// sizeClass is the pool of a request for n elements: capacity 1<<class.
func sizeClass(n int) int { return bits.Len(uint(max(n, 1) - 1)) }

// encodeVote is EncodeSignsWire of s, with the vote's compression, into a
// pooled buffer; hand it back with putBytes once sent.
func encodeVote(s kernels.Signs) []byte {
	return EncodeSignsWire(getBytes(MaxSignsWireLen(s.N))[:0], s, voteCompression)
}

// getBytes returns a buffer of length n with undefined contents.
func getBytes(n int) []byte {
	c := sizeClass(n)
	if b, ok := bytesPools[c].Get().(*[]byte); ok {
		return (*b)[:n]
	}
	return make([]byte, n, 1<<c)
}

// putBytes hands a buffer back once nothing refers to it. It goes to the
// largest class its capacity covers.
func putBytes(b []byte) {
	if cap(b) > 0 {
		bytesPools[bits.Len(uint(cap(b)))-1].Put(&b)
	}
}

// getWords returns n words with undefined contents.
func getWords(n int) []uint64 {
	c := sizeClass(n)
	if w, ok := wordsPools[c].Get().(*[]uint64); ok {
		return (*w)[:n]
	}
	return make([]uint64, n, 1<<c)
}

// putWords hands words back once nothing refers to them.
func putWords(w []uint64) {
	if cap(w) > 0 {
		wordsPools[bits.Len(uint(cap(w)))-1].Put(&w)
	}
}
