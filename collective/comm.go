package collective

import (
	"errors"
	"fmt"
	"time"
)

// Tag says which collective a frame belongs to.
type Tag uint32

// The tags of signsgd's own traffic. User messages (the btracey/mpi
// adapter) use TagUser + their tag.
const (
	TagHello Tag = iota + 1
	TagTable
	TagBarrier
	TagBroadcast
	TagGather
	TagMean
	TagMeanResult
	TagVote
	TagVoteResult
	TagAttack
	TagControl
	TagChallenge
	TagWelcome
	TagDigest
	TagVoteDigest // allgather vote: digests of the votes each rank received
	numTags

	TagUser Tag = 1 << 31
)

var tagNames = [...]string{
	TagHello: "hello", TagTable: "table", TagBarrier: "barrier", TagBroadcast: "broadcast",
	TagGather: "gather", TagMean: "mean", TagMeanResult: "mean-result", TagVote: "vote",
	TagVoteResult: "vote-result", TagAttack: "attack", TagControl: "control",
	TagChallenge: "challenge", TagWelcome: "welcome", TagDigest: "digest",
	TagVoteDigest: "vote-digest",
}

func (t Tag) String() string {
	if t >= TagUser {
		return fmt.Sprintf("user-tag-%d", uint32(t-TagUser))
	}
	if t > 0 && int(t) < len(tagNames) {
		return tagNames[t]
	}
	return fmt.Sprintf("tag-%d", uint32(t))
}

// Comm is one rank's view of the job: its rank, the number of ranks, and
// ordered, tagged messages to and from every other rank.
type Comm interface {
	Rank() int
	Size() int
	// Send delivers payload to rank peer under tag. The payload may be
	// reused once Send returns. Sending to oneself is allowed, and so are
	// concurrent Sends to different peers (the vote topologies send to
	// all their peers at once).
	Send(peer int, tag Tag, payload []byte) error
	// Recv returns the first frame from peer with tag, waiting up to the
	// Comm's timeout. The returned buffer belongs to the caller. A frame
	// sent at another step than the receiver's current one is an error.
	Recv(peer int, tag Tag) ([]byte, error)
	// RecvInto is Recv into dst, a buffer of the caller's whose length
	// must be the payload's (else an error wrapping ErrBadFrame): a frame
	// that arrives while RecvInto waits is written straight into dst, one
	// that arrived before is copied there. dst is the caller's again when
	// RecvInto returns, whatever happened. One receive of a tag from a
	// peer at a time.
	RecvInto(peer int, tag Tag, dst []byte) error
	// RecvBy is Recv waiting until deadline instead (zero: forever); it
	// fails with ErrTimeout after it.
	RecvBy(peer int, tag Tag, deadline time.Time) ([]byte, error)
	// SetStep sets the training step this rank is at: every frame it sends
	// carries it, and every frame it receives must carry it too. Every rank
	// calls it with the same values in the same order (0 until then).
	SetStep(step uint32)
	// Traffic returns the bytes sent and received so far, frame headers
	// included, in total and per tag.
	Traffic() Traffic
	// Close releases the connections; later calls fail with ErrClosed.
	Close() error
}

// Counts are bytes and frames in one direction.
type Counts struct {
	Bytes  int64
	Frames int64
}

// Traffic is what a Comm has counted.
type Traffic struct {
	Sent, Recv Counts
	SentByTag  map[Tag]Counts
	RecvByTag  map[Tag]Counts
	// StaleFrames counts frames of a past step that were dropped unread
	// (votes that missed their deadline; see TCPOptions.DropStale).
	StaleFrames int64
}

// Of returns the bytes sent and received under the given tags.
func (t Traffic) Of(tags ...Tag) (sent, recv int64) {
	for _, g := range tags {
		sent += t.SentByTag[g].Bytes
		recv += t.RecvByTag[g].Bytes
	}
	return sent, recv
}

// HeaderSize is the size of a frame header in bytes (see header).
const HeaderSize = 24

// DefaultMaxFrame bounds a frame's payload unless a Comm is told otherwise:
// 1 GiB, room for the float32 gradient of a 250M-parameter model.
const DefaultMaxFrame = 1 << 30

// DefaultTimeout is how long Recv waits for a frame unless told otherwise.
const DefaultTimeout = 5 * time.Minute

// ErrClosed is returned by a Comm used after Close.
var ErrClosed = errors.New("communicator closed")

// ErrTimeout is wrapped by a Recv that waited longer than the timeout.
var ErrTimeout = errors.New("timed out")

// ErrPeerLost is wrapped when a peer's connection ended.
var ErrPeerLost = errors.New("connection lost")

// PeerError is a failed operation with one peer.
type PeerError struct {
	Rank int    // our rank
	Peer int    // the other rank
	Op   string // "send vote", "recv mean-result", ...
	Err  error
}

func (e *PeerError) Error() string {
	dir := "with"
	switch {
	case len(e.Op) >= 4 && e.Op[:4] == "send":
		dir = "to"
	case len(e.Op) >= 4 && e.Op[:4] == "recv":
		dir = "from"
	}
	return fmt.Sprintf("rank %d: %s %s rank %d: %v", e.Rank, e.Op, dir, e.Peer, e.Err)
}

func (e *PeerError) Unwrap() error { return e.Err }

func checkPeer(c Comm, peer int, op string) error {
	if peer < 0 || peer >= c.Size() {
		return &PeerError{Rank: c.Rank(), Peer: peer, Op: op, Err: fmt.Errorf("no such rank (size %d)", c.Size())}
	}
	return nil
}
