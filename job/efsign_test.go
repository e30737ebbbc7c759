package job

import (
	"math"
	"math/big"
	"math/rand/v2"
	"strings"
	"testing"

	"signsgd/collective"
)

// exactSum is the sum of xs in exact (big) arithmetic.
func exactSum(xs ...float32) *big.Float {
	s := new(big.Float).SetPrec(2000)
	for _, x := range xs {
		s.Add(s, new(big.Float).SetPrec(2000).SetFloat64(float64(x)))
	}
	return s
}

// Error feedback keeps residual + sent = input exactly, every coordinate
// of every step, with values far below and far above their chunk's scale,
// zeros, negative zeros and several chunks; the encoded message decodes
// to what was sent, at efBytes on the wire.
func TestEFResidualExact(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	for _, d := range []int{1, 63, 64, 65, efChunk, efChunk + 100, 3*efChunk - 1} {
		st := newEFState(make([]float32, 2*d))
		v := make([]float32, d)
		got := make([]float32, d)
		for step := range 6 {
			for i := range v {
				switch rng.IntN(6) {
				case 0:
					v[i] = float32(rng.NormFloat64() * 1e-30)
				case 1:
					v[i] = float32(rng.NormFloat64() * 1e6)
				case 2:
					v[i] = 0
				case 3:
					v[i] = float32(math.Copysign(0, -1))
				default:
					v[i] = float32(rng.NormFloat64())
				}
			}
			st.compress(v)
			for i := range v {
				in, back := exactSum(st.p[i]), exactSum(st.hi[i], st.lo[i], v[i])
				if in.Cmp(back) != 0 {
					t.Fatalf("d=%d step %d coordinate %d: input %v, residual %v + %v + sent %v = %v", d, step, i, st.p[i], st.hi[i], st.lo[i], v[i], back)
				}
			}
			b := st.encode(nil)
			if len(b)+collective.HeaderSize != efBytes(d) {
				t.Errorf("d=%d: %d bytes + header, efBytes says %d", d, len(b), efBytes(d))
			}
			if err := efDecode(got, b); err != nil {
				t.Fatal(err)
			}
			for i := range v {
				if got[i] != v[i] {
					t.Fatalf("d=%d coordinate %d: decoded %v, sent %v", d, i, got[i], v[i])
				}
			}
			for c, s := range st.scales {
				lo, hi := c*efChunk, min(c*efChunk+efChunk, d)
				var sum float64
				for _, x := range st.p[lo:hi] {
					sum += math.Abs(float64(x))
				}
				if want := float32(sum / float64(hi-lo)); s != want {
					t.Errorf("d=%d chunk %d: scale %v, want mean |p| %v", d, c, s, want)
				}
			}
		}
	}
	if err := efDecode(make([]float32, 65), make([]byte, 3)); err == nil {
		t.Error("a short payload decoded")
	}
}

// A non-finite input sends and keeps nothing in its chunk.
func TestEFNonFinite(t *testing.T) {
	st := newEFState(make([]float32, 2*10))
	v := []float32{1, float32(math.NaN()), 2, 3, 4, 5, 6, 7, 8, 9}
	st.compress(v)
	for i := range v {
		if v[i] != 0 || st.hi[i] != 0 || st.lo[i] != 0 {
			t.Fatalf("coordinate %d: sent %v, residual %v + %v", i, v[i], st.hi[i], st.lo[i])
		}
	}
}

// ef-signsgd trains on 5 in-process ranks, moving the bytes of the
// formula, and with --aggregator median under a Byzantine.
func TestEFRun(t *testing.T) {
	for _, extra := range [][]string{nil, {"--aggregator", "median", "--byzantine", "1", "--attack", "signflip"}} {
		args := append([]string{"--dataset", "logreg", "--opt", "ef-signsgd", "--lr", "3e-2", "--epochs", "3"}, extra...)
		errs, out, _ := trainNet(t, 5, func(*collective.MemNetwork) {}, args...)
		for r, err := range errs {
			if err != nil {
				t.Fatalf("%v: rank %d: %v", extra, r, err)
			}
		}
		recs := readMetrics(t, out)
		last := recs[len(recs)-1]
		if acc := last["test_acc"].(float64); acc < 0.8 {
			t.Errorf("%v: test accuracy %v after 3 epochs", extra, acc)
		}
		if last["bytes_sent_per_step"] != last["formula_bytes_per_step"] || last["bytes_recv_per_step"] != last["formula_bytes_per_step"] {
			t.Errorf("%v: sent %v, received %v, formula %v", extra, last["bytes_sent_per_step"], last["bytes_recv_per_step"], last["formula_bytes_per_step"])
		}
	}
	for _, bad := range [][]string{{"--opt", "ef-signsgd", "--topology", "ring"}, {"--opt", "ef-signsgd", "--momentum", "0.9"}, {"--opt", "ef-signsgd", "--vote-deadline", "1s"}} {
		if _, err := ParseRun(bad); err == nil {
			t.Errorf("%v: no error", bad)
		}
	}
}

// ef-signsgd over the shard topology computes what the server computes,
// coordinate for coordinate: the same final model (sha256) with the mean
// and with the median under a Byzantine, over 3 chunks and 5 ranks (two
// owners with no chunk), at its own byte formula; aggregators that combine
// whole vectors are refused over shard.
func TestEFShardMatchesServer(t *testing.T) {
	for _, extra := range [][]string{nil, {"--aggregator", "median", "--byzantine", "1", "--attack", "signflip"}} {
		sums := map[string]string{}
		for _, topo := range []string{"server", "shard"} {
			args := append([]string{"--dataset", "logreg", "--hidden", "400", "--opt", "ef-signsgd", "--topology", topo, "--lr", "3e-2", "--epochs", "2"}, extra...)
			errs, out, _ := trainNet(t, 5, func(*collective.MemNetwork) {}, args...)
			for r, err := range errs {
				if err != nil {
					t.Fatalf("%v %s: rank %d: %v", extra, topo, r, err)
				}
			}
			sums[topo] = readSummary(t, out).ModelSHA256
			last := readMetrics(t, out)
			rec := last[len(last)-1]
			if rec["bytes_sent_per_step"] != rec["formula_bytes_per_step"] {
				t.Errorf("%v %s: sent %v, formula %v", extra, topo, rec["bytes_sent_per_step"], rec["formula_bytes_per_step"])
			}
		}
		if sums["server"] != sums["shard"] {
			t.Errorf("%v: model %s over the server, %s over shard", extra, sums["server"], sums["shard"])
		}
	}
	for _, agg := range []string{"krum", "geomed", "cclip"} {
		if _, err := ParseRun([]string{"--opt", "ef-signsgd", "--topology", "shard", "--aggregator", agg}); err == nil || !strings.Contains(err.Error(), "--aggregator "+agg) {
			t.Errorf("ef-signsgd over shard with --aggregator %s: %v, want an error naming it", agg, err)
		}
	}
	if _, err := ParseRun([]string{"--opt", "ef-signsgd", "--topology", "shard", "--pre", "nnm"}); err == nil {
		t.Error("ef-signsgd over shard with --pre nnm: no error")
	}
}
