package collective

import (
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"time"
)

// Where a frame's payload lives on the receive side (see "Buffers" in
// doc.go): a frame is written once, by its filler (the TCP reader of the
// link, or the in-memory sender), either straight into the buffer of a
// receive posted for it (RecvInto, and the collectives' posted receives)
// or, when none waits for it, into a buffer of the byte pool queued in the
// inbox until a Recv takes it. begin picks the buffer; end hands it over.

// maxPending bounds the frames a peer may have waiting unreceived.
const maxPending = 4096

// frame is a frame that arrived and waits in its inbox for a receive.
type frame struct {
	tag     Tag
	step    uint32
	payload []byte // from the byte pool (nil when empty)
}

// reqState is where a posted receive is.
type reqState uint8

const (
	reqIdle    reqState = iota // not posted: new, or finished
	reqPosted                  // in its inbox's posted list, waiting for its frame
	reqFilling                 // its frame's payload is being written into dst
	reqDone                    // dst holds the payload, or the fill failed (err)
)

// recvReq is a receive into a buffer of the caller's: the frame it is
// matched to is written straight into dst, which must have exactly the
// payload's length. A collective keeps its recvReqs and reuses them; while
// a request is posted or filling, dst belongs to the filler.
type recvReq struct {
	peer  int
	tag   Tag
	step  uint32
	dst   []byte
	state reqState
	err   error // of a fill that failed
	// borrow lets finish hand over a frame that was queued before the
	// receive met it as it is, its byte-pool buffer in got, instead of
	// copying it into dst (lent then says so, and the caller hands the
	// buffer back with putBytes once read): a stream that runs ahead of
	// its posted window then costs no second copy.
	borrow bool
	// got is the payload once finished: dst (dst[:n] with max), or the
	// buffer lent.
	got  []byte
	lent bool
	// max, when above len(dst), makes the receive take a frame of any
	// length up to max (a vote's payload varies): one that fits dst is
	// written into dst[:n], a longer one is queued and, with borrow, lent.
	max int
}

// giveBack hands the buffer lent to a finished receive back to the byte
// pool, if one was lent.
func (r *recvReq) giveBack() {
	if r.lent {
		putBytes(r.got)
		r.got, r.lent = nil, false
	}
}

// fits says whether a payload of n bytes may be written into r.dst.
func (r *recvReq) fits(n int) bool { return n == len(r.dst) || n < len(r.dst) && r.max > 0 }

// waiter is a goroutine waiting for its inbox to change: a notification
// channel and a timer of its own, both reused (an inbox keeps spare ones),
// so that waiting allocates nothing.
type waiter struct {
	ch    chan struct{}
	timer *time.Timer
}

// inbox holds what arrived from one peer: the frames not yet received, the
// receives posted for frames still to come, and the error that ended the
// link, if any.
type inbox struct {
	mu     sync.Mutex
	frames []frame
	// posted are the receives waiting for frames still to come, in the
	// order they were posted; a frame fills the one it pairs with
	// (matchLocked), so receives of one tag meet frames in order.
	posted    []*recvReq
	dropStale bool // receives skip frames of a past step (TCPOptions.DropStale)
	err       error
	waiters   []*waiter
	spare     []*waiter
	spareReqs []*recvReq
}

func newInbox() *inbox { return &inbox{} }

// notifyLocked wakes every waiter; they re-register if they wait again.
func (b *inbox) notifyLocked() {
	for _, w := range b.waiters {
		select {
		case w.ch <- struct{}{}:
		default:
		}
	}
	clear(b.waiters)
	b.waiters = b.waiters[:0]
}

// waitLocked waits, with b.mu held on entry and on return, for the next
// change to the inbox, until deadline (zero: none) or until done is closed
// (nil: never).
func (b *inbox) waitLocked(deadline time.Time, done <-chan struct{}) error {
	var w *waiter
	if n := len(b.spare); n > 0 {
		w, b.spare = b.spare[n-1], b.spare[:n-1]
	} else {
		w = &waiter{ch: make(chan struct{}, 1), timer: time.NewTimer(time.Hour)}
		w.timer.Stop()
	}
	b.waiters = append(b.waiters, w)
	b.mu.Unlock()
	var expire <-chan time.Time
	if !deadline.IsZero() {
		w.timer.Reset(time.Until(deadline))
		expire = w.timer.C
	}
	var err error
	select {
	case <-w.ch:
	case <-expire:
		err = fmt.Errorf("%w: no frame by the deadline", ErrTimeout)
	case <-done:
		err = ErrClosed
	}
	if expire != nil {
		w.timer.Stop()
	}
	b.mu.Lock()
	if i := slices.Index(b.waiters, w); i >= 0 {
		b.waiters = slices.Delete(b.waiters, i, i+1)
	}
	select {
	case <-w.ch:
	default:
	}
	b.spare = append(b.spare, w)
	return err
}

// matchLocked returns the index in b.posted of the receive the next frame
// of tag belongs to, or -1 if it is not posted yet. Frames and receives of
// a tag pair up in order: the q frames of tag already queued belong to the
// first q receives posted for it, so the next one belongs to the (q+1)-th.
// Queued frames that those receives will skip as stale (DropStale, a step
// before theirs) do not count.
func (b *inbox) matchLocked(tag Tag) int {
	q, first := 0, -1
	for i, r := range b.posted {
		if r.tag != tag {
			continue
		}
		if first < 0 {
			first = i
			for j := range b.frames {
				if f := &b.frames[j]; f.tag == tag && !(b.dropStale && f.step < r.step) {
					q++
				}
			}
		}
		if q == 0 {
			return i
		}
		q--
	}
	return -1
}

// begin is a filler's first half, once it has a frame's header: it returns
// where to write the n payload bytes, the dst of the receive posted for
// this frame (matchLocked) if it waits for exactly this frame (same step
// and length), else a buffer from the byte pool for the queue. It fails once the link has failed, or when the peer
// has flooded the inbox.
func (b *inbox) begin(tag Tag, step uint32, n int) ([]byte, *recvReq, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.err != nil {
		return nil, nil, b.err
	}
	if tag != TagControl {
		if i := b.matchLocked(tag); i >= 0 {
			if r := b.posted[i]; r.step == step && r.fits(n) {
				b.posted = slices.Delete(b.posted, i, i+1)
				r.state = reqFilling
				r.got, r.lent = r.dst[:n], false
				return r.got, r, nil
			}
		}
	}
	if len(b.frames) >= maxPending {
		b.err = fmt.Errorf("%d frames sent and never received", maxPending)
		b.notifyLocked()
		return nil, nil, b.err
	}
	if n == 0 {
		return nil, nil, nil
	}
	return getBytes(n), nil, nil
}

// end is a filler's second half: the payload p of the frame begun is
// written (or failed with err, which then also fails the link). A frame
// for no posted receive joins the queue; an abort notice (TagControl)
// fails the link with its reason instead.
func (b *inbox) end(peer int, tag Tag, step uint32, p []byte, r *recvReq, err error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	switch {
	case r != nil:
		r.state, r.err = reqDone, err
	case err != nil:
		putBytes(p)
	case tag == TagControl:
		if b.err == nil {
			b.err = abortError(peer, p)
		}
	default:
		b.frames = append(b.frames, frame{tag: tag, step: step, payload: p})
	}
	if err != nil && b.err == nil {
		b.err = err
	}
	b.notifyLocked()
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

// takeLocked removes and returns the first queued frame of tag; with
// dropStale, frames of tag from a step before step are discarded on the
// way (a vote that missed its deadline) and counted in *stale.
func (b *inbox) takeLocked(tag Tag, step uint32, dropStale bool, stale *atomic.Int64) (frame, bool) {
	for i := 0; i < len(b.frames); i++ {
		f := b.frames[i]
		if f.tag != tag {
			continue
		}
		b.frames = slices.Delete(b.frames, i, i+1)
		if dropStale && f.step < step {
			stale.Add(1)
			putBytes(f.payload)
			i--
			continue
		}
		return f, true
	}
	return frame{}, false
}

// dropStaleLocked discards the queued frames of tag from a step before
// step, counting them in *stale.
func (b *inbox) dropStaleLocked(tag Tag, step uint32, stale *atomic.Int64) {
	b.frames = slices.DeleteFunc(b.frames, func(f frame) bool {
		if f.tag == tag && f.step < step {
			stale.Add(1)
			putBytes(f.payload)
			return true
		}
		return false
	})
}

// unpostLocked takes r out of the posted list if it is there.
func (b *inbox) unpostLocked(r *recvReq) {
	if r.state != reqPosted {
		return
	}
	if i := slices.Index(b.posted, r); i >= 0 {
		b.posted = slices.Delete(b.posted, i, i+1)
	}
	r.state = reqIdle
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
// the current step, the receive side of the Comm interface, the send
// queues (outbox.go) and the collectives' scratch.
type core struct {
	rank, size int
	in         sparse[inbox] // in(peer): frames from peer not yet received
	// newIn, if set, sees every inbox as it is made (the in-memory world
	// fails an inbox from a rank already closed).
	newIn     func(peer int, b *inbox)
	cnt       counters
	timeout   time.Duration
	done      chan struct{}
	step      atomic.Uint32
	dropStale bool
	stale     atomic.Int64
	// send is the transport's Send, for the send queues; sendv, if set,
	// sends a payload in parts without joining them (see sendParts).
	send  func(peer int, tag Tag, payload []byte) error
	sendv func(peer int, tag Tag, p parts) error
	// stall fails the link to peer when a receive timed out while the
	// frame it waits for was half written (TCP: closes the connection, so
	// the reader's read ends); nil where a fill cannot stall.
	stall func(peer int)

	outMu sync.Mutex
	out   sparse[outbox] // by peer, made on first use
	sc    scratch
	tl    *Timeline // the votes' milestones, if set (SetTimeline)
}

func (c *core) init(rank, size int, timeout time.Duration) {
	c.rank, c.size, c.timeout = rank, size, timeout
	c.in, c.done = newSparse[inbox](size), make(chan struct{})
}

// inbox returns the inbox of frames from peer, made on first use.
func (c *core) inbox(peer int) *inbox {
	if b := c.in.peek(peer); b != nil {
		return b
	}
	b := c.in.get(peer, func() *inbox {
		b := newInbox()
		b.dropStale = c.dropStale
		return b
	})
	if c.newIn != nil {
		c.newIn(peer, b) // once it is stored, where a Close looks
	}
	return b
}

// setDropStale makes receives skip frames of a past step (see
// TCPOptions.DropStale).
func (c *core) setDropStale(v bool) {
	c.dropStale = v
	c.in.each(func(_ int, b *inbox) {
		b.mu.Lock()
		b.dropStale = v
		b.mu.Unlock()
	})
}

func (c *core) Rank() int           { return c.rank }
func (c *core) Size() int           { return c.size }
func (c *core) SetStep(step uint32) { c.step.Store(step) }
func (c *core) Traffic() Traffic    { t := c.cnt.snapshot(); t.StaleFrames = c.stale.Load(); return t }
func (c *core) base() *core         { return c }

// checkPeer fails for a rank that does not exist; the operation's name is
// only built on that error path (dir "send" or "recv").
func (c *core) checkPeer(p int, dir string, tag Tag) error {
	if p < 0 || p >= c.size {
		return &PeerError{Rank: c.rank, Peer: p, Op: dir + " " + tag.String(), Err: fmt.Errorf("no such rank (size %d)", c.size)}
	}
	return nil
}

// deadline is when a receive started now times out (zero: never).
func (c *core) deadline() time.Time {
	if c.timeout > 0 {
		return time.Now().Add(c.timeout)
	}
	return time.Time{}
}

func (c *core) Recv(peer int, tag Tag) ([]byte, error) {
	return c.RecvBy(peer, tag, c.deadline())
}

// RecvBy is Recv for both transports: the first frame from peer with tag
// out of its inbox, waiting until deadline (zero: forever), counted as
// received traffic unless it came from c itself. The frame must carry the
// receiver's current step: a frame of another step means the ranks lost
// step, and is an error naming both steps. The payload comes from the byte
// pool; collectives of this package hand it back (putBytes) once read.
func (c *core) RecvBy(peer int, tag Tag, deadline time.Time) ([]byte, error) {
	if err := c.checkPeer(peer, "recv", tag); err != nil {
		return nil, err
	}
	step := c.step.Load()
	b := c.inbox(peer)
	b.mu.Lock()
	var f frame
	var err error
	for {
		var ok bool
		if f, ok = b.takeLocked(tag, step, c.dropStale, &c.stale); ok {
			break
		}
		if b.err != nil {
			err = b.err
			break
		}
		if err = b.waitLocked(deadline, c.done); err != nil {
			break
		}
	}
	b.mu.Unlock()
	if err == nil && f.step != step {
		putBytes(f.payload)
		err = fmt.Errorf("%w: frame for step %d, this rank is at step %d", ErrBadFrame, f.step, step)
	}
	if err != nil {
		return nil, &PeerError{Rank: c.rank, Peer: peer, Op: "recv " + tag.String(), Err: err}
	}
	if peer != c.rank {
		c.cnt.add(false, tag, HeaderSize+len(f.payload))
	}
	return f.payload, nil
}

// RecvInto receives the first frame from peer with tag into dst, whose
// length must be the payload's (else ErrBadFrame), waiting up to the
// Comm's timeout. When the receive is waiting before the frame arrives,
// the payload is written straight into dst; otherwise it is copied there
// from the queue.
func (c *core) RecvInto(peer int, tag Tag, dst []byte) error {
	return c.RecvIntoBy(peer, tag, dst, c.deadline())
}

// RecvIntoBy is RecvInto waiting until deadline instead (zero: forever).
func (c *core) RecvIntoBy(peer int, tag Tag, dst []byte, deadline time.Time) error {
	if err := c.checkPeer(peer, "recv", tag); err != nil {
		return err
	}
	b := c.inbox(peer)
	b.mu.Lock()
	var r *recvReq
	if n := len(b.spareReqs); n > 0 {
		r, b.spareReqs = b.spareReqs[n-1], b.spareReqs[:n-1]
	} else {
		r = new(recvReq)
	}
	b.mu.Unlock()
	*r = recvReq{peer: peer, tag: tag, step: c.step.Load(), dst: dst}
	err := c.finish(r, deadline)
	r.dst = nil
	b.mu.Lock()
	b.spareReqs = append(b.spareReqs, r)
	b.mu.Unlock()
	return err
}

// post starts the receive r (peer, tag and dst set; its step is taken
// now). Receives of one tag from one peer are matched to frames in the
// order they are posted, and must be finished in that order; a frame that
// arrived before its receive was posted waits in the queue, and finish
// copies it.
func (c *core) post(r *recvReq) {
	r.step, r.state, r.err = c.step.Load(), reqIdle, nil
	b := c.inbox(r.peer)
	b.mu.Lock()
	b.posted = append(b.posted, r)
	r.state = reqPosted
	b.mu.Unlock()
}

// finish completes the receive r (posted or not), waiting until deadline:
// on return r is idle and dst is the caller's again, whatever happened.
func (c *core) finish(r *recvReq, deadline time.Time) error {
	b := c.inbox(r.peer)
	done := c.done
	var timedOut error // the deadline passed while the frame was being written
	b.mu.Lock()
	if r.state == reqIdle { // never posted: the receive starts now
		r.step, r.err = c.step.Load(), nil
	}
	var f frame
	var err error
	fromQueue := false
	for {
		if r.state == reqDone {
			r.state, err = reqIdle, r.err
			if err != nil && timedOut != nil {
				err = timedOut
			}
			if c.dropStale { // stale frames of this tag that the fill went past
				b.dropStaleLocked(r.tag, r.step, &c.stale)
			}
			break
		}
		if r.state != reqFilling {
			// A queued frame of this tag is older than any fill to come.
			var ok bool
			if f, ok = b.takeLocked(r.tag, r.step, c.dropStale, &c.stale); ok {
				b.unpostLocked(r)
				fromQueue = true
				break
			}
			if b.err != nil {
				b.unpostLocked(r)
				err = b.err
				break
			}
			if r.state == reqIdle {
				b.posted = append(b.posted, r)
				r.state = reqPosted
			}
		}
		if werr := b.waitLocked(deadline, done); werr != nil {
			if r.state != reqFilling {
				b.unpostLocked(r)
				err = werr
				break
			}
			// The frame is half written into dst: it may not be left
			// behind. Fail the link so the fill ends, and wait for it; if
			// it completes after all, the receive succeeds.
			if c.stall != nil && timedOut == nil {
				b.mu.Unlock()
				c.stall(r.peer)
				b.mu.Lock()
			}
			timedOut, deadline, done = werr, time.Time{}, nil
		}
	}
	b.mu.Unlock()
	if fromQueue {
		switch {
		case f.step != r.step:
			err = fmt.Errorf("%w: frame for step %d, this rank is at step %d", ErrBadFrame, f.step, r.step)
		case r.max == 0 && len(f.payload) != len(r.dst):
			err = fmt.Errorf("%w: frame of %d bytes, want %d", ErrBadFrame, len(f.payload), len(r.dst))
		case len(f.payload) > max(r.max, len(r.dst)) || len(f.payload) > len(r.dst) && !r.borrow:
			err = fmt.Errorf("%w: frame of %d bytes, want at most %d", ErrBadFrame, len(f.payload), max(r.max, len(r.dst)))
		case r.borrow && len(f.payload) > 0:
			r.got, r.lent = f.payload, true
			f.payload = nil
		default:
			r.got, r.lent = r.dst[:copy(r.dst, f.payload)], false
		}
		putBytes(f.payload)
	}
	if err != nil {
		return &PeerError{Rank: c.rank, Peer: r.peer, Op: "recv " + r.tag.String(), Err: err}
	}
	if r.peer != c.rank {
		c.cnt.add(false, r.tag, HeaderSize+len(r.got))
	}
	return nil
}

// cancel withdraws the receive r if it has not been matched, or waits for
// its fill to end; on return dst is the caller's again. A filled frame is
// lost (the collective failed anyway).
func (c *core) cancel(r *recvReq) {
	b := c.inbox(r.peer)
	b.mu.Lock()
	defer b.mu.Unlock()
	b.unpostLocked(r)
	for r.state == reqFilling {
		b.waitLocked(time.Time{}, nil)
	}
	r.state = reqIdle
}

// parts is a frame's payload in pieces, sent one after another (empty
// ones are skipped): a vote's wire header, then planes that are the
// vote's own words (see encodeVoteParts).
type parts [3][]byte

// len is the payload's length.
func (p *parts) len() int { return len(p[0]) + len(p[1]) + len(p[2]) }

// appendTo appends the payload to b.
func (p *parts) appendTo(b []byte) []byte {
	return append(append(append(b, p[0]...), p[1]...), p[2]...)
}

// sendParts sends one frame of payload p to peer: without joining its
// parts where the transport can (TCP in the clear), else joined in a
// pooled buffer.
func (c *core) sendParts(peer int, tag Tag, p parts) error {
	if p.len() == len(p[0]) {
		return c.send(peer, tag, p[0])
	}
	if c.sendv != nil {
		return c.sendv(peer, tag, p)
	}
	b := p.appendTo(getBytes(p.len())[:0])
	err := c.send(peer, tag, b)
	putBytes(b)
	return err
}

// deliver writes one frame from peer (whose Send holds its link's send
// lock, so fills of one inbox never overlap) into c's inbox: the
// in-memory transport's Send, and a TCP rank's send to itself.
func (c *core) deliver(peer int, tag Tag, step uint32, payload []byte) error {
	b := c.inbox(peer)
	dst, r, err := b.begin(tag, step, len(payload))
	if err != nil {
		return err
	}
	copy(dst, payload)
	b.end(peer, tag, step, dst, r, nil)
	return nil
}
