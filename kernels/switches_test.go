package kernels

import "testing"

// The package's test switches: each set function sets one of the knobs
// that exist for tests and returns the function that puts back the value
// it replaced (defer setUseAsm(false)()), so no test leaves a knob changed
// for the next. A loop that compares settings sets each inside a function
// of its own, so the deferred restore runs every iteration.

// setSwitch sets *p to v and returns the function that restores *p.
func setSwitch[T any](p *T, v T) (restore func()) {
	old := *p
	*p = v
	return func() { *p = old }
}

// setUseAsm false takes the portable Go loops in place of every assembly
// kernel.
func setUseAsm(on bool) (restore func()) { return setSwitch(&useAsm, on) }

// setUseAVX512 false takes the AVX2 vote in place of the AVX-512 one.
func setUseAVX512(on bool) (restore func()) { return setSwitch(&useAVX512, on) }

// setUseWinograd false takes every 3x3 convolution through im2col.
func setUseWinograd(on bool) (restore func()) { return setSwitch(&useWinograd, on) }

// setWgMinTiles sets the fewest tiles for which the default rule takes the
// Winograd path (1: every shape it can take, however small, where no table
// entry or forcing decides otherwise).
func setWgMinTiles(n int) (restore func()) { return setSwitch(&wgMinTiles, n) }

// setColsBudget is how many values of cols a block of a channel-major
// convolution aims at (1: every block one image).
func setColsBudget(n int) (restore func()) { return setSwitch(&colsBudget, n) }

// setRobustChunk is how many coordinates the robust aggregators sum per
// chunk.
func setRobustChunk(n int) (restore func()) { return setSwitch(&robustChunk, n) }

// withKernel is setUseAsm for a benchmark's kernel name: "go" the portable
// loops, anything else the assembly.
func withKernel(kernel string) (restore func()) { return setUseAsm(kernel != "go") }

// oneThreadKernels runs body as sub-benchmark name, then as name/kernel=go
// with the portable loops, each on one thread (a rank's share of a
// machine): an elementwise kernel's assembly against its Go loop.
func oneThreadKernels(b *testing.B, name string, body func(b *testing.B)) {
	for _, kernel := range []string{"", "go"} {
		sub := name
		if kernel != "" {
			sub += "/kernel=" + kernel
		}
		b.Run(sub, func(b *testing.B) {
			defer withKernel(kernel)()
			SetThreads(1)
			defer SetThreads(0)
			body(b)
		})
	}
}
