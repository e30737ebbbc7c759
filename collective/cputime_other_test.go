//go:build !unix

package collective

// processCPU is not measured here.
func processCPU() (float64, bool) { return 0, false }
