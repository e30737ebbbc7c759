package job

import (
	"fmt"
	"math"
	"math/rand/v2"
	"reflect"
	"slices"
	"testing"

	"signsgd/collective"
	"signsgd/kernels"
)

// FuzzAggregate feeds peers' bytes to what rank 0 does with them: decode,
// zero the non-finite values, then every aggregator. Whatever the bytes,
// nothing panics, median stays within each coordinate's range, Krum
// returns one of the vectors, and the aggregators that take convex
// combinations of their inputs (median, trimmed mean, krum, multi-krum,
// geomed, cclip from a zero center) stay finite when the inputs are below
// 1e30 in magnitude.
func FuzzAggregate(f *testing.F) {
	f.Add(uint8(3), uint8(1), []byte{0, 0, 0x80, 0x3f, 0, 0, 0, 0x40, 0, 0, 0x40, 0x40})
	f.Add(uint8(5), uint8(2), []byte{0, 0, 0xc0, 0x7f, 0, 0, 0x80, 0x7f, 0xff, 0xff, 0x7f, 0x7f, 1, 2, 3, 4, 5, 6, 7, 8})
	f.Fuzz(func(t *testing.T, mb, fb uint8, raw []byte) {
		m := int(mb%9) + 1
		byz := int(fb) % ((m + 1) / 2)
		d := len(raw) / 4 / m
		if d == 0 {
			return
		}
		vecs := makeVectors(m, d)
		small := true
		for r := range vecs {
			if err := collective.DecodeFloat32s(vecs[r], raw[4*d*r:4*d*(r+1)]); err != nil {
				t.Fatal(err)
			}
			kernels.SanitizeFloat32(vecs[r])
			for _, x := range vecs[r] {
				if math.Abs(float64(x)) >= 1e30 {
					small = false
				}
			}
		}
		st := &aggState{f: byz, trim: byz, geoIters: 4, geoTol: 1e-6, cclipIters: 2, center: make([]float32, d)}
		for _, it := range aggregators.items {
			dst := make([]float32, d)
			it.Value.run(st, dst, vecs)
			clear(st.center)
			finite := true
			for _, x := range dst {
				if math.IsNaN(float64(x)) || math.IsInf(float64(x), 0) {
					finite = false
				}
			}
			if small && it.Name != "mean" && !finite {
				t.Fatalf("%s: non-finite output from finite inputs below 1e30: %v", it.Name, dst)
			}
			switch it.Name {
			case "median":
				for i, x := range dst {
					lo, hi := vecs[0][i], vecs[0][i]
					for _, v := range vecs {
						lo, hi = min(lo, v[i]), max(hi, v[i])
					}
					if x < lo || x > hi {
						t.Fatalf("median coordinate %d: %v outside [%v, %v]", i, x, lo, hi)
					}
				}
			case "krum":
				if !slices.ContainsFunc(vecs, func(v []float32) bool { return slices.Equal(v, dst) }) {
					t.Fatalf("krum returned %v, not one of the vectors", dst)
				}
			}
		}
	})
}

// TestServerAggregatorAsRun: ServerAggregator's direct constructor makes
// the aggregate `signsgd run --opt sgd --aggregator NAME --workers M
// --byzantine F` makes (through ParseRun and newOptimizer), for every
// aggregator and a few M and F, and refuses what ParseRun refuses.
func TestServerAggregatorAsRun(t *testing.T) {
	const d = 7
	for _, it := range aggregators.items {
		for _, mf := range [][2]int{{1, 0}, {2, 1}, {4, 0}, {5, 1}, {5, 2}, {9, 4}} {
			m, f := mf[0], mf[1]
			cfg, perr := ParseRun([]string{"--opt", "sgd", "--aggregator", it.Name, "--workers", fmt.Sprint(m),
				"--byzantine", fmt.Sprint(f), "--attack", "zero-sum"})
			got, err := newBenchAggregate(it.Name, m, f, d)
			if (perr == nil) != (err == nil) {
				t.Errorf("%s M=%d f=%d: ParseRun %v, newBenchAggregate %v", it.Name, m, f, perr, err)
				continue
			}
			if perr != nil {
				continue
			}
			o, err := newOptimizer(cfg, d, 0, make([]Role, m))
			if err != nil {
				t.Fatal(err)
			}
			want := o.(*sgdOpt).server
			if (want == nil) != (got == nil) {
				t.Errorf("%s M=%d f=%d: run's aggregate %v, ServerAggregator's %v", it.Name, m, f, want, got)
				continue
			}
			if want == nil {
				continue
			}
			if reflect.ValueOf(want.agg.run).Pointer() != reflect.ValueOf(got.agg.run).Pointer() ||
				!reflect.DeepEqual(want.st, got.st) || !reflect.DeepEqual(want.ps, got.ps) ||
				!reflect.DeepEqual(want.rl, got.rl) || (want.pre.run == nil) != (got.pre.run == nil) {
				t.Errorf("%s M=%d f=%d:\nrun's             %+v %+v %v\nServerAggregator's %+v %+v %v", it.Name, m, f, want.st, want.ps, want.rl, got.st, got.ps, got.rl)
			}
		}
	}
	if _, err := ServerAggregator("average", 4, 0, d); err == nil {
		t.Error("an unknown aggregator accepted")
	}
}

// TestMeasureMeanOfAll: measure's shortcut for an honest job's plain mean
// (cosine 1, distance 0 without a pass over the vectors) adds exactly what
// measureAll computes from the vectors, also for a zero gradient; and the
// run's constructor takes the shortcut only then.
func TestMeasureMeanOfAll(t *testing.T) {
	r := rand.New(rand.NewPCG(8005, 5))
	for _, m := range []int{1, 2, 5, 9} {
		for _, d := range []int{1, 7, 1000} {
			full := &serverAggregate{rl: make([]Role, m), vecs: makeVectors(m, d), hm: make([]float32, d)}
			fast := &serverAggregate{rl: full.rl, meanOfAll: true}
			out := make([]float32, d)
			for step := range 4 {
				for _, v := range full.vecs {
					for i := range v {
						v[i] = float32(r.NormFloat64() * math.Pow(10, float64(r.IntN(9)-4)))
						if step == 3 {
							v[i] = 0
						}
					}
				}
				aggMean(nil, out, full.vecs)
				full.measure(out)
				fast.measure(out)
			}
			if full.steps != fast.steps || full.cosine != fast.cosine || full.relDist != fast.relDist {
				t.Fatalf("M=%d d=%d: shortcut %v %v %v, from the vectors %v %v %v", m, d, fast.steps, fast.cosine, fast.relDist, full.steps, full.cosine, full.relDist)
			}
		}
	}
	for _, tc := range []struct {
		args []string
		want bool
	}{
		{[]string{"--opt", "ef-signsgd"}, true},
		{[]string{"--opt", "ef-signsgd", "--byzantine", "1"}, false},
		{[]string{"--opt", "ef-signsgd", "--blind", "1"}, false},
		{[]string{"--opt", "ef-signsgd", "--aggregator", "median"}, false},
		{[]string{"--opt", "ef-signsgd", "--pre", "nnm"}, false},
		{[]string{"--opt", "sgd", "--aggregator", "median"}, false},
	} {
		cfg, err := ParseRun(append([]string{"--workers", "5"}, tc.args...))
		if err != nil {
			t.Fatal(err)
		}
		rl := roles(cfg.Workers, cfg.Blind, cfg.Byzantine)
		o, err := newOptimizer(cfg, 3, 0, rl)
		if err != nil {
			t.Fatal(err)
		}
		var s *serverAggregate
		switch o := o.(type) {
		case *sgdOpt:
			s = o.server
		case *efOpt:
			s = o.server
		}
		if s.meanOfAll != tc.want || s.unread {
			t.Errorf("%v: meanOfAll %v unread %v, want %v false", tc.args, s.meanOfAll, s.unread, tc.want)
		}
	}
}
