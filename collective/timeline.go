package collective

import (
	"fmt"
	"time"
)

// Milestone is a point a rank passes in an exchange that reduces in
// chunks, as a Timeline records it: where the exchange's time goes, on
// every rank. In the server vote (Quorum.Vote, VoteServer) and the server
// mean (MeanServer) rank 0 reduces every chunk in turn (a vote's chunks, a
// mean's segments) for the workers; in the shard vote (VoteShard) rank k
// reduces chunk k, its shard, for every other rank.
type Milestone uint8

const (
	// MilestoneStart: the rank entered the exchange.
	MilestoneStart Milestone = iota
	// MilestoneSent: a server exchange's worker handed its last chunk to
	// the link; a rank of the shard vote queued its last part to its
	// senders (a failed send shows at the end).
	MilestoneSent
	// MilestoneIn: the reducing rank holds chunk k of every voter still
	// counted (a vote's viewed in place or decoded).
	MilestoneIn
	// MilestoneReduced: the reducing rank reduced chunk k (counted the
	// votes, summed the vectors).
	MilestoneReduced
	// MilestoneAnswered: the reducing rank queued chunk k's result to
	// every other rank (a vote's encoded first; a server exchange first
	// posts its receives of later chunks in chunk k's buffers).
	MilestoneAnswered
	// MilestoneResult: a rank has chunk k's result: its receive finished
	// (for a vote, after the decode of the chunk before, so perhaps later
	// than the frame came).
	MilestoneResult
	// MilestoneDecoded: a rank decoded chunk k's vote result into its own
	// (a mean's result lands in place: none).
	MilestoneDecoded
	// MilestoneEnd: the rank leaves the exchange (a server exchange's
	// rank 0 once every result is out), whether it succeeded or failed.
	// Every other milestone is recorded only when its step succeeded.
	MilestoneEnd
	numMilestones
)

var milestoneNames = [numMilestones]string{
	MilestoneStart: "start", MilestoneSent: "sent", MilestoneIn: "in", MilestoneReduced: "reduced",
	MilestoneAnswered: "answered", MilestoneResult: "result", MilestoneDecoded: "decoded", MilestoneEnd: "end",
}

func (m Milestone) String() string {
	if m < numMilestones {
		return milestoneNames[m]
	}
	return fmt.Sprintf("Milestone(%d)", uint8(m))
}

// Event is one milestone passed: for a chunk's milestones Chunk is its
// index, else -1; At is the wall clock in nanoseconds since the Unix
// epoch, so that the events of ranks on one machine line up.
type Event struct {
	Milestone Milestone
	Chunk     int
	At        int64
}

// Timeline records the milestones of the exchanges of the Comm it is set
// on (SetTimeline: the server vote and mean, the shard vote), appending to
// Events (given the capacity of an exchange's events, it allocates
// nothing); Reset empties it between exchanges. A mark costs a clock read,
// and an inlined nil check while no Timeline is set.
type Timeline struct {
	Events []Event
}

// Reset empties t, keeping its memory.
func (t *Timeline) Reset() { t.Events = t.Events[:0] }

// mark records m for chunk k (-1: none); a nil Timeline records nothing.
// It stays small enough to inline, so a mark without a Timeline is a
// compare and a branch.
func (t *Timeline) mark(m Milestone, k int) {
	if t != nil {
		t.record(m, k)
	}
}

// record appends m for chunk k at the wall clock's time.
//
//go:noinline
func (t *Timeline) record(m Milestone, k int) {
	t.Events = append(t.Events, Event{Milestone: m, Chunk: k, At: time.Now().UnixNano()})
}

// SetTimeline makes c's server exchanges and shard votes record into t
// (nil: stop recording). It reports whether c can: only this package's
// transports (DialTCP, NewMemWorld) record; a wrapper's exchanges do not,
// nor does a mean with nothing to exchange (one rank) or on a big-endian
// host (which takes the plain path). The collectives of one Comm run one
// at a time, and so do their marks.
func SetTimeline(c Comm, t *Timeline) bool {
	co := coreOf(c)
	if co == nil {
		return false
	}
	co.tl = t
	return true
}

// timelineOf is c's Timeline, nil if none is set.
func timelineOf(c Comm) *Timeline {
	if co := coreOf(c); co != nil {
		return co.tl
	}
	return nil
}
