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
