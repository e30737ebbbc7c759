package collective

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"sync"
	"sync/atomic"
	"time"
)

const (
	magic0, magic1 = 'S', 'G'
	frameVersion   = 2
)

// ErrBadFrame is wrapped by every error about a malformed frame header.
var ErrBadFrame = errors.New("bad frame")

// header is a frame header. On the wire (HeaderSize bytes, little endian):
//
//	[0:2] magic "SG"   [2] version   [3] flags (0)
//	[4:8] tag          [8:12] sequence number on this link
//	[12:16] payload length
//	[16:20] job: JobHash of the job id   [20:24] step of the sender
type header struct {
	tag    Tag
	seq    uint32
	length int
	job    uint32
	step   uint32
}

// JobHash is the 32-bit FNV-1a hash of a job id that every frame carries.
func JobHash(id string) uint32 {
	h := uint32(2166136261)
	for i := 0; i < len(id); i++ {
		h ^= uint32(id[i])
		h *= 16777619
	}
	return h
}

func putHeader(b []byte, h header) {
	b[0], b[1], b[2], b[3] = magic0, magic1, frameVersion, 0
	binary.LittleEndian.PutUint32(b[4:], uint32(h.tag))
	binary.LittleEndian.PutUint32(b[8:], h.seq)
	binary.LittleEndian.PutUint32(b[12:], uint32(h.length))
	binary.LittleEndian.PutUint32(b[16:], h.job)
	binary.LittleEndian.PutUint32(b[20:], h.step)
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
		job:    binary.LittleEndian.Uint32(b[16:]),
		step:   binary.LittleEndian.Uint32(b[20:]),
	}
	if h.length > maxFrame {
		return header{}, fmt.Errorf("%w: payload of %d bytes exceeds the bound of %d", ErrBadFrame, h.length, maxFrame)
	}
	return h, nil
}

// readFrame reads one frame from r, checking the header, the job and the
// expected sequence number.
func readFrame(r io.Reader, hdr []byte, job, wantSeq uint32, maxFrame int) (header, []byte, error) {
	if _, err := io.ReadFull(r, hdr[:HeaderSize]); err != nil {
		return header{}, nil, err
	}
	h, err := parseHeader(hdr, maxFrame)
	if err != nil {
		return header{}, nil, err
	}
	if h.job != job {
		return header{}, nil, fmt.Errorf("%w: frame for job %08x, this job is %08x", ErrBadFrame, h.job, job)
	}
	if h.seq != wantSeq {
		return header{}, nil, fmt.Errorf("%w: sequence %d, want %d (a frame was lost or repeated)", ErrBadFrame, h.seq, wantSeq)
	}
	p := getBytes(h.length) // a vote's receiver hands it back (putBytes)
	if _, err := io.ReadFull(r, p); err != nil {
		if errors.Is(err, io.EOF) {
			err = io.ErrUnexpectedEOF
		}
		return header{}, nil, fmt.Errorf("payload of %s frame (%d bytes): %w", h.tag, h.length, err)
	}
	return h, p, nil
}

// maxPending bounds the frames a peer may have waiting unreceived.
const maxPending = 4096

type frame struct {
	tag     Tag
	step    uint32
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

// push queues a frame; it fails the inbox if the peer floods it. An abort
// notice (TagControl) from the peer fails the inbox with its reason.
func (b *inbox) push(peer int, f frame) error {
	if f.tag == TagControl {
		b.fail(abortError(peer, f.payload))
		return nil
	}
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

// pop returns the first frame with tag, waiting until deadline (zero:
// forever) or until done is closed. With dropStale, frames with the tag
// from a step before step are discarded on the way (a vote that missed its
// deadline) and counted in *stale.
func (b *inbox) pop(tag Tag, step uint32, dropStale bool, stale *atomic.Int64, deadline time.Time, done <-chan struct{}) (frame, error) {
	var expire <-chan time.Time
	if !deadline.IsZero() {
		t := time.NewTimer(time.Until(deadline))
		defer t.Stop()
		expire = t.C
	}
	for {
		b.mu.Lock()
		for i := 0; i < len(b.frames); i++ {
			f := b.frames[i]
			if f.tag != tag {
				continue
			}
			b.frames = append(b.frames[:i], b.frames[i+1:]...)
			if dropStale && f.step < step {
				stale.Add(1)
				i--
				continue
			}
			b.mu.Unlock()
			return f, nil
		}
		if b.err != nil {
			err := b.err
			b.mu.Unlock()
			return frame{}, err
		}
		ch := b.changed
		b.mu.Unlock()
		select {
		case <-ch:
		case <-expire:
			return frame{}, fmt.Errorf("%w: no frame by the deadline", ErrTimeout)
		case <-done:
			return frame{}, ErrClosed
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

// core is what both transports share: the inboxes, the traffic counters,
// the current step and the receive side of the Comm interface.
type core struct {
	rank, size int
	in         []*inbox // in[peer]: frames from peer not yet received
	cnt        counters
	timeout    time.Duration
	done       chan struct{}
	step       atomic.Uint32
	dropStale  bool
	stale      atomic.Int64
}

func (c *core) init(rank, size int, timeout time.Duration) {
	c.rank, c.size, c.timeout = rank, size, timeout
	c.in, c.done = make([]*inbox, size), make(chan struct{})
	for i := range c.in {
		c.in[i] = newInbox()
	}
}

func (c *core) Rank() int           { return c.rank }
func (c *core) Size() int           { return c.size }
func (c *core) SetStep(step uint32) { c.step.Store(step) }
func (c *core) Traffic() Traffic    { t := c.cnt.snapshot(); t.StaleFrames = c.stale.Load(); return t }
func (c *core) checkPeer(p int, op string) error {
	if p < 0 || p >= c.size {
		return &PeerError{Rank: c.rank, Peer: p, Op: op, Err: fmt.Errorf("no such rank (size %d)", c.size)}
	}
	return nil
}

func (c *core) Recv(peer int, tag Tag) ([]byte, error) {
	var deadline time.Time
	if c.timeout > 0 {
		deadline = time.Now().Add(c.timeout)
	}
	return c.RecvBy(peer, tag, deadline)
}

// RecvBy is Recv for both transports: the first frame from peer with tag
// out of its inbox, waiting until deadline (zero: forever), counted as
// received traffic unless it came from c itself. The frame must carry the
// receiver's current step: a frame of another step means the ranks lost
// step, and is an error naming both steps.
func (c *core) RecvBy(peer int, tag Tag, deadline time.Time) ([]byte, error) {
	op := "recv " + tag.String()
	if err := c.checkPeer(peer, op); err != nil {
		return nil, err
	}
	step := c.step.Load()
	f, err := c.in[peer].pop(tag, step, c.dropStale, &c.stale, deadline, c.done)
	if err == nil && f.step != step {
		err = fmt.Errorf("%w: frame for step %d, this rank is at step %d", ErrBadFrame, f.step, step)
	}
	if err != nil {
		return nil, &PeerError{Rank: c.rank, Peer: peer, Op: op, Err: err}
	}
	if peer != c.rank {
		c.cnt.add(false, tag, HeaderSize+len(f.payload))
	}
	return f.payload, nil
}
