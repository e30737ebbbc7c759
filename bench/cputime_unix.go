//go:build unix

package bench

import (
	"math"
	"syscall"
)

// ProcessCPU returns the CPU time this process has used so far (user and
// system, every thread), in seconds; NaN where it cannot be read.
func ProcessCPU() float64 {
	var u syscall.Rusage
	if syscall.Getrusage(syscall.RUSAGE_SELF, &u) != nil {
		return math.NaN()
	}
	return float64(u.Utime.Nano()+u.Stime.Nano()) / 1e9
}
