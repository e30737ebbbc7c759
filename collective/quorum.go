package collective

import (
	"errors"
	"fmt"
	"slices"
	"time"

	"signsgd/kernels"
)

// ErrDropped is returned on a rank that rank 0 dropped from the job.
var ErrDropped = errors.New("rank 0 dropped this rank")

// Quorum lets the server vote go on without ranks that crash or stall.
// Rank 0 waits for the votes until Deadline after it starts counting; a
// vote that is not there by then counts as an abstention (0) and the late
// frame is skipped when it arrives (the Comm must have been made with
// TCPOptions.DropStale). A rank that misses DropAfter deadlines in a row,
// or whose connection ends, is dropped: rank 0 no longer waits for it in
// the vote, the gathers or the barrier, and tells it so if it can. Rank 0
// keeps the state; on other ranks a Quorum only changes what a drop
// notice means. A nil *Quorum is the strict job: every rank in every
// collective, a lost rank an error.
type Quorum struct {
	Deadline  time.Duration
	DropAfter int

	missed    []int  // consecutive missed deadlines, by rank
	dropped   []bool // by rank
	abstained []int  // ranks that abstained in the last vote
	dropEvent []int  // ranks dropped since the last TakeDropped
}

// NewQuorum returns the quorum of a job of size ranks.
func NewQuorum(size int, deadline time.Duration, dropAfter int) *Quorum {
	return &Quorum{Deadline: deadline, DropAfter: max(dropAfter, 1), missed: make([]int, size), dropped: make([]bool, size)}
}

// Abstained returns the ranks whose vote was missing from the last vote.
func (q *Quorum) Abstained() []int {
	if q == nil {
		return nil
	}
	return append([]int(nil), q.abstained...)
}

// TakeDropped returns the ranks dropped since the last call.
func (q *Quorum) TakeDropped() []int {
	if q == nil {
		return nil
	}
	d := q.dropEvent
	q.dropEvent = nil
	return d
}

// Live says whether rank r still takes part.
func (q *Quorum) Live(r int) bool { return q == nil || !q.dropped[r] }

// drop removes rank r and tells it, if its connection still works (an
// empty vote result is the notice).
func (q *Quorum) drop(c Comm, r int) {
	if q.dropped[r] {
		return
	}
	q.dropped[r] = true
	q.dropEvent = append(q.dropEvent, r)
	c.Send(r, TagVoteResult, nil)
}

// lost says whether err means the peer is gone or silent for good.
func lost(err error) bool { return errors.Is(err, ErrPeerLost) || errors.Is(err, ErrTimeout) }

// Vote is the server vote (VoteServer) under the quorum's deadline; a nil
// quorum is the strict vote, where every rank votes and a lost one is an
// error.
//
// The vote travels in chunks (voteChunkWords words each, one frame per
// chunk each way, see chunkOf): a worker sends the chunks of its signs one
// after another, and rank 0 counts chunk k as soon as every voter's chunk
// k is in and queues its result to every rank while the next chunks are
// still arriving. So rank 0's decode, count and encode overlap the
// workers' encode, the transfers and the workers' decode, rather than
// waiting for them.
//
// A rank that misses the deadline or is lost partway abstains from the
// rest of the vote (its earlier chunks were counted); a dropped rank gets
// the result chunks queued to it before its drop, then the drop notice.
func (q *Quorum) Vote(c Comm, local, result kernels.Signs, opt kernels.VoteOptions) error {
	if local.N != result.N {
		panic(fmt.Sprintf("collective: Vote: %d signs into a result of %d", local.N, result.N))
	}
	chunks := chunkCount(len(local.NZ))
	tl := timelineOf(c)
	tl.mark(MilestoneStart, -1)
	defer tl.mark(MilestoneEnd, -1)
	if c.Rank() != 0 {
		// The result's chunks are posted before the first vote goes out,
		// each into a buffer of ours where its sign plane is scattered
		// from where it landed (postVote).
		co := coreOf(c)
		if co != nil {
			sc := &co.sc
			sc.vreqs = resize(sc.vreqs, chunks)
			for len(sc.vbufs) < chunks {
				sc.vbufs = append(sc.vbufs, nil)
			}
			for k := range chunks {
				postVote(co, &sc.vreqs[k], &sc.vbufs[k], 0, TagVoteResult, chunkOf(result, k).N, true)
			}
			defer func() {
				for k := range chunks {
					co.cancel(&sc.vreqs[k])
					sc.vreqs[k].giveBack()
				}
			}()
		}
		tc, _ := c.(*tcpComm) // (not through a wrapper, whose Send may differ)
		for k := range chunks {
			var err error
			if tc != nil { // the planes leave from local's own words
				p, buf := encodeVoteParts(chunkOf(local, k))
				err = tc.sendParts(0, TagVote, p)
				putBytes(buf)
			} else {
				enc := encodeVote(chunkOf(local, k))
				err = c.Send(0, TagVote, enc)
				putBytes(enc)
			}
			if err != nil {
				return opError("vote", err)
			}
		}
		tl.mark(MilestoneSent, -1)
		for k := range chunks {
			var p []byte
			var err error
			if co != nil {
				err = co.finish(&co.sc.vreqs[k], co.deadline())
				p = co.sc.vreqs[k].got
			} else {
				p, err = c.Recv(0, TagVoteResult)
			}
			if err != nil {
				return opError("vote", err)
			}
			if len(p) == 0 && q != nil {
				return opError("vote", fmt.Errorf("%w after it missed %d vote deadlines (%v) in a row, or lost its link", ErrDropped, q.DropAfter, q.Deadline))
			}
			tl.mark(MilestoneResult, k)
			if err = DecodeSignsWire(chunkOf(result, k), p); err == nil {
				tl.mark(MilestoneDecoded, k)
			}
			if co != nil {
				co.sc.vreqs[k].giveBack()
			} else {
				putBytes(p)
			}
			if err != nil {
				return opError("vote", &PeerError{Rank: c.Rank(), Peer: 0, Op: fmt.Sprintf("decode vote-result chunk %d", k), Err: err})
			}
		}
		return nil
	}
	m := c.Size()
	var deadline time.Time
	if q != nil {
		q.abstained = q.abstained[:0]
		deadline = time.Now().Add(q.Deadline)
	}
	sc := scratchOf(c)
	live := sc.peers[:0] // ranks the result goes to
	for r := 1; r < m; r++ {
		if q.Live(r) {
			live = append(live, r)
		} else {
			q.abstained = append(q.abstained, r)
		}
	}
	sc.peers = live
	out := &sc.fan
	out.start(c, live)
	var toDrop []int // dropped once their queued results are out
	defer func() {
		out.wait() // a second wait is harmless
		for _, r := range toDrop {
			q.drop(c, r)
		}
	}()
	// By index in live: whether its chunks are still counted, and one
	// chunk-sized buffer, reused for every chunk (and every vote).
	sc.counted = resize(sc.counted, len(live))
	for i := range live {
		sc.counted[i] = true
	}
	counted := sc.counted
	chunkLen := 64 * min(voteChunkWords, len(local.NZ))
	// The strict vote posts every worker's chunks ahead (signWindow) and
	// counts dense ones where they landed. A vote under a deadline takes
	// whole frames from the queue instead (RecvBy): it must never wait on
	// a frame that a stalling rank has half written into its buffer.
	co := coreOf(c)
	posted := q == nil && co != nil
	if posted {
		sc.vwins = resize(sc.vwins, len(live))
		for i, r := range live {
			sc.vwins[i].start(co, r, local.N)
		}
		defer func() {
			for i := range live {
				sc.vwins[i].cancel(co)
			}
		}()
	}
	for k := range chunks {
		mine := chunkOf(local, k)
		voters := append(sc.voters[:0], mine)
		for i, r := range live {
			if !counted[i] {
				continue
			}
			var p []byte
			var err error
			switch {
			case posted:
				p, err = sc.vwins[i].take(co, k, co.deadline())
			case q != nil:
				p, err = c.RecvBy(r, TagVote, deadline)
			default:
				p, err = c.Recv(r, TagVote)
			}
			if err != nil {
				if q == nil || !lost(err) {
					return opError("vote", err)
				}
				counted[i] = false
				q.abstained = append(q.abstained, r)
				q.missed[r]++
				if errors.Is(err, ErrPeerLost) || q.missed[r] >= q.DropAfter {
					out.stop(r)
					toDrop = append(toDrop, r)
				}
				continue
			}
			v := wordsOf(sc.signsBuf(i, chunkLen), 0, len(mine.NZ))
			v.N = mine.N
			if posted {
				v, err = viewSignsWire(v, p, sc.onesFor(mine))
			} else {
				err = DecodeSignsWire(v, p)
				putBytes(p)
			}
			if err != nil {
				return opError("vote", &PeerError{Rank: 0, Peer: r, Op: fmt.Sprintf("decode vote chunk %d", k), Err: err})
			}
			voters = append(voters, v)
		}
		sc.voters = voters
		tl.mark(MilestoneIn, k)
		res := chunkOf(result, k)
		kernels.Vote(res, voters, opt.AtWord(k*voteChunkWords))
		tl.mark(MilestoneReduced, k)
		if posted {
			for i := range live {
				sc.vwins[i].refill(co, k)
			}
		}
		if co != nil { // the result's planes leave from result's own words (out.wait before return)
			p, buf := encodeVoteParts(res)
			fr := shareParts(p, buf)
			out.sendFrame(TagVoteResult, fr)
			fr.release()
		} else {
			out.send(TagVoteResult, encodeVote(res))
		}
		tl.mark(MilestoneAnswered, k)
		yield()
	}
	if q != nil {
		for i, r := range live {
			if counted[i] {
				q.missed[r] = 0
			}
		}
		slices.Sort(q.abstained)
	}
	errs := out.wait()
	for i, err := range errs {
		if err == nil {
			continue
		}
		if q == nil || !lost(err) {
			return opError("vote", err)
		}
		q.drop(c, live[i])
	}
	return nil
}

// Gather is Gather to rank 0 without the dropped ranks (nil entries), a
// rank lost on the way being dropped too. A nil quorum is Gather.
func (q *Quorum) Gather(c Comm, data []byte) ([][]byte, error) {
	if q == nil || c.Rank() != 0 {
		return Gather(c, 0, data)
	}
	out := make([][]byte, c.Size())
	out[0] = data
	for r := 1; r < c.Size(); r++ {
		if q.dropped[r] {
			continue
		}
		p, err := c.Recv(r, TagGather)
		if err != nil {
			if !lost(err) {
				return nil, opError("gather", err)
			}
			q.drop(c, r)
			continue
		}
		out[r] = p
	}
	return out, nil
}

// Barrier is Barrier over the ranks still in the job. A nil quorum is
// Barrier.
func (q *Quorum) Barrier(c Comm) error {
	if q == nil || c.Rank() != 0 {
		return Barrier(c)
	}
	for r := 1; r < c.Size(); r++ {
		if q.dropped[r] {
			continue
		}
		if _, err := c.Recv(r, TagBarrier); err != nil {
			if !lost(err) {
				return opError("barrier", err)
			}
			q.drop(c, r)
		}
	}
	for r := 1; r < c.Size(); r++ {
		if !q.dropped[r] {
			if err := c.Send(r, TagBarrier, nil); err != nil && !lost(err) {
				return opError("barrier", err)
			}
		}
	}
	return nil
}
