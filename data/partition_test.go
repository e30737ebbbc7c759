package data

import (
	"math"
	"math/rand/v2"
	"slices"
	"testing"
)

// testLabels are n labels of classes classes, drawn from seed, unbalanced
// (class c about twice as frequent as class c-1... roughly) and in a
// shuffled order.
func testLabels(n, classes int, seed uint64) []int {
	rng := rand.New(rand.NewPCG(seed, 1))
	l := make([]int, n)
	for i := range l {
		l[i] = int(math.Sqrt(rng.Float64()) * float64(classes))
	}
	return l
}

// checkCover fails unless parts are disjoint, cover exactly want rows of
// [0, n) (all of them when want == n) and give every worker a row.
func checkCover(t *testing.T, parts [][]int, n, want int) {
	t.Helper()
	seen := make([]int, n)
	total := 0
	for r, p := range parts {
		if len(p) == 0 {
			t.Errorf("worker %d holds no row", r)
		}
		for _, i := range p {
			if i < 0 || i >= n {
				t.Fatalf("worker %d: row %d outside [0, %d)", r, i, n)
			}
			seen[i]++
			total++
		}
	}
	for i, c := range seen {
		if c > 1 {
			t.Fatalf("row %d held by %d workers", i, c)
		}
	}
	if total != want {
		t.Errorf("%d rows held, want %d", total, want)
	}
}

func TestIIDPartitionIsShardIndices(t *testing.T) {
	for _, c := range []struct{ n, m int }{{8000, 9}, {10, 3}, {7, 7}, {100, 1}} {
		parts := IIDPartition(c.n, c.m, 8005)
		for r := range parts {
			if !slices.Equal(parts[r], ShardIndices(c.n, r, c.m, 8005)) {
				t.Errorf("n=%d m=%d rank %d: differs from ShardIndices", c.n, c.m, r)
			}
		}
		checkCover(t, parts, c.n, c.n/c.m*c.m)
	}
}

func TestDirichletPartitionCoversAndMatchesDraw(t *testing.T) {
	for _, c := range []struct {
		n, classes, m int
		alpha         float64
	}{{60000, 10, 9, 0.1}, {8000, 2, 9, 0.1}, {5000, 10, 4, 1}, {999, 3, 16, 100}, {50, 10, 9, 0.01}} {
		labels := testLabels(c.n, c.classes, uint64(c.n))
		parts, err := DirichletPartition(labels, c.classes, c.m, c.alpha, 8005)
		if err != nil {
			t.Fatal(err)
		}
		checkCover(t, parts, c.n, c.n)
		for r := range parts {
			if !slices.IsSorted(parts[r]) {
				t.Errorf("worker %d's rows are not in order", r)
			}
		}
		// Each worker's count of each class is the rounded cut of the draw:
		// within one row of share * class size, but for the rows moved to
		// workers left empty (at most one each).
		props := DirichletProportions(c.classes, c.m, c.alpha, 8005)
		size := Histogram(labels, c.classes, rowSeq(c.n))
		moved := 0
		for r, p := range parts {
			h := Histogram(labels, c.classes, p)
			for k := range h {
				dev := math.Abs(float64(h[k]) - props[k][r]*float64(size[k]))
				if dev > 1 {
					moved++
				}
				if dev > 2 {
					t.Errorf("n=%d alpha=%v worker %d class %d: %d rows, draw says %.2f", c.n, c.alpha, r, k, h[k], props[k][r]*float64(size[k]))
				}
			}
		}
		if moved > 2*c.m {
			t.Errorf("n=%d alpha=%v: %d counts off the draw by more than a row", c.n, c.alpha, moved)
		}
		again, _ := DirichletPartition(labels, c.classes, c.m, c.alpha, 8005)
		for r := range parts {
			if !slices.Equal(parts[r], again[r]) {
				t.Fatalf("not deterministic at worker %d", r)
			}
		}
	}
}

// With alpha small, most of a class goes to a few workers: the draw is
// not uniform (a check that the shares are really Dirichlet(alpha)).
func TestDirichletProportionsMoments(t *testing.T) {
	const m, classes = 5, 4000
	for _, alpha := range []float64{0.1, 1, 10} {
		props := DirichletProportions(classes, m, alpha, 3)
		// Dirichlet(alpha,...,alpha) over m: E p = 1/m, Var p = (m-1)/(m^2 (m alpha + 1)).
		wantVar := float64(m-1) / float64(m*m) / (float64(m)*alpha + 1)
		var sum, sq float64
		for _, p := range props {
			s := 0.0
			for _, x := range p {
				s += x
				sum += x
				sq += (x - 1.0/m) * (x - 1.0/m)
			}
			if math.Abs(s-1) > 1e-9 {
				t.Fatalf("alpha %v: shares add up to %v", alpha, s)
			}
		}
		nv := float64(classes * m)
		if v := sq / nv; math.Abs(v-wantVar) > 0.1*wantVar {
			t.Errorf("alpha %v: variance of a share %.4g, want %.4g", alpha, v, wantVar)
		}
	}
}

func TestGammaMoments(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 7))
	const n = 200000
	for _, a := range []float64{0.05, 0.3, 1, 2.5, 30} {
		var s, s2 float64
		for i := 0; i < n; i++ {
			x := Gamma(rng, a)
			if x < 0 || math.IsNaN(x) {
				t.Fatalf("Gamma(%v) drew %v", a, x)
			}
			s += x
			s2 += x * x
		}
		mean := s / n
		variance := s2/n - mean*mean
		// Gamma(a, 1): mean a, variance a; the mean's standard error is sqrt(a/n).
		if se := math.Sqrt(a / n); math.Abs(mean-a) > 5*se {
			t.Errorf("Gamma(%v): mean %.5g, want %v within %.3g", a, mean, a, 5*se)
		}
		if math.Abs(variance-a) > 0.05*a {
			t.Errorf("Gamma(%v): variance %.5g, want %v", a, variance, a)
		}
	}
}

func TestShardPartition(t *testing.T) {
	for _, c := range []struct{ n, classes, m, k int }{{60000, 10, 9, 2}, {8000, 2, 9, 2}, {19, 3, 3, 6}, {100, 10, 10, 1}} {
		labels := testLabels(c.n, c.classes, 2)
		if c.n == 60000 {
			for i := range labels {
				labels[i] = i % c.classes // balanced: a shard spans at most 2 classes
			}
		}
		parts, err := ShardPartition(labels, c.m, c.k, 8005)
		if err != nil {
			t.Fatal(err)
		}
		checkCover(t, parts, c.n, c.n)
		per := c.n / (c.m * c.k)
		for r, p := range parts {
			if len(p) < c.k*per || len(p) > c.k*(per+1) {
				t.Errorf("worker %d: %d rows, want %d shards of %d or %d", r, len(p), c.k, per, per+1)
			}
			// Shards are label-sorted runs: with classes of 6000 rows and
			// shards of 3333, a shard spans at most 2 classes.
			h := Histogram(labels, c.classes, p)
			nz := 0
			for _, x := range h {
				if x > 0 {
					nz++
				}
			}
			if c.n == 60000 && nz > 2*c.k {
				t.Errorf("worker %d holds %d classes with %d shards", r, nz, c.k)
			}
		}
	}
	if _, err := ShardPartition(make([]int, 17), 9, 2, 1); err == nil {
		t.Error("17 rows for 18 shards: no error")
	}
	if _, err := DirichletPartition(make([]int, 8), 1, 9, 1, 1); err == nil {
		t.Error("8 rows for 9 workers: no error")
	}
	if _, err := DirichletPartition(make([]int, 80), 1, 9, 0, 1); err == nil {
		t.Error("alpha 0: no error")
	}
}

func TestLabels(t *testing.T) {
	train, _, err := Synthetic(Logistic, 8005)
	if err != nil {
		t.Fatal(err)
	}
	l, err := Labels(train, 100)
	if err != nil {
		t.Fatal(err)
	}
	for i, v := range l {
		if float32(v) != train.Y[i] {
			t.Fatalf("row %d: label %d, Y %v", i, v, train.Y[i])
		}
	}
	lin, _, _ := Synthetic(Linear, 8005)
	if _, err := Labels(lin, 10); err == nil {
		t.Error("labels of a regression: no error")
	}
	img := SyntheticImages(64, 10, 3, 8, 8, 1)
	l, err = Labels(img, 64)
	if err != nil {
		t.Fatal(err)
	}
	x := make([]float32, 64*3*8*8)
	y := make([]float32, 64)
	if err := img.Batch(x, y, rowSeq(64), 0); err != nil {
		t.Fatal(err)
	}
	for i := range l {
		if float32(l[i]) != y[i] {
			t.Fatalf("image %d: Label %d, Batch %v", i, l[i], y[i])
		}
	}
}

func rowSeq(n int) []int {
	out := make([]int, n)
	for i := range out {
		out[i] = i
	}
	return out
}
