package kernels

import "runtime"

// The stem's direct convolution: ResNet's first layer, a 7x7 convolution
// with stride 2 and padding 3 of a few input channels (3 for images),
// computed without im2col. Its im2col matrix is 49 InC rows by every
// output pixel of the batch (59 MB for ResNet at batch 8): written and
// read back it cost a third of the layer, and its product, of depth 147,
// spends much of its time packing.
//
// Each input row is first split into its even and odd columns, with zero
// padding around them (stemRowFloats floats each): output column x of tap
// kw reads input column 2x + kw - 3, which is even column x + (kw-3)/2
// for odd kw and odd column x + (kw-4)/2 for even kw, so sixteen
// consecutive output columns of any tap are sixteen consecutive floats of
// a split row. The kernel (stemRowAVX512V4, V3; asmgen/stem_avx512.py)
// holds four output channels by four (or three) vectors of sixteen columns
// of one output row in registers and runs over the InC x 7 input rows of
// its window and their seven taps: per tap four weight broadcasts, one
// load per vector and sixteen FMAs. Rows of the window outside the image
// are a row of zeros. The filter gradient (stemWgrad) runs over the same
// split rows: two output channels by seven taps of one window row summed
// in 14 registers over every output row.

// stemRowFloats is the length of each half (even columns, odd columns) of
// a split input row: room for OutW + 3 columns and a vector's overrun.
const stemRowFloats = 128

// stemShape reports whether the direct stem path can take s: a
// channel-major 7x7 convolution with stride 2 and padding 3 of an even
// width of at most 2 (stemRowFloats - 16) columns, whose output width is a
// sum of vectors of 16 in blocks of 4 and 3, output channels in fours and
// at most stemMaxInC input channels.
func (s ConvShape) stemShape() bool {
	ow := s.OutW()
	v := ow / 16
	return s.Layout == CNHW && s.KH == 7 && s.KW == 7 && s.Stride == 2 && s.Pad == 3 &&
		s.InC >= 1 && s.InC <= stemMaxInC && s.OutC%4 == 0 && s.OutC > 0 &&
		ow%16 == 0 && ow <= stemRowFloats-16 && s.InW == 2*ow && s.OutH() > 0 &&
		v != 1 && v != 2 && v != 5
}

// stemDirect reports whether the forward pass of s takes the direct stem
// path: the kernel runs here, s is a stem, and the chooser takes it.
func (s ConvShape) stemDirect() bool {
	if !stemFast || !useAsm || !s.stemShape() {
		return false
	}
	recordConv(KernelStem, s)
	return ChooseStem(s) == ChoiceDirect
}

// stemMaxInC bounds the input channels (the window's rows go on the stack).
const stemMaxInC = 4

// stemScratchLen is the scratch the direct stem path uses: the split
// rows, a split row of zeros, then the packed filters (stemForward) or the
// filter gradient's sums, 14 x 16 for each pair of output channels and
// window row (stemWgrad).
func stemScratchLen(s ConvShape) int {
	return (s.InC*s.Batch*s.InH+1)*2*stemRowFloats + max(s.OutC*s.InC*49, s.OutC/2*s.InC*7*stemWgradSums)
}

// stemWgradSums is the sums of one window row for two output channels:
// 14 of sixteen lanes.
const stemWgradSums = 14 * 16

// stemBlocks returns the widths, in vectors of 16 columns, of the blocks
// an output row is cut into: threes until the rest is a multiple of four,
// then fours (v is not 1, 2 or 5).
func stemBlocks(v int) []int {
	var bs []int
	for v > 0 {
		if v%4 == 0 {
			bs = append(bs, 4)
			v -= 4
		} else {
			bs = append(bs, 3)
			v -= 3
		}
	}
	return bs
}

// stemSplit writes every input row of in (InC, B, InH, InW) into scratch
// split into its even columns (from float 1) and its odd ones (from float
// stemRowFloats + 2), zeros around them, then one split row of zeros, and
// returns that part of scratch.
func stemSplit(in []float32, s ConvShape, scratch []float32) []float32 {
	const half = stemRowFloats
	rows, ow := s.InC*s.Batch*s.InH, s.OutW()
	split := scratch[:(rows+1)*2*half]
	clear(split[rows*2*half:])
	parallelFor(rows, 64, func(lo, hi int) {
		for r := lo; r < hi; r++ {
			src := in[r*s.InW : (r+1)*s.InW]
			d := split[r*2*half : (r+1)*2*half]
			clear(d[:1])
			gather2(d[1:1+ow], src)
			clear(d[1+ow : half+2])
			gather2(d[half+2:half+2+ow], src[1:])
			clear(d[half+2+ow:])
		}
	})
	return split
}

// stemWindowRow is the split row (from stemSplit) that window row kh of
// output row y of image img reads in input channel ci: input row
// 2y + kh - 3, or the row of zeros after the others outside the image.
func stemWindowRow(split []float32, s ConvShape, ci, img, y, kh int) []float32 {
	iy := 2*y + kh - 3
	if iy < 0 || iy >= s.InH {
		iy, ci, img = 0, s.InC, 0 // the zero row, after every channel's
	}
	return split[((ci*s.Batch+img)*s.InH+iy)*2*stemRowFloats:]
}

// stemWgrad is the filter gradient of the direct stem path:
// dW (OutC, InC, 7, 7) += dOut x (in's windows), each thread taking its
// own blocks of two output channels, so the sums do not depend on the
// thread count. The output rows are taken stemWgradRows at a time: the
// input rows they meet (21 split rows a channel, 63 KB for three; a row
// of zeros past the image) are listed once and stay in L2 while every
// block of the thread's takes them, the block's gradient rows (7 KB) in
// L1 while it runs over the window rows (c, kh). For each, the kernel
// (stemWgradAVX512) adds the rows' products into that window row's 14
// sums of sixteen lanes, kept in memory between calls (19 KB a block for
// three channels). The lanes are added in order at the end. scratch is
// used if it holds stemScratchLen(s) values.
func stemWgrad(dW, dOut, in []float32, s ConvShape, scratch []float32) {
	b, c := s.Batch, s.InC
	oh, ow := s.OutH(), s.OutW()
	if n := stemScratchLen(s); len(scratch) < n {
		scratch = make([]float32, n)
	}
	const sums = stemWgradSums
	split := stemSplit(in, s, scratch)
	acc := scratch[len(split) : len(split)+s.OutC/2*c*7*sums]
	plane := b * oh * ow
	parallelFor(s.OutC/2, 1, func(lo, hi int) {
		// The window rows' input rows for a block of output rows, built
		// once for every channel block (a row of zeros past the image).
		var rows [stemMaxInC * 7][stemWgradRows]uintptr
		acc := acc[lo*c*7*sums : hi*c*7*sums]
		clear(acc)
		for img := 0; img < b; img++ {
			for y0 := 0; y0 < oh; y0 += stemWgradRows {
				nr := min(stemWgradRows, oh-y0)
				for ci := 0; ci < c; ci++ {
					for kh := 0; kh < 7; kh++ {
						for r := 0; r < nr; r++ {
							rows[ci*7+kh][r] = uintptrOf(stemWindowRow(split, s, ci, img, y0+r, kh))
						}
					}
				}
				for ob := lo; ob < hi; ob++ {
					g := &dOut[2*ob*plane+(img*oh+y0)*ow]
					for k := 0; k < c*7; k++ {
						stemWgradKernel(&rows[k][0], nr, ow/16, g, ow*4, plane*4, &acc[((ob-lo)*c*7+k)*sums])
					}
				}
			}
		}
		for ob := lo; ob < hi; ob++ {
			for ci := 0; ci < c; ci++ {
				for kh := 0; kh < 7; kh++ {
					for j := 0; j < 2; j++ {
						for kw := 0; kw < 7; kw++ {
							var sum float32
							k := (((ob-lo)*c+ci)*7+kh)*sums + (j*7+kw)*16
							for _, v := range acc[k : k+16] {
								sum += v
							}
							dW[((2*ob+j)*c+ci)*49+kh*7+kw] += sum
						}
					}
				}
			}
		}
		runtime.KeepAlive(split) // the kernel read it through the rows' addresses
	})
}

// stemWgradRows is how many output rows of a block of two channels'
// gradient stemWgrad takes at a time.
const stemWgradRows = 8

// stemForward is convForward by the direct stem path (s.stemShape(), with
// stemFast): out (OutC, B, OutH, OutW) = bias + w * in. scratch is used if
// it holds stemScratchLen(s) values (ColsLen covers it when the chooser
// takes this path); else it allocates.
func stemForward(out, in, w, bias []float32, s ConvShape, scratch []float32) {
	b, c := s.Batch, s.InC
	oh, ow := s.OutH(), s.OutW()
	n := stemScratchLen(s)
	if len(scratch) < n {
		scratch = make([]float32, n)
	}
	split := stemSplit(in, s, scratch)
	wp := scratch[len(split):n]
	// Filters in the kernel's order: four output channels, then window
	// row (c, kh), tap kw and channel of the four.
	for o := 0; o < s.OutC; o++ {
		for ci := 0; ci < c; ci++ {
			for k := 0; k < 49; k++ {
				wp[((o/4*c+ci)*49+k)*4+o%4] = w[(o*c+ci)*49+k]
			}
		}
	}
	var zeroBias [4]float32
	blocks := stemBlocks(ow / 16)
	parallelFor(b*oh, 8, func(lo, hi int) {
		var rows [stemMaxInC * 7]uintptr
		for ny := lo; ny < hi; ny++ {
			img, y := ny/oh, ny%oh
			x0 := 0
			for _, nv := range blocks {
				for ci := 0; ci < c; ci++ {
					for kh := 0; kh < 7; kh++ {
						rows[ci*7+kh] = uintptrOf(stemWindowRow(split, s, ci, img, y, kh)[x0:])
					}
				}
				for o := 0; o < s.OutC; o += 4 {
					bp := &zeroBias[0]
					if bias != nil {
						bp = &bias[o]
					}
					dst := &out[((o*b+img)*oh+y)*ow+x0]
					stemRow(nv, &rows[0], c*7, &wp[o*c*49], bp, dst, b*oh*ow*4)
				}
				x0 += 16 * nv
			}
		}
		runtime.KeepAlive(split) // the kernel read it through the rows' addresses
	})
}
