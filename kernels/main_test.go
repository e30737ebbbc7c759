package kernels

import (
	"os"
	"testing"
)

// TestMain runs the tests and benchmarks on the OpenBLAS core the program
// itself runs (ReexecForBLASCore), so they measure and check what
// a run computes.
func TestMain(m *testing.M) {
	ReexecForBLASCore()
	os.Exit(m.Run())
}
