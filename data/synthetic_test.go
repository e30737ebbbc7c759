package data

import (
	"math"
	"testing"
)

func TestSyntheticShapesAndLabels(t *testing.T) {
	for _, kind := range []Kind{Logistic, Linear} {
		train, test, err := Synthetic(kind, 8005)
		if err != nil {
			t.Fatal(err)
		}
		if train.Len() != 8000 || test.Len() != 2000 || train.Features != 20 || len(train.X) != 8000*20 {
			t.Fatalf("%s: shapes %d/%d rows, %d features", kind, train.Len(), test.Len(), train.Features)
		}
		if kind == Logistic {
			ones := 0
			for _, y := range append(train.Y, test.Y...) {
				if y != 0 && y != 1 {
					t.Fatalf("logistic label %v not in {0, 1}", y)
				}
				ones += int(y)
			}
			if ones < 3500 || ones > 6500 {
				t.Fatalf("%d of 10000 labels are 1", ones)
			}
		}
		// standardised on the training set
		for c := 0; c < train.Features; c++ {
			mean, sq := 0.0, 0.0
			for r := 0; r < train.Len(); r++ {
				mean += float64(train.Row(r)[c])
			}
			mean /= float64(train.Len())
			for r := 0; r < train.Len(); r++ {
				d := float64(train.Row(r)[c]) - mean
				sq += d * d
			}
			if math.Abs(mean) > 1e-4 || math.Abs(math.Sqrt(sq/float64(train.Len()))-1) > 1e-4 {
				t.Fatalf("%s column %d: mean %v std %v", kind, c, mean, math.Sqrt(sq/float64(train.Len())))
			}
		}
	}
}

func TestSyntheticCorrelation(t *testing.T) {
	train, _, _ := Synthetic(Logistic, 1)
	n := float64(train.Len())
	for _, lag := range []int{1, 2, 5} {
		c := 0.0
		for r := 0; r < train.Len(); r++ {
			c += float64(train.Row(r)[3] * train.Row(r)[3+lag])
		}
		c /= n // standardised columns: covariance is correlation
		want := math.Pow(FeatureCorrelation, float64(lag))
		if math.Abs(c-want) > 0.04 {
			t.Fatalf("corr(x3, x%d) = %.3f, want %.3f", 3+lag, c, want)
		}
	}
}

func TestSyntheticSeeded(t *testing.T) {
	a, _, _ := Synthetic(Logistic, 8005)
	b, _, _ := Synthetic(Logistic, 8005)
	c, _, _ := Synthetic(Logistic, 8006)
	same, diff := true, false
	for i := range a.X {
		same = same && a.X[i] == b.X[i]
		diff = diff || a.X[i] != c.X[i]
	}
	if !same || !diff {
		t.Fatalf("same seed equal: %v, other seed different: %v", same, diff)
	}
	if _, _, err := Synthetic("mnist", 1); err == nil {
		t.Fatal("unknown kind accepted")
	}
}

func TestCholesky(t *testing.T) {
	s := toeplitz(6, 0.3)
	l := cholesky(s)
	for i := 0; i < 6; i++ {
		for j := 0; j < 6; j++ {
			v := 0.0
			for k := 0; k < 6; k++ {
				v += l[i*6+k] * l[j*6+k]
			}
			if math.Abs(v-s[i*6+j]) > 1e-12 {
				t.Fatalf("(LL^T)[%d][%d] = %v, want %v", i, j, v, s[i*6+j])
			}
		}
	}
}

func TestShardsAndBatches(t *testing.T) {
	train, _, _ := Synthetic(Logistic, 8005)
	for _, m := range []int{1, 3, 9, 16} {
		per := train.Len() / m
		seen := map[int]bool{}
		for r := 0; r < m; r++ {
			shard := ShardIndices(train.Len(), r, m, 8005)
			if len(shard) != per {
				t.Fatalf("M=%d rank %d: %d rows, want %d", m, r, len(shard), per)
			}
			if again := ShardIndices(train.Len(), r, m, 8005); again[0] != shard[0] || again[per-1] != shard[per-1] {
				t.Fatalf("M=%d rank %d: the same seed gave another shard", m, r)
			}
			for _, i := range shard {
				if i < 0 || i >= train.Len() || seen[i] {
					t.Fatalf("M=%d: row %d out of range or in two shards", m, i)
				}
				seen[i] = true
			}
			s := Dataset{Features: train.Features, Classes: train.Classes, X: make([]float32, per*train.Features), Y: make([]float32, per)}
			if err := train.Batch(s.X, s.Y, shard, 0); err != nil {
				t.Fatal(err)
			}
			b := PerWorkerBatch(128, m)
			batches := Batches(s.Len(), b, 8005, r, 0)
			if len(batches) != StepsPerEpoch(s.Len(), b) {
				t.Fatalf("%d batches, want %d", len(batches), StepsPerEpoch(s.Len(), b))
			}
			count := make([]int, s.Len())
			for _, bt := range batches {
				if len(bt) > b {
					t.Fatalf("batch of %d > %d", len(bt), b)
				}
				for _, i := range bt {
					count[i]++
				}
			}
			for i, c := range count {
				if c != 1 {
					t.Fatalf("row %d appears %d times in an epoch", i, c)
				}
			}
		}
	}
	if PerWorkerBatch(128, 9) != 14 || PerWorkerBatch(128, 200) != 1 {
		t.Fatal("PerWorkerBatch")
	}
	a, b := Batches(100, 10, 1, 0, 0), Batches(100, 10, 1, 0, 1)
	if a[0][0] == b[0][0] && a[0][1] == b[0][1] && a[0][2] == b[0][2] {
		t.Fatal("epochs share an order")
	}
}
