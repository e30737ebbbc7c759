package kernels

// Winograd's F(2x2, 5x5) for the 5x5, stride-1 convolutions (winograd.go
// has the path they share with F(2x2, 3x3)). With the points 0, 1, -1, 2,
// -2 and infinity, the matrices (rows) are
//
//	B^T = [4 0 -5 0 1 0; 0 -4 -4 1 1 0; 0 4 -4 -1 1 0;
//	       0 -2 -1 2 1 0; 0 2 -1 -2 1 0; 0 4 0 -5 0 1]
//	G   = [1/4 0 0 0 0; -1/6 -1/6 -1/6 -1/6 -1/6; -1/6 1/6 -1/6 1/6 -1/6;
//	       1/24 1/12 1/6 1/3 2/3; 1/24 -1/12 1/6 -1/3 2/3; 0 0 0 0 1]
//	A^T = [1 1 1 1 1 0; 0 1 -1 2 -2 1]
//
// and Y = A^T [(G g G^T) . (B^T d B)] A gives the 2x2 outputs of a 6x6
// input tile d and a 5x5 filter g (TestWinograd5Matrices checks the
// identity). The input and output transforms multiply only by 2 and 4,
// which is exact, so their results do not depend on whether a compiler
// fuses a multiply with an add: the AVX-512 forms (winograd_amd64.s) give
// bit for bit the Go loops' results. The filter transform divides by 3; it
// runs once per call, in float64, rounded once.

// wg5In is one column (or row) of B^T applied to d0..d5, in the order of
// operations the AVX-512 form follows.
func wg5In(d0, d1, d2, d3, d4, d5 float32) [6]float32 {
	c, e := d4-d2, 2*(d3-d1)
	return [6]float32{
		(d4 + 4*(d0-d2)) - d2,
		(d3 + d4) - 4*(d1+d2),
		(d4 - d3) + 4*(d1-d2),
		c + e,
		c - e,
		(d5 + 4*(d1-d3)) - d3,
	}
}

// wg5Out is A^T applied to m0..m5: its two values.
func wg5Out(m0, m1, m2, m3, m4, m5 float32) (float32, float32) {
	p, n := m1+m2, m1-m2
	p2, n2 := m3+m4, m3-m4
	return (m0 + p) + p2, (n + 2*n2) + m5
}

// wg5G is G g for a column g of five values (multiplications by the
// reciprocals: a division costs ten times as much): the readable form,
// which the loops use as wg5GS (TestWinograd5ScalarForms holds them
// equal).
func wg5G(g [5]float64) [6]float64 {
	const sixth, t24 = 1. / 6, 1. / 24
	g0, g1, g2, g3, g4 := g[0], g[1], g[2], g[3], g[4]
	e, o := g0+g2+g4, g1+g3
	e2, o2 := g0+4*g2+16*g4, 2*g1+8*g3
	return [6]float64{
		g0 * 0.25,
		-(e + o) * sixth,
		-(e - o) * sixth,
		(e2 + o2) * t24,
		(e2 - o2) * t24,
		g4,
	}
}

// wg5GT is G^T u for a column u of six values (in the loops: wg5GTS).
func wg5GT(u [6]float64) [5]float64 {
	const sixth, t24 = 1. / 6, 1. / 24
	p, n := (u[1]+u[2])*sixth, (u[1]-u[2])*sixth
	p2, n2 := (u[3]+u[4])*t24, (u[3]-u[4])*t24
	return [5]float64{
		u[0]/4 - p + p2,
		-n + 2*n2,
		-p + 4*p2,
		-n + 8*n2,
		-p + 16*p2 + u[5],
	}
}

// wg5GS is wg5G on five scalars, the same operations in the same order,
// for the filter transforms' loops: the array form, not inlined, copied
// its arguments and results through memory, and perf put the transform of
// mnistnet's 64 x 64 filters at 3.8% of a step, most of it stalls on
// those copies.
func wg5GS(g0, g1, g2, g3, g4 float64) (r0, r1, r2, r3, r4, r5 float64) {
	const sixth, t24 = 1. / 6, 1. / 24
	e, o := g0+g2+g4, g1+g3
	e2, o2 := g0+4*g2+16*g4, 2*g1+8*g3
	return g0 * 0.25, -(e + o) * sixth, -(e - o) * sixth, (e2 + o2) * t24, (e2 - o2) * t24, g4
}

// wg5GTS is wg5GT on six scalars (see wg5GS).
func wg5GTS(u0, u1, u2, u3, u4, u5 float64) (r0, r1, r2, r3, r4 float64) {
	const sixth, t24 = 1. / 6, 1. / 24
	p, n := (u1+u2)*sixth, (u1-u2)*sixth
	p2, n2 := (u3+u4)*t24, (u3-u4)*t24
	return u0/4 - p + p2, -n + 2*n2, -p + 4*p2, -n + 8*n2, -p + 16*p2 + u5
}

// wg5Expand is A x for the two values x0, x1 (A = (A^T)^T, 6x2).
func wg5Expand(x0, x1 float32) [6]float32 {
	return [6]float32{x0, x0 + x1, x0 - x1, x0 + 2*x1, x0 - 2*x1, x1}
}

// winograd5Filters writes u (36 planes of OutC x InC, wgPlane apart) = G g
// G^T for every 5x5 filter g of w (OutC, InC, 5, 5): u[xi, o, c] is entry
// xi (row-major 6x6) of filter (o, c)'s transform.
func winograd5Filters(u, w []float32, outC, inC int) {
	plane := wgPlane(outC * inC)
	parallelFor(outC, 4, func(o0, o1 int) {
		for o := o0; o < o1; o++ {
			for c := 0; c < inC; c++ {
				g := w[(o*inC+c)*25 : (o*inC+c)*25+25 : (o*inC+c)*25+25]
				// p = g G^T (5x6), row by row.
				var p [5][6]float64
				for k := range 5 {
					r := g[5*k : 5*k+5 : 5*k+5]
					q := &p[k]
					q[0], q[1], q[2], q[3], q[4], q[5] = wg5GS(float64(r[0]), float64(r[1]), float64(r[2]), float64(r[3]), float64(r[4]))
				}
				at := o*inC + c
				for j := range 6 {
					c0, c1, c2, c3, c4, c5 := wg5GS(p[0][j], p[1][j], p[2][j], p[3][j], p[4][j])
					u[j*plane+at] = float32(c0)
					u[(6+j)*plane+at] = float32(c1)
					u[(12+j)*plane+at] = float32(c2)
					u[(18+j)*plane+at] = float32(c3)
					u[(24+j)*plane+at] = float32(c4)
					u[(30+j)*plane+at] = float32(c5)
				}
			}
		}
	})
}

// wg5QLen is the scratch of the AVX-512 input transform: d B for 16 tiles.
const wg5QLen = 36 * 16

// wg5Padded is the size of one image of an F(2x2, 5x5) convolution's
// padded input (winograd5Pad): 2 th + 4 rows of 2 tw + 4 columns, the rows
// and columns of every tile.
func (s ConvShape) wg5Padded() (ph, pw int) {
	th, tw := s.wgTiles()
	m := s.wgOut()
	return m*th + s.KH - 1, m*tw + s.KH - 1
}

// wg5PaddedLen is the padded input of every channel and image, and past it
// the columns the AVX-512 input transform reads beyond a tile row (0 but
// for F(2x2, 5x5)).
func (s ConvShape) wg5PaddedLen() int {
	if s.wgTile() != 6 {
		return 0
	}
	ph, pw := s.wg5Padded()
	_, tw := s.wgTiles()
	return s.InC*s.Batch*ph*pw + max(wgRowPad(tw), wg43RowPad(tw))
}

// winograd5Pad writes p (wg5PaddedLen) = the channel-major input in, each
// image at row and column Pad of a ph x pw image of zeros (wg5Padded),
// so that a tile's six rows are six rows of p, pw apart, and no tile row
// is copied again for each chunk it falls in.
func winograd5Pad(p, in []float32, s ConvShape) {
	ph, pw := s.wg5Padded()
	hw := s.InH * s.InW
	parallelFor(s.InC*s.Batch, 4, func(i0, i1 int) {
		for i := i0; i < i1; i++ {
			dst := p[i*ph*pw : (i+1)*ph*pw]
			src := in[i*hw : (i+1)*hw]
			clear(dst[:s.Pad*pw])
			for y := range s.InH {
				row := dst[(s.Pad+y)*pw : (s.Pad+y+1)*pw]
				clear(row[:s.Pad])
				copy(row[s.Pad:], src[y*s.InW:(y+1)*s.InW])
				clear(row[s.Pad+s.InW:])
			}
			clear(dst[(s.Pad+s.InH)*pw:])
		}
	})
	clear(p[s.InC*s.Batch*ph*pw:])
}

// winograd5Input writes v (36 planes of InC x nt, plane apart) = B^T d B
// for the nt tiles from tile t0 on, from the padded input p
// (winograd5Pad): tile t = (n th + ty) tw + tx is rows 2 ty.. and columns
// 2 tx.. of image n there. q is scratch of wg5QLen.
func winograd5Input(v []float32, plane, nt int, p []float32, s ConvShape, t0 int, q []float32) {
	th, tw := s.wgTiles()
	ph, pw := s.wg5Padded()
	m := s.wgOut()
	for t := t0; t < t0+nt; {
		sg := wgSegmentAt(th, tw, t0, nt, t)
		t += sg.k
		for c := 0; c < s.InC; c++ {
			at := ((c*s.Batch+sg.n)*ph+m*sg.ty)*pw + m*sg.tx0
			if m == 4 {
				winograd43InputRow(v[c*nt+sg.at:], plane, p[at:], pw, sg.k, q)
				continue
			}
			winograd5InputRow(v[c*nt+sg.at:], plane, p[at:], pw, sg.k, q, s.Batch*ph*pw)
		}
	}
}

// winograd5InputRow transforms n tiles side by side from their six input
// rows, rowLen apart in rows (tile k's columns 2k..2k+5); tile k's entry
// xi goes to v[xi*plane + k]. q is scratch of wg5QLen; the same columns
// ahead values further on are read next (a hint: they are prefetched).
func winograd5InputRow(v []float32, plane int, rows []float32, rowLen, n int, q []float32, ahead int) {
	if wg5InputRowFast(v, plane, rows, rowLen, n, q, ahead) {
		return
	}
	wg6InputRowGo(v, plane, rows, rowLen, n, 2)
}

// wg6InputRowGo is the Go loop of the 6x6-tile input transforms: n tiles
// side by side, tile k's columns step k..step k+5 of the six rows (rowLen
// apart in rows), B^T d B of each into v[xi*plane + k]; step 2 for F(2x2,
// 5x5), 4 for F(4x4, 3x3).
func wg6InputRowGo(v []float32, plane int, rows []float32, rowLen, n, step int) {
	var o [36][]float32
	wgPlaneViews(o[:], v, plane, n)
	for tx := range n {
		x := step * tx
		// dB = d B, row by row, then v = B^T dB, column by column.
		var dB [6][6]float32
		for i := range dB {
			d := rows[i*rowLen+x : i*rowLen+x+6 : i*rowLen+x+6]
			dB[i] = wg5In(d[0], d[1], d[2], d[3], d[4], d[5])
		}
		for j := range 6 {
			col := wg5In(dB[0][j], dB[1][j], dB[2][j], dB[3][j], dB[4][j], dB[5][j])
			for i, y := range col {
				o[6*i+j][tx] = y
			}
		}
	}
}

// winograd5OutputRow writes n tiles' two output rows (2n values each, bias
// added) from the products: tile k's entry xi is m[xi*plane + k].
func winograd5OutputRow(rows *[2][]float32, m []float32, plane, n int, bias float32) {
	if wg5OutputRowFast(rows, m, plane, n, bias) {
		return
	}
	var in [36][]float32
	wgPlaneViews(in[:], m, plane, n)
	y0, y1 := rows[0][:2*n], rows[1][:2*n]
	for tx := range n {
		// r = M A, row by row, then Y = A^T r, column by column.
		var r [6][2]float32
		for i := range r {
			r[i][0], r[i][1] = wg5Out(in[6*i][tx], in[6*i+1][tx], in[6*i+2][tx], in[6*i+3][tx], in[6*i+4][tx], in[6*i+5][tx])
		}
		for j := range 2 {
			a, b := wg5Out(r[0][j], r[1][j], r[2][j], r[3][j], r[4][j], r[5][j])
			y0[2*tx+j], y1[2*tx+j] = a+bias, b+bias
		}
	}
}

// The weight gradient of an F(2x2, 5x5) convolution. With U = G g G^T and
// V = B^T d B, a tile's outputs are Y = A^T (U . V) A, so the gradient of
// U is the sum over the tiles of (A dY A^T) . V, and that of the filter
// is dg = G^T dU G. Summed over the tiles, the 36 entries of dU become 36
// products of (OutC x tiles) by (tiles x InC): 36 multiply-adds per 2x2
// outputs and channel pair instead of im2col's 100, at the price of the
// input transform (the forward one), the output gradient's (A dY A^T,
// additions only) and the filters'.
//
// The tiles are cut into wg5WgradSegs segments of whole chunks, a number
// that depends on the shape alone; each segment's products accumulate in
// a partial of its own, and the partials are summed in segment order, so
// the result does not depend on the threads.
const wg5WgradSegs = 4

// wgWgradSegs is how many segments winograd5Wgrad cuts s's tiles into.
func (s ConvShape) wgWgradSegs() int {
	th, tw := s.wgTiles()
	chunks := (s.Batch*th*tw + s.wgChunk() - 1) / s.wgChunk()
	return max(1, min(wg5WgradSegs, chunks))
}

// wgWgradColsLen is the scratch of winograd5Wgrad: the segments' partials
// (36 planes of OutC x InC each), the padded input, then the forward
// path's slots.
func (s ConvShape) wgWgradColsLen() int {
	return s.wgWgradSegs()*36*wgPlane(s.OutC*s.InC) + s.wg5PaddedLen() + s.wgSlots()*s.wgSlotLen()
}

// wgWgrad reports a convolution whose weight gradient Conv2DBackward
// computes with winograd5Wgrad: a 5x5 on the Winograd path, or a 3x3 on
// F(4x4, 3x3) (its 36 products of OutC x tiles by tiles x InC take 4x
// fewer multiply-adds than im2col's; F(2x2, 3x3)'s 2.25x measured slower).
func (s ConvShape) wgWgrad() bool { return (s.KH == 5 || s.wgOut() == 4) && s.winograd() }

// winograd5Wgrad accumulates dW (OutC, InC, 5, 5) += the weight gradient
// of the convolution s (wgWgrad) for the output gradient dOut and the
// input in, both channel-major.
func winograd5Wgrad(dW, dOut, in []float32, s ConvShape, cols []float32) {
	th, tw := s.wgTiles()
	tiles := s.Batch * th * tw
	chunk := s.wgChunk()
	chunks := (tiles + chunk - 1) / chunk
	segs := s.wgWgradSegs()
	up := wgPlane(s.OutC * s.InC)
	parts := cols[:segs*36*up]
	padded := cols[len(parts) : len(parts)+s.wg5PaddedLen()]
	winograd5Pad(padded, in, s)
	head := len(parts) + len(padded)
	parallelSlots(segs, s.wgSlotsIn(cols, head), func(slot, g0, g1 int) {
		sl := s.wgSlotAt(cols, head, slot)
		v, z, vp, zp := sl.v, sl.m, sl.vp, sl.mp // z: the output gradient's transform
		for g := g0; g < g1; g++ {
			du := parts[g*36*up : (g+1)*36*up]
			c0, c1 := g*chunks/segs, (g+1)*chunks/segs
			for ci := c0; ci < c1; ci++ {
				t0 := ci * chunk
				nt := min(chunk, tiles-t0)
				winograd5Input(v, vp, nt, padded, s, t0, sl.q)
				winogradOutGrad(z, zp, nt, dOut, s, t0, sl.rows, sl.q)
				var beta float32
				if ci > c0 {
					beta = 1
				}
				for xi := range 36 {
					sgemmSerial(false, true, s.OutC, s.InC, nt, 1, z[xi*zp:], nt, v[xi*vp:], nt, beta, du[xi*up:], s.InC)
				}
			}
		}
	})
	// dU: the segments' partials summed in order into the first.
	dU := parts[:36*up]
	parallelFor(36*up, 4096, func(i0, i1 int) {
		for g := 1; g < segs; g++ {
			AddInPlace(dU[i0:i1], parts[g*36*up+i0:g*36*up+i1])
		}
	})
	if s.KH == 3 {
		winograd43FilterGrads(dW, dU, up, s)
	} else {
		winograd5FilterGrads(dW, dU, up, s)
	}
}

// winogradOutGrad writes z (36 planes of OutC x nt, plane apart) = A dY
// A^T for the nt tiles from tile t0 on of a convolution whose filter
// gradient is Winograd's (wgWgrad): dY is the tile's m x m block of the
// output gradient (channel-major; m = wgOut, 2 for F(2x2, 5x5), 4 for
// F(4x4, 3x3)), zeros past the image's edge. A run of tiles inside the
// image is read from dOut in place; one at an edge is copied, zeros
// added, into rows (m rows of wgRowLen). q is scratch of wg43RLen.
func winogradOutGrad(z []float32, plane, nt int, dOut []float32, s ConvShape, t0 int, rows, q []float32) {
	th, tw := s.wgTiles()
	oh, ow := s.OutH(), s.OutW()
	m, rowLen := s.wgOut(), s.wgRowLen()
	reach := wgOutPad // how far past a run's first column its transform reads
	if m == 4 {
		reach = wg43RowPad
	}
	var buf, r [4][]float32
	for i := range m {
		buf[i] = rows[i*rowLen : (i+1)*rowLen]
	}
	// Segments outside, channels inside: a segment is found with two
	// divisions, once rather than once per channel.
	for t := t0; t < t0+nt; {
		sg := wgSegmentAt(th, tw, t0, nt, t)
		t += sg.k
		x0, x1 := m*sg.tx0, min(m*(sg.tx0+sg.k), ow)
		inside := x1-x0 == m*sg.k && m*sg.ty+m-1 < oh
		for o := 0; o < s.OutC; o++ {
			base := (o*s.Batch + sg.n) * oh * ow
			if at := base + m*sg.ty*ow + x0; inside && len(dOut)-at-(m-1)*ow >= reach(sg.k) {
				// Every row and column inside the image: the transform
				// reads them where they lie (what it reads past the
				// segment's columns only meets tiles it does not store).
				for i := range m {
					r[i] = dOut[at+i*ow:]
				}
			} else {
				img := dOut[base : base+oh*ow]
				for i := range m {
					b := buf[i][:m*sg.k]
					clear(b[x1-x0:])
					if y := m*sg.ty + i; y < oh {
						copy(b, img[y*ow+x0:y*ow+x1])
					} else {
						clear(b)
					}
					r[i] = buf[i]
				}
			}
			if m == 4 {
				winograd43OutGradRow(z[o*nt+sg.at:], plane, &r, sg.k, q)
			} else {
				winograd5OutGradRow(z[o*nt+sg.at:], plane, (*[2][]float32)(r[:2]), sg.k)
			}
		}
	}
}

// winograd5OutGradRow writes n tiles' A dY A^T from their two rows of the
// output gradient (tile k's columns 2k, 2k+1): tile k's entry xi goes to
// z[xi*plane + k].
func winograd5OutGradRow(z []float32, plane int, rows *[2][]float32, n int) {
	if wg5OutGradRowFast(z, plane, rows, n) {
		return
	}
	var o [36][]float32
	wgPlaneViews(o[:], z, plane, n)
	r0, r1 := rows[0][:2*n], rows[1][:2*n]
	for k := range n {
		// w = dY A^T row by row, then z = A w column by column.
		w0, w1 := wg5Expand(r0[2*k], r0[2*k+1]), wg5Expand(r1[2*k], r1[2*k+1])
		for j := range 6 {
			col := wg5Expand(w0[j], w1[j])
			for i, x := range col {
				o[6*i+j][k] = x
			}
		}
	}
}

// winograd5FilterGrads accumulates dW (OutC, InC, 5, 5) += G^T dU G for
// every filter, dU its 36 planes (up apart) of the summed products.
func winograd5FilterGrads(dW, dU []float32, up int, s ConvShape) {
	parallelFor(s.OutC, 4, func(o0, o1 int) {
		for o := o0; o < o1; o++ {
			for c := 0; c < s.InC; c++ {
				at := o*s.InC + c
				// G^T dU G.
				var du [6][6]float64
				for xi := range 36 {
					du[xi/6][xi%6] = float64(dU[xi*up+at])
				}
				var p [6][5]float64 // dU G, row by row
				for i := range 6 {
					d, q := &du[i], &p[i]
					q[0], q[1], q[2], q[3], q[4] = wg5GTS(d[0], d[1], d[2], d[3], d[4], d[5])
				}
				dg := dW[at*25 : at*25+25 : at*25+25]
				for l := range 5 {
					c0, c1, c2, c3, c4 := wg5GTS(p[0][l], p[1][l], p[2][l], p[3][l], p[4][l], p[5][l])
					dg[l] += float32(c0)
					dg[5+l] += float32(c1)
					dg[10+l] += float32(c2)
					dg[15+l] += float32(c3)
					dg[20+l] += float32(c4)
				}
			}
		}
	})
}
