package kernels

import "fmt"

// ApplySignStep updates x <- x - lr*(sign + wd*x) in place, reading the
// ternary sign of every coordinate straight from the bit planes of s.
// Words whose signs are all zero are skipped when wd is zero. Whole words
// go through AVX-512 where the CPU has it, split across Threads()
// goroutines when large.
//
// Reference: ApplySignStepNaive (the same float32 operations per coordinate,
// so the two agree bit for bit on finite parameters; the naive step does
// not skip, so it turns an infinite parameter with a zero sign into NaN).
func ApplySignStep(x []float32, s Signs, lr, wd float32) {
	s.check("ApplySignStep")
	if len(x) != s.N {
		panic(fmt.Sprintf("kernels: ApplySignStep: %d parameters, %d signs", len(x), s.N))
	}
	full := len(x) / 64
	parallelFor(full, signGrain, func(lo, hi int) {
		if haveSignStepAsm() {
			applySignStepFast(x, s, lr, wd, lo, hi)
		} else {
			applySignStepWords(x, s, lr, wd, lo, hi)
		}
	})
	applySignStepWords(x, s, lr, wd, full, len(s.NZ))
}

// applySignStepWords steps words lo..hi-1 (the last may be partial): the
// portable kernel.
func applySignStepWords(x []float32, s Signs, lr, wd float32, lo, hi int) {
	for w := lo; w < hi; w++ {
		nz := s.NZ[w]
		if nz == 0 && wd == 0 {
			continue
		}
		neg := s.Neg[w]
		blk := x[w*64 : min(w*64+64, len(x))]
		for j := range blk {
			// +1, -1 or 0 from the two bits (Neg is a subset of NZ).
			sg := float32(int32(nz>>uint(j)&1) - 2*int32(neg>>uint(j)&1))
			blk[j] = blk[j] - float32(lr*float32(sg+float32(wd*blk[j])))
		}
	}
}

// ApplySignStepNaive is the reference for ApplySignStep.
func ApplySignStepNaive(x []float32, s Signs, lr, wd float32) {
	for i := range x {
		sg := float32(s.At(i))
		x[i] = x[i] - float32(lr*float32(sg+float32(wd*x[i])))
	}
}

// ApplyGradStep updates x <- x - lr*(g + wd*x) in place: plain SGD's step.
func ApplyGradStep(x, g []float32, lr, wd float32) {
	if len(x) != len(g) {
		panic(fmt.Sprintf("kernels: ApplyGradStep: %d parameters, %d gradients", len(x), len(g)))
	}
	g = g[:len(x)]
	for i, v := range g {
		x[i] = x[i] - float32(lr*float32(v+float32(wd*x[i])))
	}
}

// Momentum updates v <- (1-beta)*g + beta*v in place (SIGNUM's worker
// momentum; beta = 0 copies g).
func Momentum(v, g []float32, beta float32) {
	if len(v) != len(g) {
		panic(fmt.Sprintf("kernels: Momentum: %d momenta, %d gradients", len(v), len(g)))
	}
	momentumRange(v, g, beta)
}

// momentumRange is Momentum without the check.
func momentumRange(v, g []float32, beta float32) {
	g = g[:len(v)]
	if beta == 0 {
		copy(v, g)
		return
	}
	a := 1 - beta
	for i, x := range g {
		v[i] = float32(a*x) + float32(beta*v[i])
	}
}

// MomentumSigns is Momentum(v, g, beta) then PackSigns(dst, v) in one pass
// over memory: SIGNUM's worker step. Whole words go through AVX-512 where
// the CPU has it, split across Threads() goroutines when large.
//
// Reference: Momentum followed by PackSignsNaive (bit for bit).
func MomentumSigns(dst Signs, v, g []float32, beta float32) {
	dst.check("MomentumSigns")
	if len(v) != dst.N || len(g) != dst.N {
		panic(fmt.Sprintf("kernels: MomentumSigns: %d momenta and %d gradients into signs of length %d", len(v), len(g), dst.N))
	}
	full := dst.N / 64
	parallelFor(full, signGrain, func(lo, hi int) {
		switch {
		case haveSignStepAsm() && beta != 0:
			momentumSignsFast(dst, v, g, beta, lo, hi)
		case haveSignStepAsm(): // SIGNSGD: v is a copy of g
			copy(v[64*lo:64*hi], g[64*lo:64*hi])
			packSignsFast(dst, v, lo, hi)
		default:
			momentumRange(v[64*lo:64*hi], g[64*lo:64*hi], beta)
			packSignsWords(dst, v, lo, hi)
		}
	})
	if full < len(dst.NZ) {
		momentumRange(v[64*full:], g[64*full:], beta)
		dst.NZ[full], dst.Neg[full] = packWord(v[64*full:])
	}
}
