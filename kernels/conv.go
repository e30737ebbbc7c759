package kernels

import "fmt"

// ConvShape describes a 2-D convolution over a batch of images: Batch
// images of InC channels of InH x InW pixels, OutC filters of InC x KH x KW
// weights, one Stride and one zero padding Pad for both axes (PyTorch's
// Conv2d with dilation 1 and groups 1). Layout is that of the input and the
// output (the zero value is NCHW).
type ConvShape struct {
	Batch, InC, InH, InW, OutC, KH, KW, Stride, Pad int
	Layout                                          Layout
}

// OutH returns the output height, (InH + 2 Pad - KH) / Stride + 1.
func (s ConvShape) OutH() int { return PoolOut(s.InH, s.KH, s.Stride, s.Pad) }

// OutW returns the output width, (InW + 2 Pad - KW) / Stride + 1.
func (s ConvShape) OutW() int { return PoolOut(s.InW, s.KW, s.Stride, s.Pad) }

// ColsLen returns the scratch Conv2DForward and Conv2DBackward need: the
// im2col of one block of images, InC*KH*KW * OutH*OutW per image (unused,
// so may be short, for a pointwise convolution). A block is one image in
// the NCHW layout, as many images as fit colsBudget values (at least one)
// in the CNHW layout.
//
// When the input gradient is computed as a convolution (dInByConv), the
// scratch also holds that convolution's im2col and the flipped weights;
// when the direct stem takes s (stemDirect), its split rows and sums
// (stemScratchLen).
func (s ConvShape) ColsLen() int {
	n := max(s.blockColsLen(), s.forwardColsLen())
	if s.dInByConv() {
		n = max(n, s.dInConvColsLen()+s.wLen())
	}
	if s.wgWgrad() {
		n = max(n, s.wgWgradColsLen())
	}
	return n
}

// forwardColsLen is the scratch convForward uses: one block's im2col, or
// the Winograd path's buffers (wgColsLen), or the direct stem's split rows
// and filters (stemScratchLen).
func (s ConvShape) forwardColsLen() int {
	if s.winograd() {
		return s.wgColsLen()
	}
	if s.stemDirect() {
		return max(s.blockColsLen(), stemScratchLen(s))
	}
	return s.blockColsLen()
}

// dInConvColsLen is the scratch Conv2DBackward uses before the flipped
// filters when dInByConv: the im2col for dW, then the forward
// convolution of dOut.
func (s ConvShape) dInConvColsLen() int {
	return max(s.blockColsLen(), s.transposed().forwardColsLen())
}

// blockColsLen is the im2col of one block of images.
func (s ConvShape) blockColsLen() int {
	return s.InC * s.KH * s.KW * s.OutH() * s.OutW() * s.blockImages()
}

// dInByConv reports a convolution whose input gradient Conv2DBackward
// computes as the forward convolution of dOut with the flipped, transposed
// filters (see transposed) rather than as col2im of w^T x dOut: a stride-1,
// square, not pointwise convolution with Pad < KH whose filter gradient
// takes the Winograd form (which leaves no columns for col2im), or goes
// through im2col and the chooser gives it to ChoiceByConv (KernelDgrad).
// The convolution's SGEMM has the long inner dimension OutC*KH*KW instead
// of OutC, im2col's copies replace col2im's scattered additions, and a 3x3
// can take the Winograd forward; but the filters are flipped every step.
func (s ConvShape) dInByConv() bool {
	if s.Stride != 1 || s.KH != s.KW || s.Pad >= s.KH || s.pointwise() {
		return false
	}
	if s.wgWgrad() { // the Winograd filter gradient leaves no columns for col2im
		return true
	}
	recordConv(KernelDgrad, s)
	return ChooseDgrad(s) == ChoiceByConv
}

// transposed is the convolution that maps dOut to dIn when dInByConv: OutC
// input channels of OutH x OutW, InC filters, padding KH-1-Pad, whose
// output is InH x InW.
func (s ConvShape) transposed() ConvShape {
	return ConvShape{Batch: s.Batch, InC: s.OutC, InH: s.OutH(), InW: s.OutW(), OutC: s.InC,
		KH: s.KH, KW: s.KW, Stride: 1, Pad: s.KH - 1 - s.Pad, Layout: s.Layout}
}

// flipFilters writes the filters of s.transposed() into wt (InC, OutC, KH,
// KW): wt[c, o, kh, kw] = w[o, c, KH-1-kh, KW-1-kw]. It runs in wt's
// order, each thread writing its own range of input channels: a 3x3 layer
// of 512 channels flips 9 MB every backward pass, and in w's order every
// 36-byte filter landed in another cache line. Reference:
// flipFiltersNaive.
func flipFilters(wt, w []float32, s ConvShape) {
	grain := max(1, flipGrain/max(1, s.OutC*s.KH*s.KW))
	if Threads() <= 1 || s.InC < 2*grain { // one range, no closure to allocate
		flipFilterRange(wt, w, s, 0, s.InC)
		return
	}
	parallelFor(s.InC, grain, func(lo, hi int) { flipFilterRange(wt, w, s, lo, hi) })
}

// flipFilterRange is flipFilters for input channels lo..hi-1.
func flipFilterRange(wt, w []float32, s ConvShape, lo, hi int) {
	kk := s.KH * s.KW
	for c := lo; c < hi; c++ {
		dst := wt[c*s.OutC*kk : (c+1)*s.OutC*kk]
		if kk == 9 {
			for o := 0; o < s.OutC; o++ {
				f := w[(o*s.InC+c)*9 : (o*s.InC+c)*9+9 : (o*s.InC+c)*9+9]
				d := dst[o*9 : o*9+9 : o*9+9]
				d[0], d[1], d[2], d[3], d[4], d[5], d[6], d[7], d[8] = f[8], f[7], f[6], f[5], f[4], f[3], f[2], f[1], f[0]
			}
			continue
		}
		for o := 0; o < s.OutC; o++ {
			f := w[(o*s.InC+c)*kk : (o*s.InC+c+1)*kk]
			d := dst[o*kk : (o+1)*kk]
			for i, v := range f {
				d[kk-1-i] = v
			}
		}
	}
}

// flipGrain is the fewest values a thread of flipFilters is given.
const flipGrain = 1 << 16

// flipFiltersNaive is flipFilters by its definition, one value at a time.
func flipFiltersNaive(wt, w []float32, s ConvShape) {
	for o := 0; o < s.OutC; o++ {
		for c := 0; c < s.InC; c++ {
			for kh := 0; kh < s.KH; kh++ {
				for kw := 0; kw < s.KW; kw++ {
					wt[((c*s.OutC+o)*s.KH+kh)*s.KW+kw] = w[((o*s.InC+c)*s.KH+s.KH-1-kh)*s.KW+s.KW-1-kw]
				}
			}
		}
	}
}

// colsBudget is how many values of cols a block of a channel-major
// convolution aims at: about 8 MB, so that the block's im2col is still in
// the caches when its SGEMM reads it. (A variable so that tests can make
// every block one image.)
var colsBudget = 1 << 21

// blockImages is how many images one im2col and SGEMM block takes.
func (s ConvShape) blockImages() int {
	if s.Layout != CNHW {
		return 1
	}
	if s.pointwise() {
		return max(s.Batch, 1)
	}
	per := s.InC * s.KH * s.KW * s.OutH() * s.OutW()
	return max(1, min(s.Batch, colsBudget/max(per, 1)))
}

// Check reports the first invalid field: every size and the stride must be
// positive, the padding non-negative and the output at least 1x1.
func (s ConvShape) Check() error {
	for _, f := range []struct {
		name string
		v    int
	}{{"Batch", s.Batch}, {"InC", s.InC}, {"InH", s.InH}, {"InW", s.InW}, {"OutC", s.OutC}, {"KH", s.KH}, {"KW", s.KW}, {"Stride", s.Stride}} {
		if f.v <= 0 {
			return fmt.Errorf("kernels: conv shape: %s = %d, want > 0", f.name, f.v)
		}
	}
	if s.Pad < 0 {
		return fmt.Errorf("kernels: conv shape: Pad = %d, want >= 0", s.Pad)
	}
	if s.Layout != NCHW && s.Layout != CNHW {
		return fmt.Errorf("kernels: conv shape: Layout = %d, want NCHW or CNHW", s.Layout)
	}
	if s.InH+2*s.Pad < s.KH {
		return fmt.Errorf("kernels: conv shape: KH = %d is larger than InH + 2 Pad = %d: no output rows", s.KH, s.InH+2*s.Pad)
	}
	if s.InW+2*s.Pad < s.KW {
		return fmt.Errorf("kernels: conv shape: KW = %d is larger than InW + 2 Pad = %d: no output columns", s.KW, s.InW+2*s.Pad)
	}
	return nil
}

// pointwise reports a 1x1, stride-1, unpadded convolution, whose im2col is
// the input image itself: (InC, H*W).
func (s ConvShape) pointwise() bool {
	return s.KH == 1 && s.KW == 1 && s.Stride == 1 && s.Pad == 0
}

// mustCheck panics on an invalid shape or a buffer of the wrong length (an
// optional buffer may be nil; an atLeast buffer may be longer).
func (s ConvShape) mustCheck(op string, bufs ...convBuf) {
	if err := s.Check(); err != nil {
		panic(fmt.Sprintf("%v (in %s)", err, op))
	}
	for _, b := range bufs {
		if b.optional && b.buf == nil {
			continue
		}
		if b.atLeast && len(b.buf) >= b.want || !b.atLeast && len(b.buf) == b.want {
			continue
		}
		rel := ""
		if b.atLeast {
			rel = "at least "
		}
		panic(fmt.Sprintf("kernels: %s: %s has length %d, want %s%d for %+v", op, b.name, len(b.buf), rel, b.want, s))
	}
}

type convBuf struct {
	name              string
	buf               []float32
	want              int
	optional, atLeast bool
}

func (s ConvShape) inLen() int  { return s.Batch * s.InC * s.InH * s.InW }
func (s ConvShape) outLen() int { return s.Batch * s.OutC * s.OutH() * s.OutW() }
func (s ConvShape) wLen() int   { return s.OutC * s.InC * s.KH * s.KW }

// colsBuf is the scratch requirement: ColsLen, or nothing when pointwise.
func (s ConvShape) colsBuf(cols []float32) convBuf {
	if s.pointwise() {
		return convBuf{name: "cols", optional: true, atLeast: true}
	}
	return convBuf{name: "cols", buf: cols, want: s.ColsLen(), atLeast: true}
}

// Conv2DForward computes out = w * in + bias, a cross-correlation with zero
// padding:
//
//	in (B, InC, InH, InW)   w (OutC, InC, KH, KW)   bias (OutC) or nil
//	out (B, OutC, OutH, OutW)   cols: scratch of at least ColsLen
//
// (in and out are (InC, B, InH, InW) and (OutC, B, OutH, OutW) in the CNHW
// layout). A block of images is unrolled by im2col into cols (InC*KH*KW,
// images*OutH*OutW) and multiplied by one SGEMM, (OutC x InC*KH*KW) x
// (InC*KH*KW x images*OutH*OutW): one image at a time in the NCHW layout,
// blocks of several (blockImages) in the CNHW layout, whose output columns
// for a block are contiguous. A 1x1, stride-1, unpadded convolution skips
// im2col (the input already is the column matrix; in the CNHW layout the
// whole batch is one SGEMM) and needs no cols. A channel-major 3x3 (or
// 5x5), stride-1 convolution with enough channels that the chooser gives
// to Winograd goes through it instead (winograd.go), and so does the input
// gradient Conv2DBackward computes as such a convolution. out must not
// overlap in or cols.
//
// Reference: Conv2DForwardNaive.
func Conv2DForward(out, in, w, bias []float32, s ConvShape, cols []float32) {
	s.mustCheck("Conv2DForward",
		convBuf{name: "out", buf: out, want: s.outLen()},
		convBuf{name: "in", buf: in, want: s.inLen()},
		convBuf{name: "w", buf: w, want: s.wLen()},
		convBuf{name: "bias", buf: bias, want: s.OutC, optional: true},
		s.colsBuf(cols))
	recordLayer(s)
	convForward(out, in, w, bias, s, cols)
}

// convForward is Conv2DForward without the checks.
func convForward(out, in, w, bias []float32, s ConvShape, cols []float32) {
	if s.winograd() {
		winogradForward(out, in, w, bias, s, cols)
		return
	}
	if s.stemDirect() {
		stemForward(out, in, w, bias, s, cols)
		return
	}
	k := s.InC * s.KH * s.KW
	nc := s.blockImages()
	for n0 := 0; n0 < s.Batch; n0 += nc {
		bl := s.block(n0, min(n0+nc, s.Batch))
		b, ldb := bl.columns(in, cols)
		y := out[bl.outOff:]
		var beta float32
		if bias != nil {
			for o, v := range bias {
				row := y[o*bl.ldo : o*bl.ldo+bl.n]
				for i := range row {
					row[i] = v
				}
			}
			beta = 1
		}
		Sgemm(false, false, s.OutC, bl.n, k, 1, w, k, b, ldb, beta, y, bl.ldo)
	}
}

// convBlock is images n0..n1-1 of a convolution: their output (and output
// gradient) columns start at outOff with row stride ldo and number n.
type convBlock struct {
	s           ConvShape
	n0, n1      int
	n           int // columns: images * OutH*OutW
	outOff, ldo int
}

// block returns the block of images n0..n1-1 (one image in the NCHW layout).
func (s ConvShape) block(n0, n1 int) convBlock {
	p := s.OutH() * s.OutW()
	bl := convBlock{s: s, n0: n0, n1: n1, n: (n1 - n0) * p}
	if s.Layout == CNHW {
		bl.outOff, bl.ldo = n0*p, s.Batch*p
	} else {
		bl.outOff, bl.ldo = n0*s.OutC*p, p
	}
	return bl
}

// columns returns the block's column matrix (InC*KH*KW, n) and its row
// stride: the input itself for a pointwise convolution, else cols filled by
// im2col.
func (bl convBlock) columns(in, cols []float32) ([]float32, int) {
	s := bl.s
	if s.pointwise() {
		if s.Layout == CNHW { // the whole batch is one block
			return in, s.Batch * s.InH * s.InW
		}
		return in[bl.n0*s.InC*s.InH*s.InW:], s.InH * s.InW
	}
	b := cols[:s.InC*s.KH*s.KW*bl.n]
	im2col(b, in, s, bl.n0, bl.n1)
	return b, bl.n
}

// Conv2DBackward accumulates the parameter gradients of Conv2DForward and
// writes its input gradient:
//
//	dW   += dOut x cols^T                   dW (OutC, InC, KH, KW)
//	dBias += sum of dOut over B, H, W       dBias (OutC) or nil
//	dIn   = col2im(w^T x dOut)              dIn (B, InC, InH, InW) or nil (first layer)
//	dOut (B, OutC, OutH, OutW)   in, w: as in Conv2DForward   cols: scratch (ColsLen)
//
// block by block as in Conv2DForward (in the CNHW layout dIn and dOut are
// channel-major too). dW accumulates the blocks in order, so the result
// does not depend on the threads. For a stride-1 square convolution
// (dInByConv), dIn is instead the convolution of dOut with the flipped,
// transposed filters (padding KH-1-Pad), the same sum in another order,
// which is a Winograd convolution when s.winograd(). dW stays an im2col
// product for a 3x3 on F(2x2, 3x3) (its Winograd form, measured, was
// slower); for a 5x5 on the Winograd path, and a 3x3 on F(4x4, 3x3), it
// is Winograd's too (winograd5Wgrad).
//
// Reference: Conv2DBackwardNaive.
func Conv2DBackward(dIn, dW, dBias, dOut, in, w []float32, s ConvShape, cols []float32) {
	s.mustCheck("Conv2DBackward",
		convBuf{name: "dIn", buf: dIn, want: s.inLen(), optional: true},
		convBuf{name: "dW", buf: dW, want: s.wLen()},
		convBuf{name: "dBias", buf: dBias, want: s.OutC, optional: true},
		convBuf{name: "dOut", buf: dOut, want: s.outLen()},
		convBuf{name: "in", buf: in, want: s.inLen()},
		convBuf{name: "w", buf: w, want: s.wLen()},
		s.colsBuf(cols))
	k := s.InC * s.KH * s.KW
	p := s.OutH() * s.OutW()
	if dBias != nil {
		if s.Layout == CNHW {
			for o := range dBias {
				dBias[o] += float32(sum64(dOut[o*s.Batch*p : (o+1)*s.Batch*p]))
			}
		} else {
			for n := 0; n < s.Batch; n++ {
				g := dOut[n*s.OutC*p : (n+1)*s.OutC*p]
				for o := range dBias {
					dBias[o] += float32(sum64(g[o*p : (o+1)*p]))
				}
			}
		}
	}
	byConv := dIn != nil && s.dInByConv()
	switch {
	case s.wgWgrad(): // a 5x5 on the Winograd path: dIn is byConv (or nil)
		winograd5Wgrad(dW, dOut, in, s, cols)
	case dIn == nil && s.stemDirect(): // the first layer: no input gradient
		stemWgrad(dW, dOut, in, s, cols)
	default:
		nc := s.blockImages()
		for n0 := 0; n0 < s.Batch; n0 += nc {
			bl := s.block(n0, min(n0+nc, s.Batch))
			b, ldb := bl.columns(in, cols)
			g := dOut[bl.outOff:]
			sgemmNTAcc(s.OutC, k, bl.n, g, bl.ldo, b, ldb, dW, k)
			if dIn == nil || byConv {
				continue
			}
			if s.pointwise() { // b is in from this block on: dIn likewise
				Sgemm(true, false, k, bl.n, s.OutC, 1, w, k, g, bl.ldo, 0, dIn[len(in)-len(b):], ldb)
				continue
			}
			Sgemm(true, false, k, bl.n, s.OutC, 1, w, k, g, bl.ldo, 0, b, ldb)
			col2im(dIn, b, s, bl.n0, bl.n1)
		}
	}
	if byConv {
		t := s.transposed()
		n := s.dInConvColsLen()
		wt := cols[n : n+s.wLen()]
		flipFilters(wt, w, s)
		convForward(dIn, dOut, wt, nil, t, cols[:n])
	}
}

// sum64 returns the sum of x accumulated in float64 (four partial sums).
func sum64(x []float32) float64 {
	var s0, s1, s2, s3 float64
	i := 0
	for ; i+4 <= len(x); i += 4 {
		v := x[i : i+4 : i+4]
		s0 += float64(v[0])
		s1 += float64(v[1])
		s2 += float64(v[2])
		s3 += float64(v[3])
	}
	for ; i < len(x); i++ {
		s0 += float64(x[i])
	}
	return (s0 + s1) + (s2 + s3)
}

// convSpan returns the output positions [lo, hi) of an axis whose input
// position o*stride - pad + k falls inside [0, size); out is the output
// length.
func convSpan(k, pad, stride, size, out int) (lo, hi int) {
	if d := pad - k; d > 0 {
		lo = (d + stride - 1) / stride
	}
	if e := size + pad - k; e > 0 {
		hi = (e + stride - 1) / stride
	}
	hi = min(hi, out)
	lo = min(lo, hi)
	return lo, hi
}

// im2col unrolls images n0..n1-1 of img (in s.Layout) into cols
// (InC*KH*KW, (n1-n0)*OutH*OutW): row (c, kh, kw), column (n-n0, oh, ow)
// holds image n's pixel (c, oh*Stride-Pad+kh, ow*Stride-Pad+kw), or 0 in
// the padding. Each output row is a zeroed head, a copied (or, strided,
// gathered) run and a zeroed tail. The planes are split across Threads()
// goroutines; each writes its own rows of cols.
func im2col(cols, img []float32, s ConvShape, n0, n1 int) {
	planes := s.InC * (n1 - n0)
	if g := planeGrain(s); Threads() > 1 && planes >= 2*g {
		parallelFor(planes, g, func(u0, u1 int) { im2colPlanes(cols, img, s, n0, n1, u0, u1) })
		return
	}
	im2colPlanes(cols, img, s, n0, n1, 0, planes) // no goroutines, no allocation
}

// planeGrain is the fewest input planes one goroutine of im2col or col2im
// takes: enough for about 64K values of cols.
func planeGrain(s ConvShape) int {
	return max(1, (1<<16)/max(1, s.KH*s.KW*s.OutH()*s.OutW()))
}

// plane returns the offset of image n's channel c plane in s.Layout.
func (s ConvShape) plane(n, c int) int {
	if s.Layout == CNHW {
		return (c*s.Batch + n) * s.InH * s.InW
	}
	return (n*s.InC + c) * s.InH * s.InW
}

// im2colPlanes is im2col for the block's planes u0..u1-1, plane u being
// channel u/(n1-n0) of image n0 + u%(n1-n0).
func im2colPlanes(cols, img []float32, s ConvShape, n0, n1, u0, u1 int) {
	oh, ow := s.OutH(), s.OutW()
	p := oh * ow
	h, w, st := s.InH, s.InW, s.Stride
	nb := n1 - n0
	same := st == 1 && ow == w // output rows as wide as input rows
	for u := u0; u < u1; u++ {
		c, n := u/nb, u%nb
		off := s.plane(n0+n, c)
		plane := img[off : off+h*w]
		r := c * s.KH * s.KW
		for kh := 0; kh < s.KH; kh++ {
			y0, y1 := convSpan(kh, s.Pad, st, h, oh)
			for kw := 0; kw < s.KW; kw++ {
				x0, x1 := convSpan(kw, s.Pad, st, w, ow)
				off := (r*nb + n) * p
				dst := cols[off : off+p]
				r++
				clear(dst[:y0*ow])
				clear(dst[y1*ow:])
				if x0 == x1 {
					clear(dst[y0*ow : y1*ow])
					continue
				}
				if same {
					im2colSame(dst[y0*ow:y1*ow], plane, (y0-s.Pad+kh)*w+kw-s.Pad, w, x0, x1)
					continue
				}
				ix0 := x0*st - s.Pad + kw
				for y := y0; y < y1; y++ {
					iy := y*st - s.Pad + kh
					src := plane[iy*w : (iy+1)*w]
					d := dst[y*ow : (y+1)*ow]
					clear(d[:x0])
					clear(d[x1:])
					run := d[x0:x1]
					switch st {
					case 1:
						copy(run, src[ix0:ix0+len(run)])
					case 2:
						gather2(run, src[ix0:ix0+2*len(run)-1])
					default:
						src = src[ix0 : ix0+st*(len(run)-1)+1]
						for i := range run {
							run[i] = src[st*i]
						}
					}
				}
			}
		}
	}
}

// gather2 sets dst[i] = src[2i], the strided run of im2col at stride 2
// (len(src) >= 2 len(dst) - 1). Reference: gather2Go.
func gather2(dst, src []float32) {
	if !gather2Fast(dst, src) {
		gather2Go(dst, src)
	}
}

func gather2Go(dst, src []float32) {
	if len(dst) == 0 {
		return
	}
	src = src[:2*len(dst)-1]
	for i := range dst {
		dst[i] = src[2*i]
	}
}

// scatterAdd2 adds src[i] into dst[2i], col2im's run at stride 2
// (len(dst) >= 2 len(src) - 1). Reference: scatterAdd2Go.
func scatterAdd2(dst, src []float32) {
	if !scatterAdd2Fast(dst, src) {
		scatterAdd2Go(dst, src)
	}
}

func scatterAdd2Go(dst, src []float32) {
	if len(src) == 0 {
		return
	}
	dst = dst[:2*len(src)-1]
	for i, v := range src {
		dst[2*i] += v
	}
}

// im2colSame fills rows of dst (each w wide) for a stride-1 convolution
// whose output rows are as wide as its input rows: output (y, x) is input
// offset start + y*w + x, so the rows are one shifted copy of the plane,
// after which the columns outside [x0, x1), which the copy filled from the
// neighbouring rows (or not at all), are zeroed.
func im2colSame(dst, plane []float32, start, w, x0, x1 int) {
	lo, hi := 0, len(dst)
	if start < 0 {
		lo = -start
	}
	if e := start + len(dst); e > len(plane) {
		hi -= e - len(plane)
	}
	if lo < hi {
		copy(dst[lo:hi], plane[start+lo:start+hi])
	}
	for y := 0; y+w <= len(dst); y += w {
		clear(dst[y : y+x0])
		clear(dst[y+x1 : y+w])
	}
}

// col2im is the adjoint of im2col: it overwrites the planes of images
// n0..n1-1 of img with the sum over the rows of cols of each entry
// scattered back to its input pixel (padding entries are dropped). Each
// plane is summed by one goroutine in a fixed order, so the result does not
// depend on the threads.
func col2im(img, cols []float32, s ConvShape, n0, n1 int) {
	planes := s.InC * (n1 - n0)
	if g := planeGrain(s); Threads() > 1 && planes >= 2*g {
		parallelFor(planes, g, func(u0, u1 int) { col2imPlanes(img, cols, s, n0, n1, u0, u1) })
		return
	}
	col2imPlanes(img, cols, s, n0, n1, 0, planes)
}

// col2imPlanes is col2im for the block's planes u0..u1-1 (as im2colPlanes).
func col2imPlanes(img, cols []float32, s ConvShape, n0, n1, u0, u1 int) {
	oh, ow := s.OutH(), s.OutW()
	p := oh * ow
	h, w, st := s.InH, s.InW, s.Stride
	nb := n1 - n0
	for u := u0; u < u1; u++ {
		c, n := u/nb, u%nb
		off := s.plane(n0+n, c)
		plane := img[off : off+h*w]
		clear(plane)
		r := c * s.KH * s.KW
		for kh := 0; kh < s.KH; kh++ {
			y0, y1 := convSpan(kh, s.Pad, st, h, oh)
			for kw := 0; kw < s.KW; kw++ {
				x0, x1 := convSpan(kw, s.Pad, st, w, ow)
				off := (r*nb + n) * p
				src := cols[off : off+p]
				r++
				if x0 == x1 {
					continue
				}
				ix0 := x0*st - s.Pad + kw
				for y := y0; y < y1; y++ {
					iy := y*st - s.Pad + kh
					run := src[y*ow+x0 : y*ow+x1]
					d := plane[iy*w : (iy+1)*w]
					if st == 1 {
						d = d[ix0 : ix0+len(run)]
						for i, v := range run {
							d[i] += v
						}
						continue
					}
					d = d[ix0 : ix0+st*(len(run)-1)+1]
					if st == 2 {
						scatterAdd2(d, run)
						continue
					}
					for i, v := range run {
						d[st*i] += v
					}
				}
			}
		}
	}
}

// inAt returns the index of image n's input pixel (c, y, x) in s.Layout.
func (s ConvShape) inAt(n, c, y, x int) int {
	if s.Layout == CNHW {
		return ((c*s.Batch+n)*s.InH+y)*s.InW + x
	}
	return ((n*s.InC+c)*s.InH+y)*s.InW + x
}

// outAt returns the index of image n's output pixel (o, y, x) in s.Layout.
func (s ConvShape) outAt(n, o, y, x int) int {
	if s.Layout == CNHW {
		return ((o*s.Batch+n)*s.OutH()+y)*s.OutW() + x
	}
	return ((n*s.OutC+o)*s.OutH()+y)*s.OutW() + x
}

// Conv2DForwardNaive is the reference for Conv2DForward: the direct 7-loop
// convolution with float64 accumulation, no BLAS and no scratch, in either
// layout.
func Conv2DForwardNaive(out, in, w, bias []float32, s ConvShape) {
	s.mustCheck("Conv2DForwardNaive",
		convBuf{name: "out", buf: out, want: s.outLen()},
		convBuf{name: "in", buf: in, want: s.inLen()},
		convBuf{name: "w", buf: w, want: s.wLen()},
		convBuf{name: "bias", buf: bias, want: s.OutC, optional: true})
	oh, ow := s.OutH(), s.OutW()
	for n := 0; n < s.Batch; n++ {
		for o := 0; o < s.OutC; o++ {
			for y := 0; y < oh; y++ {
				for x := 0; x < ow; x++ {
					acc := 0.0
					if bias != nil {
						acc = float64(bias[o])
					}
					for c := 0; c < s.InC; c++ {
						for kh := 0; kh < s.KH; kh++ {
							iy := y*s.Stride - s.Pad + kh
							if iy < 0 || iy >= s.InH {
								continue
							}
							for kw := 0; kw < s.KW; kw++ {
								ix := x*s.Stride - s.Pad + kw
								if ix < 0 || ix >= s.InW {
									continue
								}
								acc += float64(w[((o*s.InC+c)*s.KH+kh)*s.KW+kw]) * float64(in[s.inAt(n, c, iy, ix)])
							}
						}
					}
					out[s.outAt(n, o, y, x)] = float32(acc)
				}
			}
		}
	}
}

// Conv2DBackwardNaive is the reference for Conv2DBackward: direct loops
// with float64 accumulation (it allocates its accumulators).
func Conv2DBackwardNaive(dIn, dW, dBias, dOut, in, w []float32, s ConvShape) {
	s.mustCheck("Conv2DBackwardNaive",
		convBuf{name: "dIn", buf: dIn, want: s.inLen(), optional: true},
		convBuf{name: "dW", buf: dW, want: s.wLen()},
		convBuf{name: "dBias", buf: dBias, want: s.OutC, optional: true},
		convBuf{name: "dOut", buf: dOut, want: s.outLen()},
		convBuf{name: "in", buf: in, want: s.inLen()},
		convBuf{name: "w", buf: w, want: s.wLen()})
	oh, ow := s.OutH(), s.OutW()
	gw := make([]float64, len(dW))
	gb := make([]float64, s.OutC)
	gx := make([]float64, s.inLen())
	for n := 0; n < s.Batch; n++ {
		for o := 0; o < s.OutC; o++ {
			for y := 0; y < oh; y++ {
				for x := 0; x < ow; x++ {
					g := float64(dOut[s.outAt(n, o, y, x)])
					gb[o] += g
					for c := 0; c < s.InC; c++ {
						for kh := 0; kh < s.KH; kh++ {
							iy := y*s.Stride - s.Pad + kh
							if iy < 0 || iy >= s.InH {
								continue
							}
							for kw := 0; kw < s.KW; kw++ {
								ix := x*s.Stride - s.Pad + kw
								if ix < 0 || ix >= s.InW {
									continue
								}
								wi := ((o*s.InC+c)*s.KH+kh)*s.KW + kw
								xi := s.inAt(n, c, iy, ix)
								gw[wi] += g * float64(in[xi])
								gx[xi] += g * float64(w[wi])
							}
						}
					}
				}
			}
		}
	}
	for i, v := range gw {
		dW[i] += float32(v)
	}
	if dBias != nil {
		for i, v := range gb {
			dBias[i] += float32(v)
		}
	}
	if dIn != nil {
		for i, v := range gx {
			dIn[i] = float32(v)
		}
	}
}
