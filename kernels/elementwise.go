package kernels

import "fmt"

// AddInPlace computes dst += src, a residual connection's join. Its
// backward pass needs no kernel: the output gradient goes unchanged to both
// branches.
func AddInPlace(dst, src []float32) {
	if len(dst) != len(src) {
		panic(fmt.Sprintf("kernels: AddInPlace: dst has length %d, src %d", len(dst), len(src)))
	}
	src = src[:len(dst)]
	for i, v := range src {
		dst[i] += v
	}
}

// AddRelu computes out = max(a + b, 0), a residual join and its ReLU in
// one pass (bit for bit AddInPlace then ReluForward); out may alias a or
// b. Large inputs are split across Threads() goroutines.
//
//	out, a, b (N)
func AddRelu(out, a, b []float32) {
	if len(a) != len(out) || len(b) != len(out) {
		panic(fmt.Sprintf("kernels: AddRelu: lengths out %d, a %d, b %d differ", len(out), len(a), len(b)))
	}
	if Threads() > 1 && len(out) >= 2*reluGrain {
		parallelFor(len(out), reluGrain, func(lo, hi int) { addRelu(out[lo:hi], a[lo:hi], b[lo:hi]) })
		return
	}
	addRelu(out, a, b)
}

func addRelu(out, a, b []float32) {
	a, b = a[:len(out)], b[:len(out)]
	for i := range out {
		out[i] = max(a[i]+b[i], 0)
	}
}

// Add computes out = a + b (a residual join's input gradient: the sum of
// both branches'); out may alias a or b. Large inputs are split across
// Threads() goroutines.
//
//	out, a, b (N)
func Add(out, a, b []float32) {
	if len(a) != len(out) || len(b) != len(out) {
		panic(fmt.Sprintf("kernels: Add: lengths out %d, a %d, b %d differ", len(out), len(a), len(b)))
	}
	if Threads() > 1 && len(out) >= 2*reluGrain {
		parallelFor(len(out), reluGrain, func(lo, hi int) { add(out[lo:hi], a[lo:hi], b[lo:hi]) })
		return
	}
	add(out, a, b)
}

// Zero sets x to zeros (a network's gradient before each step: 25.6M
// values for ResNet-50), split across Threads() goroutines when large.
func Zero(x []float32) {
	if Threads() > 1 && len(x) >= 2*reluGrain {
		parallelFor(len(x), reluGrain, func(lo, hi int) { clear(x[lo:hi]) })
		return
	}
	clear(x)
}

func add(out, a, b []float32) {
	a, b = a[:len(out)], b[:len(out)]
	for i := range out {
		out[i] = a[i] + b[i]
	}
}

// DropoutForward is inverted dropout: out = in * mask with mask[i] = 0
// with probability p and 1/(1-p) otherwise, so the expected output is the
// input. The draw for element i is a counter-based hash of (seed, i)
// (splitmix64), so a mask is reproducible from its seed and needs no RNG
// state. p = 0 copies in (mask all 1); p = 1 zeroes everything. out may
// alias in.
//
//	in, out, mask (N)
func DropoutForward(out, in []float32, mask []float32, p float32, seed uint64) {
	if len(out) != len(in) || len(mask) != len(in) {
		panic(fmt.Sprintf("kernels: DropoutForward: lengths out %d, in %d, mask %d differ", len(out), len(in), len(mask)))
	}
	if !(p >= 0 && p <= 1) {
		panic(fmt.Sprintf("kernels: DropoutForward: p = %v outside [0, 1]", p))
	}
	out = out[:len(in)]
	mask = mask[:len(in)]
	if p == 0 {
		copy(out, in)
		for i := range mask {
			mask[i] = 1
		}
		return
	}
	if p == 1 {
		clear(out)
		clear(mask)
		return
	}
	// Keep element i when its 53-bit uniform draw u = h>>11 is at least
	// p * 2^53 (an exact threshold: P(keep) = 1 - p up to 2^-53).
	thresh := uint64(float64(p) * (1 << 53))
	scale := 1 / (1 - p)
	k := dropoutFast(out, in, mask, seed, thresh, scale)
	for i := k; i < len(in); i++ {
		var m float32
		if dropoutHash(seed, uint64(i))>>11 >= thresh {
			m = scale
		}
		mask[i] = m
		out[i] = in[i] * m
	}
}

// dropoutHash is splitmix64's output for counter i of the stream seed.
func dropoutHash(seed, i uint64) uint64 {
	z := seed + (i+1)*0x9e3779b97f4a7c15
	z = (z ^ z>>30) * 0xbf58476d1ce4e5b9
	z = (z ^ z>>27) * 0x94d049bb133111eb
	return z ^ z>>31
}

// DropoutBackward computes dIn = dOut * mask with the mask DropoutForward
// wrote; dIn may alias dOut.
//
//	dIn, dOut, mask (N)
func DropoutBackward(dIn, dOut, mask []float32) {
	if len(dIn) != len(dOut) || len(mask) != len(dOut) {
		panic(fmt.Sprintf("kernels: DropoutBackward: lengths dIn %d, dOut %d, mask %d differ", len(dIn), len(dOut), len(mask)))
	}
	dIn = dIn[:len(dOut)]
	mask = mask[:len(dOut)]
	for i, g := range dOut {
		dIn[i] = g * mask[i]
	}
}
