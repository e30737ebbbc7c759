//go:build unix

package collective

import "syscall"

// processCPU returns the CPU time this process has used so far (user and
// system, every thread), in seconds, and whether it could be read.
func processCPU() (float64, bool) {
	var u syscall.Rusage
	if syscall.Getrusage(syscall.RUSAGE_SELF, &u) != nil {
		return 0, false
	}
	return float64(u.Utime.Nano()+u.Stime.Nano()) / 1e9, true
}
