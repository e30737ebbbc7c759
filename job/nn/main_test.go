package nn

import (
	"os"
	"testing"

	"signsgd/kernels"
)

// TestMain runs the tests and benchmarks on the OpenBLAS core the program
// itself runs (kernels.ReexecForBLASCore), so they measure and check what
// a run computes.
func TestMain(m *testing.M) {
	kernels.ReexecForBLASCore()
	os.Exit(m.Run())
}
