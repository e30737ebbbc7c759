package kernels

import (
	"os"
	"syscall"

	"golang.org/x/sys/cpu"
)

// Debian's OpenBLAS (0.3.21) picks its kernels once, when the library
// loads, from the CPU models it knows; on an Intel model newer than it
// knows (the Xeons of family 6 model 207 seen here) it falls back to
// Prescott, SSE3 kernels on a CPU with AVX-512. OPENBLAS_CORETYPE,
// read at load, is the only way to choose, so ReexecForBLASCore runs the
// program again with it set.

// blasCoreEnv and blasCoreMarkEnv are the variables: OpenBLAS's own, and
// ours recording the core OpenBLAS had detected when we set the first.
const (
	blasCoreEnv     = "OPENBLAS_CORETYPE"
	blasCoreMarkEnv = "SIGNSGD_OPENBLAS_DETECTED"
)

// BLASCoreFor is the OpenBLAS core to ask for on a CPU with these
// features when OpenBLAS detected core detected: "" to keep its choice.
// Only Prescott, OpenBLAS's fallback for an x86-64 CPU it does not know,
// is replaced: by SkylakeX with AVX-512 (F, BW, DQ, VL), by Haswell with
// AVX2 and FMA. A core OpenBLAS recognised is its own business (and the
// calibration table's: the chooser weighs it against our kernels).
func BLASCoreFor(detected string, avx512, avx2fma bool) string {
	if detected != "Prescott" {
		return ""
	}
	switch {
	case avx512:
		return "SkylakeX"
	case avx2fma:
		return "Haswell"
	}
	return ""
}

// WantedBLASCore is BLASCoreFor on this CPU and the core this process's
// OpenBLAS runs.
func WantedBLASCore() string {
	x := cpu.X86
	return BLASCoreFor(BLASCore(), x.HasAVX512F && x.HasAVX512BW && x.HasAVX512DQ && x.HasAVX512VL, x.HasAVX2 && x.HasFMA)
}

// ReexecForBLASCore re-executes this program with OPENBLAS_CORETYPE set
// to BLASCoreFor's core, when there is one and neither the user nor an
// earlier re-execution set the variable; it returns only when it did not
// (or the exec failed, and the program goes on with OpenBLAS's choice).
// Every rank of a job on one machine makes the same decision, and the
// ranks a launcher starts inherit the variable, so a job's kernels stay
// the same on every rank and from run to run. Call it first in main (or
// TestMain), before any goroutine has work.
func ReexecForBLASCore() {
	if _, set := os.LookupEnv(blasCoreEnv); set {
		return
	}
	if _, set := os.LookupEnv(blasCoreMarkEnv); set {
		return
	}
	core := WantedBLASCore()
	if core == "" {
		return
	}
	exe, err := os.Executable()
	if err != nil {
		return
	}
	env := append(os.Environ(), blasCoreEnv+"="+core, blasCoreMarkEnv+"="+BLASCore())
	syscall.Exec(exe, os.Args, env) // returns only on failure
}

// blasCoreNote says, for the kernel report, who chose OpenBLAS's core.
func blasCoreNote() string {
	if d := os.Getenv(blasCoreMarkEnv); d != "" && os.Getenv(blasCoreEnv) == BLASCore() {
		return ", OPENBLAS_CORETYPE set by signsgd: OpenBLAS took this CPU for " + d
	}
	if _, set := os.LookupEnv(blasCoreEnv); set {
		return ", OPENBLAS_CORETYPE set by the user"
	}
	return ""
}
