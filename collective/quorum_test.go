package collective

import (
	"slices"
	"testing"
	"time"

	"signsgd/kernels"
)

// rankSignsOf returns the votes of ranks 0..n-1, d signs each (rankSign).
func rankSignsOf(n, d int) []kernels.Signs {
	signs := make([]kernels.Signs, n)
	for r := range signs {
		signs[r] = kernels.NewSigns(d)
		for i := 0; i < d; i++ {
			signs[r].Set(i, rankSign(r, i))
		}
	}
	return signs
}

// TestQuorumDropsSilentRank: a rank that never votes abstains at each
// deadline, is dropped after DropAfter misses and told so with an empty
// result; the others' vote, gather and barrier go on without it. The vote
// runs whole and in chunks of one word.
func TestQuorumDropsSilentRank(t *testing.T) {
	for _, cw := range []int{voteChunkWords, 1} {
		withChunkWords(cw, func() { testQuorumDropsSilentRank(t) })
	}
}

func testQuorumDropsSilentRank(t *testing.T) {
	comms := NewMemWorld(3, 5*time.Second)
	comms[0].(*memComm).setDropStale(true)
	const d = 130
	signs := rankSignsOf(2, d)
	want := kernels.NewSigns(d)
	kernels.VoteNaive(want, signs, kernels.VoteOptions{})
	q := NewQuorum(3, 30*time.Millisecond, 2)
	for step := 0; step < 3; step++ {
		comms[0].SetStep(uint32(step))
		comms[1].SetStep(uint32(step))
		got1 := kernels.NewSigns(d)
		done := make(chan error, 1)
		go func() { done <- NewQuorum(3, time.Second, 2).Vote(comms[1], signs[1], got1, kernels.VoteOptions{}) }()
		got0 := kernels.NewSigns(d)
		if err := q.Vote(comms[0], signs[0], got0, kernels.VoteOptions{}); err != nil {
			t.Fatal(err)
		}
		if err := <-done; err != nil {
			t.Fatal(err)
		}
		for i := 0; i < d; i++ {
			if got0.At(i) != want.At(i) || got1.At(i) != want.At(i) {
				t.Fatalf("step %d coordinate %d: %d and %d, want %d", step, i, got0.At(i), got1.At(i), want.At(i))
			}
		}
		if ab := q.Abstained(); len(ab) != 1 || ab[0] != 2 {
			t.Fatalf("step %d: abstained %v", step, ab)
		}
		if dropped := q.TakeDropped(); (step == 1) != (len(dropped) == 1) {
			t.Fatalf("step %d: dropped %v", step, dropped)
		}
	}
	if q.Live(2) || !q.Live(1) {
		t.Fatal("rank 2 should be dropped, rank 1 live")
	}
	// Rank 2 got the step-0 result (every chunk), then the drop notice at
	// step 1.
	comms[2].SetStep(0)
	for k := range chunkCount(kernels.Words(d)) {
		if p, err := comms[2].Recv(0, TagVoteResult); err != nil || len(p) == 0 {
			t.Fatalf("step 0 result chunk %d: %d bytes, %v", k, len(p), err)
		}
	}
	comms[2].SetStep(1)
	if p, err := comms[2].Recv(0, TagVoteResult); err != nil || len(p) != 0 {
		t.Fatalf("drop notice: %d bytes, %v", len(p), err)
	}
	// Gather and barrier skip the dropped rank.
	done := make(chan error, 1)
	go func() {
		if _, err := q.Gather(comms[1], []byte("one")); err != nil {
			done <- err
			return
		}
		done <- q.Barrier(comms[1])
	}()
	all, err := q.Gather(comms[0], []byte("zero"))
	if err != nil || string(all[1]) != "one" || all[2] != nil {
		t.Fatalf("gather %q, %v", all, err)
	}
	if err := q.Barrier(comms[0]); err != nil {
		t.Fatal(err)
	}
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}

// TestQuorumRankStopsMidVote: a rank that sends the first chunk of its vote
// and then goes silent is counted in that chunk and abstains from the
// others; it still gets the whole result.
func TestQuorumRankStopsMidVote(t *testing.T) {
	withChunkWords(1, func() {
		comms := NewMemWorld(3, 5*time.Second)
		comms[0].(*memComm).setDropStale(true)
		const d = 150 // three chunks, the last of 22 coordinates
		signs := rankSignsOf(3, d)
		without := kernels.NewSigns(d) // rank 2 abstaining throughout
		kernels.VoteNaive(without, signs[:2], kernels.VoteOptions{})
		want := kernels.NewSigns(d)
		want.CopyFrom(without)
		kernels.VoteNaive(chunkOf(want, 0), []kernels.Signs{chunkOf(signs[0], 0), chunkOf(signs[1], 0), chunkOf(signs[2], 0)}, kernels.VoteOptions{})
		if slices.Equal(chunkOf(without, 0).Neg, chunkOf(want, 0).Neg) && slices.Equal(chunkOf(without, 0).NZ, chunkOf(want, 0).NZ) {
			t.Fatal("rank 2's chunk 0 does not change the vote: the test cannot tell whether it was counted")
		}
		// Rank 2's partial vote: chunk 0 only.
		if err := comms[2].Send(0, TagVote, EncodeSignsWire(nil, chunkOf(signs[2], 0), CompressNone)); err != nil {
			t.Fatal(err)
		}
		got1 := kernels.NewSigns(d)
		done := make(chan error, 1)
		go func() { done <- NewQuorum(3, time.Second, 2).Vote(comms[1], signs[1], got1, kernels.VoteOptions{}) }()
		q := NewQuorum(3, 50*time.Millisecond, 2)
		got0 := kernels.NewSigns(d)
		if err := q.Vote(comms[0], signs[0], got0, kernels.VoteOptions{}); err != nil {
			t.Fatal(err)
		}
		if err := <-done; err != nil {
			t.Fatal(err)
		}
		got2 := kernels.NewSigns(d)
		for k := range 3 {
			p, err := comms[2].Recv(0, TagVoteResult)
			if err != nil {
				t.Fatalf("rank 2, result chunk %d: %v", k, err)
			}
			if err := DecodeSignsWire(chunkOf(got2, k), p); err != nil {
				t.Fatalf("rank 2, result chunk %d: %v", k, err)
			}
		}
		for i := 0; i < d; i++ {
			if got0.At(i) != want.At(i) || got1.At(i) != want.At(i) || got2.At(i) != want.At(i) {
				t.Fatalf("coordinate %d: %d, %d and %d, want %d", i, got0.At(i), got1.At(i), got2.At(i), want.At(i))
			}
		}
		if ab := q.Abstained(); len(ab) != 1 || ab[0] != 2 {
			t.Fatalf("abstained %v, want [2]", ab)
		}
		if dropped := q.TakeDropped(); len(dropped) != 0 {
			t.Fatalf("dropped %v after one miss of two", dropped)
		}
	})
}
