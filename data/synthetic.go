package data

import (
	"fmt"
	"math"
	"math/rand/v2"
)

// Dataset is n rows of Features float32 features and one target each.
type Dataset struct {
	Features int
	Classes  int       // number of classes; 0 for regression
	Image    []int     // (C, H, W) when rows are images (Features = C*H*W), else nil
	X        []float32 // (n, Features) row-major
	Y        []float32 // (n): class index for classification, target for regression
}

// Len returns the number of rows.
func (d Dataset) Len() int { return len(d.Y) }

// Row returns row i's features.
func (d Dataset) Row(i int) []float32 { return d.X[i*d.Features : (i+1)*d.Features] }

// Kind names a synthetic task.
type Kind string

const (
	Logistic Kind = "logreg" // labels in {0, 1}
	Linear   Kind = "linreg" // real targets
)

// The synthetic problem's shape, as in the paper's code.
const (
	SyntheticSamples   = 10000
	SyntheticFeatures  = 20
	TrainFraction      = 0.8
	FeatureCorrelation = 0.3 // Cov(x_i, x_j) = 0.3^|i-j|
	NoiseStd           = 1.0 // of the linear targets, before standardising
)

// Synthetic makes the paper's regression data from seed: features
// x ~ N(0, S) with S_ij = 0.3^|i-j| (drawn as L z, L the Cholesky factor of
// S), true weights w ~ N(2, 1); logistic labels y ~ Bernoulli(sigmoid(x.w))
// in {0, 1}; linear targets y = x.w + N(0, 1). The first 80% of the rows
// are the training set. Features are standardised with the training set's
// mean and standard deviation (both sets); linear targets likewise, so
// losses are O(1) whatever the seed.
func Synthetic(kind Kind, seed uint64) (train, test Dataset, err error) {
	return SyntheticN(kind, seed, SyntheticSamples)
}

// SyntheticN is Synthetic with n rows (0: SyntheticSamples); the first
// SyntheticSamples rows are Synthetic's (the rows are drawn in order), but
// the standardisation and the cut into train and test depend on n.
func SyntheticN(kind Kind, seed uint64, n int) (train, test Dataset, err error) {
	if kind != Logistic && kind != Linear {
		return train, test, fmt.Errorf("unknown synthetic dataset %q (want logreg or linreg)", kind)
	}
	if n == 0 {
		n = SyntheticSamples
	}
	if n < 10 {
		return train, test, fmt.Errorf("synthetic dataset of %d rows: need at least 10", n)
	}
	const f = SyntheticFeatures
	rng := rand.New(rand.NewPCG(seed, 0x5167))
	l := cholesky(toeplitz(f, FeatureCorrelation))
	w := make([]float64, f)
	for i := range w {
		w[i] = 2 + rng.NormFloat64()
	}
	x := make([]float64, n*f)
	y := make([]float64, n)
	z := make([]float64, f)
	for r := 0; r < n; r++ {
		for i := range z {
			z[i] = rng.NormFloat64()
		}
		row := x[r*f : (r+1)*f]
		dot := 0.0
		for i := range row {
			s := 0.0
			for j := 0; j <= i; j++ {
				s += l[i*f+j] * z[j]
			}
			row[i] = s
			dot += s * w[i]
		}
		if kind == Logistic {
			if rng.Float64() < 1/(1+math.Exp(-dot)) {
				y[r] = 1
			}
		} else {
			y[r] = dot + NoiseStd*rng.NormFloat64()
		}
	}
	nTrain := int(TrainFraction * float64(n))
	standardise(x, f, nTrain)
	if kind == Linear {
		standardise(y, 1, nTrain)
	}
	classes := 0
	if kind == Logistic {
		classes = 2
	}
	mk := func(lo, hi int) Dataset {
		d := Dataset{Features: f, Classes: classes, X: make([]float32, (hi-lo)*f), Y: make([]float32, hi-lo)}
		for i, v := range x[lo*f : hi*f] {
			d.X[i] = float32(v)
		}
		for i, v := range y[lo:hi] {
			d.Y[i] = float32(v)
		}
		return d
	}
	return mk(0, nTrain), mk(nTrain, n), nil
}

func toeplitz(n int, rho float64) []float64 {
	s := make([]float64, n*n)
	for i := 0; i < n; i++ {
		for j := 0; j < n; j++ {
			s[i*n+j] = math.Pow(rho, math.Abs(float64(i-j)))
		}
	}
	return s
}

// cholesky returns the lower factor L of a symmetric positive definite
// matrix s (n by n, row-major), s = L L^T.
func cholesky(s []float64) []float64 {
	n := int(math.Sqrt(float64(len(s))))
	l := make([]float64, n*n)
	for i := 0; i < n; i++ {
		for j := 0; j <= i; j++ {
			v := s[i*n+j]
			for k := 0; k < j; k++ {
				v -= l[i*n+k] * l[j*n+k]
			}
			if i == j {
				l[i*n+i] = math.Sqrt(v)
			} else {
				l[i*n+j] = v / l[j*n+j]
			}
		}
	}
	return l
}

// standardise centres and scales each of the f columns of x by the mean
// and standard deviation of its first nFit rows.
func standardise(x []float64, f, nFit int) {
	for c := 0; c < f; c++ {
		mean, sq := 0.0, 0.0
		for r := 0; r < nFit; r++ {
			mean += x[r*f+c]
		}
		mean /= float64(nFit)
		for r := 0; r < nFit; r++ {
			d := x[r*f+c] - mean
			sq += d * d
		}
		std := math.Sqrt(sq / float64(nFit))
		if std == 0 {
			std = 1
		}
		for r := 0; r < len(x)/f; r++ {
			x[r*f+c] = (x[r*f+c] - mean) / std
		}
	}
}
