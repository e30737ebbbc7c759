package kernels

import "fmt"

// ConvShape describes a 2-D convolution over a batch of NCHW images: Batch
// images of InC channels of InH x InW pixels, OutC filters of InC x KH x KW
// weights, one Stride and one zero padding Pad for both axes (PyTorch's
// Conv2d with dilation 1 and groups 1).
type ConvShape struct{ Batch, InC, InH, InW, OutC, KH, KW, Stride, Pad int }

// OutH returns the output height, (InH + 2 Pad - KH) / Stride + 1.
func (s ConvShape) OutH() int { return PoolOut(s.InH, s.KH, s.Stride, s.Pad) }

// OutW returns the output width, (InW + 2 Pad - KW) / Stride + 1.
func (s ConvShape) OutW() int { return PoolOut(s.InW, s.KW, s.Stride, s.Pad) }

// ColsLen returns InC*KH*KW * OutH*OutW, the scratch one image's im2col
// needs (unused, so may be short, for a pointwise convolution).
func (s ConvShape) ColsLen() int { return s.InC * s.KH * s.KW * s.OutH() * s.OutW() }

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
// Each image is unrolled by im2col into cols (InC*KH*KW, OutH*OutW) and
// multiplied by one SGEMM, (OutC x InC*KH*KW) x (InC*KH*KW x OutH*OutW). A
// 1x1, stride-1, unpadded convolution skips im2col (the image already is
// the column matrix) and needs no cols. out must not overlap in or cols.
//
// Reference: Conv2DForwardNaive.
func Conv2DForward(out, in, w, bias []float32, s ConvShape, cols []float32) {
	s.mustCheck("Conv2DForward",
		convBuf{name: "out", buf: out, want: s.outLen()},
		convBuf{name: "in", buf: in, want: s.inLen()},
		convBuf{name: "w", buf: w, want: s.wLen()},
		convBuf{name: "bias", buf: bias, want: s.OutC, optional: true},
		s.colsBuf(cols))
	k := s.InC * s.KH * s.KW
	p := s.OutH() * s.OutW()
	inSize, outSize := s.InC*s.InH*s.InW, s.OutC*p
	direct := s.pointwise()
	for n := 0; n < s.Batch; n++ {
		x := in[n*inSize : (n+1)*inSize]
		y := out[n*outSize : (n+1)*outSize]
		b := x
		if !direct {
			b = cols[:k*p]
			im2col(b, x, s)
		}
		var beta float32
		if bias != nil {
			for o, v := range bias {
				row := y[o*p : (o+1)*p]
				for i := range row {
					row[i] = v
				}
			}
			beta = 1
		}
		Sgemm(false, false, s.OutC, p, k, 1, w, k, b, p, beta, y, p)
	}
}

// Conv2DBackward accumulates the parameter gradients of Conv2DForward and
// writes its input gradient:
//
//	dW   += dOut x cols^T, per image        dW (OutC, InC, KH, KW)
//	dBias += sum of dOut over B, H, W       dBias (OutC) or nil
//	dIn   = col2im(w^T x dOut)              dIn (B, InC, InH, InW) or nil (first layer)
//	dOut (B, OutC, OutH, OutW)   in, w: as in Conv2DForward   cols: scratch (ColsLen)
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
	inSize, outSize := s.InC*s.InH*s.InW, s.OutC*p
	direct := s.pointwise()
	for n := 0; n < s.Batch; n++ {
		x := in[n*inSize : (n+1)*inSize]
		g := dOut[n*outSize : (n+1)*outSize]
		if dBias != nil {
			for o := range dBias {
				dBias[o] += float32(sum64(g[o*p : (o+1)*p]))
			}
		}
		b := x
		if !direct {
			b = cols[:k*p]
			im2col(b, x, s)
		}
		Sgemm(false, true, s.OutC, k, p, 1, g, p, b, p, 1, dW, k)
		if dIn == nil {
			continue
		}
		dx := dIn[n*inSize : (n+1)*inSize]
		if direct {
			Sgemm(true, false, k, p, s.OutC, 1, w, k, g, p, 0, dx, p)
			continue
		}
		Sgemm(true, false, k, p, s.OutC, 1, w, k, g, p, 0, b, p)
		col2im(dx, b, s)
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

// im2col unrolls one image (InC, InH, InW) into cols (InC*KH*KW, OutH*OutW):
// row (c, kh, kw), column (oh, ow) holds img[c, oh*Stride-Pad+kh,
// ow*Stride-Pad+kw], or 0 in the padding. Each output row is a zeroed head,
// a copied (or, strided, gathered) run and a zeroed tail.
func im2col(cols, img []float32, s ConvShape) {
	if g := channelGrain(s); Threads() > 1 && s.InC >= 2*g {
		parallelFor(s.InC, g, func(c0, c1 int) { im2colChannels(cols, img, s, c0, c1) })
		return
	}
	im2colChannels(cols, img, s, 0, s.InC) // no goroutines, no allocation
}

// channelGrain is the fewest input channels one goroutine of im2col or
// col2im takes: enough for about 64K values of cols.
func channelGrain(s ConvShape) int {
	return max(1, (1<<16)/max(1, s.KH*s.KW*s.OutH()*s.OutW()))
}

// im2colChannels is im2col for input channels c0..c1-1 (their rows of cols).
func im2colChannels(cols, img []float32, s ConvShape, c0, c1 int) {
	oh, ow := s.OutH(), s.OutW()
	p := oh * ow
	h, w, st := s.InH, s.InW, s.Stride
	r := c0 * s.KH * s.KW
	for c := c0; c < c1; c++ {
		plane := img[c*h*w : (c+1)*h*w]
		for kh := 0; kh < s.KH; kh++ {
			y0, y1 := convSpan(kh, s.Pad, st, h, oh)
			for kw := 0; kw < s.KW; kw++ {
				x0, x1 := convSpan(kw, s.Pad, st, w, ow)
				dst := cols[r*p : (r+1)*p]
				r++
				clear(dst[:y0*ow])
				clear(dst[y1*ow:])
				if x0 == x1 {
					clear(dst[y0*ow : y1*ow])
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
						src = src[ix0 : ix0+2*len(run)-1]
						for i := range run {
							run[i] = src[2*i]
						}
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

// col2im is the adjoint of im2col: it overwrites img (InC, InH, InW) with
// the sum over the rows of cols of each entry scattered back to its input
// pixel (padding entries are dropped).
func col2im(img, cols []float32, s ConvShape) {
	if g := channelGrain(s); Threads() > 1 && s.InC >= 2*g {
		parallelFor(s.InC, g, func(c0, c1 int) { col2imChannels(img, cols, s, c0, c1) })
		return
	}
	col2imChannels(img, cols, s, 0, s.InC)
}

// col2imChannels is col2im for input channels c0..c1-1 (their planes).
func col2imChannels(img, cols []float32, s ConvShape, c0, c1 int) {
	oh, ow := s.OutH(), s.OutW()
	p := oh * ow
	h, w, st := s.InH, s.InW, s.Stride
	r := c0 * s.KH * s.KW
	for c := c0; c < c1; c++ {
		plane := img[c*h*w : (c+1)*h*w]
		clear(plane)
		for kh := 0; kh < s.KH; kh++ {
			y0, y1 := convSpan(kh, s.Pad, st, h, oh)
			for kw := 0; kw < s.KW; kw++ {
				x0, x1 := convSpan(kw, s.Pad, st, w, ow)
				src := cols[r*p : (r+1)*p]
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
					for i, v := range run {
						d[st*i] += v
					}
				}
			}
		}
	}
}

// Conv2DForwardNaive is the reference for Conv2DForward: the direct 7-loop
// convolution with float64 accumulation, no BLAS and no scratch.
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
								acc += float64(w[((o*s.InC+c)*s.KH+kh)*s.KW+kw]) * float64(in[((n*s.InC+c)*s.InH+iy)*s.InW+ix])
							}
						}
					}
					out[((n*s.OutC+o)*oh+y)*ow+x] = float32(acc)
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
					g := float64(dOut[((n*s.OutC+o)*oh+y)*ow+x])
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
								xi := ((n*s.InC+c)*s.InH+iy)*s.InW + ix
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
