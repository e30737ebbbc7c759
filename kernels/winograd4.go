package kernels

// F(4x4, 3x3) (Lavin and Gray's, the points 0, 1, -1, 2, -2 and infinity):
// each 4x4 block of outputs of one filter comes from a 6x6 tile of the
// input, tiles 4 apart,
//
//	Y = A^T [ (G g G^T) . (B^T d B) ] A
//
// with F(2x2, 5x5)'s B^T (wg5In), and
//
//	G   = [1/4 0 0; -1/6 -1/6 -1/6; -1/6 1/6 -1/6; 1/24 1/12 1/6; 1/24 -1/12 1/6; 0 0 1]
//	A^T = [1 1 1 1 1 0; 0 1 -1 2 -2 0; 0 1 1 4 4 0; 0 1 -1 8 -8 1]
//
// 36 multiply-adds per 4x4 outputs and input channel: 2.25 per output
// where F(2x2, 3x3) takes 4 and im2col 9, at the price of transforms that
// reach 8 times a value (A^T's last row), so rounding grows with them
// (TestWinograd43Matrices bounds it). The chooser takes it per shape class
// (ChoiceWinograd4) where it measured faster; it shares F(2x2, 5x5)'s
// machinery: 36 planes, the input padded once per call (winogradPad).

// wg43GS is G g for a column g of three values, in float64 (see wg5GS).
func wg43GS(g0, g1, g2 float64) (r0, r1, r2, r3, r4, r5 float64) {
	const sixth, t24 = 1. / 6, 1. / 24
	e := g0 + g2
	e2, o2 := g0+4*g2, 2*g1
	return g0 * 0.25, -(e + g1) * sixth, -(e - g1) * sixth, (e2 + o2) * t24, (e2 - o2) * t24, g2
}

// wg4Out is A^T applied to m0..m5: its four values.
func wg4Out(m0, m1, m2, m3, m4, m5 float32) (y0, y1, y2, y3 float32) {
	p, n := m1+m2, m1-m2
	p2, n2 := m3+m4, m3-m4
	return (m0 + p) + p2, n + 2*n2, p + 4*p2, (n + 8*n2) + m5
}

// winograd43Filters writes u (36 planes of OutC x InC, wgPlane apart) = G
// g G^T for every 3x3 filter g of w (OutC, InC, 3, 3): u[xi, o, c] is
// entry xi (row-major 6x6) of filter (o, c)'s transform.
func winograd43Filters(u, w []float32, outC, inC int) {
	plane := wgPlane(outC * inC)
	parallelFor(outC, 4, func(o0, o1 int) {
		for o := o0; o < o1; o++ {
			for c := 0; c < inC; c++ {
				g := w[(o*inC+c)*9 : (o*inC+c)*9+9 : (o*inC+c)*9+9]
				// p = g G^T (3x6), row by row.
				var p [3][6]float64
				for k := range 3 {
					q := &p[k]
					q[0], q[1], q[2], q[3], q[4], q[5] = wg43GS(float64(g[3*k]), float64(g[3*k+1]), float64(g[3*k+2]))
				}
				at := o*inC + c
				for j := range 6 {
					c0, c1, c2, c3, c4, c5 := wg43GS(p[0][j], p[1][j], p[2][j])
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

// winograd43InputRow transforms n tiles side by side from their six input
// rows, rowLen apart in rows (tile k's columns 4k..4k+5); tile k's entry
// xi goes to v[xi*plane + k]. q is scratch of wg5QLen.
func winograd43InputRow(v []float32, plane int, rows []float32, rowLen, n int, q []float32) {
	if wg43InputRowFast(v, plane, rows, rowLen, n, q) {
		return
	}
	wg6InputRowGo(v, plane, rows, rowLen, n, 4)
}

// winograd43OutputRow writes n tiles' four output rows (4n values each,
// bias added) from the products: tile k's entry xi is m[xi*plane + k]. r
// is scratch of wg43RLen.
func winograd43OutputRow(rows *[4][]float32, m []float32, plane, n int, bias float32, r []float32) {
	if wg43OutputRowFast(rows, m, plane, n, bias, r) {
		return
	}
	var in [36][]float32
	wgPlaneViews(in[:], m, plane, n)
	y0, y1, y2, y3 := rows[0][:4*n], rows[1][:4*n], rows[2][:4*n], rows[3][:4*n]
	for tx := range n {
		// r = M A, row by row, then Y = A^T r, column by column.
		var r [6][4]float32
		for i := range r {
			r[i][0], r[i][1], r[i][2], r[i][3] = wg4Out(in[6*i][tx], in[6*i+1][tx], in[6*i+2][tx], in[6*i+3][tx], in[6*i+4][tx], in[6*i+5][tx])
		}
		x := 4 * tx
		for j := range 4 {
			a, b, c, d := wg4Out(r[0][j], r[1][j], r[2][j], r[3][j], r[4][j], r[5][j])
			y0[x+j], y1[x+j], y2[x+j], y3[x+j] = a+bias, b+bias, c+bias, d+bias
		}
	}
}

// wg43GTS is G^T u for a column u of six values: the 3x3 filter's side of
// the weight gradient's G^T dU G, in float64.
func wg43GTS(u0, u1, u2, u3, u4, u5 float64) (r0, r1, r2 float64) {
	const sixth, t24 = 1. / 6, 1. / 24
	p, n := (u1+u2)*sixth, (u1-u2)*sixth
	p2, n2 := (u3+u4)*t24, (u3-u4)*t24
	return u0/4 - p + p2, -n + 2*n2, -p + 4*p2 + u5
}

// wg4Expand is A x for the four values x0..x3 (A = (A^T)^T, 6x4).
func wg4Expand(x0, x1, x2, x3 float32) [6]float32 {
	e, o := x0+x2, x1+x3
	e2, o2 := x0+4*x2, 2*x1+8*x3
	return [6]float32{x0, e + o, e - o, e2 + o2, e2 - o2, x3}
}

// winograd43OutGradRow writes n tiles' A dY A^T from their four rows of
// the output gradient (tile k's columns 4k..4k+3): tile k's entry xi goes
// to z[xi*plane + k]. q is scratch of wg43RLen.
func winograd43OutGradRow(z []float32, plane int, rows *[4][]float32, n int, q []float32) {
	if wg43OutGradRowFast(z, plane, rows, n, q) {
		return
	}
	var o [36][]float32
	wgPlaneViews(o[:], z, plane, n)
	for k := range n {
		x := 4 * k
		// w = dY A^T row by row, then z = A w column by column.
		var w [4][6]float32
		for i := range w {
			w[i] = wg4Expand(rows[i][x], rows[i][x+1], rows[i][x+2], rows[i][x+3])
		}
		for j := range 6 {
			col := wg4Expand(w[0][j], w[1][j], w[2][j], w[3][j])
			for i, v := range col {
				o[6*i+j][k] = v
			}
		}
	}
}

// winograd43FilterGrads accumulates dW (OutC, InC, 3, 3) += G^T dU G for
// every filter, dU its 36 planes (up apart) of the summed products.
func winograd43FilterGrads(dW, dU []float32, up int, s ConvShape) {
	parallelFor(s.OutC, 4, func(o0, o1 int) {
		for o := o0; o < o1; o++ {
			for c := 0; c < s.InC; c++ {
				at := o*s.InC + c
				var p [6][3]float64 // dU G, row by row
				for i := range 6 {
					q := &p[i]
					q[0], q[1], q[2] = wg43GTS(float64(dU[(6*i)*up+at]), float64(dU[(6*i+1)*up+at]), float64(dU[(6*i+2)*up+at]),
						float64(dU[(6*i+3)*up+at]), float64(dU[(6*i+4)*up+at]), float64(dU[(6*i+5)*up+at]))
				}
				dg := dW[at*9 : at*9+9 : at*9+9]
				for l := range 3 {
					c0, c1, c2 := wg43GTS(p[0][l], p[1][l], p[2][l], p[3][l], p[4][l], p[5][l])
					dg[l] += float32(c0)
					dg[3+l] += float32(c1)
					dg[6+l] += float32(c2)
				}
			}
		}
	})
}
