package job

import (
	"fmt"
	"math"
	"slices"
	"strings"
	"testing"

	"signsgd/collective"
	"signsgd/kernels"
)

// codeCounterexample searches every vector of partition signs drawn from
// vals and every set of b Byzantine workers voting every vote in
// {-1, 0, 1} for a coordinate where the coded vote differs from the vote
// of the same workers all honest, that vote not being a tie. (A set of b
// covers the smaller ones: a Byzantine may vote its honest vote.)
func codeCounterexample(alloc [][]int, b int, vals []int) (parts, votes []int, found bool) {
	return targetCounterexample(alloc, b, vals, func(parts []int) int { return codedVote(alloc, parts, nil) })
}

// majorityCounterexample is codeCounterexample against Sohn et al.'s
// target: the majority of all the partitions' signs.
func majorityCounterexample(alloc [][]int, b int, vals []int) (parts, votes []int, found bool) {
	return targetCounterexample(alloc, b, vals, func(parts []int) int {
		sum := 0
		for _, s := range parts {
			sum += s
		}
		return sign(sum)
	})
}

// targetCounterexample searches as codeCounterexample does for a
// coordinate where the coded vote differs from target(parts), that not
// being a tie.
func targetCounterexample(alloc [][]int, b int, vals []int, target func([]int) int) (parts, votes []int, found bool) {
	m := len(alloc)
	parts = make([]int, m)
	votes = make([]int, m)
	idx := make([]int, m)
	for {
		for i := range parts {
			parts[i] = vals[idx[i]]
		}
		if honest := target(parts); honest != 0 {
			for set := range subsets(m, b) {
				for i := range votes {
					votes[i] = honestVote
				}
				for code := range pow3(b) {
					for k, j := range set {
						votes[j] = (code/ipow3(k))%3 - 1
					}
					if codedVote(alloc, parts, votes) != honest {
						return parts, votes, true
					}
				}
			}
		}
		i := 0
		for ; i < m; i++ {
			if idx[i]++; idx[i] < len(vals) {
				break
			}
			idx[i] = 0
		}
		if i == m {
			return nil, nil, false
		}
	}
}

func ipow3(k int) int {
	p := 1
	for range k {
		p *= 3
	}
	return p
}

func pow3(k int) func(func(int) bool) {
	return func(yield func(int) bool) {
		for c := range ipow3(k) {
			if !yield(c) {
				return
			}
		}
	}
}

// subsets yields every subset of {0..m-1} of size b, in increasing order.
func subsets(m, b int) func(func([]int) bool) {
	return func(yield func([]int) bool) {
		set := make([]int, b)
		var rec func(start, k int) bool
		rec = func(start, k int) bool {
			if k == b {
				return yield(set)
			}
			for i := start; i < m; i++ {
				set[k] = i
				if !rec(i+1, k+1) {
					return false
				}
			}
			return true
		}
		rec(0, 0)
	}
}

var (
	signVals    = []int{-1, 1}
	signZeroVal = []int{-1, 0, 1}
)

// The repetition code's result is the all-honest vote whenever at most
// (R-1)/2 workers are Byzantine, wherever they sit and whatever they vote:
// exhaustive over the partition signs (zeros included where small enough),
// and the bound is tight with an odd number of groups (one Byzantine more
// finds a counterexample; with an even number a non-tied honest vote has a
// margin of 2R).
func TestRepetitionCodeTolerance(t *testing.T) {
	for _, tc := range []struct {
		m, r int
		vals []int
	}{
		{3, 1, signZeroVal}, {3, 3, signZeroVal}, {5, 5, signZeroVal}, {6, 3, signZeroVal},
		{9, 3, signZeroVal}, {9, 9, signVals}, {10, 5, signVals},
	} {
		sp, err := parseCode(fmt.Sprintf("repetition:%d", tc.r), tc.m, 0)
		if err != nil {
			t.Fatal(err)
		}
		alloc := sp.allocation(tc.m, 1)
		b := sp.tolerance()
		if b != (tc.r-1)/2 {
			t.Errorf("M=%d R=%d: tolerance %d, want %d", tc.m, tc.r, b, (tc.r-1)/2)
		}
		if parts, votes, found := codeCounterexample(alloc, b, tc.vals); found {
			t.Errorf("M=%d R=%d, %d Byzantines: partition signs %v, votes %v (2: honest) give %d, all honest %d",
				tc.m, tc.r, b, parts, votes, codedVote(alloc, parts, votes), codedVote(alloc, parts, nil))
		}
		if _, _, found := codeCounterexample(alloc, b+1, signVals); !found && (tc.m/tc.r)%2 == 1 {
			t.Errorf("M=%d R=%d: no counterexample with %d Byzantines; the tolerance is not tight", tc.m, tc.r, b+1)
		}
	}
}

// The exhaustive check catches an allocation broken on purpose: a worker
// holding another group's partitions,
// a worker one partition short, or every worker holding its own partition
// only (no coding).
func TestBrokenAllocationCaught(t *testing.T) {
	good := repetitionAllocation(9, 3)
	for name, broken := range map[string][][]int{
		"worker 1 holds group 1's partitions": func() [][]int { a := slices.Clone(good); a[1] = []int{3, 4, 5}; return a }(),
		"worker 8 one partition short":        func() [][]int { a := slices.Clone(good); a[8] = []int{6, 7}; return a }(),
		"no coding":                           codeSpec{}.allocation(9, 1),
	} {
		if _, _, found := codeCounterexample(broken, 1, signVals); !found {
			t.Errorf("%s: no counterexample with 1 Byzantine", name)
		}
	}
}

// The deterministic code's result is the majority of all M partitions'
// signs whenever at most B workers are Byzantine, wherever they sit and
// whatever they vote: exhaustive over the partition signs (zeros included
// where small enough), every B up to (M-1)/2 on M = 1 to 9; and one
// Byzantine more finds a counterexample where the code has ranks to
// spare. Every worker holds each partition at most once, and the loads
// are as documented: M for the first 2B+1 (2B+2 on even M - 2B - 1),
// (M-1)/2 or M/2 for the pairs.
func TestDeterministicCodeTolerance(t *testing.T) {
	for m := 1; m <= 9; m++ {
		vals := signZeroVal
		if m > 7 {
			vals = signVals
		}
		for b := 0; 2*b+1 <= m; b++ {
			sp, err := parseCode(fmt.Sprintf("deterministic:%d", b), m, 0)
			if err != nil {
				t.Fatal(err)
			}
			alloc := sp.allocation(m, 1)
			if sp.tolerance() != b {
				t.Errorf("M=%d B=%d: tolerance %d", m, b, sp.tolerance())
			}
			full := 2*b + 1 + (m-2*b-1)%2
			for j, a := range alloc {
				want := []int{(m - 1) / 2, m - (m-1)/2 - 1}
				if b == 0 {
					want = []int{1}
				} else if j < full {
					want = []int{m}
				}
				if !slices.Contains(want, len(a)) || !slices.IsSorted(a) || len(slices.Compact(slices.Clone(a))) != len(a) {
					t.Errorf("M=%d B=%d: worker %d holds %v, want %v partitions, sorted, each once", m, b, j, a, want)
				}
			}
			if parts, votes, found := majorityCounterexample(alloc, b, vals); found {
				t.Errorf("M=%d B=%d: partition signs %v, votes %v (2: honest) give %d, all partitions' majority differs",
					m, b, parts, votes, codedVote(alloc, parts, votes))
			}
			if 2*(b+1)+1 <= m {
				if _, _, found := majorityCounterexample(alloc, b+1, signVals); !found {
					t.Errorf("M=%d B=%d: no counterexample with %d Byzantines; the tolerance is not tight", m, b, b+1)
				}
			}
		}
	}
}

// The majority check catches a deterministic allocation broken on
// purpose, and the repetition code, whose target is weaker, fails it.
func TestBrokenDeterministicAllocationCaught(t *testing.T) {
	good := deterministicAllocation(7, 1)
	for name, broken := range map[string][][]int{
		"full worker 0 one partition short":      func() [][]int { a := slices.Clone(good); a[0] = a[0][:6]; return a }(),
		"a pair's halves overlap":                func() [][]int { a := slices.Clone(good); a[4] = slices.Clone(a[3]); return a }(),
		"two full workers, not three":            func() [][]int { a := slices.Clone(good); a[2] = []int{2}; return a }(),
		"the repetition code, 7 = 7 groups of 1": repetitionAllocation(7, 1),
		"the repetition code on 9, R = 3":        repetitionAllocation(9, 3),
	} {
		if _, _, found := majorityCounterexample(broken, 1, signVals); !found {
			t.Errorf("%s: no counterexample with 1 Byzantine", name)
		}
	}
}

// The run's vote (each worker's local majority by localVote, as codedStep
// does, then the server's vote) is codedVote's on every
// coordinate; a coordinate per vector of partition signs in {-1, 0, 1}^6.
func TestCodedVoteMatchesKernels(t *testing.T) {
	const m = 6
	for _, code := range []string{"repetition:3", "repetition:1", "bernoulli:0.5", "deterministic:1", "deterministic:2"} {
		sp, err := parseCode(code, m, 0)
		if err != nil {
			t.Fatal(err)
		}
		alloc := sp.allocation(m, 7)
		n := ipow3(m)
		parts := make([]kernels.Signs, m) // partition p's signs over the n coordinates
		for p := range parts {
			parts[p] = kernels.NewSigns(n)
			for c := range n {
				parts[p].Set(c, (c/ipow3(p))%3-1)
			}
		}
		voters := make([]kernels.Signs, m)
		for j, a := range alloc {
			var mine []kernels.Signs
			for _, p := range a {
				mine = append(mine, parts[p])
			}
			voters[j] = kernels.NewSigns(n)
			localVote(voters[j], mine)
		}
		result := kernels.NewSigns(n)
		kernels.Vote(result, voters, kernels.VoteOptions{Tie: kernels.TieZero})
		ps := make([]int, m)
		for c := range n {
			for p := range ps {
				ps[p] = parts[p].At(c)
			}
			if got, want := result.At(c), codedVote(alloc, ps, nil); got != want {
				t.Fatalf("%s coordinate %d (partition signs %v): kernels %d, codedVote %d", code, c, ps, got, want)
			}
		}
	}
}

func TestBernoulliAllocation(t *testing.T) {
	a := bernoulliAllocation(17, 0.3, 5)
	if !slices.EqualFunc(a, bernoulliAllocation(17, 0.3, 5), slices.Equal) {
		t.Error("not reproducible from the seed")
	}
	if slices.EqualFunc(a, bernoulliAllocation(17, 0.3, 6), slices.Equal) {
		t.Error("the same under another seed")
	}
	total := 0
	for j, parts := range a {
		if len(parts) == 0 || !slices.IsSorted(parts) {
			t.Errorf("worker %d: %v", j, parts)
		}
		total += len(parts)
	}
	if mean := float64(total) / 17; mean < 0.15*17 || mean > 0.45*17 {
		t.Errorf("mean %v partitions a worker, want about %v", mean, 0.3*17)
	}
	for j, parts := range bernoulliAllocation(5, 1, 1) {
		if len(parts) != 5 {
			t.Errorf("P=1: worker %d holds %v", j, parts)
		}
	}
	if (codeSpec{name: "bernoulli", p: 0.9}).tolerance() != 0 {
		t.Error("the Bernoulli code claims a deterministic tolerance")
	}
}

func TestCodeFlag(t *testing.T) {
	for _, bad := range [][]string{
		{"--code", "repetition:2"}, {"--code", "repetition:0"}, {"--code", "repetition:x"}, {"--code", "repetition"},
		{"--code", "bernoulli:0"}, {"--code", "bernoulli:1.5"}, {"--code", "bernoulli:nan"}, {"--code", "hamming:3"},
		{"--opt", "sgd", "--code", "repetition:3"}, {"--opt", "sto-signsgd", "--code", "repetition:3"},
		{"--code", "deterministic:x"}, {"--code", "deterministic:-1"}, {"--code", "deterministic:"},
		{"--workers", "9", "--code", "deterministic:5"}, {"--workers", "9", "--byzantine", "4", "--blind", "1", "--code", "deterministic"},
	} {
		_, err := ParseRun(bad)
		if err == nil || !strings.Contains(err.Error(), "--code") || strings.Contains(err.Error(), "\n") {
			t.Errorf("%v: %v, want a one-line error naming --code", bad, err)
		}
	}
	for _, ok := range []string{"repetition:3", "repetition:9", "repetition:1", "bernoulli:0.25", "bernoulli:1",
		"deterministic", "deterministic:0", "deterministic:4"} {
		if cfg, err := ParseRun([]string{"--opt", "signsgd", "--code", ok}); err != nil || cfg.Code != ok {
			t.Errorf("--code %s: %v", ok, err)
		}
	}
}

// A coded run of 9 in-process ranks: every rank computes 3 gradients a
// step, and one Byzantine voting against the others' sum never changes
// the vote (the leader counts no coordinate where the result left the
// honest majority).
func TestCodedRun(t *testing.T) {
	errs, out, _ := trainNet(t, 9, func(*collective.MemNetwork) {}, "--dataset", "logreg", "--opt", "signum",
		"--code", "repetition:3", "--byzantine", "1", "--attack", "oppose", "--epochs", "2")
	for r, err := range errs {
		if err != nil {
			t.Fatalf("rank %d: %v", r, err)
		}
	}
	recs := readMetrics(t, out)
	for _, rec := range recs {
		if rec["grads_per_step"] != 3.0 || rec["grads_per_step_max"] != 3.0 {
			t.Errorf("epoch %v: grads per step %v (max %v), want 3", rec["epoch"], rec["grads_per_step"], rec["grads_per_step_max"])
		}
		if rec["sign_disagree"] != nil && rec["sign_disagree"] != 0.0 {
			t.Errorf("epoch %v: the Byzantine changed %v of the vote", rec["epoch"], rec["sign_disagree"])
		}
	}
}

// A run with --code deterministic takes B from --byzantine: of 9 ranks
// with 2 Byzantine, 5 compute all 9 partitions and 4 compute 4, and the
// Byzantines voting against the others never move the vote off the
// honest majority.
func TestDeterministicCodedRun(t *testing.T) {
	errs, out, _ := trainNet(t, 9, func(*collective.MemNetwork) {}, "--dataset", "logreg", "--opt", "signum",
		"--code", "deterministic", "--byzantine", "2", "--attack", "oppose", "--epochs", "2")
	for r, err := range errs {
		if err != nil {
			t.Fatalf("rank %d: %v", r, err)
		}
	}
	for _, rec := range readMetrics(t, out) {
		if g, ok := rec["grads_per_step"].(float64); !ok || math.Abs(g-61.0/9) > 1e-9 || rec["grads_per_step_max"] != 9.0 {
			t.Errorf("epoch %v: grads per step %v (max %v), want 61/9 (max 9)", rec["epoch"], rec["grads_per_step"], rec["grads_per_step_max"])
		}
		if rec["sign_disagree"] != nil && rec["sign_disagree"] != 0.0 {
			t.Errorf("epoch %v: the Byzantines changed %v of the vote", rec["epoch"], rec["sign_disagree"])
		}
	}
}

// A partition's batches are the same whichever rank draws them (the
// holders of a group must vote alike), and are its own rank's batches
// without coding.
func TestPartBatchesIndependentOfRank(t *testing.T) {
	parts := [][]int{{0, 3, 6, 9, 12}, {1, 4, 7, 10, 13}, {2, 5, 8, 11, 14}}
	for _, partition := range []string{"", "dirichlet:1"} {
		r0 := &run{cfg: &Config{Seed: 3, Partition: partition}, parts: parts, batch: 2, steps: 3, rank: 0}
		r2 := &run{cfg: r0.cfg, parts: parts, batch: 2, steps: 3, rank: 2}
		for p := range parts {
			a, b := r0.partBatches(p, 4), r2.partBatches(p, 4)
			if !slices.EqualFunc(a, b, slices.Equal) {
				t.Errorf("partition %q, part %d: rank 0 draws %v, rank 2 %v", partition, p, a, b)
			}
		}
		own := &run{cfg: r0.cfg, parts: parts, shard: parts[1], batch: 2, steps: 3, rank: 1}
		if a, b := own.partBatches(1, 4), own.epochBatches(4); !slices.EqualFunc(a, b, slices.Equal) {
			t.Errorf("partition %q: part 1's batches %v, rank 1's without coding %v", partition, a, b)
		}
	}
}
