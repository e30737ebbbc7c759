package data

import (
	"errors"
	"io"
	"runtime"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// prefetchTestSource counts Batch calls and fails on batch number failAt.
type prefetchTestSource struct {
	Source
	calls  atomic.Int64
	failAt int64
}

func (c *prefetchTestSource) Batch(x, y []float32, idx []int, epoch int) error {
	if c.calls.Add(1)-1 == c.failAt {
		return errors.New("injected failure")
	}
	return c.Source.Batch(x, y, idx, epoch)
}

func TestPrefetchMatchesBatch(t *testing.T) {
	root := makeImageTree(t)
	tr := openTree(t, root, true)
	syn := SyntheticImages(23, 5, 3, 6, 4, 9)
	for _, src := range []Source{tr, syn} {
		for _, depth := range []int{0, 1, 3} {
			const epoch = 2
			batches := Batches(src.Len(), 2, 11, 0, epoch)
			p := NewPrefetcher(src, batches, 2, epoch, depth)
			seen := map[*float32]bool{}
			for k, idx := range batches {
				x, y, err := p.Next()
				if err != nil {
					t.Fatal(err)
				}
				wx := make([]float32, len(idx)*SampleSize(src))
				wy := make([]float32, len(idx))
				if err := src.Batch(wx, wy, idx, epoch); err != nil {
					t.Fatal(err)
				}
				if !slices.Equal(x, wx) || !slices.Equal(y, wy) {
					t.Fatalf("%T depth %d: batch %d differs from Batch", src, depth, k)
				}
				seen[&x[0]] = true
			}
			if len(seen) > max(depth, 1)+1 {
				t.Fatalf("depth %d: %d buffers", depth, len(seen))
			}
			for range 2 {
				if _, _, err := p.Next(); err != io.EOF {
					t.Fatalf("after the last batch: %v, want EOF", err)
				}
			}
			p.Close()
			p.Close()
		}
	}
}

func TestPrefetchDepthCloseAndErrors(t *testing.T) {
	before := runtime.NumGoroutine()
	src := &prefetchTestSource{Source: SyntheticImages(100, 10, 3, 8, 8, 1), failAt: -1}
	batches := Batches(100, 5, 1, 0, 0)
	const depth = 3
	p := NewPrefetcher(src, batches, 5, 0, depth)
	time.Sleep(50 * time.Millisecond)
	if n := src.calls.Load(); n > depth {
		t.Fatalf("%d batches loaded before the first Next, want at most %d", n, depth)
	}
	for taken := 1; taken <= 2; taken++ {
		if _, _, err := p.Next(); err != nil {
			t.Fatal(err)
		}
		time.Sleep(20 * time.Millisecond)
		if n := src.calls.Load(); n > int64(taken+depth) {
			t.Fatalf("%d batches loaded after %d Next, want at most %d", n, taken, taken+depth)
		}
	}
	p.Close()
	if _, _, err := p.Next(); !errors.Is(err, ErrPrefetcherClosed) {
		t.Fatalf("Next after Close: %v", err)
	}
	// a prefetcher closed before any Next
	NewPrefetcher(src, batches, 5, 0, 2).Close()

	// a failing batch: its error, wrapped with the batch number, then again
	src2 := &prefetchTestSource{Source: SyntheticImages(100, 10, 3, 8, 8, 1), failAt: 2}
	p = NewPrefetcher(src2, batches, 5, 0, 2)
	for k := range 2 {
		if _, _, err := p.Next(); err != nil {
			t.Fatalf("batch %d: %v", k, err)
		}
	}
	for range 2 {
		if _, _, err := p.Next(); err == nil || !strings.Contains(err.Error(), "batch 2 of epoch 0: injected failure") {
			t.Fatalf("failing batch: %v", err)
		}
	}
	p.Close()

	deadline := time.Now().Add(2 * time.Second)
	for runtime.NumGoroutine() > before {
		if time.Now().After(deadline) {
			t.Fatalf("%d goroutines, %d before", runtime.NumGoroutine(), before)
		}
		time.Sleep(5 * time.Millisecond)
	}
}
