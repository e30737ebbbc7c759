package kernels

import "fmt"

// ApplySignStep updates x <- x - lr*(sign + wd*x) in place, reading the
// ternary sign of every coordinate straight from the bit planes of s.
// Words whose signs are all zero are skipped when wd is zero.
//
// Reference: ApplySignStepNaive (the same float32 operations per coordinate,
// so the two agree bit for bit).
func ApplySignStep(x []float32, s Signs, lr, wd float32) {
	s.check("ApplySignStep")
	if len(x) != s.N {
		panic(fmt.Sprintf("kernels: ApplySignStep: %d parameters, %d signs", len(x), s.N))
	}
	for w, nz := range s.NZ {
		if nz == 0 && wd == 0 {
			continue
		}
		neg := s.Neg[w]
		lo := w * 64
		hi := min(lo+64, len(x))
		blk := x[lo:hi:hi]
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
