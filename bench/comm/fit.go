package comm

import (
	"errors"
	"math"

	"gonum.org/v1/gonum/mat"
)

// exchangeModel is the time of one exchange as a function of the bytes S
// that cross the busiest rank's link in a step (for the server topology,
// rank 0's: sent + received) and of that link's bandwidth bw (bytes/s):
//
//	t = A + B * S/bw + C * S
//
// A is the fixed cost (latency, synchronisation), B the share of the line
// rate that is lost (1: the wire is the bottleneck at full speed), C the
// per-byte cost of the CPU (copying, decoding, summing or counting).
type exchangeModel struct {
	A, B, C float64
	// Terms says which of A, B, C were fitted (the others are fixed at 0
	// because a negative value fitted better, or at Fixed's value).
	Terms string
}

// fitPoint is one measured exchange.
type fitPoint struct {
	Bytes     float64 // S: bytes through the busiest link per step
	Bandwidth float64 // bytes/s; +Inf for no limit
	Seconds   float64
}

func (m exchangeModel) predict(bytes, bandwidth float64) float64 {
	t := m.A + m.C*bytes
	if !math.IsInf(bandwidth, 1) {
		t += m.B * bytes / bandwidth
	}
	return t
}

// fitError is how far the model is from the points it was fitted on.
type fitError struct {
	MaxRel, MedianRel float64
	N                 int
}

// wireTime is S/bw, 0 for no limit.
func wireTime(p fitPoint) float64 {
	if math.IsInf(p.Bandwidth, 1) {
		return 0
	}
	return p.Bytes / p.Bandwidth
}

// fitExchange fits the model by least squares on relative errors (each
// point's equation divided by its time, so short and long exchanges count
// alike), with A, B, C >= 0: every subset of the three terms is fitted
// and the best one whose coefficients are all non-negative is kept. If
// fixedB > 0, B is not fitted but fixed at fixedB (points without a
// bandwidth limit cannot tell B).
func fitExchange(pts []fitPoint, fixedB float64) (exchangeModel, fitError, error) {
	if len(pts) < 2 {
		return exchangeModel{}, fitError{}, errors.New("fit: need at least 2 points")
	}
	cols := []func(fitPoint) float64{
		func(fitPoint) float64 { return 1 },
		wireTime,
		func(p fitPoint) float64 { return p.Bytes },
	}
	names := "ABC"
	best, bestSSE := exchangeModel{}, math.Inf(1)
	for mask := 1; mask < 8; mask++ {
		if fixedB > 0 && mask&2 != 0 {
			continue
		}
		var use []int
		for j := range 3 {
			if mask&(1<<j) != 0 {
				use = append(use, j)
			}
		}
		if len(use) > len(pts) {
			continue
		}
		a := mat.NewDense(len(pts), len(use), nil)
		b := mat.NewVecDense(len(pts), nil)
		for i, p := range pts {
			if p.Seconds <= 0 {
				return exchangeModel{}, fitError{}, errors.New("fit: a measured time is not positive")
			}
			rhs := 1.0
			if fixedB > 0 {
				rhs -= fixedB * wireTime(p) / p.Seconds
			}
			b.SetVec(i, rhs)
			for k, j := range use {
				a.Set(i, k, cols[j](p)/p.Seconds)
			}
		}
		var x mat.VecDense
		if err := x.SolveVec(a, b); err != nil {
			continue
		}
		m := exchangeModel{B: fixedB}
		ok := true
		for k, j := range use {
			v := x.AtVec(k)
			if v < 0 || math.IsNaN(v) {
				ok = false
			}
			switch j {
			case 0:
				m.A = v
			case 1:
				m.B = v
			case 2:
				m.C = v
			}
			m.Terms += names[j : j+1]
		}
		if !ok {
			continue
		}
		var sse float64
		for _, p := range pts {
			r := (m.predict(p.Bytes, p.Bandwidth) - p.Seconds) / p.Seconds
			sse += r * r
		}
		if sse < bestSSE {
			best, bestSSE = m, sse
		}
	}
	if math.IsInf(bestSSE, 1) {
		return exchangeModel{}, fitError{}, errors.New("fit: no non-negative solution")
	}
	rel := make([]float64, len(pts))
	var fe fitError
	for i, p := range pts {
		rel[i] = math.Abs(best.predict(p.Bytes, p.Bandwidth)-p.Seconds) / p.Seconds
		fe.MaxRel = max(fe.MaxRel, rel[i])
	}
	fe.MedianRel, fe.N = median(rel), len(pts)
	return best, fe, nil
}
