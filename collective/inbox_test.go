package collective

import (
	"errors"
	"strings"
	"testing"
	"time"
)

// frameBytes is a frame payload of n bytes that names frame i.
func frameBytes(i, n int) []byte {
	b := make([]byte, n)
	for j := range b {
		b[j] = byte(i*7 + j)
	}
	return b
}

// waitFilled waits until the posted receive r has been filled in place
// (the fill happens on the sender's or the reader's goroutine, without the
// receiver; a frame queued instead never fills it).
func waitFilled(t *testing.T, co *core, r *recvReq) {
	t.Helper()
	b := co.inbox(r.peer)
	for start := time.Now(); time.Since(start) < 10*time.Second; time.Sleep(time.Millisecond) {
		b.mu.Lock()
		done := r.state == reqDone
		b.mu.Unlock()
		if done {
			return
		}
	}
	t.Fatal("the posted receive was never filled")
}

// waitQueued waits until n frames from peer are queued in co's inbox (over
// TCP a sent frame reaches the inbox when the reader has read it).
func waitQueued(t *testing.T, co *core, peer, n int) {
	t.Helper()
	b := co.inbox(peer)
	for start := time.Now(); time.Since(start) < 10*time.Second; time.Sleep(time.Millisecond) {
		b.mu.Lock()
		queued := len(b.frames)
		b.mu.Unlock()
		if queued >= n {
			return
		}
	}
	t.Fatalf("%d frames from rank %d never queued", n, peer)
}

// TestPostedReceives: receives posted before their frames are filled in
// place, by the sender's or reader's goroutine, in the order posted; a
// frame that came before its receive is copied from the queue; other tags
// and pooled receives go around them.
func TestPostedReceives(t *testing.T) {
	for _, tr := range transports {
		t.Run(tr.name, func(t *testing.T) {
			comms := tr.make(t, 2)
			co := comms[1].(engine).base()
			send := func(tag Tag, i, n int) {
				if err := comms[0].Send(1, tag, frameBytes(i, n)); err != nil {
					t.Fatal(err)
				}
			}
			// One frame early, then two receives posted, then the rest.
			send(TagMean, 0, 5)
			var rs [3]recvReq
			for i := range rs {
				rs[i] = recvReq{peer: 0, tag: TagMean, dst: make([]byte, 5)}
			}
			co.post(&rs[0])
			co.post(&rs[1])
			send(TagGather, 9, 3)
			send(TagMean, 1, 5)
			co.post(&rs[2])
			send(TagMean, 2, 5)
			// Frame 0 waits in the queue for rs[0]; frames 1 and 2 pair
			// with rs[1] and rs[2], and go straight into them.
			waitFilled(t, co, &rs[2])
			if rs[1].state != reqDone {
				t.Fatal("frame 1 did not fill rs[1] in place")
			}
			for i := range rs {
				if err := co.finish(&rs[i], co.deadline()); err != nil {
					t.Fatal(err)
				}
				if string(rs[i].dst) != string(frameBytes(i, 5)) {
					t.Fatalf("receive %d got %v, want frame %d", i, rs[i].dst, i)
				}
			}
			if p, err := comms[1].Recv(0, TagGather); err != nil || string(p) != string(frameBytes(9, 3)) {
				t.Fatalf("the other tag: %v, %v", p, err)
			}
			// Posted first: filled in place before finish is called.
			rs[0] = recvReq{peer: 0, tag: TagMean, dst: make([]byte, 4)}
			co.post(&rs[0])
			send(TagMean, 3, 4)
			waitFilled(t, co, &rs[0])
			if err := co.finish(&rs[0], co.deadline()); err != nil || string(rs[0].dst) != string(frameBytes(3, 4)) {
				t.Fatalf("in place: %v, %v", rs[0].dst, err)
			}
			// RecvInto, and the bytes it counts.
			before := comms[1].Traffic()
			go comms[0].Send(1, TagMean, frameBytes(4, 6))
			dst := make([]byte, 6)
			if err := comms[1].RecvInto(0, TagMean, dst); err != nil || string(dst) != string(frameBytes(4, 6)) {
				t.Fatalf("RecvInto: %v, %v", dst, err)
			}
			if got := comms[1].Traffic().Recv.Bytes - before.Recv.Bytes; got != HeaderSize+6 {
				t.Fatalf("RecvInto counted %d bytes", got)
			}
		})
	}
}

// TestPostedReceivesLendAndVary: a receive with borrow takes a frame that
// was queued before it was posted as it is (lent, no copy), and one with
// max takes a frame of any length up to max, in place when it fits dst;
// the bytes counted are the frame's; a frame longer than max is an error
// naming the peer.
func TestPostedReceivesLendAndVary(t *testing.T) {
	for _, tr := range transports {
		t.Run(tr.name, func(t *testing.T) {
			comms := tr.make(t, 2)
			co := comms[1].(engine).base()
			send := func(i, n int) {
				if err := comms[0].Send(1, TagVote, frameBytes(i, n)); err != nil {
					t.Fatal(err)
				}
			}
			// Queued first, then met by a borrowing receive: lent, of
			// its own length (up to max).
			send(0, 9)
			send(1, 5)
			waitQueued(t, co, 0, 2)
			var rs [4]recvReq
			for i := range rs {
				rs[i] = recvReq{peer: 0, tag: TagVote, dst: make([]byte, 7), max: 12, borrow: true}
			}
			before := comms[1].Traffic()
			for i := range 2 {
				co.post(&rs[i])
				if err := co.finish(&rs[i], co.deadline()); err != nil {
					t.Fatal(err)
				}
				if !rs[i].lent || string(rs[i].got) != string(frameBytes(i, []int{9, 5}[i])) {
					t.Fatalf("queued frame %d: lent %v, got %v", i, rs[i].lent, rs[i].got)
				}
				putBytes(rs[i].got)
			}
			// Posted first: a shorter frame lands in dst[:n]; a longer one
			// (up to max) is queued and lent.
			co.post(&rs[2])
			co.post(&rs[3])
			send(2, 6)
			send(3, 11)
			for i := 2; i < 4; i++ {
				if err := co.finish(&rs[i], co.deadline()); err != nil {
					t.Fatal(err)
				}
				n := []int{6, 11}[i-2]
				if string(rs[i].got) != string(frameBytes(i, n)) || rs[i].lent != (n > 7) {
					t.Fatalf("frame %d: lent %v, got %v", i, rs[i].lent, rs[i].got)
				}
				if !rs[i].lent && &rs[i].got[0] != &rs[i].dst[0] {
					t.Fatalf("frame %d was not written in place", i)
				}
				if rs[i].lent {
					putBytes(rs[i].got)
				}
			}
			if got := comms[1].Traffic().Recv.Bytes - before.Recv.Bytes; got != 4*HeaderSize+9+5+6+11 {
				t.Fatalf("counted %d bytes", got)
			}
			// Longer than max: an error naming the peer.
			send(4, 13)
			r := recvReq{peer: 0, tag: TagVote, dst: make([]byte, 7), max: 12, borrow: true}
			err := co.finish(&r, co.deadline())
			if !errors.Is(err, ErrBadFrame) || !strings.Contains(err.Error(), "at most 12") {
				t.Fatalf("a frame past max: %v", err)
			}
			// Without borrow or max, a queued frame is still copied.
			send(5, 7)
			r = recvReq{peer: 0, tag: TagVote, dst: make([]byte, 7)}
			if err := co.finish(&r, co.deadline()); err != nil || r.lent || string(r.dst) != string(frameBytes(5, 7)) {
				t.Fatalf("copied: %v %v %v", r.lent, r.dst, err)
			}
		})
	}
}

// TestRecvIntoRefuses: a frame of another length or another step is an
// error naming the peer, and it is consumed; with DropStale a frame of a
// past step is skipped, posted or queued.
func TestRecvIntoRefuses(t *testing.T) {
	comms := tcpWorld(t, 2)
	comms[0].Send(1, TagVote, []byte("abc"))
	err := comms[1].RecvInto(0, TagVote, make([]byte, 4))
	if !errors.Is(err, ErrBadFrame) || !strings.Contains(err.Error(), "rank 1: recv vote from rank 0: bad frame: frame of 3 bytes, want 4") {
		t.Fatalf("wrong length: %v", err)
	}
	comms[0].SetStep(3)
	comms[0].Send(1, TagVote, []byte("abcd"))
	err = comms[1].RecvInto(0, TagVote, make([]byte, 4))
	if !errors.Is(err, ErrBadFrame) || !strings.Contains(err.Error(), "frame for step 3, this rank is at step 0") {
		t.Fatalf("wrong step: %v", err)
	}

	comms = tcpWorldOpts(t, 2, TCPOptions{DropStale: true})
	comms[1].SetStep(5)
	co := comms[1].(engine).base()
	for _, posted := range []bool{false, true} {
		r := recvReq{peer: 0, tag: TagVote, dst: make([]byte, 4)}
		if posted {
			co.post(&r)
		}
		comms[0].SetStep(4)
		comms[0].Send(1, TagVote, []byte("late"))
		comms[0].SetStep(5)
		comms[0].Send(1, TagVote, []byte("good"))
		if !posted {
			time.Sleep(20 * time.Millisecond) // both queued
		}
		if err := co.finish(&r, co.deadline()); err != nil || string(r.dst) != "good" {
			t.Fatalf("posted %v: %q, %v", posted, r.dst, err)
		}
	}
	if n := comms[1].Traffic().StaleFrames; n != 2 {
		t.Fatalf("%d stale frames, want 2", n)
	}
}

// TestRecvIntoTimeout: a receive that times out is withdrawn, its buffer
// untouched, and the frame that comes later goes to the next receive.
func TestRecvIntoTimeout(t *testing.T) {
	for _, tr := range transports {
		var comms []Comm
		if tr.name == "tcp" {
			comms = tcpWorldOpts(t, 2, TCPOptions{Timeout: 50 * time.Millisecond})
		} else {
			comms = NewMemWorld(2, 50*time.Millisecond)
		}
		dst := []byte("xxxx")
		if err := comms[1].RecvInto(0, TagBarrier, dst); !errors.Is(err, ErrTimeout) {
			t.Fatalf("%s: %v", tr.name, err)
		}
		comms[0].Send(1, TagBarrier, []byte("late"))
		time.Sleep(20 * time.Millisecond)
		if string(dst) != "xxxx" {
			t.Fatalf("%s: a withdrawn receive's buffer was written: %q", tr.name, dst)
		}
		if err := comms[1].RecvInto(0, TagBarrier, dst); err != nil || string(dst) != "late" {
			t.Fatalf("%s: next receive: %q, %v", tr.name, dst, err)
		}
	}
}

// TestRecvIntoStalledFrame: a peer that stops halfway through a frame
// being written into a posted buffer cannot keep the receive past its
// deadline: the link is failed (closed), and the buffer is the caller's
// again when RecvInto returns.
func TestRecvIntoStalledFrame(t *testing.T) {
	comms := tcpWorldOpts(t, 2, TCPOptions{Timeout: 200 * time.Millisecond})
	tc := comms[0].(*tcpComm)
	dst := make([]byte, 100)
	errc := make(chan error, 1)
	go func() { errc <- comms[1].RecvInto(0, TagMean, dst) }()
	time.Sleep(50 * time.Millisecond) // posted
	var hdr [HeaderSize]byte
	putHeader(hdr[:], header{tag: TagMean, length: 100 + tc.overhead, job: JobHash("test")})
	tc.conns[1].Write(append(hdr[:], make([]byte, 10)...))
	start := time.Now()
	err := <-errc
	if !errors.Is(err, ErrTimeout) || time.Since(start) > 5*time.Second {
		t.Fatalf("stalled frame: %v after %v", err, time.Since(start))
	}
	if _, err := comms[1].Recv(0, TagMean); !errors.Is(err, ErrPeerLost) {
		t.Fatalf("the stalled link still works: %v", err)
	}
}

// TestRecvIntoAbort: an abort notice fails a posted receive with the
// reason.
func TestRecvIntoAbort(t *testing.T) {
	for _, tr := range transports {
		comms := tr.make(t, 2)
		errc := make(chan error, 1)
		go func() { errc <- comms[1].RecvInto(0, TagMean, make([]byte, 8)) }()
		time.Sleep(20 * time.Millisecond)
		Abort(comms[0], errors.New("rank 0 gives up"))
		if err := <-errc; !errors.Is(err, ErrAborted) || !strings.Contains(err.Error(), "rank 0 gives up") {
			t.Fatalf("%s: %v", tr.name, err)
		}
	}
}

// FuzzInbox drives one link with frames and receives in any order and
// checks every receive against a model: per tag, frames meet receives in
// the order sent and posted; a frame of a past step is dropped (DropStale);
// a frame of another length or a later step fails its receive and is used
// up. Receives are posted ahead (filled in place when they wait first) or
// not (copied from the queue), or pooled (Recv).
func FuzzInbox(f *testing.F) {
	f.Add([]byte{0x10, 0x21, 0x80, 0x90, 0x13, 0xc0, 0x81, 0x00, 0x91})
	f.Add([]byte{0x80, 0x84, 0x05, 0x15, 0x25, 0xa0, 0xc0, 0xc0})
	f.Fuzz(func(t *testing.T, ops []byte) {
		if len(ops) > 64 {
			ops = ops[:64]
		}
		comms := NewMemWorld(2, 2*time.Second)
		co := comms[1].(engine).base()
		co.setDropStale(true)
		comms[1].SetStep(1)
		type sent struct {
			i, n int
			step uint32
		}
		queue := map[Tag][]sent{} // frames sent and not yet used, by tag
		type pending struct {
			r *recvReq
			n int
		}
		posted := map[Tag][]pending{}
		next := 0
		// deliverable drops the stale frames at the head of tag's queue and
		// says whether a frame is there.
		deliverable := func(tag Tag) bool {
			q := queue[tag]
			for len(q) > 0 && q[0].step < 1 {
				q = q[1:]
			}
			queue[tag] = q
			return len(q) > 0
		}
		check := func(tag Tag, got []byte, err error, n int) {
			s := queue[tag][0]
			queue[tag] = queue[tag][1:]
			switch {
			case s.step != 1 || s.n != n:
				if !errors.Is(err, ErrBadFrame) {
					t.Fatalf("frame %d (%d bytes, step %d) into %d bytes: %v", s.i, s.n, s.step, n, err)
				}
			case err != nil || string(got) != string(frameBytes(s.i, s.n)):
				t.Fatalf("frame %d: got %v, %v", s.i, got, err)
			}
		}
		for _, op := range ops {
			tag := TagMean + Tag(op&1)
			n := int(op>>1) & 3
			switch op >> 6 {
			case 0: // send
				step := uint32(op>>3) & 1
				comms[0].SetStep(step)
				if err := comms[0].Send(1, tag, frameBytes(next, n)); err != nil {
					t.Fatal(err)
				}
				queue[tag] = append(queue[tag], sent{next, n, step})
				next++
			case 1: // post
				r := &recvReq{peer: 0, tag: tag, dst: make([]byte, n)}
				co.post(r)
				posted[tag] = append(posted[tag], pending{r, n})
			case 2: // finish the oldest posted receive of tag, if its frame is there
				ps := posted[tag]
				if len(ps) == 0 || !deliverable(tag) {
					continue
				}
				posted[tag] = ps[1:]
				err := co.finish(ps[0].r, co.deadline())
				check(tag, ps[0].r.dst, err, ps[0].n)
			case 3: // a pooled Recv or a RecvInto, when nothing is posted
				if len(posted[tag]) > 0 || !deliverable(tag) {
					continue
				}
				if op&0x20 != 0 {
					p, err := comms[1].Recv(0, tag)
					check(tag, p, err, queue[tag][0].n) // any length
				} else {
					dst := make([]byte, n)
					err := comms[1].RecvInto(0, tag, dst)
					check(tag, dst, err, n)
				}
			}
		}
		for _, ps := range posted { // withdraw the rest
			for _, p := range ps {
				co.cancel(p.r)
			}
		}
		b := co.inbox(0)
		b.mu.Lock()
		left := len(b.posted)
		b.mu.Unlock()
		if left != 0 {
			t.Fatalf("%d receives still posted after cancel", left)
		}
	})
}

// TestSendParts: a payload sent in parts arrives as the parts joined, under
// every transport security and to the rank itself, and counts its bytes.
func TestSendParts(t *testing.T) {
	for _, sec := range []Security{SecurityOff, SecurityAuth, SecuritySeal} {
		comms := tcpWorldOpts(t, 2, TCPOptions{Security: sec})
		tc := comms[0].(*tcpComm)
		for _, p := range []parts{{frameBytes(1, 7), frameBytes(2, 100), frameBytes(3, 9)}, {frameBytes(4, 3), nil, frameBytes(5, 4)}, {frameBytes(6, 5)}, {}} {
			want := p.appendTo(nil)
			for _, to := range []int{1, 0} {
				before := comms[0].Traffic()
				if err := tc.sendParts(to, TagVote, p); err != nil {
					t.Fatal(err)
				}
				got, err := comms[to].Recv(0, TagVote)
				if err != nil || string(got) != string(want) {
					t.Fatalf("%s to rank %d: got %v (%v), want %v", sec, to, got, err, want)
				}
				if n := comms[0].Traffic().Sent.Bytes - before.Sent.Bytes; to == 1 && n != int64(HeaderSize+len(want)) {
					t.Fatalf("%s: counted %d bytes sent, want %d", sec, n, HeaderSize+len(want))
				}
			}
		}
		for _, c := range comms {
			c.Close()
		}
	}
}
