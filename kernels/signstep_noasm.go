//go:build !amd64 || noasm

package kernels

// haveSignStepAsm is false: there are no assembly pack and update kernels.
func haveSignStepAsm() bool { return false }

func packSignsFast(dst Signs, g []float32, lo, hi int) {
	panic("kernels: packSignsFast without assembly")
}

func momentumSignsFast(dst Signs, v, g []float32, beta float32, lo, hi int) {
	panic("kernels: momentumSignsFast without assembly")
}

func applySignStepFast(x []float32, s Signs, lr, wd float32, lo, hi int) {
	panic("kernels: applySignStepFast without assembly")
}
