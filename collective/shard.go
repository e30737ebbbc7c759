package collective

import (
	"fmt"

	"signsgd/kernels"
)

// The shard vote: a reduce-scatter of votes, then an allgather of results.
// The W = ceil(d/64) words of the sign planes are split into M contiguous
// shards, shard j holding words [jW/M, (j+1)W/M) (some are empty when
// W < M):
//
//	rank r:  shard j of its signs (wire form) --> rank j, every j != r   (TagVote)
//	rank j:  decode the M signs of shard j, kernels.Vote (ties broken as
//	         in the whole vote: VoteOptions.AtWord)
//	rank j:  shard j of the result (wire form) --> every rank != j       (TagVoteResult)
//
// Each rank sends (M-1)/M of its signs and receives (M-1)/M of the result:
// about 2 x 2d/8 x (M-1)/M bytes each way, whatever M. Every rank trusts the
// owner of each shard to count it honestly.

// shardWords returns the words [lo, hi) of shard j of w words among m ranks.
func shardWords(w, m, j int) (lo, hi int) { return j * w / m, (j + 1) * w / m }

// shardLen is the number of coordinates of shard j of d coordinates.
func shardLen(d, w, m, j int) int {
	lo, hi := shardWords(w, m, j)
	return wordsLen(d, lo, hi)
}

// shardOf returns shard j of s among m ranks, sharing s's words.
func shardOf(s kernels.Signs, m, j int) kernels.Signs {
	lo, hi := shardWords(len(s.NZ), m, j)
	return wordsOf(s, lo, hi)
}

// wordsLen is the number of coordinates in words [lo, hi) of a vector of d
// coordinates (0 for an empty range, the tail for the last word).
func wordsLen(d, lo, hi int) int {
	if lo == hi {
		return 0
	}
	return min(64*hi, d) - 64*lo
}

// wordsOf returns words [lo, hi) of s as signs of their own, sharing s's
// words.
func wordsOf(s kernels.Signs, lo, hi int) kernels.Signs {
	return kernels.Signs{N: wordsLen(s.N, lo, hi), NZ: s.NZ[lo:hi:hi], Neg: s.Neg[lo:hi:hi]}
}

// VoteShard runs the majority vote of local with rank j counting shard j;
// result receives the whole vote on every rank. local must be canonical,
// as for VoteServer: a shard's owner counts its own signs as they are.
func VoteShard(c Comm, local, result kernels.Signs, opt kernels.VoteOptions) error {
	m, me := c.Size(), c.Rank()
	if local.N != result.N {
		panic(fmt.Sprintf("collective: VoteShard: %d signs into a result of %d", local.N, result.N))
	}
	sc := scratchOf(c)
	peers := sc.others(c)
	mine := shardOf(local, m, me)
	tl := timelineOf(c)
	tl.mark(MilestoneStart, -1)
	defer tl.mark(MilestoneEnd, -1)
	// The votes for our shard, and the other shards of the result, are
	// posted before our own votes go out, each into a buffer of ours
	// where a dense vote is counted in place (viewSignsWire) and a
	// result's sign plane scattered from where it landed (postVote).
	co := coreOf(c)
	if co != nil {
		sc.vreqs = resize(sc.vreqs, 2*m)
		for len(sc.vbufs) < 2*m {
			sc.vbufs = append(sc.vbufs, nil)
		}
		w := len(local.NZ)
		for _, r := range peers {
			postVote(co, &sc.vreqs[r], &sc.vbufs[r], r, TagVote, mine.N, false)
			postVote(co, &sc.vreqs[m+r], &sc.vbufs[m+r], r, TagVoteResult, shardLen(local.N, w, m, r), true)
		}
		defer func() {
			for _, r := range peers {
				co.cancel(&sc.vreqs[r])
				sc.vreqs[r].giveBack()
				co.cancel(&sc.vreqs[m+r])
				sc.vreqs[m+r].giveBack()
			}
		}()
	}
	out := &sc.fan
	out.start(c, peers)
	defer out.wait()          // nothing is queued once this returns
	for i, j := range peers { // shard j of our signs to its owner, from local's words (out.wait before return)
		fr := shareParts(encodeVoteParts(shardOf(local, m, j)))
		out.sendTo(i, TagVote, fr)
		fr.release()
		yield()
	}
	tl.mark(MilestoneSent, -1)
	voters := sc.voters[:0]
	for r := 0; r < m; r++ {
		if r == me { // counted where it lies, as rank 0's own signs in the server vote
			voters = append(voters, mine)
			continue
		}
		v := sc.signsBuf(r, mine.N)
		var err error
		if co != nil {
			q := &sc.vreqs[r]
			if err = co.finish(q, co.deadline()); err != nil {
				return opError("vote", err)
			}
			v, err = viewSignsWire(v, q.got, sc.onesFor(mine))
		} else {
			var b []byte
			if b, err = c.Recv(r, TagVote); err != nil {
				return opError("vote", err)
			}
			err = DecodeSignsWire(v, b)
			putBytes(b)
		}
		if err != nil {
			return opError("vote", &PeerError{Rank: me, Peer: r, Op: "decode vote", Err: err})
		}
		voters = append(voters, v)
	}
	sc.voters = voters
	tl.mark(MilestoneIn, me)
	lo, _ := shardWords(len(local.NZ), m, me)
	res := shardOf(result, m, me)
	countVote(res, voters, opt, lo, sc)
	tl.mark(MilestoneReduced, me)
	fr := shareParts(encodeVoteParts(res))
	out.sendFrame(TagVoteResult, fr)
	fr.release()
	tl.mark(MilestoneAnswered, me)
	yield()
	for j := 0; j < m; j++ {
		if j == me {
			continue
		}
		var err error
		if co != nil {
			q := &sc.vreqs[m+j]
			if err = co.finish(q, co.deadline()); err != nil {
				return opError("vote", err)
			}
			tl.mark(MilestoneResult, j)
			if err = DecodeSignsWire(shardOf(result, m, j), q.got); err == nil {
				tl.mark(MilestoneDecoded, j)
			}
			q.giveBack()
		} else {
			var b []byte
			if b, err = c.Recv(j, TagVoteResult); err != nil {
				return opError("vote", err)
			}
			err = DecodeSignsWire(shardOf(result, m, j), b)
			putBytes(b)
		}
		if err != nil {
			return opError("vote", &PeerError{Rank: me, Peer: j, Op: "decode vote-result", Err: err})
		}
	}
	if err := firstError(out.wait()); err != nil {
		return opError("vote", err)
	}
	return nil
}
