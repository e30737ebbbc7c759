package kernels

import (
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// runParallel runs every share exactly once and returns only after all
// have finished (their writes visible), for back-to-back regions, regions
// after the workers have parked, nested regions and regions started from
// several goroutines at once.
func TestRunParallel(t *testing.T) {
	check := func(t *testing.T, n int, nested bool) {
		hits := make([]int32, n)
		runParallel(n, func(i int) {
			if nested {
				inner := make([]int32, 3)
				runParallel(3, func(j int) { inner[j]++ })
				if inner[0] != 1 || inner[1] != 1 || inner[2] != 1 {
					t.Errorf("nested region: shares ran %v times", inner)
				}
			}
			hits[i]++ // plain writes: runParallel must order them before it returns
		})
		for i, h := range hits {
			if h != 1 {
				t.Fatalf("%d shares: share %d ran %d times", n, i, h)
			}
		}
	}
	for round := range 200 {
		check(t, 1+round%4, round%7 == 0)
	}
	time.Sleep(3 * poolSpin) // the workers park
	check(t, 3, false)
	var wg sync.WaitGroup
	var total atomic.Int64
	for g := range 4 {
		wg.Go(func() {
			for r := range 50 {
				n := 1 + (g+r)%3
				var sum atomic.Int64
				runParallel(n, func(i int) { sum.Add(int64(i + 1)) })
				if got, want := sum.Load(), int64(n*(n+1)/2); got != want {
					t.Errorf("goroutine %d region %d: shares summed %d, want %d", g, r, got, want)
				}
				total.Add(1)
			}
		})
	}
	wg.Wait()
	if total.Load() != 200 {
		t.Fatalf("%d of 200 concurrent regions returned", total.Load())
	}
	runParallel(0, func(int) { t.Fatal("a region of no shares ran one") })
}
