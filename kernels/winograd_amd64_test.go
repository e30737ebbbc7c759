//go:build amd64 && !noasm

package kernels

import (
	"math"
	"math/rand/v2"
	"testing"
)

// The AVX-512 Winograd transforms give bit for bit the Go loops' results,
// for runs of 1 to 40 tiles (whole and partial steps of 16), with special
// values among the inputs, and write nothing past a run's tiles in the
// transformed planes.
func TestWinogradRowsMatchGo(t *testing.T) {
	if !haveAVX512 {
		t.Skip("no AVX-512 on this CPU")
	}
	rng := rand.New(rand.NewPCG(63, 64))
	special := []float32{float32(math.Copysign(0, -1)), float32(math.Inf(1)), 1e-40, 3e38}
	fill := func(x []float32) {
		for i := range x {
			x[i] = float32(rng.NormFloat64())
			if rng.IntN(50) == 0 {
				x[i] = special[rng.IntN(len(special))]
			}
		}
	}
	bits := func(v float32) uint32 { return math.Float32bits(v) }
	for n := 1; n <= 40; n++ {
		plane := n + 3 + rng.IntN(20)
		var rows [4][]float32
		for i := range rows {
			rows[i] = make([]float32, wgRowPad(n)+rng.IntN(3))
			fill(rows[i])
		}
		var v [2][]float32
		for k, asm := range []bool{false, true} {
			func() {
				defer setUseAsm(asm)()
				v[k] = make([]float32, 16*plane)
				for i := range v[k] {
					v[k][i] = 7
				}
				winogradInputRow(v[k], plane, rows, n)
			}()
		}
		for i := range v[0] {
			if bits(v[1][i]) != bits(v[0][i]) {
				t.Fatalf("input transform, %d tiles: v[%d] (entry %d, tile %d) = %v, Go %v", n, i, i/plane, i%plane, v[1][i], v[0][i])
			}
		}
		m := make([]float32, 16*plane)
		fill(m)
		bias := float32(rng.NormFloat64())
		var out [2][2][]float32
		for k, asm := range []bool{false, true} {
			func() {
				defer setUseAsm(asm)()
				for j := range out[k] {
					out[k][j] = make([]float32, wgRowPad(n))
				}
				winogradOutputRow(out[k], m, plane, n, bias)
			}()
		}
		for j := range 2 {
			for i := range 2 * n {
				if bits(out[1][j][i]) != bits(out[0][j][i]) {
					t.Fatalf("output transform, %d tiles: row %d [%d] = %v, Go %v", n, j, i, out[1][j][i], out[0][j][i])
				}
			}
		}
	}
}

// The same for F(2x2, 5x5)'s transforms: bit for bit the Go loops', for
// runs of 1 to 40 tiles, nothing written past a run's tiles.
func TestWinograd5RowsMatchGo(t *testing.T) {
	if !haveAVX512 {
		t.Skip("no AVX-512 on this CPU")
	}
	rng := rand.New(rand.NewPCG(65, 66))
	special := []float32{float32(math.Copysign(0, -1)), float32(math.Inf(1)), 1e-40, 3e38}
	fill := func(x []float32) {
		for i := range x {
			x[i] = float32(rng.NormFloat64())
			if rng.IntN(50) == 0 {
				x[i] = special[rng.IntN(len(special))]
			}
		}
	}
	bits := func(v float32) uint32 { return math.Float32bits(v) }
	for n := 1; n <= 40; n++ {
		plane := n + 3 + rng.IntN(20)
		rowLen := wgRowPad(n) + rng.IntN(3)
		rows := make([]float32, 6*rowLen)
		fill(rows)
		var v [2][]float32
		for k, asm := range []bool{false, true} {
			func() {
				defer setUseAsm(asm)()
				v[k] = make([]float32, 36*plane)
				for i := range v[k] {
					v[k][i] = 7
				}
				winograd5InputRow(v[k], plane, rows, rowLen, n, make([]float32, wg5QLen), 0)
			}()
		}
		for i := range v[0] {
			if bits(v[1][i]) != bits(v[0][i]) {
				t.Fatalf("input transform, %d tiles: v[%d] (entry %d, tile %d) = %v, Go %v", n, i, i/plane, i%plane, v[1][i], v[0][i])
			}
			if i%plane >= n && v[1][i] != 7 {
				t.Fatalf("input transform, %d tiles: wrote v[%d] (entry %d, tile %d)", n, i, i/plane, i%plane)
			}
		}
		dy := [2][]float32{make([]float32, wgRowPad(n)), make([]float32, wgRowPad(n))}
		fill(dy[0])
		fill(dy[1])
		var z [2][]float32
		for k, asm := range []bool{false, true} {
			func() {
				defer setUseAsm(asm)()
				z[k] = make([]float32, 36*plane)
				for i := range z[k] {
					z[k][i] = 7
				}
				winograd5OutGradRow(z[k], plane, dy, n)
			}()
		}
		for i := range z[0] {
			if bits(z[1][i]) != bits(z[0][i]) {
				t.Fatalf("output gradient transform, %d tiles: z[%d] (entry %d, tile %d) = %v, Go %v", n, i, i/plane, i%plane, z[1][i], z[0][i])
			}
			if i%plane >= n && z[1][i] != 7 {
				t.Fatalf("output gradient transform, %d tiles: wrote z[%d] (entry %d, tile %d)", n, i, i/plane, i%plane)
			}
		}
		m := make([]float32, 36*plane)
		fill(m)
		bias := float32(rng.NormFloat64())
		var out [2][2][]float32
		for k, asm := range []bool{false, true} {
			func() {
				defer setUseAsm(asm)()
				for j := range out[k] {
					out[k][j] = make([]float32, wgRowPad(n))
				}
				winograd5OutputRow(out[k], m, plane, n, bias)
			}()
		}
		for j := range 2 {
			for i := range 2 * n {
				if bits(out[1][j][i]) != bits(out[0][j][i]) {
					t.Fatalf("output transform, %d tiles: row %d [%d] = %v, Go %v", n, j, i, out[1][j][i], out[0][j][i])
				}
			}
		}
	}
}
