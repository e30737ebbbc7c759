package kernels

import (
	"runtime"
	"sync/atomic"
)

// threads is how many goroutines a large kernel may use; 0 means GOMAXPROCS.
var threads atomic.Int32

// SetThreads sets how many goroutines large kernels (Vote, SumFloat32) split
// their work across; n <= 0 means runtime.GOMAXPROCS(0). A job with several
// ranks on one node sets it to cores / ranks so the node is not
// oversubscribed.
func SetThreads(n int) { threads.Store(int32(max(n, 0))) }

// Threads returns the current setting resolved to a count.
func Threads() int {
	if n := int(threads.Load()); n > 0 {
		return n
	}
	return runtime.GOMAXPROCS(0)
}

// parallelFor runs body over [0, n) split into at most Threads() contiguous
// ranges of at least grain items each.
func parallelFor(n, grain int, body func(lo, hi int)) {
	t := min(Threads(), n/grain)
	if t <= 1 {
		body(0, n)
		return
	}
	chunk := (n + t - 1) / t
	runParallel((n+chunk-1)/chunk, func(i int) { body(i*chunk, min((i+1)*chunk, n)) })
}

// parallelSlots runs body over [0, n) split into at most slots contiguous
// ranges, each on its own goroutine with its own slot number in [0,
// slots), so that each can use scratch of its own.
func parallelSlots(n, slots int, body func(slot, lo, hi int)) {
	t := min(slots, n)
	if t <= 1 {
		body(0, 0, n)
		return
	}
	chunk := (n + t - 1) / t
	runParallel((n+chunk-1)/chunk, func(i int) { body(i, i*chunk, min((i+1)*chunk, n)) })
}
