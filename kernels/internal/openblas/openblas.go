package openblas

// #cgo LDFLAGS: -lopenblas
// void openblas_set_num_threads(int num_threads);
// int openblas_get_num_threads(void);
// char *openblas_get_corename(void);
import "C"

// defaultThreads is OpenBLAS's thread count before init set it to 1.
var defaultThreads int

// init makes OpenBLAS single-threaded: package kernels splits large
// products across its own goroutines, each calling OpenBLAS on its own
// thread, so no idle OpenBLAS worker spins (sched_yield) on a core that the
// Go code between two products needs.
func init() {
	defaultThreads = int(C.openblas_get_num_threads())
	C.openblas_set_num_threads(1)
}

// CoreName returns the name of the core whose kernels OpenBLAS uses (its
// own detection, or OPENBLAS_CORETYPE).
func CoreName() string { return C.GoString(C.openblas_get_corename()) }

// DefaultThreads returns the thread count OpenBLAS chose at start
// (OPENBLAS_NUM_THREADS, or the cores), before init made it 1.
func DefaultThreads() int { return max(defaultThreads, 1) }

// SetThreads sets OpenBLAS's own thread count (n >= 1).
func SetThreads(n int) { C.openblas_set_num_threads(C.int(max(n, 1))) }

// Threads returns OpenBLAS's own thread count.
func Threads() int { return int(C.openblas_get_num_threads()) }
