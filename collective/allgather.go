package collective

import (
	"bytes"
	"crypto/sha256"
	"errors"
	"fmt"

	"signsgd/kernels"
)

// The allgather vote:
//
//	every rank:  signs (wire form) --> every other rank          (TagVote)
//	every rank:  SHA-256 of the payload received from each rank,
//	             its own included, M x 32 bytes --> every other rank (TagVoteDigest)
//	every rank:  compare the digests; decode the M payloads in rank order
//	             and count them with kernels.Vote
//
// Every rank counts the same bytes in the same order, so every rank gets the
// same result without trusting any one rank to count. A rank could still
// send different signs to different ranks (equivocate) so that they apply
// different updates: the digest round catches that. If two ranks report
// different digests for what rank p sent them, every rank that sees it
// fails the step, naming p and the two ranks. (Without signatures a rank
// that misreports what it received looks the same as p equivocating; either
// way the job stops rather than let the models drift apart.) An honest rank
// that passes the check has seen every honest rank receive exactly the bytes
// it received, so the honest ranks that go on hold the same result.

// ErrEquivocation is wrapped by the error of an allgather vote in which a
// rank sent different votes to different ranks.
var ErrEquivocation = errors.New("equivocation")

// VoteAllgather runs the majority vote of local with every rank counting
// every rank's signs; result receives the vote on every rank.
func VoteAllgather(c Comm, local, result kernels.Signs, opt kernels.VoteOptions) error {
	m, me := c.Size(), c.Rank()
	sc := scratchOf(c)
	peers := sc.others(c)
	out := &sc.fan
	out.start(c, peers)
	sc.payloads = resize(sc.payloads, m)
	clear(sc.payloads)
	mine := share(encodeVote(local)) // sent to every peer, kept for our own count
	defer func() {
		out.wait() // nothing is queued once this returns
		mine.release()
		for p, b := range sc.payloads {
			if p != me {
				putBytes(b)
			}
		}
		clear(sc.payloads)
	}()
	sc.payloads[me] = mine.b
	out.sendFrame(TagVote, mine)
	yield()
	for _, p := range peers {
		b, err := c.Recv(p, TagVote)
		if err != nil {
			return opError("vote", err)
		}
		sc.payloads[p] = b
	}
	if m > 2 { // with two ranks every payload has a single receiver
		if err := checkDigests(c, sc); err != nil {
			return opError("vote", err)
		}
	}
	voters := sc.voters[:0]
	for p, b := range sc.payloads {
		// Our own payload is decoded too, so every rank counts exactly
		// the same canonical signs.
		v := sc.signsBuf(p, local.N)
		if err := DecodeSignsWire(v, b); err != nil {
			return opError("vote", &PeerError{Rank: me, Peer: p, Op: "decode vote", Err: err})
		}
		voters = append(voters, v)
	}
	sc.voters = voters
	countVote(result, voters, opt, 0, sc)
	if err := firstError(out.wait()); err != nil {
		return opError("vote", err)
	}
	return nil
}

// checkDigests exchanges the digests of the payloads every rank received
// (sc.payloads[p] is what came from rank p) and fails if two ranks received
// different bytes from the same rank.
func checkDigests(c Comm, sc *scratch) error {
	m, me := c.Size(), c.Rank()
	mine := getBytes(digestVectorLen(m))
	for p, b := range sc.payloads {
		d := sha256.Sum256(b)
		copy(mine[32*p:], d[:])
	}
	digests := share(mine)
	defer digests.release()
	sc.fan.sendFrame(TagVoteDigest, digests)
	// reports[i] is rank i's digest vector: digest j is what it got from j.
	sc.reports = resize(sc.reports, m)
	clear(sc.reports)
	defer func() {
		for i, b := range sc.reports {
			if i != me {
				putBytes(b)
			}
		}
		clear(sc.reports)
	}()
	sc.reports[me] = mine
	for i := 0; i < m; i++ {
		if i == me {
			continue
		}
		b, err := c.Recv(i, TagVoteDigest)
		if err != nil {
			return err
		}
		sc.reports[i] = b
		if len(b) != digestVectorLen(m) {
			return &PeerError{Rank: me, Peer: i, Op: "decode vote-digest",
				Err: fmt.Errorf("%w: %d bytes, want %d (%d digests)", ErrBadFrame, len(b), digestVectorLen(m), m)}
		}
	}
	return findEquivocation(me, sc.reports)
}

// findEquivocation compares, for every sender p, the digests the other
// ranks report for what p sent them (a sender's report of its own payload
// is not compared: only what went over the wire is).
func findEquivocation(me int, reports [][]byte) error {
	m := len(reports)
	for p := 0; p < m; p++ {
		first := -1
		for i := 0; i < m; i++ {
			if i == p {
				continue
			}
			if first < 0 {
				first = i
				continue
			}
			a := reports[first][32*p : 32*p+32]
			b := reports[i][32*p : 32*p+32]
			if !bytes.Equal(a, b) {
				return &PeerError{Rank: me, Peer: p, Op: "check vote",
					Err: fmt.Errorf("%w: rank %d sent different votes to ranks %d and %d", ErrEquivocation, p, first, i)}
			}
		}
	}
	return nil
}
