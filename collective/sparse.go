package collective

import "sync/atomic"

// sparseChunk is the number of entries a sparse table makes at once.
const sparseChunk = 64

// sparse is a table of *T indexed by rank whose entries are made on first
// use, a chunk of sparseChunk slots at a time. A rank's inboxes, send
// links and send queues are sparse tables: a rank of a world of M ranks
// holds slots for the chunks of the peers it talks to (two neighbours in a
// ring, rank 0 in the server topology) plus M/sparseChunk chunk pointers,
// not M entries, so 16,384 in-memory ranks do not need 16,384^2 inboxes.
// Safe for concurrent use; an entry, once made, never changes.
type sparse[T any] struct {
	chunks []atomic.Pointer[[sparseChunk]atomic.Pointer[T]]
}

func newSparse[T any](n int) sparse[T] {
	return sparse[T]{chunks: make([]atomic.Pointer[[sparseChunk]atomic.Pointer[T]], (n+sparseChunk-1)/sparseChunk)}
}

// get returns entry i, made by mk if it is the first use (when two
// goroutines race, one's entry wins and the other's is dropped).
func (s *sparse[T]) get(i int, mk func() *T) *T {
	c := s.chunks[i/sparseChunk].Load()
	if c == nil {
		s.chunks[i/sparseChunk].CompareAndSwap(nil, new([sparseChunk]atomic.Pointer[T]))
		c = s.chunks[i/sparseChunk].Load()
	}
	p := &c[i%sparseChunk]
	if v := p.Load(); v != nil {
		return v
	}
	p.CompareAndSwap(nil, mk())
	return p.Load()
}

// peek returns entry i, or nil if it was never made.
func (s *sparse[T]) peek(i int) *T {
	c := s.chunks[i/sparseChunk].Load()
	if c == nil {
		return nil
	}
	return c[i%sparseChunk].Load()
}

// each calls f for every entry made so far, in index order.
func (s *sparse[T]) each(f func(i int, v *T)) {
	for k := range s.chunks {
		c := s.chunks[k].Load()
		if c == nil {
			continue
		}
		for j := range c {
			if v := c[j].Load(); v != nil {
				f(k*sparseChunk+j, v)
			}
		}
	}
}
