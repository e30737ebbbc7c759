package job

import (
	"encoding/json"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"signsgd/data"
	"signsgd/kernels"
)

// The packed stochastic signs are the naive definition's, draw for draw,
// at odd lengths, with and without --sto-b.
func TestStoSignMatchesNaive(t *testing.T) {
	for _, d := range []int{1, 63, 64, 65, 200, 1000} {
		for _, b := range []float32{0, 0.5} {
			v := make([]float32, d)
			for i := range v {
				v[i] = float32(math.Sin(float64(3*i+d))) * 0.8
			}
			s := &stoSign{b: b, seed: 8005, rank: 3}
			got, want := kernels.NewSigns(d), kernels.NewSigns(d)
			s.pack(got, v, 17)
			stoSignsNaive(want, v, b, s.rng(17))
			if !slices.Equal(got.NZ, want.NZ) || !slices.Equal(got.Neg, want.Neg) {
				t.Fatalf("d=%d b=%v: packed signs differ from the naive ones", d, b)
			}
		}
	}
}

// B times the mean of the stochastic sign over many steps is g: for each
// coordinate, within 5 standard errors sqrt((B^2 - g_i^2)/n) (a false alarm
// about once in 3.5 million coordinates), and far from sign(g_i) B where
// |g_i| < B.
func TestStoSignUnbiased(t *testing.T) {
	const n, d = 20000, 9
	g := []float32{0.9, -0.3, 0, 1e-3, -1, 0.5, -0.75, 0.05, 2}
	for _, bFlag := range []float32{0, 1.5} {
		s := &stoSign{b: bFlag, seed: 1, rank: 2}
		b := s.bound(g)
		sum := make([]float64, d)
		sg := kernels.NewSigns(d)
		for step := 0; step < n; step++ {
			s.pack(sg, g, step)
			for i := range sum {
				sum[i] += float64(sg.At(i))
			}
		}
		for i, gi := range g {
			est := b * sum[i] / n
			want := max(-b, min(b, float64(gi))) // --sto-b clamps |g|/B to 1
			se := math.Sqrt((b*b - want*want) / n)
			if math.Abs(est-want) > 5*se+1e-12 {
				t.Errorf("B=%v coordinate %d: B mean(s) = %.4f, g = %v, 5 SE = %.4f", b, i, est, gi, 5*se)
			}
		}
	}
}

// A zero vector sends zeros (every coordinate abstains); a coordinate at
// +B is always +1; two ranks or two steps draw differently.
func TestStoSignEdges(t *testing.T) {
	sg := kernels.NewSigns(70)
	(&stoSign{seed: 1}).pack(sg, make([]float32, 70), 0)
	for i := 0; i < 70; i++ {
		if sg.At(i) != 0 {
			t.Fatalf("zero vector: coordinate %d sends %d", i, sg.At(i))
		}
	}
	v := make([]float32, 70)
	for i := range v {
		v[i] = 0.01
	}
	v[5], v[66] = 2, -2
	a, b, c := kernels.NewSigns(70), kernels.NewSigns(70), kernels.NewSigns(70)
	(&stoSign{seed: 1, rank: 0}).pack(a, v, 4)
	(&stoSign{seed: 1, rank: 1}).pack(b, v, 4)
	(&stoSign{seed: 1, rank: 0}).pack(c, v, 5)
	if a.At(5) != 1 || a.At(66) != -1 {
		t.Errorf("|v| = B: signs %d %d, want 1 -1", a.At(5), a.At(66))
	}
	if slices.Equal(a.Neg, b.Neg) || slices.Equal(a.Neg, c.Neg) {
		t.Error("the same draws on two ranks or two steps")
	}
	if a.NZ[1] != 1<<6-1 {
		t.Errorf("tail word's non-zero bits %b, want the 6 valid ones", a.NZ[1])
	}
}

func TestPartitionFlag(t *testing.T) {
	for _, bad := range []string{"dirichlet:0", "dirichlet", "dirichlet:-1", "dirichlet:x", "shards:0", "shards", "shards:1.5", "iid:3", "pathological"} {
		_, err := ParseRun([]string{"--partition", bad})
		if err == nil || !strings.Contains(err.Error(), "--partition") || strings.Contains(err.Error(), "\n") {
			t.Errorf("--partition %s: %v, want a one-line error naming the flag", bad, err)
		}
	}
	if _, err := ParseRun([]string{"--dataset", "linreg", "--partition", "shards:2"}); err == nil {
		t.Error("shards on a regression: no error")
	}
	cfg, err := ParseRun([]string{"--partition", "iid"})
	if err != nil || cfg.Partition != "" {
		t.Errorf("--partition iid: %q %v, want the default (empty)", cfg.Partition, err)
	}
	if _, err := ParseRun([]string{"--opt", "signsgd", "--sto-b", "1"}); err == nil {
		t.Error("--sto-b with signsgd: no error")
	}
	if _, err := ParseRun([]string{"--opt", "sto-signsgd", "--momentum", "0.9"}); err == nil {
		t.Error("--momentum with sto-signsgd: no error")
	}
	cfg, err = ParseRun([]string{"--opt", "sto-signum", "--sto-b", "0.5"})
	if err != nil || cfg.Momentum != 0.9 || cfg.StoB != 0.5 {
		t.Errorf("sto-signum: beta %v B %v %v", cfg.Momentum, cfg.StoB, err)
	}
}

// partitionRows gives every row to one rank (iid: ShardIndices), and
// partition.json holds each rank's histogram of its rows.
func TestPartitionRowsAndReport(t *testing.T) {
	train, _, err := data.Synthetic(data.Logistic, 8005)
	if err != nil {
		t.Fatal(err)
	}
	n, m := train.Len(), 9
	for _, p := range []string{"", "dirichlet:0.1", "shards:2"} {
		cfg := &Config{Partition: p, Seed: 8005, Out: t.TempDir()}
		parts, labels, err := partitionRows(cfg, train, n, m)
		if err != nil {
			t.Fatal(err)
		}
		total := 0
		for r, rows := range parts {
			total += len(rows)
			if p == "" && !slices.Equal(rows, data.ShardIndices(n, r, m, 8005)) {
				t.Fatalf("iid rank %d differs from ShardIndices", r)
			}
		}
		if want := map[bool]int{true: n / m * m, false: n}[p == ""]; total != want {
			t.Errorf("%q: %d rows held, want %d", p, total, want)
		}
		if err := writePartition(cfg, parts, labels, 2, n, roles(m, 0, 2)); err != nil {
			t.Fatal(err)
		}
		b, err := os.ReadFile(filepath.Join(cfg.Out, "partition.json"))
		if err != nil {
			t.Fatal(err)
		}
		var rep partitionReport
		if err := json.Unmarshal(b, &rep); err != nil {
			t.Fatal(err)
		}
		for r, pr := range rep.Ranks {
			if pr.Rows != len(parts[r]) || pr.Histogram[0]+pr.Histogram[1] != pr.Rows {
				t.Errorf("%q rank %d: report %+v for %d rows", p, r, pr, len(parts[r]))
			}
		}
		if rep.Ranks[8].Role != "byzantine" || rep.Ranks[8].Rows == 0 {
			t.Errorf("%q: the Byzantine rank holds %+v", p, rep.Ranks[8])
		}
		steps := partitionSteps(cfg, len(parts[0]), n, m, 14)
		for r := range parts {
			if s := partitionSteps(cfg, len(parts[r]), n, m, 14); s != steps {
				t.Fatalf("%q: rank %d takes %d steps an epoch, rank 0 %d", p, r, s, steps)
			}
			rr := &run{cfg: cfg, shard: parts[r], batch: 14, steps: steps, rank: r}
			if got := len(rr.partitionBatches(0)); got != steps {
				t.Errorf("%q rank %d: %d batches, want %d on every rank", p, r, got, steps)
			}
		}
	}
	cfg := &Config{Partition: "shards:1000", Seed: 1}
	if _, _, err := partitionRows(cfg, train, n, m); err == nil || !strings.Contains(err.Error(), "--partition") {
		t.Errorf("9 x 1000 shards of 8000 rows: %v, want an error naming --partition", err)
	}
}
