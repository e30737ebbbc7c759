package main

import (
	"fmt"
	"os"
	"path/filepath"
	"runtime/pprof"
	"strings"
)

// profileEnv names a directory where every signsgd process (the launcher
// and each rank it starts, which inherit the variable) writes its CPU
// profile, for `go tool pprof`.
const profileEnv = "SIGNSGD_CPUPROFILE"

// startCPUProfile starts writing this process's CPU profile into dir as
// signsgd-rankN-PID.prof (signsgd-PID.prof for a process that is not a
// rank) and returns the function that ends it. An empty dir profiles
// nothing.
func startCPUProfile(dir string, args []string) (stop func(), err error) {
	if dir == "" {
		return func() {}, nil
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("%s: %w", profileEnv, err)
	}
	name := fmt.Sprintf("signsgd-%d.prof", os.Getpid())
	if r := rankArg(args); r != "" {
		name = fmt.Sprintf("signsgd-rank%s-%d.prof", r, os.Getpid())
	}
	path := filepath.Join(dir, name)
	f, err := os.Create(path)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", profileEnv, err)
	}
	if err := pprof.StartCPUProfile(f); err != nil {
		f.Close()
		os.Remove(path)
		return nil, fmt.Errorf("%s: %s: %w", profileEnv, path, err)
	}
	return func() {
		pprof.StopCPUProfile()
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
