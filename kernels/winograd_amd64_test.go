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
	fill := wgTestFill(rng)
	bits := math.Float32bits
	for n := 1; n <= 40; n++ {
		plane := n + 3 + rng.IntN(20)
		var rows [4][]float32
		for i := range rows {
			rows[i] = make([]float32, wgRowPad(n)+rng.IntN(3))
			fill(rows[i])
		}
		var v [2][]float32
		goThenAsm(func(k int) {
			v[k] = sevens(16 * plane)
			winogradInputRow(v[k], plane, &rows, n)
		})
		checkPlanes(t, "input transform", n, plane, v[1], v[0])
		m := make([]float32, 16*plane)
		fill(m)
		bias := float32(rng.NormFloat64())
		var out [2][2][]float32
		goThenAsm(func(k int) {
			for j := range out[k] {
				out[k][j] = make([]float32, wgRowPad(n))
			}
			winogradOutputRow(&out[k], m, plane, n, bias)
		})
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
	fill := wgTestFill(rng)
	bits := math.Float32bits
	for n := 1; n <= 40; n++ {
		plane := n + 3 + rng.IntN(20)
		rowLen := wgRowPad(n) + rng.IntN(3)
		rows := make([]float32, 6*rowLen)
		fill(rows)
		var v [2][]float32
		goThenAsm(func(k int) {
			v[k] = sevens(36 * plane)
			winograd5InputRow(v[k], plane, rows, rowLen, n, make([]float32, wg5QLen), 0)
		})
		checkPlanes(t, "input transform", n, plane, v[1], v[0])
		dy := [2][]float32{make([]float32, wgRowPad(n)), make([]float32, wgRowPad(n))}
		fill(dy[0])
		fill(dy[1])
		var z [2][]float32
		goThenAsm(func(k int) {
			z[k] = sevens(36 * plane)
			winograd5OutGradRow(z[k], plane, &dy, n)
		})
		checkPlanes(t, "output gradient transform", n, plane, z[1], z[0])
		m := make([]float32, 36*plane)
		fill(m)
		bias := float32(rng.NormFloat64())
		var out [2][2][]float32
		goThenAsm(func(k int) {
			for j := range out[k] {
				out[k][j] = make([]float32, wgRowPad(n))
			}
			winograd5OutputRow(&out[k], m, plane, n, bias)
		})
		for j := range 2 {
			for i := range 2 * n {
				if bits(out[1][j][i]) != bits(out[0][j][i]) {
					t.Fatalf("output transform, %d tiles: row %d [%d] = %v, Go %v", n, j, i, out[1][j][i], out[0][j][i])
				}
			}
		}
	}
}

// wgTestFill returns a filler of normal values with, one in fifty, a
// special one: -0, +Inf, a denormal, a value near the largest.
func wgTestFill(rng *rand.Rand) func([]float32) {
	special := []float32{float32(math.Copysign(0, -1)), float32(math.Inf(1)), 1e-40, 3e38}
	return func(x []float32) {
		for i := range x {
			x[i] = float32(rng.NormFloat64())
			if rng.IntN(50) == 0 {
				x[i] = special[rng.IntN(len(special))]
			}
		}
	}
}

// checkPlanes fails unless got (the AVX-512 form's planes, plane apart,
// filled with 7 before) has want's bits everywhere and 7 past the n tiles
// of every plane.
func checkPlanes(t *testing.T, what string, n, plane int, got, want []float32) {
	t.Helper()
	for i := range want {
		if math.Float32bits(got[i]) != math.Float32bits(want[i]) {
			t.Fatalf("%s, %d tiles: [%d] (entry %d, tile %d) = %v, Go %v", what, n, i, i/plane, i%plane, got[i], want[i])
		}
		if i%plane >= n && got[i] != 7 {
			t.Fatalf("%s, %d tiles: wrote [%d] (entry %d, tile %d)", what, n, i, i/plane, i%plane)
		}
	}
}

// The same for F(4x4, 3x3)'s transforms: bit for bit the Go loops', for
// runs of 1 to 40 tiles, nothing written past a run's tiles (or, for the
// output rows, past its 4n values within what the kernel may write).
func TestWinograd43RowsMatchGo(t *testing.T) {
	if !haveAVX512DQ {
		t.Skip("no AVX-512 DQ on this CPU")
	}
	rng := rand.New(rand.NewPCG(73, 74))
	fill := wgTestFill(rng)
	bits := math.Float32bits
	for n := 1; n <= 40; n++ {
		plane := n + 3 + rng.IntN(20)
		rowLen := 4*n + 2 + rng.IntN(3)
		rows := make([]float32, 5*rowLen+wg43RowPad(n))
		fill(rows)
		var v [2][]float32
		goThenAsm(func(k int) {
			v[k] = sevens(36 * plane)
			winograd43InputRow(v[k], plane, rows, rowLen, n, make([]float32, wg5QLen))
		})
		checkPlanes(t, "F(4x4, 3x3) input transform", n, plane, v[1], v[0])
		var dy [4][]float32
		for i := range dy {
			dy[i] = make([]float32, wg43RowPad(n))
			fill(dy[i])
		}
		var z [2][]float32
		goThenAsm(func(k int) {
			z[k] = sevens(36 * plane)
			winograd43OutGradRow(z[k], plane, &dy, n, make([]float32, wg43RLen))
		})
		checkPlanes(t, "F(4x4, 3x3) output gradient transform", n, plane, z[1], z[0])
		m := make([]float32, 36*plane)
		fill(m)
		bias := float32(rng.NormFloat64())
		var out [2][4][]float32
		goThenAsm(func(k int) {
			for j := range out[k] {
				out[k][j] = make([]float32, wg43RowPad(n))
			}
			winograd43OutputRow(&out[k], m, plane, n, bias, make([]float32, wg43RLen))
		})
		for j := range 4 {
			for i := range 4 * n {
				if bits(out[1][j][i]) != bits(out[0][j][i]) {
					t.Fatalf("F(4x4, 3x3) output transform, %d tiles: row %d [%d] = %v, Go %v", n, j, i, out[1][j][i], out[0][j][i])
				}
			}
		}
	}
}

// goThenAsm runs run(0) with the Go loops, then run(1) with the assembly.
func goThenAsm(run func(k int)) {
	for k, asm := range []bool{false, true} {
		func() {
			defer setUseAsm(asm)()
			run(k)
		}()
	}
}

// sevens returns n values of 7: planes a transform must leave alone past
// its tiles (checkPlanes).
func sevens(n int) []float32 {
	x := make([]float32, n)
	for i := range x {
		x[i] = 7
	}
	return x
}

// The AVX-512 F(2x2, 3x3) filter transform gives the Go loop's values bit
// for bit (finiteInput's special values among the taps; the payload of a
// NaN result is not compared), for filter counts around its sixteen-filter
// step, and writes nothing past each plane's filters.
func TestWinogradFiltersMatchGo(t *testing.T) {
	if !haveAVX512 {
		t.Skip("no AVX-512 on this CPU")
	}
	rng := rand.New(rand.NewPCG(81, 82))
	for _, sh := range [][2]int{{1, 16}, {16, 16}, {3, 7}, {5, 19}, {64, 64}, {2, 40}} {
		outC, inC := sh[0], sh[1]
		w := finiteInput(rng, 9*outC*inC)
		plane := wgPlane(outC * inC)
		want := make([]float32, 16*plane)
		for i := range want {
			want[i] = -7
		}
		got := append([]float32(nil), want...)
		func() {
			defer setUseAsm(false)()
			winogradFilters(want, w, outC, inC)
		}()
		winogradFilters(got, w, outC, inC)
		// The assembly itself, on every whole group of sixteen: the
		// comparison above must not be the Go loop against itself.
		direct := make([]float32, 16*plane)
		if n, whole := wgFiltersFast(direct, plane, w, 0, outC*inC), outC*inC/16*16; n != whole {
			t.Fatalf("%dx%d filters: the assembly took %d filters, want %d", outC, inC, n, whole)
		}
		for i := range want {
			same := func(a, b float32) bool {
				return math.Float32bits(a) == math.Float32bits(b) || math.IsNaN(float64(a)) && math.IsNaN(float64(b))
			}
			if !same(got[i], want[i]) {
				t.Fatalf("%dx%d filters: u[%d] (entry %d of filter %d) = %v, want %v", outC, inC, i, i/plane, i%plane, got[i], want[i])
			}
			if i%plane < outC*inC/16*16 && !same(direct[i], want[i]) {
				t.Fatalf("%dx%d filters, the assembly alone: u[%d] = %v, want %v", outC, inC, i, direct[i], want[i])
			}
		}
	}
}
