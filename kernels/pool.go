package kernels

import (
	"fmt"
	"math"
)

// PoolOut returns the output length of a window of k with the given stride
// and zero padding over size inputs, (size + 2 pad - k) / stride + 1
// (PyTorch's floor mode), or 0 when the window does not fit.
func PoolOut(size, k, stride, pad int) int {
	if size+2*pad < k || stride < 1 {
		return 0
	}
	return (size+2*pad-k)/stride + 1
}

// checkPool panics on a bad max-pool geometry or buffer length.
func checkPool(op string, in, out int, argmax []int32, b, c, h, w, k, stride, pad int) {
	if b < 1 || c < 1 || h < 1 || w < 1 || k < 1 || stride < 1 || pad < 0 {
		panic(fmt.Sprintf("kernels: %s: b %d, c %d, h %d, w %d, k %d, stride %d must be positive and pad %d non-negative", op, b, c, h, w, k, stride, pad))
	}
	if 2*pad > k {
		panic(fmt.Sprintf("kernels: %s: pad %d is more than half the window %d", op, pad, k))
	}
	if h*w > math.MaxInt32 {
		panic(fmt.Sprintf("kernels: %s: a %dx%d plane overflows int32 indices", op, h, w))
	}
	oh, ow := PoolOut(h, k, stride, pad), PoolOut(w, k, stride, pad)
	if oh < 1 || ow < 1 {
		panic(fmt.Sprintf("kernels: %s: window %d does not fit a %dx%d input with pad %d", op, k, h, w, pad))
	}
	if in != b*c*h*w || out != b*c*oh*ow || len(argmax) != out {
		panic(fmt.Sprintf("kernels: %s: lengths in %d, out %d, argmax %d; want %d, %d, %d", op, in, out, len(argmax), b*c*h*w, b*c*oh*ow, b*c*oh*ow))
	}
}

// MaxPool2DForward takes the maximum over k x k windows with the given
// stride and implicit padding (which never wins; pad <= k/2 as in PyTorch),
// and records where each maximum came from:
//
//	in (B, C, H, W)   out, argmax (B, C, OH, OW), OH = PoolOut(H, k, stride, pad)
//
// argmax holds the index ih*W + iw of the maximum within its input plane;
// the first (row-major) of equal values wins, -0 ranks just below +0, and
// a NaN wins (it propagates, as in PyTorch; the first NaN of the window).
// out must not overlap in. Planes are split across Threads() goroutines.
// Planes are pooled alike in either layout (NCHW or CNHW).
func MaxPool2DForward(out, in []float32, argmax []int32, b, c, h, w, k, stride, pad int) {
	checkPool("MaxPool2DForward", len(in), len(out), argmax, b, c, h, w, k, stride, pad)
	if g, ok := poolParallel(b*c, h*w); ok {
		parallelFor(b*c, g, func(p0, p1 int) { maxPoolPlanes(out, in, argmax, h, w, k, stride, pad, p0, p1) })
		return
	}
	maxPoolPlanes(out, in, argmax, h, w, k, stride, pad, 0, b*c)
}

// poolParallel returns the grain (planes per goroutine) for planes of hw
// values, and whether they are worth splitting across Threads().
func poolParallel(planes, hw int) (grain int, ok bool) {
	if Threads() <= 1 || planes < 2 || planes*hw < 2*bnGrain {
		return 0, false
	}
	return max(1, bnGrain/max(hw, 1)), true
}

// maxPoolPlanes is MaxPool2DForward for planes p0..p1-1.
func maxPoolPlanes(out, in []float32, argmax []int32, h, w, k, stride, pad, p0, p1 int) {
	oh, ow := PoolOut(h, k, stride, pad), PoolOut(w, k, stride, pad)
	for pl := p0; pl < p1; pl++ {
		maxPoolPlane(out[pl*oh*ow:(pl+1)*oh*ow], argmax[pl*oh*ow:(pl+1)*oh*ow], in[pl*h*w:(pl+1)*h*w], h, w, oh, ow, k, stride, pad)
	}
}

// maxPoolPlane pools one plane x (h, w) into y and am (oh, ow) a row at a
// time: each input row of a window row updates the whole output row, kx by
// kx, in long branch-free loops (maxRow). Until the row is done, y holds
// the running maxima as maxKey integers.
func maxPoolPlane(y []float32, am []int32, x []float32, h, w, oh, ow, k, stride, pad int) {
	if k == 2 && stride == 2 && pad == 0 && useMaxPoolFast && maxPool2x2Fast(y, am, x, w, oh, ow) {
		return
	}
	if k == 3 && stride == 2 && pad == 1 && useMaxPoolFast && maxPool3x3s2p1Fast(y, am, x, h, w, oh, ow) {
		return
	}
	for oy := 0; oy < oh; oy++ {
		yr := y[oy*ow : (oy+1)*ow]
		ar := am[oy*ow : (oy+1)*ow]
		ar = ar[:len(yr)]
		for i := range yr {
			yr[i] = math.Float32frombits(1 << 31) // key MinInt32: below every value
		}
		y0 := oy*stride - pad
		for iy := max(y0, 0); iy < min(y0+k, h); iy++ {
			row := x[iy*w : (iy+1)*w]
			for kx := 0; kx < k; kx++ {
				lo, hi := convSpan(kx, pad, stride, w, ow)
				if lo < hi {
					maxRow(yr[lo:hi], ar[lo:hi], row, lo*stride-pad+kx, stride, iy*w)
				}
			}
		}
		for i, a := range ar {
			yr[i] = x[a]
		}
	}
}

// useMaxPoolFast lets tests send the windows the AVX-512 kernels take (2x2
// with stride 2; 3x3 with stride 2 and padding 1: maxPool2x2Fast,
// maxPool3x3s2p1Fast) through the general path, to check the kernels
// against it. Without AVX-512 the general path pools them: a per-output Go
// loop over the four inputs was slower than its row-wise maxima.
var useMaxPoolFast = true

// maxRow updates running maxima keys (as maxKey bits) and their plane
// indices am with row[ix0 + i*stride] (plane index base + ix); only a
// strictly larger key replaces, so the first maximum wins.
func maxRow(keys []float32, am []int32, row []float32, ix0, stride, base int) {
	am = am[:len(keys)]
	row = row[ix0 : ix0+stride*(len(keys)-1)+1]
	idx := int32(base + ix0)
	for i := range keys {
		key := maxKey(row[i*stride])
		old := int32(math.Float32bits(keys[i]))
		a := am[i]
		if key > old { // a conditional move: the candidate is precomputed
			a = idx
		}
		keys[i] = math.Float32frombits(uint32(max(key, old)))
		am[i] = a
		idx += int32(stride)
	}
}

// maxKey maps a float32 to an int32 with the same order (-0 just below +0)
// and every NaN to the top, so the first NaN of a window wins as with the
// comparison "v > best || isNaN(v)". Integer keys make the running maximum
// conditional moves rather than float comparison branches, which
// mispredict on most windows of real data.
func maxKey(v float32) int32 {
	b := int32(math.Float32bits(v))
	key := b ^ (b >> 31 & math.MaxInt32)
	if b&math.MaxInt32 > 0x7f800000 { // NaN; a conditional move
		key = math.MaxInt32
	}
	return key
}

// MaxPool2DBackward routes each output gradient to the input its maximum
// came from: dIn (B, C, H, W) is zeroed, then dIn[argmax] += dOut per plane.
// The geometry arguments are those of MaxPool2DForward.
func MaxPool2DBackward(dIn, dOut []float32, argmax []int32, b, c, h, w, k, stride, pad int) {
	checkPool("MaxPool2DBackward", len(dIn), len(dOut), argmax, b, c, h, w, k, stride, pad)
	if g, ok := poolParallel(b*c, h*w); ok {
		parallelFor(b*c, g, func(p0, p1 int) { maxPoolBackwardPlanes(dIn, dOut, argmax, h, w, k, stride, pad, p0, p1) })
		return
	}
	maxPoolBackwardPlanes(dIn, dOut, argmax, h, w, k, stride, pad, 0, b*c)
}

// maxPoolBackwardPlanes is MaxPool2DBackward for planes p0..p1-1.
func maxPoolBackwardPlanes(dIn, dOut []float32, argmax []int32, h, w, k, stride, pad, p0, p1 int) {
	oh, ow := PoolOut(h, k, stride, pad), PoolOut(w, k, stride, pad)
	clear(dIn[p0*h*w : p1*h*w])
	for pl := p0; pl < p1; pl++ {
		dx := dIn[pl*h*w : (pl+1)*h*w]
		g := dOut[pl*oh*ow : (pl+1)*oh*ow]
		am := argmax[pl*oh*ow : (pl+1)*oh*ow]
		am = am[:len(g)]
		for i, v := range g {
			dx[am[i]] += v
		}
	}
}

// GlobalAvgPoolForward averages each plane (float64 accumulation):
//
//	in (B, C, HW)   out (B, C)
func GlobalAvgPoolForward(out, in []float32, b, c, hw int) {
	checkGAP("GlobalAvgPoolForward", len(out), len(in), b, c, hw)
	inv := 1 / float64(hw)
	for i := range out[:b*c] {
		out[i] = float32(sum64(in[i*hw:(i+1)*hw]) * inv)
	}
}

// GlobalAvgPoolBackward spreads each output gradient evenly over its plane:
//
//	dOut (B, C)   dIn (B, C, HW) = dOut / HW (overwritten)
func GlobalAvgPoolBackward(dIn, dOut []float32, b, c, hw int) {
	checkGAP("GlobalAvgPoolBackward", len(dOut), len(dIn), b, c, hw)
	inv := 1 / float32(hw)
	for i, g := range dOut[:b*c] {
		v := g * inv
		d := dIn[i*hw : (i+1)*hw]
		for j := range d {
			d[j] = v
		}
	}
}

func checkGAP(op string, out, in, b, c, hw int) {
	if b < 1 || c < 1 || hw < 1 || out != b*c || in != b*c*hw {
		panic(fmt.Sprintf("kernels: %s: lengths out %d, in %d for b %d, c %d, hw %d", op, out, in, b, c, hw))
	}
}
