package data

import (
	"errors"
	"fmt"
	"io"
	"sync"
)

// ErrPrefetcherClosed is what Next returns after Close.
var ErrPrefetcherClosed = errors.New("prefetcher closed")

// Prefetcher loads a list of batches from a Source in order on one
// background goroutine, keeping up to depth of them ready ahead of Next.
// Next and Close are meant to be called from one goroutine.
type Prefetcher struct {
	ready  chan prefetched   // loaded batches, in order
	free   chan *prefetchBuf // buffers to reuse
	slots  chan struct{}     // one token per batch loading or loaded but not taken
	done   chan struct{}     // closed by Close
	exited chan struct{}     // closed when the producer returns
	once   sync.Once
	held   *prefetchBuf // the buffer of the batch Next returned last
	err    error        // sticky: io.EOF, a load error or ErrPrefetcherClosed
	ss     int          // values per sample
}

type prefetchBuf struct{ x, y []float32 }

type prefetched struct {
	buf *prefetchBuf
	n   int // samples
	err error
}

// NewPrefetcher starts loading batches[0], batches[1], ... of src for the
// given epoch, each into buffers of batchSize samples (grown for longer
// batches) recycled once Next moves on; depth (at least 1) is how many
// batches may be loading or loaded ahead of the one Next returned last.
func NewPrefetcher(src Source, batches [][]int, batchSize int, epoch int, depth int) *Prefetcher {
	depth = max(depth, 1)
	p := &Prefetcher{
		ready:  make(chan prefetched, depth),
		free:   make(chan *prefetchBuf, depth+1),
		slots:  make(chan struct{}, depth),
		done:   make(chan struct{}),
		exited: make(chan struct{}),
		ss:     SampleSize(src),
	}
	go p.produce(src, batches, max(batchSize, 0), epoch, depth+1)
	return p
}

// produce loads the batches in order into at most maxBufs buffers.
func (p *Prefetcher) produce(src Source, batches [][]int, batchSize, epoch, maxBufs int) {
	defer close(p.exited)
	ss := p.ss
	bufs := 0
	for k, idx := range batches {
		select {
		case p.slots <- struct{}{}:
		case <-p.done:
			return
		}
		var b *prefetchBuf
		select {
		case b = <-p.free:
		default:
			if bufs < maxBufs {
				b = &prefetchBuf{x: make([]float32, batchSize*ss), y: make([]float32, batchSize)}
				bufs++
			} else {
				select {
				case b = <-p.free:
				case <-p.done:
					return
				}
			}
		}
		n := len(idx)
		if len(b.y) < n {
			b.x, b.y = make([]float32, n*ss), make([]float32, n)
		}
		err := src.Batch(b.x[:n*ss], b.y[:n], idx, epoch)
		if err != nil {
			err = fmt.Errorf("batch %d of epoch %d: %w", k, epoch, err)
		}
		select {
		case p.ready <- prefetched{buf: b, n: n, err: err}:
		case <-p.done:
			return
		}
		if err != nil {
			return
		}
	}
	close(p.ready)
}

// Next returns the next batch's samples and targets, valid until the next
// call of Next or Close. After the last batch it returns io.EOF; after a
// load error, that error (wrapped with the batch number) on every call;
// after Close, ErrPrefetcherClosed.
func (p *Prefetcher) Next() (x, y []float32, err error) {
	if p.err != nil {
		return nil, nil, p.err
	}
	select {
	case <-p.done:
		p.err = ErrPrefetcherClosed
		return nil, nil, p.err
	default:
	}
	if p.held != nil {
		p.free <- p.held // never blocks: free holds every buffer
		p.held = nil
	}
	select {
	case <-p.done:
		p.err = ErrPrefetcherClosed
		return nil, nil, p.err
	case r, ok := <-p.ready:
		if !ok {
			p.err = io.EOF
			return nil, nil, p.err
		}
		<-p.slots
		if r.err != nil {
			p.err = r.err
			return nil, nil, p.err
		}
		p.held = r.buf
		return r.buf.x[:r.n*p.ss], r.buf.y[:r.n], nil
	}
}

// Close stops the background loading (after the batch being loaded, if
// any) and waits for its goroutine to end; later calls do nothing.
func (p *Prefetcher) Close() {
	p.once.Do(func() { close(p.done) })
	<-p.exited
}
