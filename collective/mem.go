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
	world   []*memComm
	sendSeq []uint32
	seqMu   sync.Mutex
	once    sync.Once
}

// NewMemWorld returns the communicators of an in-memory world of n ranks
// (goroutines in one process). Recv waits at most timeout (0: forever).
func NewMemWorld(n int, timeout time.Duration) []Comm {
	world := make([]*memComm, n)
	for r := range world {
		world[r] = &memComm{world: world, sendSeq: make([]uint32, n)}
		world[r].init(r, n, timeout)
	}
	out := make([]Comm, n)
	for r, c := range world {
		out[r] = c
	}
	return out
}

func (c *memComm) Send(peer int, tag Tag, payload []byte) error {
	op := "send " + tag.String()
	if err := c.checkPeer(peer, op); err != nil {
		return err
	}
	select {
	case <-c.done:
		return &PeerError{Rank: c.rank, Peer: peer, Op: op, Err: ErrClosed}
	default:
	}
	if len(payload) > DefaultMaxFrame {
		return &PeerError{Rank: c.rank, Peer: peer, Op: op, Err: fmt.Errorf("%w: payload of %d bytes exceeds the bound of %d", ErrBadFrame, len(payload), DefaultMaxFrame)}
	}
	// Encode and decode the header as TCP would, so both transports
	// exercise the same checks.
	var hdr [HeaderSize]byte
	c.seqMu.Lock()
	seq := c.sendSeq[peer]
	c.sendSeq[peer]++
	c.seqMu.Unlock()
	putHeader(hdr[:], header{tag: tag, seq: seq, length: len(payload), step: c.step.Load()})
	h, err := parseHeader(hdr[:], DefaultMaxFrame)
	if err != nil {
		return &PeerError{Rank: c.rank, Peer: peer, Op: op, Err: err}
	}
	p := append([]byte(nil), payload...)
	dst := c.world[peer]
	if err := dst.in[c.rank].push(c.rank, frame{tag: tag, step: h.step, payload: p}); err != nil {
		return &PeerError{Rank: c.rank, Peer: peer, Op: op, Err: err}
	}
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
			if other != c {
				other.in[c.rank].fail(fmt.Errorf("%w: rank %d closed", ErrPeerLost, c.rank))
			}
		}
	})
	return nil
}
