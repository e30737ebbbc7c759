package main

import (
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime/pprof"
	"runtime/trace"
	"strings"
)

// profileEnv names a directory where every signsgd process (the launcher
// and each rank it starts, which inherit the variable) writes its CPU
// profile, for `go tool pprof`; traceEnv likewise its execution trace,
// for `go tool trace` (where a rank waits, not only where it computes).
const (
	profileEnv = "SIGNSGD_CPUPROFILE"
	traceEnv   = "SIGNSGD_TRACE"
)

// startCPUProfile starts writing this process's CPU profile into dir as
// signsgd-rankN-PID.prof (signsgd-PID.prof for a process that is not a
// rank) and returns the function that ends it. An empty dir profiles
// nothing.
func startCPUProfile(dir string, args []string) (stop func(), err error) {
	return startRecording(profileEnv, dir, ".prof", args, pprof.StartCPUProfile, pprof.StopCPUProfile)
}

// startTrace is startCPUProfile for the execution trace (.trace files).
func startTrace(dir string, args []string) (stop func(), err error) {
	return startRecording(traceEnv, dir, ".trace", args, trace.Start, trace.Stop)
}

// startRecording creates dir/signsgd-rankN-PID<ext> (signsgd-PID<ext> for
// a process that is not a rank) and starts a recorder writing into it;
// errors name the variable env that asked for it.
func startRecording(env, dir, ext string, args []string, start func(io.Writer) error, end func()) (stop func(), err error) {
	if dir == "" {
		return func() {}, nil
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("%s: %w", env, err)
	}
	name := fmt.Sprintf("signsgd-%d%s", os.Getpid(), ext)
	if r := rankArg(args); r != "" {
		name = fmt.Sprintf("signsgd-rank%s-%d%s", r, os.Getpid(), ext)
	}
	path := filepath.Join(dir, name)
	f, err := os.Create(path)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", env, err)
	}
	if err := start(f); err != nil {
		f.Close()
		os.Remove(path)
		return nil, fmt.Errorf("%s: %s: %w", env, path, err)
	}
	return func() {
		end()
		f.Close()
	}, nil
}

// rankArg is the value of the rank flag among args, in any of the forms
// package flag takes (-rank N, --rank N, -rank=N, --rank=N); "" when
// absent.
func rankArg(args []string) string {
	for i, a := range args {
		if a == "--" || !strings.HasPrefix(a, "-") {
			continue
		}
		name, v, hasValue := strings.Cut(strings.TrimPrefix(strings.TrimPrefix(a, "-"), "-"), "=")
		if name != "rank" {
			continue
		}
		if hasValue {
			return v
		}
		if i+1 < len(args) {
			return args[i+1]
		}
	}
	return ""
}
