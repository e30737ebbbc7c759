package collective

import (
	"fmt"
	"sync"
	"time"
)

// memComm is one rank of an in-memory world: frames are encoded exactly as
// on TCP (so traffic counts agree) and handed over through inboxes.
type memComm struct {
	core
	world []*memComm
	links sparse[memLink] // links(peer): the send side towards peer, made on first use
	once  sync.Once
}

// memLink orders the frames sent to one peer, as a connection would.
type memLink struct {
	mu  sync.Mutex
	seq uint32
}

// NewMemWorld returns the communicators of an in-memory world of n ranks
// (goroutines in one process). Recv waits at most timeout (0: forever).
func NewMemWorld(n int, timeout time.Duration) []Comm {
	world := make([]*memComm, n)
	for r := range world {
		world[r] = &memComm{world: world, links: newSparse[memLink](n)}
		world[r].init(r, n, timeout)
		world[r].send = world[r].Send
		world[r].newIn = world[r].closedPeer
	}
	out := make([]Comm, n)
	for r, c := range world {
		out[r] = c
	}
	return out
}

// Send copies payload into the receiver's inbox: straight into the buffer
// of a receive posted for it, or into a pooled buffer queued there.
func (c *memComm) Send(peer int, tag Tag, payload []byte) error {
	if err := c.checkPeer(peer, "send", tag); err != nil {
		return err
	}
	select {
	case <-c.done:
		return &PeerError{Rank: c.rank, Peer: peer, Op: "send " + tag.String(), Err: ErrClosed}
	default:
	}
	if len(payload) > DefaultMaxFrame {
		return &PeerError{Rank: c.rank, Peer: peer, Op: "send " + tag.String(), Err: fmt.Errorf("%w: payload of %d bytes exceeds the bound of %d", ErrBadFrame, len(payload), DefaultMaxFrame)}
	}
	l := c.links.peek(peer)
	if l == nil {
		l = c.links.get(peer, func() *memLink { return new(memLink) })
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	// Encode and decode the header as TCP would, so both transports
	// exercise the same checks.
	var hdr [HeaderSize]byte
	putHeader(hdr[:], header{tag: tag, seq: l.seq, length: len(payload), step: c.step.Load()})
	h, err := parseHeader(hdr[:], DefaultMaxFrame)
	if err != nil {
		return &PeerError{Rank: c.rank, Peer: peer, Op: "send " + tag.String(), Err: err}
	}
	if err := c.world[peer].deliver(c.rank, tag, h.step, payload); err != nil {
		return &PeerError{Rank: c.rank, Peer: peer, Op: "send " + tag.String(), Err: err}
	}
	l.seq++
	if peer != c.rank {
		c.cnt.add(true, tag, HeaderSize+len(payload))
	}
	return nil
}

// Close ends this rank: its peers' pending and later receives from it fail
// with ErrPeerLost, as they would over TCP.
func (c *memComm) Close() error {
	c.once.Do(func() {
		close(c.done)
		for _, other := range c.world {
			// Only the inboxes made so far: one made later sees this
			// rank closed (closedPeer).
			if b := other.in.peek(c.rank); other != c && b != nil {
				b.fail(fmt.Errorf("%w: rank %d closed", ErrPeerLost, c.rank))
			}
		}
	})
	return nil
}

// closedPeer fails a new inbox of frames from a rank already closed. (Close
// fails the inboxes made before it closed done; one made after sees done
// closed here, since it is stored before this check.)
func (c *memComm) closedPeer(peer int, b *inbox) {
	select {
	case <-c.world[peer].done:
		b.fail(fmt.Errorf("%w: rank %d closed", ErrPeerLost, peer))
	default:
	}
}
