package kernels

import (
	"math"
	"math/rand/v2"
	"testing"
)

// TestWinograd43Matrices: the transforms of winograd4.go compute a 3x3
// filter's correlation with a 6x6 tile, Y[i][j] = sum g[k][l] d[i+k][j+l]
// for the 4x4 outputs, to float32 rounding (grown by the transforms'
// entries up to 8), and so fail with any wrong entry of B^T, G or A^T.
func TestWinograd43Matrices(t *testing.T) {
	rng := rand.New(rand.NewPCG(71, 72))
	worst := 0.0
	for trial := range 500 {
		var g [3][3]float32
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
		w := make([]float32, 9)
		for i := range 3 {
			copy(w[3*i:], g[i][:])
		}
		u := make([]float32, 36*wgPlane(1))
		winograd43Filters(u, w, 1, 1)
		rows := make([]float32, 36)
		for i := range 6 {
			copy(rows[6*i:], d[i][:])
		}
		v := make([]float32, 36)
		winograd43InputRow(v, 1, rows, 6, 1, nil)
		m := make([]float32, 36)
		for xi := range m {
			m[xi] = u[xi*wgPlane(1)] * v[xi]
		}
		var out [4][]float32
		for i := range out {
			out[i] = make([]float32, 4)
		}
		winograd43OutputRow(&out, m, 1, 1, 0, nil)
		for i := range 4 {
			for j := range 4 {
				var want, mag float64
				for k := range 3 {
					for l := range 3 {
						want += float64(g[k][l]) * float64(d[i+k][j+l])
						mag += math.Abs(float64(g[k][l]) * float64(d[i+k][j+l]))
					}
				}
				e := math.Abs(float64(out[i][j])-want) / mag
				worst = max(worst, e)
				if e > 1e-5 {
					t.Fatalf("trial %d: Y[%d][%d] = %v, direct correlation %v (magnitude %v)", trial, i, j, out[i][j], want, mag)
				}
			}
		}
	}
	t.Logf("largest error relative to the magnitude: %.2g", worst)
}
