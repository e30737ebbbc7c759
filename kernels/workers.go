package kernels

import (
	"runtime"
	"sync"
	"sync/atomic"
	"time"
)

// The kernels' parallel regions run on a pool of worker goroutines that
// spin for a while after each region before they park. A ResNet-50 step at
// batch 8 has hundreds of regions (every split SGEMM, batch norm, im2col,
// Winograd stage), most of a few milliseconds, with serial work between
// them; starting a new goroutine for each had the parked second thread
// start its share late and left both threads idle for part of the step. A
// worker that is still spinning when the next region starts takes its share
// at once. job/nn's BenchmarkStep measures the effect on a whole step.
//
// The spinning is bounded (poolSpin, and the spinner yields to other
// goroutines every poolYieldEvery checks), and a job only has workers when
// it gives a rank more than one thread, so a node running one rank per core
// spins nothing.

// poolSpin is how long a worker waits for the next region before parking.
const poolSpin = 500 * time.Microsecond

// poolYieldEvery is how many checks a spinning goroutine makes between
// yields of its processor (runtime.Gosched).
const poolYieldEvery = 64

// poolTask is one parallel region.
type poolTask struct {
	body    func(i int)
	pending atomic.Int32 // shares not yet finished
}

type poolWorker struct {
	task     atomic.Pointer[poolShare]
	sleeping atomic.Bool
	wake     chan struct{} // one token: a wake-up for a parked worker
}

// poolShare is share i of a task.
type poolShare struct {
	t *poolTask
	i int
}

var workerPool struct {
	mu      sync.Mutex // held by the goroutine running a region on the pool
	workers []*poolWorker
}

// runParallel runs body(0), ..., body(t-1) concurrently and returns when
// all have returned: body(0) on the calling goroutine, the others on the
// pool's workers. A region started while another holds the pool (a nested
// or concurrent one) runs its shares on new goroutines instead.
func runParallel(t int, body func(i int)) {
	if t <= 1 {
		if t == 1 {
			body(0)
		}
		return
	}
	if !workerPool.mu.TryLock() {
		var wg sync.WaitGroup
		for i := 1; i < t; i++ {
			wg.Go(func() { body(i) })
		}
		body(0)
		wg.Wait()
		return
	}
	defer workerPool.mu.Unlock()
	for len(workerPool.workers) < t-1 {
		w := &poolWorker{wake: make(chan struct{}, 1)}
		workerPool.workers = append(workerPool.workers, w)
		go w.loop()
	}
	task := &poolTask{body: body}
	task.pending.Store(int32(t - 1))
	for i := 1; i < t; i++ {
		w := workerPool.workers[i-1]
		w.task.Store(&poolShare{t: task, i: i})
		if w.sleeping.Load() {
			select {
			case w.wake <- struct{}{}:
			default:
			}
		}
	}
	body(0)
	for n := 1; task.pending.Load() != 0; n++ {
		if n%poolYieldEvery == 0 {
			runtime.Gosched()
		}
	}
}

// loop runs shares as they come, spinning poolSpin after each before it
// parks.
func (w *poolWorker) loop() {
	for {
		s := w.next()
		s.t.body(s.i)
		s.t.pending.Add(-1)
	}
}

// next waits for the worker's next share: spinning, then parked. The
// parking side stores sleeping before its last look at task, and the
// dispatcher stores task before it looks at sleeping, so one of the two
// sees the other (at worst a stale wake token makes a later park return
// early, and the worker looks again).
func (w *poolWorker) next() *poolShare {
	for {
		deadline := time.Now().Add(poolSpin)
		for n := 1; ; n++ {
			if s := w.task.Swap(nil); s != nil {
				return s
			}
			if n%poolYieldEvery == 0 {
				if time.Now().After(deadline) {
					break
				}
				runtime.Gosched()
			}
		}
		w.sleeping.Store(true)
		if s := w.task.Swap(nil); s != nil {
			w.sleeping.Store(false)
			return s
		}
		<-w.wake
		w.sleeping.Store(false)
	}
}
