package kernels

import (
	"math"
	"math/rand/v2"
	"testing"
)

// TestWinograd5Matrices: the transforms of winograd5.go compute a 5x5
// filter's correlation with a 6x6 tile, Y[i][j] = sum g[k][l] d[i+k][j+l],
// to float32 rounding, and so fail with any wrong entry of B^T, G or A^T.
func TestWinograd5Matrices(t *testing.T) {
	rng := rand.New(rand.NewPCG(67, 68))
	for trial := range 200 {
		var g [5][5]float32
		var d [6][6]float32
		for i := range g {
			for j := range g[i] {
				g[i][j] = float32(rng.NormFloat64())
			}
		}
		for i := range d {
			for j := range d[i] {
				d[i][j] = float32(rng.NormFloat64())
			}
		}
		// U = G g G^T (through winograd5Filters), V = B^T d B (through
		// winograd5InputRow on one tile), Y = A^T (U . V) A.
		w := make([]float32, 25)
		for i := range 5 {
			copy(w[5*i:], g[i][:])
		}
		u := make([]float32, 36*wgPlane(1))
		winograd5Filters(u, w, 1, 1)
		rowLen := wgRowPad(1)
		rows := make([]float32, 6*rowLen)
		for i := range 6 {
			copy(rows[i*rowLen:], d[i][:])
		}
		v := make([]float32, 36)
		winograd5InputRow(v, 1, rows, rowLen, 1, make([]float32, wg5QLen), 0)
		m := make([]float32, 36)
		for xi := range m {
			m[xi] = u[xi*wgPlane(1)] * v[xi]
		}
		out := [2][]float32{make([]float32, wgRowPad(1)), make([]float32, wgRowPad(1))}
		winograd5OutputRow(&out, m, 1, 1, 0)
		for i := range 2 {
			for j := range 2 {
				var want, mag float64
				for k := range 5 {
					for l := range 5 {
						want += float64(g[k][l]) * float64(d[i+k][j+l])
						mag += math.Abs(float64(g[k][l]) * float64(d[i+k][j+l]))
					}
				}
				if got := float64(out[i][j]); math.Abs(got-want) > 1e-5*mag {
					t.Fatalf("trial %d: Y[%d][%d] = %v, direct correlation %v (magnitude %v)", trial, i, j, got, want, mag)
				}
			}
		}
	}
}

// TestWinograd5ScalarForms: the scalar forms the filter transforms' loops
// use (wg5GS, wg5GTS) give the array forms' results bit for bit, so the
// transforms' float64 arithmetic, and a run's model, did not change.
func TestWinograd5ScalarForms(t *testing.T) {
	rng := rand.New(rand.NewPCG(69, 70))
	for range 10000 {
		var g [5]float64
		var u [6]float64
		for i := range g {
			g[i] = rng.NormFloat64() * math.Exp(8*rng.NormFloat64())
		}
		for i := range u {
			u[i] = rng.NormFloat64() * math.Exp(8*rng.NormFloat64())
		}
		want := wg5G(g)
		r0, r1, r2, r3, r4, r5 := wg5GS(g[0], g[1], g[2], g[3], g[4])
		for i, x := range [6]float64{r0, r1, r2, r3, r4, r5} {
			if math.Float64bits(x) != math.Float64bits(want[i]) {
				t.Fatalf("wg5GS(%v)[%d] = %v, wg5G gives %v", g, i, x, want[i])
			}
		}
		wantT := wg5GT(u)
		s0, s1, s2, s3, s4 := wg5GTS(u[0], u[1], u[2], u[3], u[4], u[5])
		for i, x := range [5]float64{s0, s1, s2, s3, s4} {
			if math.Float64bits(x) != math.Float64bits(wantT[i]) {
				t.Fatalf("wg5GTS(%v)[%d] = %v, wg5GT gives %v", u, i, x, wantT[i])
			}
		}
	}
}
