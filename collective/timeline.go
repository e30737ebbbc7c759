package collective

import (
	"fmt"
	"time"
)

// Milestone is a point a rank passes in a server exchange, the vote
// (Quorum.Vote, VoteServer) or the mean (MeanServer), as a Timeline
// records it: where the time of an exchange goes, chunk by chunk (a vote's
// chunks, a mean's segments), on rank 0 and on the workers.
type Milestone uint8

const (
	// MilestoneStart: the rank entered the exchange.
	MilestoneStart Milestone = iota
	// MilestoneSent: a worker handed its last chunk to the link.
	MilestoneSent
	// MilestoneIn: rank 0 holds chunk k of every worker still counted
	// (a vote's viewed in place or decoded).
	MilestoneIn
	// MilestoneReduced: rank 0 reduced chunk k (counted the votes, summed
	// the vectors).
	MilestoneReduced
	// MilestoneAnswered: rank 0 posted its receives of later chunks in
	// chunk k's buffers, then queued chunk k's result to every worker (a
	// vote's encoded first).
	MilestoneAnswered
	// MilestoneResult: a worker has chunk k's result: its receive
	// finished (for a vote, after the decode of chunk k-1, so perhaps
	// later than the frame came).
	MilestoneResult
	// MilestoneDecoded: a worker decoded chunk k's vote result into its
	// own (a mean's result lands in place: none).
	MilestoneDecoded
	// MilestoneEnd: the rank leaves the exchange (rank 0 once every
	// result is out), whether it succeeded or failed. Every other
	// milestone is recorded only when its step succeeded.
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

// Timeline records the milestones of the server exchanges of the Comm it
// is set on (SetTimeline), appending to Events (given the capacity of an
// exchange's events, it allocates nothing); Reset empties it between
// exchanges. A mark costs a clock read, and an inlined nil check while no
// Timeline is set.
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

// SetTimeline makes c's server exchanges record into t (nil: stop
// recording). It reports whether c can: only this package's transports
// (DialTCP, NewMemWorld) record; a wrapper's exchanges do not, nor does a
// mean with nothing to exchange (one rank) or on a big-endian host (which
// takes the plain path). The collectives of one
// Comm run one at a time, and so do their marks.
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
