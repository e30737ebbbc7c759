package collective

import (
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

// bytesPool and wordsPool recycle the buffers a vote encodes into, receives
// into and decodes through. Fresh multi-megabyte buffers are not free: the
// runtime zeroes them and the kernel faults their pages in, which measured
// here at 10-40 ms a step for a ResNet-18 vote (d = 11.7M) against well
// under a millisecond of real work.
var bytesPool, wordsPool sync.Pool

// getBytes returns a buffer of length n with undefined contents.
func getBytes(n int) []byte {
	if b, ok := bytesPool.Get().(*[]byte); ok && cap(*b) >= n {
		return (*b)[:n]
	}
	return make([]byte, n)
}

// putBytes hands a buffer back once nothing refers to it.
func putBytes(b []byte) {
	if cap(b) > 0 {
		bytesPool.Put(&b)
	}
}

// getWords returns n words with undefined contents.
func getWords(n int) []uint64 {
	if w, ok := wordsPool.Get().(*[]uint64); ok && cap(*w) >= n {
		return (*w)[:n]
	}
	return make([]uint64, n)
}

// putWords hands words back once nothing refers to them.
func putWords(w []uint64) {
	if cap(w) > 0 {
		wordsPool.Put(&w)
	}
}
