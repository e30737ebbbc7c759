package collective

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"sync"
	"time"
)

const (
	magic0, magic1 = 'S', 'G'
	frameVersion   = 1
)

// ErrBadFrame is wrapped by every error about a malformed frame header.
var ErrBadFrame = errors.New("bad frame")

// header is a decoded frame header.
type header struct {
	tag    Tag
	seq    uint32
	length int
}

func putHeader(b []byte, tag Tag, seq uint32, n int) {
	b[0], b[1], b[2], b[3] = magic0, magic1, frameVersion, 0
	binary.LittleEndian.PutUint32(b[4:], uint32(tag))
	binary.LittleEndian.PutUint32(b[8:], seq)
	binary.LittleEndian.PutUint32(b[12:], uint32(n))
}

// parseHeader checks a header's magic, version and length bound.
func parseHeader(b []byte, maxFrame int) (header, error) {
	if b[0] != magic0 || b[1] != magic1 {
		return header{}, fmt.Errorf("%w: magic %#02x%02x, want \"SG\"", ErrBadFrame, b[0], b[1])
	}
	if b[2] != frameVersion {
		return header{}, fmt.Errorf("%w: version %d, want %d", ErrBadFrame, b[2], frameVersion)
	}
	if b[3] != 0 {
		return header{}, fmt.Errorf("%w: flags %#x, want 0", ErrBadFrame, b[3])
	}
	h := header{
		tag:    Tag(binary.LittleEndian.Uint32(b[4:])),
		seq:    binary.LittleEndian.Uint32(b[8:]),
		length: int(binary.LittleEndian.Uint32(b[12:])),
	}
	if h.length > maxFrame {
		return header{}, fmt.Errorf("%w: payload of %d bytes exceeds the bound of %d", ErrBadFrame, h.length, maxFrame)
	}
	return h, nil
}

// readFrame reads one frame from r, checking the header and the expected
// sequence number.
func readFrame(r io.Reader, hdr []byte, wantSeq uint32, maxFrame int) (Tag, []byte, error) {
	if _, err := io.ReadFull(r, hdr[:HeaderSize]); err != nil {
		return 0, nil, err
	}
	h, err := parseHeader(hdr, maxFrame)
	if err != nil {
		return 0, nil, err
	}
	if h.seq != wantSeq {
		return 0, nil, fmt.Errorf("%w: sequence %d, want %d (a frame was lost or repeated)", ErrBadFrame, h.seq, wantSeq)
	}
	p := make([]byte, h.length)
	if _, err := io.ReadFull(r, p); err != nil {
		if errors.Is(err, io.EOF) {
			err = io.ErrUnexpectedEOF
		}
		return 0, nil, fmt.Errorf("payload of %s frame (%d bytes): %w", h.tag, h.length, err)
	}
	return h.tag, p, nil
}

// maxPending bounds the frames a peer may have waiting unreceived.
const maxPending = 4096

type frame struct {
	tag     Tag
	payload []byte
}

// inbox holds the frames that arrived from one peer and not yet received,
// and the error that ended the link, if any.
type inbox struct {
	mu      sync.Mutex
	frames  []frame
	err     error
	changed chan struct{} // closed and replaced whenever frames or err change
}

func newInbox() *inbox { return &inbox{changed: make(chan struct{})} }

func (b *inbox) notifyLocked() {
	close(b.changed)
	b.changed = make(chan struct{})
}

// push queues a frame; it fails the inbox if the peer floods it.
func (b *inbox) push(f frame) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.err != nil {
		return b.err
	}
	if len(b.frames) >= maxPending {
		b.err = fmt.Errorf("%d frames sent and never received", maxPending)
		b.notifyLocked()
		return b.err
	}
	b.frames = append(b.frames, f)
	b.notifyLocked()
	return nil
}

// fail records the error that ended the link (the first one wins).
func (b *inbox) fail(err error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.err == nil {
		b.err = err
		b.notifyLocked()
	}
}

// pop returns the first frame with tag, waiting up to timeout (0: forever)
// or until done is closed.
func (b *inbox) pop(tag Tag, timeout time.Duration, done <-chan struct{}) ([]byte, error) {
	var expire <-chan time.Time
	if timeout > 0 {
		t := time.NewTimer(timeout)
		defer t.Stop()
		expire = t.C
	}
	for {
		b.mu.Lock()
		for i, f := range b.frames {
			if f.tag == tag {
				b.frames = append(b.frames[:i], b.frames[i+1:]...)
				b.mu.Unlock()
				return f.payload, nil
			}
		}
		if b.err != nil {
			err := b.err
			b.mu.Unlock()
			return nil, err
		}
		ch := b.changed
		b.mu.Unlock()
		select {
		case <-ch:
		case <-expire:
			return nil, fmt.Errorf("%w: no frame after %v", ErrTimeout, timeout)
		case <-done:
			return nil, ErrClosed
		}
	}
}

// counters is the Traffic bookkeeping shared by both transports.
type counters struct {
	mu sync.Mutex
	t  Traffic
}

func (c *counters) add(sent bool, tag Tag, n int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.t.SentByTag == nil {
		c.t.SentByTag = map[Tag]Counts{}
		c.t.RecvByTag = map[Tag]Counts{}
	}
	total, byTag := &c.t.Recv, c.t.RecvByTag
	if sent {
		total, byTag = &c.t.Sent, c.t.SentByTag
	}
	total.Bytes += int64(n)
	total.Frames++
	x := byTag[tag]
	x.Bytes += int64(n)
	x.Frames++
	byTag[tag] = x
}

func (c *counters) snapshot() Traffic {
	c.mu.Lock()
	defer c.mu.Unlock()
	t := Traffic{Sent: c.t.Sent, Recv: c.t.Recv, SentByTag: map[Tag]Counts{}, RecvByTag: map[Tag]Counts{}}
	for k, v := range c.t.SentByTag {
		t.SentByTag[k] = v
	}
	for k, v := range c.t.RecvByTag {
		t.RecvByTag[k] = v
	}
	return t
}

// receive is Recv for both transports: the first frame from peer with tag
// out of its inbox, counted as received traffic unless it came from c
// itself.
func receive(c Comm, in []*inbox, cnt *counters, timeout time.Duration, done <-chan struct{}, peer int, tag Tag) ([]byte, error) {
	op := "recv " + tag.String()
	if err := checkPeer(c, peer, op); err != nil {
		return nil, err
	}
	p, err := in[peer].pop(tag, timeout, done)
	if err != nil {
		return nil, &PeerError{Rank: c.Rank(), Peer: peer, Op: op, Err: err}
	}
	if peer != c.Rank() {
		cnt.add(false, tag, HeaderSize+len(p))
	}
	return p, nil
}
