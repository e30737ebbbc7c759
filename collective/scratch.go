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
// decodes through such buffers (bytesPool, wordsPool), and the transports
// queue frames nobody waits for yet in them: fresh multi-megabyte buffers
// are not free, the runtime zeroes them and the kernel faults their pages
// in, which measured here at 10-40 ms a step for a ResNet-18 vote (d =
// 11.7M) against well under a millisecond of real work. A slice travels
// through a sync.Pool in a box (*[]T) that is itself recycled, so neither
// get nor put allocates once the pools are warm.
type slicePools[T any] struct {
	classes [64]sync.Pool // *[]T holding a slice of capacity 1<<class
	boxes   sync.Pool     // empty *[]T
}

var (
	bytesPool slicePools[byte]
	wordsPool slicePools[uint64]
)

// sizeClass is the pool of a request for n elements: capacity 1<<class.
func sizeClass(n int) int { return bits.Len(uint(max(n, 1) - 1)) }

// get returns a slice of length n with undefined contents.
func (p *slicePools[T]) get(n int) []T {
	c := sizeClass(n)
	if bp, ok := p.classes[c].Get().(*[]T); ok {
		b := *bp
		*bp = nil
		p.boxes.Put(bp)
		return b[:n]
	}
	return make([]T, n, 1<<c)
}

// put hands a slice back once nothing refers to it. It goes to the largest
// class its capacity covers.
func (p *slicePools[T]) put(b []T) {
	if cap(b) == 0 {
		return
	}
	bp, _ := p.boxes.Get().(*[]T)
	if bp == nil {
		bp = new([]T)
	}
	*bp = b[:0]
	p.classes[bits.Len(uint(cap(b)))-1].Put(bp)
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

// engine is a Comm of this package (NewMemWorld, DialTCP): its collectives
// run on the core's posted receives, send queues and scratch. Any other
// Comm gets the plain forms, which use the Comm interface only.
type engine interface {
	Comm
	base() *core
}

// coreOf returns c's core, or nil for a Comm of another package.
func coreOf(c Comm) *core {
	if e, ok := c.(engine); ok {
		return e.base()
	}
	return nil
}

// scratch is what one Comm's collectives keep between calls, so that an
// exchange in the steady state allocates nothing: the receives they post,
// the fan-out of the server vote, and the vote's buffers. Collectives on
// one Comm run one at a time (every rank calls them in the same order), so
// one scratch per Comm is enough.
type scratch struct {
	reqs []recvReq
	fan  fanout
}

// scratchOf returns c's scratch (a fresh one for a Comm of another
// package).
func scratchOf(c Comm) *scratch {
	if co := coreOf(c); co != nil {
		return &co.sc
	}
	return new(scratch)
}
