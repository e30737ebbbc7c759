package collective

import (
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"signsgd/kernels"
)

// voteRounds runs steps server votes under a quorum on every rank of net
// (each rank in its own goroutine, as a job would), rank 0 with deadline
// and dropAfter 2, and waits for every rank but stalled (-1: none) before
// it closes the network. It returns, per step, the ranks rank 0 counted as
// abstaining and those it dropped, and each rank's first error.
func voteRounds(t *testing.T, net *MemNetwork, steps int, deadline time.Duration, stalled int) (abstained, dropped [][]int, errs []error) {
	t.Helper()
	comms := net.Comms()
	m := len(comms)
	const d = 100
	signs := rankSignsOf(m, d)
	q0 := NewQuorum(m, deadline, 2)
	errs = make([]error, m)
	var wg, stall sync.WaitGroup
	for r := 1; r < m; r++ {
		w := &wg
		if r == stalled {
			w = &stall
		}
		w.Add(1)
		go func() {
			defer w.Done()
			q := NewQuorum(m, deadline, 2)
			for s := range steps {
				comms[r].SetStep(uint32(s))
				if err := q.Vote(comms[r], signs[r], kernels.NewSigns(d), kernels.VoteOptions{}); err != nil {
					errs[r] = err
					return
				}
			}
		}()
	}
	for s := range steps {
		comms[0].SetStep(uint32(s))
		if err := q0.Vote(comms[0], signs[0], kernels.NewSigns(d), kernels.VoteOptions{}); err != nil {
			errs[0] = err
			break
		}
		abstained = append(abstained, q0.Abstained())
		dropped = append(dropped, q0.TakeDropped())
	}
	wg.Wait()
	net.Close() // releases the stalled rank
	stall.Wait()
	return abstained, dropped, errs
}

// TestMemNetworkFaults: each fault of the in-memory network against the
// server vote's quorum (deadline 100 ms, a rank dropped after 2 misses).
func TestMemNetworkFaults(t *testing.T) {
	const deadline = 100 * time.Millisecond
	for _, tc := range []struct {
		name  string
		fault func(n *MemNetwork)
		// per step: rank 0's abstentions and drops, as fmt prints them
		abstained, dropped string
		// the rank hurt, and what its own vote returns (nil: no error)
		hurtErr error
	}{
		{"none", func(*MemNetwork) {}, "[[] [] [] []]", "[[] [] [] []]", nil},
		// Rank 2's votes arrive 3 deadlines late: it abstains at every
		// step and is dropped after the second, then told so.
		{"delay", func(n *MemNetwork) { n.Delay(2, 0, 3*deadline) }, "[[2] [2] [2] [2]]", "[[] [2] [] []]", ErrDropped},
		// Rank 2's votes are lost, the results reach it: so does the
		// notice that it was dropped.
		{"drop", func(n *MemNetwork) { n.Drop(2, 0, 1) }, "[[2] [2] [2] [2]]", "[[] [2] [] []]", ErrDropped},
		// Rank 2 is cut off both ways: it never hears of its drop and
		// times out waiting for the result.
		{"partition", func(n *MemNetwork) { n.Partition([]int{0, 1}, []int{2}) }, "[[2] [2] [2] [2]]", "[[] [2] [] []]", ErrTimeout},
		// A crash is noticed at once: dropped at the step it happens.
		{"crash", func(n *MemNetwork) { n.CrashAt(2, 1) }, "[[] [2] [2] [2]]", "[[] [2] [] []]", ErrClosed},
		// A stall is not: it misses two deadlines first.
		{"stall", func(n *MemNetwork) { n.StallAt(2, 1) }, "[[] [2] [2] [2]]", "[[] [] [2] []]", ErrClosed},
	} {
		t.Run(tc.name, func(t *testing.T) {
			net := NewMemNetwork(3, MemOptions{Timeout: 10 * deadline, DropStale: true, Seed: 1})
			tc.fault(net)
			stalled := -1
			if tc.name == "stall" {
				stalled = 2
			}
			ab, dr, errs := voteRounds(t, net, 4, deadline, stalled)
			if errs[0] != nil || errs[1] != nil {
				t.Fatalf("ranks 0 and 1 failed: %v, %v", errs[0], errs[1])
			}
			if fmt.Sprint(ab) != tc.abstained || fmt.Sprint(dr) != tc.dropped {
				t.Fatalf("abstained %v, dropped %v; want %s and %s", ab, dr, tc.abstained, tc.dropped)
			}
			if (tc.hurtErr == nil) != (errs[2] == nil) || (tc.hurtErr != nil && !errors.Is(errs[2], tc.hurtErr)) {
				t.Fatalf("rank 2's vote: %v, want %v", errs[2], tc.hurtErr)
			}
		})
	}
}

// TestMemNetworkCrashFailsLinks: a crashed rank's links end both ways, as
// a killed process's do, and the strict vote names it.
func TestMemNetworkCrashFailsLinks(t *testing.T) {
	net := NewMemNetwork(3, MemOptions{Timeout: 5 * time.Second})
	defer net.Close()
	c := net.Comms()
	net.Crash(2)
	if err := c[1].Send(2, TagGather, []byte("x")); !errors.Is(err, ErrPeerLost) {
		t.Fatalf("send to a crashed rank: %v", err)
	}
	start := time.Now()
	go Vote(c[1], "server", kernels.NewSigns(10), kernels.NewSigns(10), kernels.VoteOptions{})
	err := Vote(c[0], "server", kernels.NewSigns(10), kernels.NewSigns(10), kernels.VoteOptions{})
	var pe *PeerError
	if !errors.Is(err, ErrPeerLost) || !errors.As(err, &pe) || pe.Peer != 2 {
		t.Fatalf("strict vote with rank 2 crashed: %v", err)
	}
	if time.Since(start) > 2*time.Second {
		t.Fatalf("the crash took %v to notice", time.Since(start))
	}
}

// TestMemNetworkAbortAcrossCut: an abort notice reaches every rank it has a
// link to; a rank cut off from the aborting one waits out its timeout.
func TestMemNetworkAbortAcrossCut(t *testing.T) {
	net := NewMemNetwork(3, MemOptions{Timeout: 200 * time.Millisecond})
	defer net.Close()
	c := net.Comms()
	net.Cut(0, 2)
	Abort(c[0], errors.New("disk full"))
	if _, err := c[1].Recv(0, TagBroadcast); !errors.Is(err, ErrAborted) {
		t.Fatalf("rank 1: %v, want the abort", err)
	}
	if _, err := c[2].Recv(0, TagBroadcast); !errors.Is(err, ErrTimeout) {
		t.Fatalf("rank 2 behind the cut: %v, want a timeout", err)
	}
	// Healed, the link carries frames again.
	net.Heal()
	if err := c[0].Send(2, TagBroadcast, []byte("after")); err != nil {
		t.Fatal(err)
	}
	if p, err := c[2].Recv(0, TagBroadcast); err != nil || string(p) != "after" {
		t.Fatalf("after Heal: %q, %v", p, err)
	}
}

// TestMemNetworkDropsAreSeeded: the same seed loses the same frames.
func TestMemNetworkDropsAreSeeded(t *testing.T) {
	lost := func(seed uint64) []int {
		net := NewMemNetwork(2, MemOptions{Timeout: time.Millisecond, Seed: seed})
		defer net.Close()
		c := net.Comms()
		net.Drop(1, 0, 0.5)
		for i := range 64 {
			c[1].Send(0, TagGather, []byte{byte(i)})
		}
		var got []int
		for {
			p, err := c[0].Recv(1, TagGather)
			if err != nil {
				break
			}
			got = append(got, int(p[0]))
		}
		if len(got)+net.Dropped() != 64 || net.Dropped() == 0 || len(got) == 0 {
			t.Fatalf("seed %d: %d received, %d dropped of 64", seed, len(got), net.Dropped())
		}
		return got
	}
	if a, b := lost(7), lost(7); !slices.Equal(a, b) {
		t.Fatalf("seed 7 twice: %v and %v", a, b)
	}
	if a, b := lost(7), lost(8); slices.Equal(a, b) {
		t.Fatalf("seeds 7 and 8 lose the same frames: %v", a)
	}
}
