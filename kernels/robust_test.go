package kernels

import (
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"testing"
)

// robustVoters are the vector counts the robust aggregators are checked at.
var robustVoters = []int{1, 2, 3, 4, 5, 8, 9, 16, 17}

// robustLengths are the vector lengths: shorter than a vector register,
// around one, odd, and across the kernels' blocks.
var robustLengths = []int{0, 1, 7, 15, 16, 17, 33, 100, 1000, 4099}

// robustBigLength crosses several of the chunks of the float64 sums
// (checked at two voter counts and two kinds of input only: the naive
// references are slow).
const robustBigLength = 3*65536 + 37

// robustTestChunk is the chunk of the float64 sums (robustChunk) the tests
// of short vectors use.
const robustTestChunk = 3 * distLanes

type robustCase struct {
	name string
	vecs [][]float32
}

// robustCases draws m vectors of length d of several kinds: normal values;
// ties (values in {-1, -0, 0, 1}); all vectors equal; duplicated vectors;
// huge finite values (±1e30 among normal ones).
func robustCases(rng *rand.Rand, m, d int) []robustCase {
	gen := func(f func(i, k int) float32) [][]float32 {
		vecs := make([][]float32, m)
		for i := range vecs {
			vecs[i] = make([]float32, d)
			for k := range vecs[i] {
				vecs[i][k] = f(i, k)
			}
		}
		return vecs
	}
	normal := func(i, k int) float32 { return float32(rng.NormFloat64()) }
	ties := []float32{-1, float32(math.Copysign(0, -1)), 0, 1}
	base := gen(normal)
	dup := gen(normal)
	for i := 1; i < m; i += 2 {
		copy(dup[i], dup[rng.IntN(i)])
	}
	return []robustCase{
		{"normal", gen(normal)},
		{"ties", gen(func(i, k int) float32 { return ties[rng.IntN(len(ties))] })},
		{"equal", gen(func(i, k int) float32 { return base[0][k] })},
		{"duplicates", dup},
		{"huge", gen(func(i, k int) float32 {
			switch rng.IntN(8) {
			case 0:
				return 1e30
			case 1:
				return -1e30
			}
			return float32(rng.NormFloat64())
		})},
	}
}

// forRobustShapes calls ref once per input (the voter counts and lengths
// above, each kind of robustCases) for the naive results, and runs the
// check it returns with the assembly kernels on and off at one and two
// threads.
func forRobustShapes(t *testing.T, ref func(c robustCase) func(t *testing.T, name string)) {
	rng := rand.New(rand.NewPCG(18, 1))
	run := func(m, d int) {
		// Short vectors are summed in chunks of 96 coordinates (three
		// lane widths: blocks end inside and at the ends of chunks), so
		// that they have many.
		chunk := robustTestChunk
		if d == robustBigLength {
			chunk = 1 << 16
		}
		defer setRobustChunk(chunk)()
		for _, c := range robustCases(rng, m, d) {
			if d == robustBigLength && c.name != "normal" && c.name != "huge" {
				continue
			}
			check := ref(c)
			forKernels(t, func(t *testing.T, kernel string) {
				check(t, fmt.Sprintf("%s/m=%d/d=%d/%s/threads=%d/chunk=%d", kernel, m, d, c.name, Threads(), robustChunk))
			})
		}
	}
	for _, m := range robustVoters {
		for _, d := range robustLengths {
			run(m, d)
		}
	}
	if !testing.Short() {
		for _, m := range []int{3, 16} {
			run(m, robustBigLength)
		}
	}
}

// sameEveryTime returns a function that reports whether its argument has
// the bits of the first one it was given.
func sameEveryTime[T comparable]() func(v []T) bool {
	var first []T
	seen := false
	return func(v []T) bool {
		if !seen {
			first, seen = slices.Clone(v), true
			return true
		}
		return slices.Equal(first, v)
	}
}

func dirty(n int) []float32 {
	v := make([]float32, n)
	for i := range v {
		v[i] = float32(math.NaN())
	}
	return v
}

// closeFloats reports the first k where |a-b| exceeds rel*scale[k] + abs.
func closeFloats(a, b, scale []float32, rel, abs float64) (int, bool) {
	for k := range a {
		if math.Abs(float64(a[k])-float64(b[k])) > rel*float64(scale[k])+abs || a[k] != a[k] || b[k] != b[k] {
			return k, false
		}
	}
	return -1, true
}

// maxAbs is each coordinate's largest magnitude over vecs.
func maxAbs(vecs [][]float32, d int) []float32 {
	s := make([]float32, d)
	for _, v := range vecs {
		for k, x := range v {
			s[k] = max(s[k], float32(math.Abs(float64(x))))
		}
	}
	return s
}

func TestSanitizeFloat32(t *testing.T) {
	rng := rand.New(rand.NewPCG(18, 2))
	for _, n := range append(lengths(rng), 100000) {
		forKernels(t, func(t *testing.T, kernel string) {
			g := randomFloats(rng, n)
			want := slices.Clone(g)
			nw := SanitizeFloat32Naive(want)
			got := SanitizeFloat32(g)
			if got != nw {
				t.Fatalf("%s n=%d: sanitized %d, want %d", kernel, n, got, nw)
			}
			if k, ok := sameFloats(g, want); !ok {
				t.Fatalf("%s n=%d: coordinate %d is %v, want %v", kernel, n, k, g[k], want[k])
			}
			for _, x := range g {
				if math.IsNaN(float64(x)) || math.IsInf(float64(x), 0) {
					t.Fatalf("%s n=%d: %v left", kernel, n, x)
				}
			}
		})
	}
}

func TestMedianMatchesNaive(t *testing.T) {
	forRobustShapes(t, func(c robustCase) func(*testing.T, string) {
		d := len(c.vecs[0])
		want := dirty(d)
		MedianNaive(want, c.vecs)
		return func(t *testing.T, name string) {
			got := dirty(d)
			Median(got, c.vecs)
			if k, ok := sameFloats(got, want); !ok {
				t.Fatalf("%s: coordinate %d is %v, want %v", name, k, got[k], want[k])
			}
		}
	})
}

func TestTrimmedMeanMatchesNaive(t *testing.T) {
	forRobustShapes(t, func(c robustCase) func(*testing.T, string) {
		m, d := len(c.vecs), len(c.vecs[0])
		fs := slices.Compact([]int{0, 1 % ((m + 1) / 2), (m - 1) / 2})
		want := make([][]float32, len(fs))
		for i, f := range fs {
			want[i] = dirty(d)
			TrimmedMeanNaive(want[i], c.vecs, f)
		}
		return func(t *testing.T, name string) {
			for i, f := range fs {
				got := dirty(d)
				TrimmedMean(got, c.vecs, f)
				if k, ok := sameFloats(got, want[i]); !ok {
					t.Fatalf("%s f=%d: coordinate %d is %v, want %v", name, f, k, got[k], want[i][k])
				}
			}
		}
	})
}

func TestSqDistancesMatchesNaive(t *testing.T) {
	forRobustShapes(t, func(c robustCase) func(*testing.T, string) {
		m := len(c.vecs)
		want := make([]float64, m*m)
		SqDistancesNaive(want, c.vecs)
		same := sameEveryTime[float64]()
		return func(t *testing.T, name string) {
			got := make([]float64, m*m+1)
			for i := range got {
				got[i] = math.NaN()
			}
			SqDistances(got, c.vecs)
			for i := range m {
				for j := range m {
					g, w := got[i*m+j], want[i*m+j]
					if math.Abs(g-w) > 1e-12*w || g != got[j*m+i] || (i == j && g != 0) {
						t.Fatalf("%s: dist[%d,%d] = %v (transposed %v), want %v", name, i, j, g, got[j*m+i], w)
					}
				}
			}
			if !math.IsNaN(got[m*m]) {
				t.Fatalf("%s: wrote past M*M", name)
			}
			if !same(got[:m*m]) {
				t.Fatalf("%s: differs from the other kernel's or thread count's result", name)
			}
		}
	})
}

func TestKrumMatchesNaive(t *testing.T) {
	forRobustShapes(t, func(c robustCase) func(*testing.T, string) {
		mm, d := len(c.vecs), len(c.vecs[0])
		type run struct {
			f, m int
			sel  []int
			want []float32
		}
		var runs []run
		dist := make([]float64, mm*mm)
		SqDistancesNaive(dist, c.vecs)
		if c.name == "huge" {
			// Scores of ~1e60 differ in their last bits between the two
			// orders of summation: select from the fast distances, checked
			// against the naive ones by TestSqDistancesMatchesNaive.
			SqDistances(dist, c.vecs)
		}
		for _, f := range slices.Compact([]int{0, 1, (mm - 1) / 2, mm}) {
			for _, m := range slices.Compact([]int{1, 2 % (mm + 1), mm}) {
				if m == 0 {
					continue
				}
				want := dirty(d)
				var sel []int
				if d < 200 {
					sel = KrumNaive(want, c.vecs, f, m)
				}
				if d >= 200 || c.name == "huge" {
					sel = krumFromDistances(want, c.vecs, dist, f, m)
				}
				runs = append(runs, run{f, m, sel, want})
			}
		}
		return func(t *testing.T, name string) {
			for _, r := range runs {
				got := dirty(d)
				sel := Krum(got, c.vecs, r.f, r.m)
				want, wsel := r.want, r.sel
				if !slices.Equal(sel, wsel) {
					t.Fatalf("%s f=%d m=%d: selected %v, want %v", name, r.f, r.m, sel, wsel)
				}
				if k, ok := sameFloats(got, want); !ok {
					t.Fatalf("%s f=%d m=%d: coordinate %d is %v, want %v", name, r.f, r.m, k, got[k], want[k])
				}
			}
		}
	})
}

func TestGeoMedianMatchesNaive(t *testing.T) {
	tols := []float64{0, 1e-3}
	forRobustShapes(t, func(c robustCase) func(*testing.T, string) {
		d := len(c.vecs[0])
		scale := maxAbs(c.vecs, d)
		want := make([][]float32, len(tols))
		iters := make([]int, len(tols))
		same := make([]func([]float32) bool, len(tols))
		for i, tol := range tols {
			want[i] = dirty(d)
			iters[i] = GeoMedianNaive(want[i], c.vecs, 5, tol, 1e-6)
			same[i] = sameEveryTime[float32]()
		}
		return func(t *testing.T, name string) {
			for i, tol := range tols {
				got := dirty(d)
				n := GeoMedian(got, c.vecs, 5, tol, 1e-6)
				if n != iters[i] && (tol == 0 || n-iters[i] > 1 || iters[i]-n > 1) {
					t.Fatalf("%s tol=%g: %d iterations, want %d", name, tol, n, iters[i])
				}
				if k, ok := closeFloats(got, want[i], scale, 1e-5, 1e-6); !ok {
					t.Fatalf("%s tol=%g: coordinate %d is %v, want %v", name, tol, k, got[k], want[i][k])
				}
				if !same[i](got) {
					t.Fatalf("%s tol=%g: differs from the other kernel's or thread count's result", name, tol)
				}
			}
		}
	})
}

func TestCenteredClipMatchesNaive(t *testing.T) {
	radii := []float64{0, 0.5, 1e3}
	forRobustShapes(t, func(c robustCase) func(*testing.T, string) {
		d := len(c.vecs[0])
		scale := maxAbs(c.vecs, d)
		center := make([]float32, d)
		for k := range center {
			center[k] = float32(k%5) - 2
			scale[k] = max(scale[k], 2)
		}
		want := make([][]float32, len(radii))
		same := make([]func([]float32) bool, len(radii))
		for i, radius := range radii {
			want[i] = dirty(d)
			CenteredClipNaive(want[i], c.vecs, center, radius, 3)
			same[i] = sameEveryTime[float32]()
		}
		return func(t *testing.T, name string) {
			for i, radius := range radii {
				got := dirty(d)
				CenteredClip(got, c.vecs, center, radius, 3)
				if k, ok := closeFloats(got, want[i], scale, 1e-5, 1e-6); !ok {
					t.Fatalf("%s radius=%g: coordinate %d is %v, want %v", name, radius, k, got[k], want[i][k])
				}
				if !same[i](got) {
					t.Fatalf("%s radius=%g: differs from the other kernel's or thread count's result", name, radius)
				}
				// dst aliasing center
				alias := slices.Clone(center)
				CenteredClip(alias, c.vecs, alias, radius, 3)
				if k, ok := sameFloats(alias, got); !ok {
					t.Fatalf("%s radius=%g aliased: coordinate %d is %v, want %v", name, radius, k, alias[k], got[k])
				}
			}
		}
	})
}

func TestNearestNeighborMixMatchesNaive(t *testing.T) {
	forRobustShapes(t, func(c robustCase) func(*testing.T, string) {
		m, d := len(c.vecs), len(c.vecs[0])
		fs := slices.Compact([]int{0, 1 % m, (m - 1) / 2, m - 1})
		want := make([][][]float32, len(fs))
		dist := make([]float64, m*m)
		SqDistancesNaive(dist, c.vecs)
		if c.name == "huge" {
			// As in TestKrumMatchesNaive: the fast distances.
			SqDistances(dist, c.vecs)
		}
		for j, f := range fs {
			want[j] = make([][]float32, m)
			for i := range want[j] {
				want[j][i] = dirty(d)
			}
			if d < 200 && c.name != "huge" {
				NearestNeighborMixNaive(want[j], c.vecs, f)
			} else {
				mixFromDistances(want[j], c.vecs, dist, f)
			}
		}
		return func(t *testing.T, name string) {
			for j, f := range fs {
				got := make([][]float32, m)
				for i := range got {
					got[i] = dirty(d)
				}
				NearestNeighborMix(got, c.vecs, f)
				want := want[j]
				for i := range got {
					if k, ok := sameFloats(got[i], want[i]); !ok {
						t.Fatalf("%s f=%d: out[%d][%d] is %v, want %v", name, f, i, k, got[i][k], want[i][k])
					}
				}
			}
		}
	})
}

// vectors makes vectors from rows of coordinates.
func vectors(rows ...[]float32) [][]float32 { return rows }

func TestRobustByHand(t *testing.T) {
	negZero := float32(math.Copysign(0, -1))
	forKernels(t, func(t *testing.T, kernel string) {
		check := func(what string, got, want []float32) {
			t.Helper()
			if k, ok := sameFloats(got, want); !ok {
				t.Fatalf("%s %s: coordinate %d is %v, want %v", kernel, what, k, got[k], want[k])
			}
		}
		dst := make([]float32, 3)
		// Columns: {1,5,2} -> 2; {-0,+0,+0} -> +0; {-0,-0,+0} -> -0.
		three := vectors([]float32{1, negZero, negZero}, []float32{5, 0, negZero}, []float32{2, 0, 0})
		Median(dst, three)
		check("median of three", dst, []float32{2, 0, negZero})
		// {1,5,2,4} -> (2+4)/2; {1,1,1,2} -> 1; {-3,7,1e30,-1e30} -> 2.
		four := vectors([]float32{1, 1, -3}, []float32{5, 1, 7}, []float32{2, 1, 1e30}, []float32{4, 2, -1e30})
		Median(dst, four)
		check("median of four", dst, []float32{3, 1, 2})
		// The kept values are summed from the smallest: of -2^60, 100,
		// 100, 2^60 that is 256 in float64 (from the largest, 0).
		p60 := float32(1 << 60)
		TrimmedMean(dst[:1], vectors([]float32{100}, []float32{p60}, []float32{-p60}, []float32{100}), 0)
		check("trimmed mean summed from the smallest", dst[:1], []float32{64})
		five := vectors([]float32{1, 0, 1}, []float32{100, 1, 1}, []float32{2, 2, 1}, []float32{3, 3, 1}, []float32{-50, 10, 1e30})
		TrimmedMean(dst, five, 1)
		check("trimmed mean f=1", dst, []float32{2, 2, 1})
		TrimmedMean(dst, five, 2)
		check("trimmed mean f=2", dst, []float32{2, 2, 1})
		TrimmedMean(dst, five, 0)
		fifth, big := 1/float64(5), float64(float32(1e30))
		check("trimmed mean f=0", dst, []float32{float32(56 * fifth), float32(16 * fifth), float32((4 + big) * fifth)})

		// Krum on the plane: a=(0,0) b=(2,0) c=(0,1) d=(1,1) e=(9,9), f=1,
		// so two neighbours: scores a 1+2, b 2+4, c 1+1, d 1+2, e 128+130.
		plane := vectors([]float32{0, 0}, []float32{2, 0}, []float32{0, 1}, []float32{1, 1}, []float32{9, 9})
		dist := make([]float64, 25)
		SqDistances(dist, plane)
		if want := []float64{0, 4, 1, 2, 162, 4, 0, 5, 2, 130, 1, 5, 0, 1, 145, 2, 2, 1, 0, 128, 162, 130, 145, 128, 0}; !slices.Equal(dist, want) {
			t.Fatalf("%s SqDistances: %v, want %v", kernel, dist, want)
		}
		k2 := make([]float32, 2)
		if sel := Krum(k2, plane, 1, 1); !slices.Equal(sel, []int{2}) {
			t.Fatalf("%s Krum selected %v, want [2]", kernel, sel)
		}
		check("Krum", k2, []float32{0, 1})
		if sel := Krum(k2, plane, 1, 3); !slices.Equal(sel, []int{2, 0, 3}) {
			t.Fatalf("%s Multi-Krum selected %v, want [2 0 3] (a and d tie, a first)", kernel, sel)
		}
		check("Multi-Krum", k2, []float32{float32(1.0 / 3), float32(2.0 / 3)})

		// One neighbour at most (M-f-2 < 1): 10, 0, 1 with f=1 score 81,
		// 1, 1, so 0 (index 1) wins the tie.
		if sel := Krum(k2[:1], vectors([]float32{10}, []float32{0}, []float32{1}), 1, 1); !slices.Equal(sel, []int{1}) || k2[0] != 0 {
			t.Fatalf("%s Krum with one neighbour selected %v (%v), want [1] (0)", kernel, sel, k2[0])
		}
		// Two vectors: one neighbour each, both selected, ties by index.
		if sel := Krum(k2[:1], vectors([]float32{5}, []float32{3}), 0, 2); !slices.Equal(sel, []int{0, 1}) || k2[0] != 4 {
			t.Fatalf("%s Multi-Krum of two selected %v (%v), want [0 1] (4)", kernel, sel, k2[0])
		}

		// NNM in one dimension: 0, 2, 1, 10 with f=2: out[2] is the mean
		// of 1 and 0 (0 and 2 tie at distance 1: the lower index wins).
		line := vectors([]float32{0}, []float32{2}, []float32{1}, []float32{10})
		out := [][]float32{{0}, {0}, {0}, {0}}
		NearestNeighborMix(out, line, 2)
		check("NNM", []float32{out[0][0], out[1][0], out[2][0], out[3][0]}, []float32{0.5, 1.5, 0.5, 6})
	})
}

// TestRobustStepsByHand checks one Weiszfeld step and one centered
// clipping step against the formulas computed here in float64.
func TestRobustStepsByHand(t *testing.T) {
	forKernels(t, func(t *testing.T, kernel string) {
		near := func(what string, got []float32, want ...float64) {
			t.Helper()
			for k := range want {
				if math.Abs(float64(got[k])-want[k]) > 1e-6*max(1, math.Abs(want[k])) {
					t.Fatalf("%s %s: %v, want %v", kernel, what, got, want)
				}
			}
		}
		// The coordinate-wise median of (0,0), (4,0), (0,3) is (0,0), the
		// first vector: Vardi and Zhang's step leaves it out, T is the
		// Weiszfeld step over the other two, ((4,0)/4 + (0,3)/3)/(1/4 + 1/3)
		// = (12/7, 12/7), their pull r = (7/12)|T| = sqrt(2) > 1, so z moves
		// to (1 - 1/sqrt(2)) T.
		tri := vectors([]float32{0, 0}, []float32{4, 0}, []float32{0, 3})
		dst := make([]float32, 2)
		if n := GeoMedian(dst, tri, 1, 0, 1e-9); n != 1 {
			t.Fatalf("%s: GeoMedian did %d iterations, want 1", kernel, n)
		}
		g := 1 - 1/math.Sqrt2
		near("one Vardi-Zhang step", dst, g*12/7, g*12/7)
		// From (1,1) (the median of these three), a plain Weiszfeld step.
		sq := vectors([]float32{0, 1}, []float32{1, 0}, []float32{3, 3})
		b := []float64{1, 1, 1 / math.Sqrt(8)}
		sum := b[0] + b[1] + b[2]
		GeoMedian(dst, sq, 1, 0, 1e-9)
		near("one Weiszfeld step", dst, (b[1]+3*b[2])/sum, (b[0]+3*b[2])/sum)
		GeoMedian(dst, tri, 0, 0, 1e-9)
		near("GeoMedian's start", dst, 0, 0)
		// From 0: (3,4) at distance 5, (0,1) at 1. Radius 2 keeps 2/5 of
		// the first; the adaptive radius is the median of 5 and 1, 3.
		two := vectors([]float32{3, 4}, []float32{0, 1})
		CenteredClip(dst, two, []float32{0, 0}, 2, 1)
		near("centered clipping at radius 2", dst, 0.5*(3*0.4), 0.5*(4*0.4+1))
		CenteredClip(dst, two, []float32{0, 0}, 0, 1)
		near("centered clipping at the adaptive radius", dst, 0.5*(3*0.6), 0.5*(4*0.6+1))
		// From (0,1) itself the adaptive radius is the mean of 0 and the
		// distance to (3,4), half of it: that vector counts half.
		copy(dst, []float32{0, 1})
		CenteredClip(dst, two, dst, 0, 1)
		near("centered clipping from (0,1)", dst, 0.5*3*0.5, 1+0.5*3*0.5)
	})
}

// TestGeoMedianOnAnInput has the iterate land exactly on an input vector.
func TestGeoMedianOnAnInput(t *testing.T) {
	forKernels(t, func(t *testing.T, kernel string) {
		for _, c := range []struct {
			name string
			vecs [][]float32
		}{
			{"mean is the middle one", vectors([]float32{-1, 0, 2}, []float32{0, 0, 0}, []float32{1, 0, -2})},
			{"zero and a symmetric star", vectors([]float32{0, 0}, []float32{1, 0}, []float32{-1, 0}, []float32{0, 2}, []float32{0, -2})},
		} {
			for _, iters := range []int{0, 1, 8} {
				dst := dirty(len(c.vecs[0]))
				n := GeoMedian(dst, c.vecs, iters, 1e-6, 1e-9)
				if n != min(iters, 1) {
					t.Fatalf("%s %s: %d iterations of %d, want %d (z does not move)", kernel, c.name, n, iters, min(iters, 1))
				}
				for k, x := range dst {
					if x != 0 {
						t.Fatalf("%s %s: z[%d] = %v, want 0", kernel, c.name, k, x)
					}
				}
			}
		}
		// The mean (0,0) is an input but not the median (1,0), which three
		// of five vectors share: z must leave (0,0) and reach it.
		vecs := vectors([]float32{0, 0}, []float32{1, 0}, []float32{1, 0}, []float32{1, 0}, []float32{-3, 0})
		dst := dirty(2)
		n := GeoMedian(dst, vecs, 200, 1e-7, 1e-6)
		if math.Abs(float64(dst[0])-1) > 1e-4 || dst[1] != 0 {
			t.Fatalf("%s: z = %v after %d iterations, want (1, 0)", kernel, dst, n)
		}
	})
}

// TestCenteredClipRadius: a fixed radius beyond the attacker's distance
// clips nothing (the result is the mean), the adaptive one clips it.
func TestCenteredClipRadius(t *testing.T) {
	forKernels(t, func(t *testing.T, kernel string) {
		for _, scale := range []float32{1, 1e-3, 1e4} {
			vecs := vectors([]float32{1, 1}, []float32{1.2, 0.8}, []float32{0.8, 1.2}, []float32{1, 1.1}, []float32{100, 100})
			for _, v := range vecs {
				v[0] *= scale
				v[1] *= scale
			}
			center := []float32{0, 0}
			mean := make([]float32, 2)
			meanRowsNaive(mean, vecs, []int{0, 1, 2, 3, 4})
			dst := make([]float32, 2)
			CenteredClip(dst, vecs, center, 1000*float64(scale), 1)
			if math.Abs(float64(dst[0]-mean[0])) > 1e-6*float64(scale) || math.Abs(float64(dst[1]-mean[1])) > 1e-6*float64(scale) {
				t.Fatalf("%s scale %g: fixed radius gave %v, want the mean %v", kernel, scale, dst, mean)
			}
			CenteredClip(dst, vecs, center, 0, 3)
			// The honest mean is (1, 1.025); unclipped, the attacker alone
			// would move it by 20.
			if math.Abs(float64(dst[0]/scale)-1) > 0.3 || math.Abs(float64(dst[1]/scale)-1.025) > 0.3 {
				t.Fatalf("%s scale %g: adaptive radius gave %v, want near (1, 1.025)", kernel, scale, dst)
			}
		}
	})
}

func TestRobustPanics(t *testing.T) {
	vecs := vectors([]float32{1, 2}, []float32{3, 4}, []float32{5, 6})
	dst := make([]float32, 2)
	for name, f := range map[string]func(){
		"no vectors":         func() { Median(dst, nil) },
		"length":             func() { Median(make([]float32, 3), vecs) },
		"trim too much":      func() { TrimmedMean(dst, vecs, 2) },
		"trim negative":      func() { TrimmedMean(dst, vecs, -1) },
		"dist too short":     func() { SqDistances(make([]float64, 8), vecs) },
		"krum m=0":           func() { Krum(dst, vecs, 0, 0) },
		"krum m>M":           func() { Krum(dst, vecs, 0, 4) },
		"geomedian eps=0":    func() { GeoMedian(dst, vecs, 1, 0, 0) },
		"clip center length": func() { CenteredClip(dst, vecs, []float32{0}, 0, 1) },
		"nnm f=M":            func() { NearestNeighborMix([][]float32{dst, dst, dst}, vecs, 3) },
		"nnm outputs":        func() { NearestNeighborMix([][]float32{dst}, vecs, 0) },
	} {
		func() {
			defer func() {
				if recover() == nil {
					t.Errorf("%s: no panic", name)
				}
			}()
			f()
		}()
	}
}

// TestSelectionNetwork checks the pruned sorting networks by the 0-1
// principle: on every vector of m bits (64 at a time, one per bit of a
// word, where min is AND and max is OR) the rows kept come out as sorting
// would put them.
func TestSelectionNetwork(t *testing.T) {
	for m := 1; m <= 18; m++ {
		for _, fc := range [][2]int{{m / 2, 1}, {(m - 1) / 2, 2 - m%2}, {0, m}, {m / 4, m - 2*(m/4)}, {0, 1}, {m - 1, 1}} {
			first, cnt := fc[0], fc[1]
			net := selectionNetwork(m, first, cnt)
			words := max(1, (1<<m)/64)
			for w := range words {
				rows := make([]uint64, m)
				for b := range 64 {
					x := w*64 + b
					if x >= 1<<m {
						break
					}
					for r := range m {
						rows[r] |= uint64(x>>r&1) << b
					}
				}
				for c := 0; c < len(net); c += 2 {
					a, b := net[c], net[c+1]
					rows[a], rows[b] = rows[a]&rows[b], rows[a]|rows[b]
				}
				for b := range min(64, 1<<m) {
					x := w*64 + b
					ones := 0
					for r := range m {
						ones += x >> r & 1
					}
					for r := first; r < first+cnt; r++ {
						want := uint64(0)
						if r >= m-ones {
							want = 1
						}
						if rows[r]>>b&1 != want {
							t.Fatalf("m=%d rows %d..%d: input %b gives %d in row %d", m, first, first+cnt-1, x, rows[r]>>b&1, r)
						}
					}
				}
			}
		}
	}
	// The full network of 16 is Batcher's 63 comparators.
	if n := len(selectionNetwork(16, 0, 16)) / 2; n != 63 {
		t.Errorf("Batcher's network of 16 has %d comparators, want 63", n)
	}
}

// BenchmarkRobust times the robust aggregators on the vectors
// BenchmarkSumFloat32 sums (voters=16/d=11689512, ResNet-18's size), with
// the kernels Threads() and the CPU pick; compare ms/op with
// BenchmarkSumFloat32/voters=16/d=11689512 measured in the same run.
func BenchmarkRobust(b *testing.B) {
	const m, d = 16, 11689512
	const f = 4
	run := func(name string, op func()) {
		b.Run(fmt.Sprintf("voters=%d/d=%d/%s", m, d, name), func(b *testing.B) {
			b.SetBytes(int64(m * 4 * d))
			b.ReportAllocs()
			b.ResetTimer()
			for range b.N {
				op()
			}
			reportMillis(b)
		})
	}
	vecs := benchFloatVectors(m, d)
	dst := make([]float32, d)
	run("median", func() { Median(dst, vecs) })
	run(fmt.Sprintf("trimmedmean/f=%d", f), func() { TrimmedMean(dst, vecs, f) })
	dist := make([]float64, m*m)
	run("sqdistances", func() { SqDistances(dist, vecs) })
	run(fmt.Sprintf("krum/f=%d", f), func() { Krum(dst, vecs, f, 1) })
	run(fmt.Sprintf("multikrum/f=%d/m=%d", f, m-f), func() { Krum(dst, vecs, f, m-f) })
	run("geomedian/iters=8", func() { GeoMedian(dst, vecs, 8, 0, 1e-6) })
	center := make([]float32, d)
	run("centeredclip/iters=3", func() { CenteredClip(dst, vecs, center, 0, 3) })
	out := make([][]float32, m)
	for i := range out {
		out[i] = make([]float32, d)
	}
	run(fmt.Sprintf("nnm/f=%d", f), func() { NearestNeighborMix(out, vecs, f) })
	run("sanitize", func() { SanitizeFloat32(vecs[0]) })
}

// TestRobustStepSums checks robustStep, the pass GeoMedian and
// CenteredClip make per iteration, by itself: its new z has the bits of the
// per-coordinate formula, and its sums (the distances, and GeoMedian's
// move and norm, which only decide when to stop) agree with sums done
// coordinate by coordinate, and bit for bit across kernels and threads.
func TestRobustStepSums(t *testing.T) {
	rng := rand.New(rand.NewPCG(18, 3))
	defer setRobustChunk(robustTestChunk)()
	for _, m := range []int{1, 2, 5, 16, 17} {
		for _, d := range robustLengths {
			vecs := robustCases(rng, m, d)[0].vecs
			rows := newRowSet(vecs)
			w := make([]float64, m)
			for i := range w {
				w[i] = rng.Float64() / float64(m)
			}
			z0 := make([]float32, d)
			for k := range z0 {
				z0[k] = float32(rng.NormFloat64())
			}
			zero := make([]float32, d)
			for _, step := range []int{stepCopy, stepGeo, stepClip} {
				want := dirty(d)
				switch step {
				case stepCopy:
					copy(want, z0)
				case stepGeo:
					weightedSumNaive(want, vecs, w)
				case stepClip:
					for k := range want {
						c := float64(z0[k])
						s := float64(w[0] * (float64(vecs[0][k]) - c))
						for i := 1; i < m; i++ {
							s = math.FMA(w[i], float64(vecs[i][k])-c, s)
						}
						want[k] = float32(c + s)
					}
				}
				wantSums := make([]float64, m+2)
				for i, v := range vecs {
					wantSums[i] = sqDist(want, v)
				}
				if step == stepGeo {
					wantSums[m], wantSums[m+1] = sqDist(want, z0), sqDist(z0, zero)
				}
				same := sameEveryTime[float64]()
				forKernels(t, func(t *testing.T, kernel string) {
					name := fmt.Sprintf("%s/threads=%d/m=%d/d=%d/step=%d", kernel, Threads(), m, d, step)
					z, src := slices.Clone(z0), []float32(nil)
					if step == stepCopy {
						z, src = dirty(d), z0
					}
					sums := robustStep(z, src, rows, w, step, true)
					if k, ok := sameFloats(z, want); !ok {
						t.Fatalf("%s: z[%d] = %v, want %v", name, k, z[k], want[k])
					}
					for i, s := range sums {
						if math.Abs(s-wantSums[i]) > 1e-12*wantSums[i] {
							t.Fatalf("%s: sum %d is %v, want %v", name, i, s, wantSums[i])
						}
					}
					if !same(sums) {
						t.Fatalf("%s: sums differ from the other kernel's or thread count's", name)
					}
				})
			}
		}
	}
}

// TestGeoMedianLeavesAnInputVector is the zero-sum attack's trap: one
// vector is minus the sum of seven others and another is zero, so the
// mean, Weiszfeld's start, is exactly the zero vector. The zero vector is
// not the geometric median (the seven others pull with a force above 1),
// so both forms must leave it: after 8 iterations the objective must have
// fallen most of the way from its value at 0 to its value at the median
// (found by many iterations), and the two forms must agree.
func TestGeoMedianLeavesAnInputVector(t *testing.T) {
	const d, honest = 300, 7
	r := rand.New(rand.NewPCG(3, 4))
	vecs := make([][]float32, 0, honest+2)
	attack := make([]float32, d)
	for range honest {
		v := make([]float32, d)
		for k := range v {
			v[k] = 0.1 + float32(r.NormFloat64())
			attack[k] -= v[k]
		}
		vecs = append(vecs, v)
	}
	vecs = append(vecs, attack, make([]float32, d))
	obj := func(z []float32) float64 {
		s := 0.0
		for _, v := range vecs {
			q := 0.0
			for k := range z {
				e := float64(z[k]) - float64(v[k])
				q += e * e
			}
			s += math.Sqrt(q)
		}
		return s
	}
	best := make([]float32, d)
	GeoMedianNaive(best, vecs, 2000, 0, 1e-8)
	atZero := obj(make([]float32, d))
	for name, f := range map[string]func([]float32, [][]float32, int, float64, float64) int{"GeoMedian": GeoMedian, "GeoMedianNaive": GeoMedianNaive} {
		z := make([]float32, d)
		f(z, vecs, 8, 0, 1e-8)
		if got := obj(z); got > obj(best)+0.05*(atZero-obj(best)) {
			t.Errorf("%s: objective %.4f after 8 iterations; %.4f at the start (zero vector), %.4f at the median", name, got, atZero, obj(best))
		}
	}
	// The median of vectors that all coincide is that vector, at once.
	same := [][]float32{{1, 2}, {1, 2}, {1, 2}}
	z := make([]float32, 2)
	if n := GeoMedian(z, same, 8, 0, 1e-8); n != 1 || z[0] != 1 || z[1] != 2 {
		t.Errorf("equal vectors: %v after %d iterations", z, n)
	}
	// A point that is the median stays: 0 among {-1, 0, 1} on a line.
	line := [][]float32{{-1}, {0}, {1}, {0}}
	z = []float32{9}
	GeoMedian(z, line, 8, 0, 1e-8)
	if z[0] != 0 {
		t.Errorf("median of {-1, 0, 1, 0}: %v", z[0])
	}
}
