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

// wg5G is G applied to g0..g4.
func wg5G(g0, g1, g2, g3, g4 float64) [6]float64 {
	return [6]float64{
		g0 / 4,
		-(g0 + g1 + g2 + g3 + g4) / 6,
		-(g0 - g1 + g2 - g3 + g4) / 6,
		(g0 + 2*g1 + 4*g2 + 8*g3 + 16*g4) / 24,
		(g0 - 2*g1 + 4*g2 - 8*g3 + 16*g4) / 24,
		g4,
	}
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
					p[k] = wg5G(float64(r[0]), float64(r[1]), float64(r[2]), float64(r[3]), float64(r[4]))
				}
				at := o*inC + c
				for j := range 6 {
					col := wg5G(p[0][j], p[1][j], p[2][j], p[3][j], p[4][j])
					for i, x := range col {
						u[(6*i+j)*plane+at] = float32(x)
					}
				}
			}
		}
	})
}

// winograd5InputRow transforms n tiles side by side from their six padded
// input rows, rowLen apart in rows (tile k's columns 2k..2k+5); tile k's
// entry xi goes to v[xi*plane + k].
func winograd5InputRow(v []float32, plane int, rows []float32, rowLen, n int) {
	if wg5InputRowFast(v, plane, rows, rowLen, n) {
		return
	}
	var o [36][]float32
	for xi := range o {
		o[xi] = v[xi*plane : xi*plane+n]
	}
	for tx := range n {
		x := 2 * tx
		// q = d B, row by row, then v = B^T q, column by column.
		var q [6][6]float32
		for i := range q {
			d := rows[i*rowLen+x : i*rowLen+x+6 : i*rowLen+x+6]
			q[i] = wg5In(d[0], d[1], d[2], d[3], d[4], d[5])
		}
		for j := range 6 {
			col := wg5In(q[0][j], q[1][j], q[2][j], q[3][j], q[4][j], q[5][j])
			for i, y := range col {
				o[6*i+j][tx] = y
			}
		}
	}
}

// winograd5OutputRow writes n tiles' two output rows (2n values each, bias
// added) from the products: tile k's entry xi is m[xi*plane + k].
func winograd5OutputRow(rows [2][]float32, m []float32, plane, n int, bias float32) {
	if wg5OutputRowFast(rows, m, plane, n, bias) {
		return
	}
	var in [36][]float32
	for xi := range in {
		in[xi] = m[xi*plane : xi*plane+n]
	}
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
