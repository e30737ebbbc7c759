package comm

import (
	"math"
	"slices"
)

// median of xs (NaN-free); 0 for none.
func median(xs []float64) float64 {
	if len(xs) == 0 {
		return 0
	}
	s := slices.Clone(xs)
	slices.Sort(s)
	n := len(s)
	if n%2 == 1 {
		return s[n/2]
	}
	return (s[n/2-1] + s[n/2]) / 2
}

// medianOrNaN is the median of xs, NaN if any is NaN or there are none.
func medianOrNaN(xs []float64) float64 {
	if len(xs) == 0 || slices.ContainsFunc(xs, math.IsNaN) {
		return math.NaN()
	}
	return median(xs)
}

// minOrNaN and maxOrNaN are xs's extremes, NaN for none.
func minOrNaN(xs []float64) float64 {
	if len(xs) == 0 {
		return math.NaN()
	}
	return slices.Min(xs)
}

func maxOrNaN(xs []float64) float64 {
	if len(xs) == 0 {
		return math.NaN()
	}
	return slices.Max(xs)
}

// summary is one configuration's figures: per phase, the median over timed
// steps of the slowest rank's time; bytes per step per rank.
type summary struct {
	Workers, Dim, Steps int

	Compute  float64 // forward+backward
	Pack     float64 // momentum + PackSigns
	Exchange float64 // the collective call (exchange + vote)
	// ExchangeCPU is the CPU time of the collective call, every rank's
	// process together (median over steps of the per-step sum).
	ExchangeCPU float64
	Vote        float64 // kernels.Vote alone on rank 0 (timed apart)
	Update      float64
	Step        float64 // slowest rank's pack + exchange + update (+ compute)

	// Bytes per step: the mean over worker ranks (1..M-1), rank 0's, and
	// the formula's for a worker and for rank 0.
	WorkerSent, WorkerRecv   float64
	Rank0Sent, Rank0Recv     float64
	FormulaSent, FormulaRecv float64
	FormulaRank0Sent         int
	FormulaRank0Recv         int
	// BytesMatch: every rank moved exactly the formula's bytes every step.
	BytesMatch bool
}

// totalMedian is a cost figure: per timed step the sum over the ranks,
// then the median over steps; NaN unless every rank has every step's.
func totalMedian(all []rankTimes, get func(rankTimes) []float64) float64 {
	out := make([]float64, len(all[0].Exchange))
	for _, rt := range all {
		v := get(rt)
		if len(v) < len(out) {
			return math.NaN()
		}
		for i := range out {
			if math.IsNaN(v[i]) {
				return math.NaN()
			}
			out[i] += v[i]
		}
	}
	return median(out)
}

// slowestMedian is a phase's figure: per timed step (as many as rank 0's
// exchanges) the slowest rank's time, then the median over steps.
func slowestMedian(all []rankTimes, get func(rankTimes) []float64) float64 {
	out := make([]float64, len(all[0].Exchange))
	for _, rt := range all {
		for i, v := range get(rt) {
			if i < len(out) {
				out[i] = max(out[i], v)
			}
		}
	}
	return median(out)
}

func exchangeTimes(r rankTimes) []float64 { return r.Exchange }

func exchangeCPU(r rankTimes) []float64 { return r.ExchangeCPU }

// summarize combines every rank's measurements of optimizer opt over
// topology.
func summarize(all []rankTimes, opt, topology string) summary {
	m := len(all)
	s := summary{Workers: m, Dim: all[0].Dim, Steps: len(all[0].Exchange), BytesMatch: true}
	s.Compute = slowestMedian(all, func(r rankTimes) []float64 { return r.Compute })
	s.Pack = slowestMedian(all, func(r rankTimes) []float64 { return r.Pack })
	s.Exchange = slowestMedian(all, exchangeTimes)
	s.ExchangeCPU = totalMedian(all, exchangeCPU)
	s.Vote = median(all[0].Vote)
	s.Update = slowestMedian(all, func(r rankTimes) []float64 { return r.Update })
	s.Step = slowestMedian(all, func(r rankTimes) []float64 {
		t := make([]float64, len(r.Exchange))
		for i := range t {
			t[i] = r.Pack[i] + r.Exchange[i] + r.Update[i]
			if i < len(r.Compute) {
				t[i] += r.Compute[i]
			}
		}
		return t
	})
	for _, rt := range all {
		var sent, recv int64
		fs, fr := formulaBytes(opt, topology, s.Dim, m, rt.Rank)
		for i := range rt.Sent {
			sent += rt.Sent[i]
			recv += rt.Recv[i]
			if rt.Sent[i] != int64(fs) || rt.Recv[i] != int64(fr) {
				s.BytesMatch = false
			}
		}
		ps, pr := float64(sent)/float64(max(len(rt.Sent), 1)), float64(recv)/float64(max(len(rt.Recv), 1))
		if rt.Rank == 0 {
			s.Rank0Sent, s.Rank0Recv = ps, pr
			s.FormulaRank0Sent, s.FormulaRank0Recv = fs, fr
			continue
		}
		s.WorkerSent += ps / float64(m-1)
		s.WorkerRecv += pr / float64(m-1)
		s.FormulaSent += float64(fs) / float64(m-1)
		s.FormulaRecv += float64(fr) / float64(m-1)
	}
	return s
}
