package job

import (
	"math"
	"runtime"
	"testing"

	"signsgd/data"
	"signsgd/job/nn"
	"signsgd/kernels"
)

// TestWideEvalSameMetrics: the last evaluation, which rank 0 runs on all
// the cores the job holds on its node (wideThreads), gives bit for bit the
// metrics of an evaluation on the rank's own one thread, and wideThreads
// gives the rank its own share back.
func TestWideEvalSameMetrics(t *testing.T) {
	procs := runtime.GOMAXPROCS(0)
	kernels.SetThreads(1)
	kernels.SetBLASThreads(1)
	defer kernels.SetThreads(0)
	defer kernels.SetBLASThreads(2)
	src := data.SyntheticImages(40, 10, 1, 28, 28, 7)
	net, err := nn.Build("mnistnet", src.Shape(), src.NumClasses(), 0, 7)
	if err != nil {
		t.Fatal(err)
	}
	loss1, acc1, _, err := evaluate(net, src, 16, 0)
	if err != nil {
		t.Fatal(err)
	}
	restore := wideThreads(4)
	if kernels.Threads() != 4 || runtime.GOMAXPROCS(0) != 4 {
		t.Errorf("wideThreads(4): %d kernel threads, GOMAXPROCS %d", kernels.Threads(), runtime.GOMAXPROCS(0))
	}
	loss4, acc4, _, err := evaluate(net, src, 16, 0)
	restore()
	if err != nil {
		t.Fatal(err)
	}
	if math.Float64bits(loss1) != math.Float64bits(loss4) || acc1 != acc4 {
		t.Errorf("evaluation on 1 thread: loss %v, accuracy %v; on 4: %v, %v", loss1, acc1, loss4, acc4)
	}
	if kernels.Threads() != 1 || kernels.BLASThreads() != 1 || runtime.GOMAXPROCS(0) != procs {
		t.Errorf("after wideThreads: %d kernel threads, %d BLAS threads, GOMAXPROCS %d (was 1, 1, %d)",
			kernels.Threads(), kernels.BLASThreads(), runtime.GOMAXPROCS(0), procs)
	}
}
