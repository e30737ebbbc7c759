package collective

import (
	"math"
	"math/big"
	"math/rand/v2"
	"sync"
	"testing"
	"time"

	"signsgd/kernels"
)

// realExchange runs one exchange of the real collective over a fresh
// SimNet (every rank a goroutine) and returns the latest rank's clock.
func realExchange(t *testing.T, kind, topo string, m, d int, link Link) float64 {
	return realExchangeOf(t, kind, topo, m, d, link, false)
}

// realExchangeOf is realExchange with every rank's gradient its own
// (independent signs) when independent is set, else the same on all.
func realExchangeOf(t *testing.T, kind, topo string, m, d int, link Link, independent bool) float64 {
	t.Helper()
	s := NewSimNet(m, link, 10*time.Second)
	grads := make([][]float32, m)
	for r := range grads {
		if r > 0 && !independent {
			grads[r] = grads[0]
			continue
		}
		grads[r] = make([]float32, d)
		rng := rand.New(rand.NewPCG(3, 4+uint64(r)))
		for i := range grads[r] {
			grads[r][i] = float32(rng.NormFloat64())
		}
	}
	errs := make([]error, m)
	var wg sync.WaitGroup
	for r, c := range s.Comms() {
		wg.Add(1)
		go func() {
			defer wg.Done()
			g := grads[r]
			if kind == "mean" {
				x := append([]float32(nil), g...)
				errs[r] = Mean(c, topo, x)
				return
			}
			local, result := kernels.NewSigns(d), kernels.NewSigns(d)
			kernels.PackSigns(local, g)
			errs[r] = Vote(c, topo, local, result, kernels.VoteOptions{})
		}()
	}
	wg.Wait()
	end := 0.0
	for r, err := range errs {
		if err != nil {
			t.Fatalf("%s %s M=%d rank %d: %v", kind, topo, m, r, err)
		}
		end = max(end, s.Clock(r))
	}
	return end
}

// TestScheduleMatchesSimNet: the size-only replay gives the clock a SimNet
// run of the real collective gives, for every topology, with many fp32
// segments and vote chunks (the knobs lowered), uneven ring chunks and
// shards, and M = 2 (no digests) to 7.
func TestScheduleMatchesSimNet(t *testing.T) {
	defer setFloatSegmentBytes(1000)()
	defer setVoteChunkWords(3)()
	link := Link{Bandwidth: 1e6, Latency: 50 * time.Microsecond}
	for _, p := range []struct{ kind, topo string }{
		{"mean", "server"}, {"mean", "ring"}, {"vote", "server"}, {"vote", "allgather"}, {"vote", "shard"},
	} {
		for _, m := range []int{2, 3, 4, 7} {
			for _, d := range []int{1, 1001, 5000} {
				want := realExchange(t, p.kind, p.topo, m, d, link)
				got, err := SimulateExchange(p.kind, p.topo, m, d, SimModel{Link: link, Unanimous: true})
				if err != nil {
					t.Fatal(err)
				}
				if math.Abs(got-want) > 1e-9*want {
					t.Errorf("%s %s M=%d d=%d: replay %.9f s, SimNet %.9f s", p.kind, p.topo, m, d, got, want)
				}
			}
		}
	}
}

// TestScheduleCosts: charged compute lands where the programs put it.
// Two ranks, server mean of one segment: rank 0 adds d values after the
// frame arrives, so the exchange grows by d x AddPerValue; a server vote
// of one chunk grows by 2 voters x words x VotePerVoterWord; half duplex
// serialises rank 0's receive and send.
func TestScheduleCosts(t *testing.T) {
	link := Link{Bandwidth: 1e6}
	d := 1000
	base, _ := SimulateExchange("mean", "server", 2, d, SimModel{Link: link})
	one := float64(floatFrame(d)) / link.Bandwidth
	if math.Abs(base-2*one) > 1e-12 {
		t.Errorf("server mean: %.9f s, want up and down %.9f s", base, 2*one)
	}
	got, _ := SimulateExchange("mean", "server", 2, d, SimModel{Link: link, Costs: SimCosts{AddPerValue: 1e-6}})
	if want := base + float64(d)*1e-6; math.Abs(got-want) > 1e-12 {
		t.Errorf("server mean with adds: %.9f s, want %.9f", got, want)
	}
	vb, _ := SimulateExchange("vote", "server", 2, d, SimModel{Link: link})
	vc, _ := SimulateExchange("vote", "server", 2, d, SimModel{Link: link, Costs: SimCosts{VotePerVoterWord: 1e-3}})
	if want := vb + 2*float64(kernels.Words(d))*1e-3; math.Abs(vc-want) > 1e-12 {
		t.Errorf("server vote with its count: %.9f s, want %.9f", vc, want)
	}
	// Three ranks, one segment: full duplex, rank 0 receives two frames
	// and sends two (its send queue), 4 frame times in all for the last
	// worker; half duplex, its interface carries the four one at a time
	// too, and the workers' sends do not overlap their receives either.
	full, _ := SimulateExchange("mean", "server", 3, d, SimModel{Link: link})
	half, _ := SimulateExchange("mean", "server", 3, d, SimModel{Link: link, HalfDuplex: true})
	if math.Abs(full-4*one) > 1e-12 || math.Abs(half-4*one) > 1e-12 {
		t.Errorf("server mean M=3: full %.9f, half %.9f, want both %.9f", full, half, 4*one)
	}
	// Two ranks, ring of two chunks: full duplex each rank sends and
	// receives a half at once (2 half-frame times a phase); half duplex
	// it cannot.
	rf, _ := SimulateExchange("mean", "ring", 2, d, SimModel{Link: link})
	rh, _ := SimulateExchange("mean", "ring", 2, d, SimModel{Link: link, HalfDuplex: true})
	if !(rh > rf*1.4) {
		t.Errorf("ring M=2: half duplex %.9f s not slower than full %.9f s", rh, rf)
	}
}

// TestTieProbability: C(m, m/2) / 2^m for even m, against the binomial
// coefficient computed directly, 0 for odd m.
func TestTieProbability(t *testing.T) {
	for m := 1; m <= 60; m++ {
		want := 0.0
		if m%2 == 0 {
			c := new(big.Int).Binomial(int64(m), int64(m/2))
			want, _ = new(big.Rat).SetFrac(c, new(big.Int).Lsh(big.NewInt(1), uint(m))).Float64()
		}
		if got := tieProbability(m); math.Abs(got-want) > 1e-12*max(want, 1e-300) {
			t.Errorf("tieProbability(%d) = %v, want %v", m, got, want)
		}
	}
}

// TestScheduleIndependentVoters: with independent voters the replay's
// result frames (ties at the rate C(M, M/2) / 2^M) give the clocks of
// SimNet runs of the real votes, whose results tie where the sampled
// signs do, within 2%; with every voter agreeing they would be 15-30%
// short at even M.
func TestScheduleIndependentVoters(t *testing.T) {
	link := Link{Bandwidth: 1e6, Latency: 50 * time.Microsecond}
	for _, topo := range []string{"server", "shard"} {
		for _, m := range []int{2, 3, 4, 6} {
			const d = 200000
			want := realExchangeOf(t, "vote", topo, m, d, link, true)
			got, err := SimulateExchange("vote", topo, m, d, SimModel{Link: link})
			if err != nil {
				t.Fatal(err)
			}
			if math.Abs(got-want) > 0.02*want {
				t.Errorf("vote %s M=%d: replay %.6f s, SimNet of independent voters %.6f s", topo, m, got, want)
			}
		}
	}
}
