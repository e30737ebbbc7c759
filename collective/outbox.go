package collective

import (
	"runtime"
	"sync"
	"sync/atomic"
	"time"
)

// outbox sends frames to one peer, in order, from a goroutine of its own,
// so that a collective goes on (receives, sums, counts) while its frames
// drain, and a peer slow to read holds up only its own queue. One per peer
// and Comm, made on first use; its goroutine ends after outboxIdle without
// work (and at Close) and starts again with the next frame, so an outbox
// costs nothing between steps and allocates nothing per frame.
//
// A payload pushed is the caller's memory: it must not change until the
// push is collected (next or wait), which says the send returned.
type outbox struct {
	c    *core
	peer int
	jobs chan outJob
	done chan error // one result per job, in order
	// running (under c.outMu) says whether the goroutine serves jobs.
	running bool
	// The caller's side: jobs pushed and not yet collected, and the first
	// error collected since the last wait.
	queued int
	err    error
}

// outJob is one frame to send; release, if set, is called once it is sent.
type outJob struct {
	tag     Tag
	payload parts
	release *fanFrame
}

// outboxDepth bounds the frames queued to one peer: a push waits for the
// oldest one to be sent beyond that.
const outboxDepth = 256

// outboxIdle is how long an outbox's goroutine waits for work before it
// ends.
const outboxIdle = 2 * time.Second

// outboxTo returns c's outbox to peer.
func (c *core) outboxTo(peer int) *outbox {
	c.outMu.Lock()
	defer c.outMu.Unlock()
	if c.out.chunks == nil {
		c.out = newSparse[outbox](c.size)
	}
	if o := c.out.peek(peer); o != nil {
		return o
	}
	return c.out.get(peer, func() *outbox {
		return &outbox{c: c, peer: peer, jobs: make(chan outJob, outboxDepth), done: make(chan error, outboxDepth)}
	})
}

// serve sends the queued jobs until the outbox has been idle for
// outboxIdle, or the Comm closes.
func (o *outbox) serve() {
	idle := time.NewTimer(outboxIdle)
	defer idle.Stop()
	for {
		select {
		case j := <-o.jobs:
			err := o.c.sendParts(o.peer, j.tag, j.payload)
			if j.release != nil {
				j.release.release()
			}
			o.done <- err
			idle.Reset(outboxIdle)
		case <-idle.C:
			o.c.outMu.Lock()
			if len(o.jobs) == 0 {
				o.running = false
				o.c.outMu.Unlock()
				return
			}
			o.c.outMu.Unlock()
			idle.Reset(outboxIdle)
		case <-o.c.done:
			o.c.outMu.Lock()
			o.running = false
			o.c.outMu.Unlock()
			return
		}
	}
}

// push queues payload under tag; release, if not nil, is released once
// the frame is sent (or dropped). It returns an error only when it had to
// collect an earlier send to make room and that one had failed, or the
// Comm is closed.
func (o *outbox) push(tag Tag, payload []byte, release *fanFrame) error {
	return o.pushParts(tag, parts{payload}, release)
}

// pushParts is push of a payload in parts (see sendParts).
func (o *outbox) pushParts(tag Tag, payload parts, release *fanFrame) error {
	var err error
	if o.queued == outboxDepth {
		err = o.next()
	}
	o.c.outMu.Lock()
	if !o.running {
		select {
		case <-o.c.done:
			o.c.outMu.Unlock()
			if release != nil {
				release.release()
			}
			return ErrClosed
		default:
		}
		o.running = true
		go o.serve()
	}
	// Under the lock, so the goroutine cannot end between the check above
	// and this job; there is room (at most outboxDepth are uncollected).
	o.jobs <- outJob{tag: tag, payload: payload, release: release}
	o.c.outMu.Unlock()
	o.queued++
	return err
}

// next collects the oldest send not yet collected and returns its error
// (nil if none is queued).
func (o *outbox) next() error {
	if o.queued == 0 {
		return nil
	}
	var err error
	select {
	case err = <-o.done:
	case <-o.c.done:
		err = ErrClosed
	}
	o.queued--
	if err != nil && o.err == nil {
		o.err = err
	}
	return err
}

// wait collects every send queued and returns the first error since the
// last wait.
func (o *outbox) wait() error {
	for o.queued > 0 {
		o.next()
	}
	err := o.err
	o.err = nil
	return err
}

// fanout sends payloads to some peers through their outboxes, so that its
// caller goes on (receives, counts, encodes the next payload) while the
// peers drain the earlier ones, and a peer slow to read does not hold up the
// others. A payload comes from the byte pool and goes back to it once every
// peer it was queued to has sent it (fanFrame counts them).
type fanout struct {
	comm   Comm
	c      *core // nil for a Comm of another package: sends wait in send
	peers  []int
	closed []bool
	errs   []error // by peer index: the first send error
}

// fanFrame is a pooled payload shared by the outboxes of a fanout and its
// caller: refs counts the holders, and the last release hands the payload
// back to the byte pool. The payload sent is p: b itself, or parts of
// which b (pooled) holds some and the others are memory that stays put
// until the fanout's wait (a vote's result words).
type fanFrame struct {
	b    []byte
	p    parts
	refs atomic.Int32
}

var fanFrames sync.Pool

// share wraps b (from the byte pool) with one reference, the caller's.
func share(b []byte) *fanFrame {
	fr, _ := fanFrames.Get().(*fanFrame)
	if fr == nil {
		fr = new(fanFrame)
	}
	fr.b, fr.p = b, parts{b}
	fr.refs.Store(1)
	return fr
}

// shareParts is share of a payload in parts, b being the pooled buffer
// handed back once all are sent.
func shareParts(p parts, b []byte) *fanFrame {
	fr := share(b)
	fr.p = p
	return fr
}

func (f *fanFrame) release() {
	if f.refs.Add(-1) == 0 {
		putBytes(f.b)
		f.b, f.p = nil, parts{}
		fanFrames.Put(f)
	}
}

// start readies f to send to peers (f's slices are reused; peers must not
// change until wait returns).
func (f *fanout) start(c Comm, peers []int) {
	f.comm, f.c, f.peers = c, coreOf(c), peers
	f.closed = resize(f.closed, len(peers))
	f.errs = resize(f.errs, len(peers))
	clear(f.closed)
	clear(f.errs)
}

// send queues b (from the byte pool) under tag to every peer not stopped;
// b goes back to the pool once sent to all of them.
func (f *fanout) send(tag Tag, b []byte) {
	fr := share(b)
	f.sendFrame(tag, fr)
	fr.release()
}

// sendFrame queues fr's payload under tag to every peer not stopped, each
// holding a reference until its send returns; the caller keeps its own.
func (f *fanout) sendFrame(tag Tag, fr *fanFrame) {
	for i := range f.peers {
		f.sendTo(i, tag, fr)
	}
}

// sendTo queues fr's payload under tag to peers[i] (unless stopped).
func (f *fanout) sendTo(i int, tag Tag, fr *fanFrame) {
	if f.closed[i] {
		return
	}
	if f.c == nil {
		b := fr.p[0]
		if len(b) != fr.p.len() { // in parts: joined for a Comm of another package
			b = fr.p.appendTo(getBytes(fr.p.len())[:0])
			defer putBytes(b)
		}
		if err := f.comm.Send(f.peers[i], tag, b); err != nil && f.errs[i] == nil {
			f.errs[i] = err
		}
		return
	}
	fr.refs.Add(1)
	if err := f.c.outboxTo(f.peers[i]).pushParts(tag, fr.p, fr); err != nil && f.errs[i] == nil {
		f.errs[i] = err
	}
}

// stop queues nothing more to peer p; what is queued is still sent.
func (f *fanout) stop(p int) {
	for i, q := range f.peers {
		if q == p {
			f.closed[i] = true
		}
	}
}

// wait returns, once everything queued is sent (or failed), each peer's
// first send error, by index in peers.
func (f *fanout) wait() []error {
	if f.c == nil {
		return f.errs
	}
	for i, p := range f.peers {
		if err := f.c.outboxTo(p).wait(); err != nil && f.errs[i] == nil {
			f.errs[i] = err
		}
	}
	return f.errs
}

// yield lets the outboxes' goroutines (and the links' readers) run now.
// A collective that has just queued frames and goes on computing would
// otherwise hold its processor until it blocks: with one processor per
// rank (GOMAXPROCS = 1, ranks sharing cores), a vote's first results then
// left rank 0 only once it had counted every chunk, milliseconds later.
// The queued sends start at once instead; where there are more processors
// it costs a scheduler call.
func yield() { runtime.Gosched() }

// resize returns s with length n, reusing its memory when it is large
// enough (contents undefined).
func resize[T any](s []T, n int) []T {
	if cap(s) < n {
		return make([]T, n)
	}
	return s[:n]
}
