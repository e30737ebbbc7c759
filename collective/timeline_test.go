package collective

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"
	"time"

	"signsgd/kernels"
)

// TestTimelineServerVote: a Timeline set on each rank records the server
// vote's milestones in the order the vote passes them, chunk by chunk, on
// both transports; times never go back; a vote after SetTimeline(c, nil)
// records nothing; a Comm that is not this package's cannot record. (Times
// are the wall clock's, which may step: only the order is checked.)
func TestTimelineServerVote(t *testing.T) {
	defer setVoteChunkWords(3)()
	const m, d = 3, 64*3*4 - 5 // four chunks, the last one short
	chunks := chunkCount(kernels.Words(d))
	for _, tr := range transports {
		t.Run(tr.name, func(t *testing.T) {
			comms, tls := withTimelines(t, tr.make, m)
			local := randomVotes(7, m, d)
			vote := func() {
				runAll(t, comms, func(c Comm) error {
					return VoteServer(c, local[c.Rank()], kernels.NewSigns(d), kernels.VoteOptions{})
				})
			}
			vote()
			for r := range m {
				want := milestoneList(r, chunks, MilestoneDecoded)
				if got := recorded(tls[r]); !slices.Equal(got, want) {
					t.Errorf("rank %d recorded\n%v\nwant\n%v", r, got, want)
				}
				if n := len(tls[r].Events); n > 0 && time.Since(time.Unix(0, tls[r].Events[n-1].At)) > time.Minute {
					t.Errorf("rank %d: last event at %d is not this run's wall clock", r, tls[r].Events[n-1].At)
				}
			}
			for r, c := range comms {
				tls[r].Reset()
				SetTimeline(c, nil)
			}
			vote()
			for r := range m {
				if n := len(tls[r].Events); n != 0 {
					t.Errorf("rank %d: %d events after SetTimeline(nil)", r, n)
				}
			}
		})
	}
	if SetTimeline(plainComm{NewMemWorld(1, time.Second)[0]}, &Timeline{}) {
		t.Error("SetTimeline accepted a Comm that is not this package's")
	}
	if s := Milestone(200).String(); s != "Milestone(200)" {
		t.Errorf("an unknown milestone prints %q", s)
	}
	for m := range numMilestones {
		if milestoneNames[m] == "" {
			t.Errorf("milestone %d has no name", m)
		}
	}
}

// TestTimelineServerMean: the server mean records the same milestones, a
// segment for a chunk: rank 0 holds, sums and answers each; a worker sends
// every segment, then has each result segment in place (no decode).
func TestTimelineServerMean(t *testing.T) {
	defer setFloatSegmentBytes(4 * 100)()
	const m, d = 3, 350 // four segments, the last one short
	segs := floatSegs(d)
	for _, tr := range transports {
		t.Run(tr.name, func(t *testing.T) {
			comms, tls := withTimelines(t, tr.make, m)
			runAll(t, comms, func(c Comm) error {
				x := make([]float32, d)
				for i := range x {
					x[i] = float32(c.Rank() + i)
				}
				return MeanServer(c, x)
			})
			for r := range m {
				want := milestoneList(r, segs)
				if got := recorded(tls[r]); !slices.Equal(got, want) {
					t.Errorf("rank %d recorded\n%v\nwant\n%v", r, got, want)
				}
			}
		})
	}
}

// withTimelines makes an m-rank world with mk, a Timeline set on each rank.
func withTimelines(t *testing.T, mk func(*testing.T, int) []Comm, m int) ([]Comm, []Timeline) {
	t.Helper()
	comms := mk(t, m)
	tls := make([]Timeline, m)
	for r, c := range comms {
		if !SetTimeline(c, &tls[r]) {
			t.Fatalf("rank %d: SetTimeline refused a comm of this package", r)
		}
	}
	return comms, tls
}

// randomVotes is m ranks' random signs of d coordinates, a fifth of them
// zero, from seed.
func randomVotes(seed uint64, m, d int) []kernels.Signs {
	rng := rand.New(rand.NewPCG(seed, seed+1))
	local := make([]kernels.Signs, m)
	for r := range local {
		local[r] = randomSigns(rng, d, 0.2, 0)
	}
	return local
}

// recorded is tl's events as milestone/chunk, in the order recorded.
func recorded(tl Timeline) []string {
	var got []string
	for _, e := range tl.Events {
		got = append(got, fmt.Sprintf("%v/%d", e.Milestone, e.Chunk))
	}
	return got
}

// milestoneList is what rank r of a server exchange of n chunks records,
// each event as milestone/chunk: rank 0 holds, reduces and answers each
// chunk; a worker sends, then has each result chunk, followed by the
// worker milestones perChunk for it (a vote's decode).
func milestoneList(r, n int, perChunk ...Milestone) []string {
	ev := func(m Milestone, k int) string { return fmt.Sprintf("%v/%d", m, k) }
	want := []string{ev(MilestoneStart, -1)}
	for k := range n {
		if r == 0 {
			want = append(want, ev(MilestoneIn, k), ev(MilestoneReduced, k), ev(MilestoneAnswered, k))
			continue
		}
		if k == 0 {
			want = append(want, ev(MilestoneSent, -1))
		}
		want = append(want, ev(MilestoneResult, k))
		for _, m := range perChunk {
			want = append(want, ev(m, k))
		}
	}
	return append(want, ev(MilestoneEnd, -1))
}

// plainComm hides its Comm's engine: only the Comm interface is left, as a
// user's wrapper would.
type plainComm struct{ Comm }

// TestTimelineShardVote: in the shard vote every rank sends, holds, counts
// and answers its own shard (chunk = its rank), then has and decodes every
// other rank's shard of the result, in rank order.
func TestTimelineShardVote(t *testing.T) {
	const m, d = 4, 64*9 + 3
	for _, tr := range transports {
		t.Run(tr.name, func(t *testing.T) {
			comms, tls := withTimelines(t, tr.make, m)
			local := randomVotes(9, m, d)
			runAll(t, comms, func(c Comm) error {
				return VoteShard(c, local[c.Rank()], kernels.NewSigns(d), kernels.VoteOptions{})
			})
			ev := func(ms Milestone, k int) string { return fmt.Sprintf("%v/%d", ms, k) }
			for r := range m {
				want := []string{ev(MilestoneStart, -1), ev(MilestoneSent, -1), ev(MilestoneIn, r), ev(MilestoneReduced, r), ev(MilestoneAnswered, r)}
				for j := range m {
					if j != r {
						want = append(want, ev(MilestoneResult, j), ev(MilestoneDecoded, j))
					}
				}
				want = append(want, ev(MilestoneEnd, -1))
				if got := recorded(tls[r]); !slices.Equal(got, want) {
					t.Errorf("rank %d recorded\n%v\nwant\n%v", r, got, want)
				}
			}
		})
	}
}
