package kernels

// Winograd's minimal filtering F(2x2, 3x3) (Lavin and Gray, "Fast
// Algorithms for Convolutional Neural Networks", 2016) for the 3x3,
// stride-1 convolutions that make up most of a ResNet's work. Each 2x2
// block of outputs of one filter comes from a 4x4 tile of the input:
//
//	Y = A^T [ (G g G^T) . (B^T d B) ] A
//
// where g is a 3x3 filter, d the 4x4 input tile and . the elementwise
// product. Summed over input channels, the elementwise products become 16
// SGEMMs (one per position of the 4x4 tile) of (OutC x InC) by
// (InC x tiles), 16 multiply-adds per 2x2 outputs and input channel
// instead of im2col's 36: 2.25 times fewer, at the price of the three
// transforms, whose cost grows with the data rather than with the channel
// product. The matrices (rows of B^T, G and A^T):
//
//	B^T = [1 0 -1 0; 0 1 1 0; 0 -1 1 0; 0 1 0 -1]
//	G   = [1 0 0; 1/2 1/2 1/2; 1/2 -1/2 1/2; 0 0 1]
//	A^T = [1 1 1 0; 0 1 -1 -1]
//
// Only additions and halvings, so the result differs from the direct
// convolution's by a few float32 roundings (tested against
// Conv2DForwardNaive).
//
// The 5x5, stride-1 convolutions (the paper's mnistnet spends 83% of its
// work in one) go through F(2x2, 5x5) the same way (winograd5.go): 6x6
// input tiles, 36 SGEMMs, 36 multiply-adds per 2x2 outputs and input
// channel instead of 100 (2.78 times fewer). Its matrices come from the
// points 0, 1, -1, 2, -2 and infinity, the input transform's being the
// one of F(4x4, 3x3) (Lavin and Gray's, the same points).

// useWinograd lets tests and benchmarks turn the Winograd path off.
var useWinograd = true

// winogradMinChannels is the fewest input and output channels for which
// the Winograd path pays: with few channels its SGEMMs are too thin and
// the transforms dominate.
const winogradMinChannels = 16

// winograd reports a convolution Conv2DForward computes with F(2x2, 3x3),
// F(4x4, 3x3) or F(2x2, 5x5): channel-major, 3x3 or 5x5, stride 1,
// padding less than the kernel, enough channels, and the chooser
// (ChooseConv) takes a Winograd form over im2col for it.
func (s ConvShape) winograd() bool {
	if !s.wgShape() {
		return false
	}
	recordConv(KernelConv, s)
	c := ChooseConv(s)
	return c == ChoiceWinograd || c == ChoiceWinograd4
}

// wgShape reports a shape the Winograd path can take (winograd without
// the chooser), however few its tiles: the chooser decides whether they
// pay (convDefault, where no table measured the class).
func (s ConvShape) wgShape() bool {
	return useWinograd && s.Layout == CNHW && s.KH == s.KW && (s.KH == 3 || s.KH == 5) && s.Stride == 1 && s.Pad < s.KH &&
		s.InC >= winogradMinChannels && s.OutC >= winogradMinChannels
}

// wgOut is the side of the Winograd path's output blocks: 4 for a 3x3
// the chooser sends to F(4x4, 3x3), else 2.
func (s ConvShape) wgOut() int {
	if s.KH == 3 && s.wgShape() && ChooseConv(s) == ChoiceWinograd4 {
		return 4
	}
	return 2
}

// wgTile is the side of the Winograd path's input tiles (KH + wgOut - 1:
// 4 for F(2x2, 3x3), 6 for F(4x4, 3x3) and F(2x2, 5x5)).
func (s ConvShape) wgTile() int { return s.KH + s.wgOut() - 1 }

// wgPlanes is the number of entries of a transformed tile, and so of
// SGEMMs: 16 or 36.
func (s ConvShape) wgPlanes() int { return s.wgTile() * s.wgTile() }

// wgSkew pads the distance between two of the 16 (or 36) planes of a transformed
// buffer by one cache line. Their natural sizes are multiples of 4 KiB,
// so without it the 16 streams a transform writes would all fall into the
// same L1 set and evict each other (BenchmarkConv2D's cnhw cases show the
// transforms' cost).
const wgSkew = 16

// wgPlane is the stride between two planes of n values.
func wgPlane(n int) int { return n + wgSkew }

// wgPlaneViews sets views[xi] to the n values of entry xi of a run of
// tiles: x[xi*plane : xi*plane+n].
func wgPlaneViews(views [][]float32, x []float32, plane, n int) {
	for xi := range views {
		views[xi] = x[xi*plane : xi*plane+n]
	}
}

// wgTiles is the number of output blocks (wgOut square) down and across
// one image.
func (s ConvShape) wgTiles() (th, tw int) {
	m := s.wgOut()
	return (s.OutH() + m - 1) / m, (s.OutW() + m - 1) / m
}

// wgTiles2 is wgTiles for 2x2 blocks, whatever the chooser says: the
// shape's class (ConvClass) and the default rule (convDefault) count it.
func (s ConvShape) wgTiles2() (th, tw int) { return (s.OutH() + 1) / 2, (s.OutW() + 1) / 2 }

// wgRowLen is the length of the slots' row buffers: the input rows of
// F(2x2, 3x3) padded for its AVX-512 transform, and an output row of a
// run of tiles (wgOut per tile).
func (s ConvShape) wgRowLen() int {
	_, tw := s.wgTiles()
	if s.wgOut() == 4 {
		return max(wgRowPad(tw), wg43RowPad(tw))
	}
	return wgRowPad(tw)
}

// wgMinTiles is the fewest 2x2 output tiles (over the batch, the class's
// power of two) for which the default rule (convDefault) takes the
// Winograd path: its filter transform
// (16 values per filter, against 9) is paid once per call, its savings per
// tile. A calibration table measures every class, these too. (A variable
// so that tests can take the path on small shapes.)
var wgMinTiles = 256

// wgChunk is how many tiles one thread transforms, multiplies and
// transforms back at a time: a multiple of the SGEMM kernel's 48 columns
// whose transformed input and products (16 (InC + OutC) values a tile)
// stay near wgChunkBudget values, so that they do not leave the thread's
// cache between the three steps; at least 48 and at most 192 tiles.
func (s ConvShape) wgChunk() int {
	per := s.wgPlanes() * (s.InC + s.OutC)
	return min(192, max(48, wgChunkBudget/per/48*48))
}

// wgChunkBudget: a quarter of a megabyte of float32s.
const wgChunkBudget = 1 << 16

// wgSlots is how many threads winogradForward uses for s: one scratch slot
// each.
func (s ConvShape) wgSlots() int {
	th, tw := s.wgTiles()
	chunks := (s.Batch*th*tw + s.wgChunk() - 1) / s.wgChunk()
	return max(1, min(Threads(), chunks))
}

// wgColsLen is the scratch of the Winograd path: the transformed filters
// (wgPlanes planes of OutC x InC), the same packed for the micro-kernel
// (when wgPacked), for F(2x2, 5x5) the padded input (wg5PaddedLen), then
// per slot one chunk's transformed input (wgPlanes planes of InC x chunk),
// products (as many planes of OutC x chunk) and row buffers.
func (s ConvShape) wgColsLen() int {
	x := s.wgPlanes()
	return x*wgPlane(s.OutC*s.InC) + x*s.wgPackedPlane() + s.wg5PaddedLen() + s.wgSlots()*s.wgSlotLen()
}

// wgPacked reports whether the wgPlanes products use the AVX-512 kernel with the
// transformed filters packed once for all chunks (packAll), rather than
// packed again by every product.
func (s ConvShape) wgPacked() bool { return useFastGemm(s.OutC, s.wgChunk()) }

// wgPackedPlane is the stride of the packed transformed filters (0 when
// not wgPacked).
func (s ConvShape) wgPackedPlane() int {
	if !s.wgPacked() {
		return 0
	}
	return wgPlane(packedALen(s.OutC, s.InC))
}

// wgSlotLen is one slot: the chunk's two transformed buffers, then the
// padded input rows of one tile row of F(2x2, 3x3), wgTile of wgRowLen,
// whose space the output rows (as long) use after them, then for F(2x2,
// 5x5) and F(4x4, 3x3) the transforms' scratch (wg5QLen).
func (s ConvShape) wgSlotLen() int {
	c := s.wgChunk()
	n := s.wgPlanes()*(wgPlane(s.InC*c)+wgPlane(s.OutC*c)) + s.wgTile()*s.wgRowLen()
	if s.wgTile() == 6 {
		n += wg5QLen
	}
	return n
}

// wgSlot is one thread's scratch of the Winograd path (wgSlotLen, the
// slots one after another from cols[head:]): a chunk's transformed input v
// and products m (wgPlanes planes each, vp and mp apart), the row buffers
// (wgTile of wgRowLen) and, for F(2x2, 5x5), the input transform's
// scratch q (wg5QLen).
type wgSlot struct {
	v, m, rows, q []float32
	vp, mp        int
}

// wgSlotsIn is how many slots run: as many as Threads() says, or as cols
// has room for from head on (should the setting have changed since
// ColsLen).
func (s ConvShape) wgSlotsIn(cols []float32, head int) int {
	return max(1, min(s.wgSlots(), (len(cols)-head)/s.wgSlotLen()))
}

// wgSlotAt is slot i of the slots from cols[head:].
func (s ConvShape) wgSlotAt(cols []float32, head, i int) wgSlot {
	n, x, chunk := s.wgSlotLen(), s.wgPlanes(), s.wgChunk()
	sl := wgSlot{vp: wgPlane(s.InC * chunk), mp: wgPlane(s.OutC * chunk)}
	scratch := cols[head+i*n : head+(i+1)*n]
	sl.v = scratch[:x*sl.vp]
	sl.m = scratch[x*sl.vp : x*(sl.vp+sl.mp)]
	aux := scratch[x*(sl.vp+sl.mp):]
	sl.rows, sl.q = aux[:s.wgTile()*s.wgRowLen()], aux[s.wgTile()*s.wgRowLen():]
	return sl
}

// winogradForward is convForward for a shape with s.winograd(): out =
// w * in + bias. The batch's tiles are cut into chunks of wgChunk; each
// thread takes a run of chunks and, chunk by chunk, transforms its input,
// multiplies (wgPlanes SGEMMs of OutC x InC by InC x chunk) and transforms the
// products into out. Every output is computed by one thread in the same
// order whatever the threads, so the result does not depend on them.
func winogradForward(out, in, w, bias []float32, s ConvShape, cols []float32) {
	th, tw := s.wgTiles()
	tiles := s.Batch * th * tw
	x := s.wgPlanes()
	up := wgPlane(s.OutC * s.InC)
	u := cols[:x*up]
	switch {
	case s.KH == 5:
		winograd5Filters(u, w, s.OutC, s.InC)
	case s.wgOut() == 4:
		winograd43Filters(u, w, s.OutC, s.InC)
	default:
		winogradFilters(u, w, s.OutC, s.InC)
	}
	pp := s.wgPackedPlane()
	packed := cols[len(u) : len(u)+x*pp]
	if pp > 0 {
		parallelFor(x, 1, func(x0, x1 int) {
			for xi := x0; xi < x1; xi++ {
				packAll(packed[xi*pp:], u[xi*up:], s.InC, s.OutC, s.InC)
			}
		})
	}
	head := len(u) + len(packed)
	padded := cols[head : head+s.wg5PaddedLen()]
	if len(padded) > 0 {
		winograd5Pad(padded, in, s)
	}
	head += len(padded)
	chunk := s.wgChunk()
	chunks := (tiles + chunk - 1) / chunk
	parallelSlots(chunks, s.wgSlotsIn(cols, head), func(slot, c0, c1 int) {
		sl := s.wgSlotAt(cols, head, slot)
		v, m, vp, mp := sl.v, sl.m, sl.vp, sl.mp
		for ci := c0; ci < c1; ci++ {
			t0 := ci * chunk
			nt := min(chunk, tiles-t0)
			if len(padded) > 0 {
				winograd5Input(v, vp, nt, padded, s, t0, sl.q)
			} else {
				winogradInput(v, vp, nt, in, s, t0, sl.rows)
			}
			for xi := 0; xi < x; xi++ {
				if pp > 0 {
					sgemmPackedA(s.OutC, nt, s.InC, packed[xi*pp:], v[xi*vp:], nt, m[xi*mp:], nt)
					continue
				}
				sgemmSerial(false, false, s.OutC, nt, s.InC, 1, u[xi*up:], s.InC,
					v[xi*vp:], nt, 0, m[xi*mp:], nt)
			}
			winogradOutput(out, m, mp, nt, bias, s, t0, sl.rows, sl.q)
		}
	})
}

// winogradFilters writes u (16 planes of OutC x InC, wgPlane apart) =
// G g G^T for every 3x3 filter g of w (OutC, InC, 3, 3): u[xi, o, c] is
// entry xi (row-major 4x4) of filter (o, c)'s transform.
func winogradFilters(u, w []float32, outC, inC int) {
	plane := wgPlane(outC * inC)
	parallelFor(outC, 4, func(o0, o1 int) {
		// Filter f = o*inC + c's entries go to u[xi*plane + f]: the
		// filters of rows o0..o1-1 are one run of f.
		f0, f1 := o0*inC, o1*inC
		f0 += wgFiltersFast(u, plane, w, f0, f1)
		for f := f0; f < f1; f++ {
			g := w[f*9 : f*9+9 : f*9+9]
			// p = g G^T (3x4), row by row.
			var p [3][4]float32
			for k := 0; k < 3; k++ {
				g0, g1, g2 := g[3*k], g[3*k+1], g[3*k+2]
				p[k] = [4]float32{g0, 0.5 * (g0 + g1 + g2), 0.5 * (g0 - g1 + g2), g2}
			}
			for j := 0; j < 4; j++ {
				p0, p1, p2 := p[0][j], p[1][j], p[2][j]
				u[(0*4+j)*plane+f] = p0
				u[(1*4+j)*plane+f] = 0.5 * (p0 + p1 + p2)
				u[(2*4+j)*plane+f] = 0.5 * (p0 - p1 + p2)
				u[(3*4+j)*plane+f] = p2
			}
		}
	})
}

// wgSegment is a run of tiles of one tile row: tiles tx0..tx0+k-1 of row
// ty of image n, the first of them at index at of its chunk.
type wgSegment struct{ n, ty, tx0, k, at int }

// wgSegmentAt is the run that starts at tile t, within the nt tiles from
// tile t0 on, of a convolution with th x tw tiles per image (wgTiles).
func wgSegmentAt(th, tw, t0, nt, t int) wgSegment {
	r, tx0 := t/tw, t%tw
	return wgSegment{n: r / th, ty: r % th, tx0: tx0, k: min(tw-tx0, t0+nt-t), at: t - t0}
}

// winogradInput writes v (16 planes of InC x nt, plane apart) = B^T d B
// for the nt tiles from tile t0 on of an F(2x2, 3x3) convolution
// (channel-major input): tile t = (n th + ty) tw + tx starts at row 2 ty -
// Pad, column 2 tx - Pad of image n, zeros outside the image. rows is
// scratch of at least 4 wgRowPad(tw).
func winogradInput(v []float32, plane, nt int, in []float32, s ConvShape, t0 int, rows []float32) {
	th, tw := s.wgTiles()
	hw := s.InH * s.InW
	rowLen := wgRowPad(tw)
	var buf [4][]float32
	for i := range buf {
		buf[i] = rows[i*rowLen : (i+1)*rowLen]
	}
	// Segments outside, channels inside: a segment is found with two
	// divisions, once rather than once per channel.
	for t := t0; t < t0+nt; {
		sg := wgSegmentAt(th, tw, t0, nt, t)
		t += sg.k
		for c := 0; c < s.InC; c++ {
			img := in[(c*s.Batch+sg.n)*hw : (c*s.Batch+sg.n+1)*hw]
			// buf[i][j] is input row 2 ty - Pad + i, column 2 tx0 - Pad + j.
			x0 := 2*sg.tx0 - s.Pad
			width := 2*sg.k + 2
			for i := range buf {
				b := buf[i][:width]
				clear(b)
				if y := 2*sg.ty - s.Pad + i; y >= 0 && y < s.InH {
					lo, hi := max(x0, 0), min(x0+width, s.InW)
					if lo < hi {
						copy(b[lo-x0:], img[y*s.InW+lo:y*s.InW+hi])
					}
				}
			}
			winogradInputRow(v[c*nt+sg.at:], plane, &buf, sg.k)
		}
	}
}

// winogradInputRow transforms n tiles side by side from their four padded
// input rows (tile k's columns 2k..2k+3); tile k's entry xi goes to
// v[xi*plane + k].
func winogradInputRow(v []float32, plane int, rows *[4][]float32, n int) {
	if wgInputRowFast(v, plane, rows, n) {
		return
	}
	r0, r1, r2, r3 := rows[0], rows[1], rows[2], rows[3]
	var o [16][]float32
	wgPlaneViews(o[:], v, plane, n)
	for tx := 0; tx < n; tx++ {
		x := 2 * tx
		a, b, c, d := r0[x:x+4:x+4], r1[x:x+4:x+4], r2[x:x+4:x+4], r3[x:x+4:x+4]
		// q = d B, row by row: q[k] = (d0-d2, d1+d2, d2-d1, d1-d3).
		a0, a1, a2, a3 := a[0]-a[2], a[1]+a[2], a[2]-a[1], a[1]-a[3]
		b0, b1, b2, b3 := b[0]-b[2], b[1]+b[2], b[2]-b[1], b[1]-b[3]
		c0, c1, c2, c3 := c[0]-c[2], c[1]+c[2], c[2]-c[1], c[1]-c[3]
		d0, d1, d2, d3 := d[0]-d[2], d[1]+d[2], d[2]-d[1], d[1]-d[3]
		// v = B^T q: rows (q0-q2, q1+q2, q2-q1, q1-q3).
		o[0][tx], o[1][tx], o[2][tx], o[3][tx] = a0-c0, a1-c1, a2-c2, a3-c3
		o[4][tx], o[5][tx], o[6][tx], o[7][tx] = b0+c0, b1+c1, b2+c2, b3+c3
		o[8][tx], o[9][tx], o[10][tx], o[11][tx] = c0-b0, c1-b1, c2-b2, c3-b3
		o[12][tx], o[13][tx], o[14][tx], o[15][tx] = b0-d0, b1-d1, b2-d2, b3-d3
	}
}

// winogradOutput writes out = A^T m A (+ bias) for the nt tiles from
// tile t0 on, from their products m (wgPlanes planes of OutC x nt, plane apart),
// dropping the outputs of edge tiles that fall past the image. buf is
// scratch of wgOut rows of wgRowLen; q, of wg43RLen for F(4x4, 3x3).
func winogradOutput(out, m []float32, plane, nt int, bias []float32, s ConvShape, t0 int, buf, q []float32) {
	th, tw := s.wgTiles()
	oh, ow := s.OutH(), s.OutW()
	mo := s.wgOut()
	rowLen := s.wgRowLen()
	var rows [4][]float32
	for i := range mo {
		rows[i] = buf[i*rowLen : (i+1)*rowLen]
	}
	two := (*[2][]float32)(rows[:2])
	for t := t0; t < t0+nt; {
		sg := wgSegmentAt(th, tw, t0, nt, t)
		t += sg.k
		x0, x1 := mo*sg.tx0, min(mo*(sg.tx0+sg.k), ow)
		for o := 0; o < s.OutC; o++ {
			var b float32
			if bias != nil {
				b = bias[o]
			}
			switch {
			case mo == 4:
				winograd43OutputRow(&rows, m[o*nt+sg.at:], plane, sg.k, b, q)
			case s.KH == 5:
				winograd5OutputRow(two, m[o*nt+sg.at:], plane, sg.k, b)
			default:
				winogradOutputRow(two, m[o*nt+sg.at:], plane, sg.k, b)
			}
			img := out[(o*s.Batch+sg.n)*oh*ow : (o*s.Batch+sg.n+1)*oh*ow]
			for i := range mo {
				if y := mo*sg.ty + i; y < oh {
					copy(img[y*ow+x0:y*ow+x1], rows[i][:x1-x0])
				}
			}
		}
	}
}

// winogradOutputRow writes n tiles' two output rows (2n values each, bias
// added) from the products: tile k's entry xi is m[xi*plane + k].
func winogradOutputRow(rows *[2][]float32, m []float32, plane, n int, bias float32) {
	if wgOutputRowFast(rows, m, plane, n, bias) {
		return
	}
	var in [16][]float32
	wgPlaneViews(in[:], m, plane, n)
	y0, y1 := rows[0][:2*n], rows[1][:2*n]
	for tx := 0; tx < n; tx++ {
		// r = m A, row by row: (m0+m1+m2, m1-m2-m3).
		r00, r01 := in[0][tx]+in[1][tx]+in[2][tx], in[1][tx]-in[2][tx]-in[3][tx]
		r10, r11 := in[4][tx]+in[5][tx]+in[6][tx], in[5][tx]-in[6][tx]-in[7][tx]
		r20, r21 := in[8][tx]+in[9][tx]+in[10][tx], in[9][tx]-in[10][tx]-in[11][tx]
		r30, r31 := in[12][tx]+in[13][tx]+in[14][tx], in[13][tx]-in[14][tx]-in[15][tx]
		// y = A^T r: rows (r0+r1+r2, r1-r2-r3).
		x := 2 * tx
		y0[x], y0[x+1] = r00+r10+r20+bias, r01+r11+r21+bias
		y1[x], y1[x+1] = r10-r20-r30+bias, r11-r21-r31+bias
	}
}
