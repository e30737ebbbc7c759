package collective

import (
	"fmt"

	"signsgd/kernels"
)

// The server mean of d float32s and its two halves, streamed in segments
// (floatSeg; a frame each):
//
//	rank r != 0:  segment k of x --> rank 0                       (TagMean)
//	rank 0:       for k: take segment k of ranks 1..M-1, add them into
//	              its own x in rank order in one pass
//	              (kernels.AddFiniteSum: a non-finite value from a peer
//	              counts as 0; the last add multiplied by 1/M), then queue
//	              segment k of the mean to every rank               (TagMeanResult)
//	rank r != 0:  segment k of the mean --> straight into x
//
// So rank 0 sums segment k while segment k+1 arrives and the mean of
// segment k-1 leaves, and every worker receives into its own x, posted as
// soon as its segment is sent. The sum is x_0 + x_1 + ... + x_{M-1} in that
// order, then times 1/M (float32): the same bits as one sum after
// another, on every run and every rank. GatherFloat32s is the first half
// for any root without the sum (every rank's vector into the root's
// buffers), BroadcastFloat32s the second: their frames and bytes are the
// server mean's.

// MeanServer replaces x on every rank by the mean over ranks (rank 0 sums
// in rank order, so the result is the same on every run). A NaN or an
// infinity in a peer's vector (a Byzantine worker can send them) is
// neutralised: that coordinate counts as 0 from that peer, so one worker
// can never make the mean non-finite.
func MeanServer(c Comm, x []float32) error {
	if c.Size() == 1 {
		return nil
	}
	co := coreOf(c)
	if co == nil || !floatsLE {
		return meanServerPlain(c, x)
	}
	tl := co.tl
	tl.mark(MilestoneStart, -1)
	defer tl.mark(MilestoneEnd, -1)
	if c.Rank() != 0 {
		if err := sendSegments(c, 0, TagMean, x, co, true); err != nil {
			return opError("mean", err)
		}
		return nil
	}
	m, d := c.Size(), len(x)
	n := floatSegs(d)
	inv := 1 / float32(m)
	size := func(j int) int { a, b := floatSeg(0, d, j); return b - a }
	sc := &co.sc
	sc.windows = resize(sc.windows, m)
	for r := 1; r < m; r++ {
		sc.windows[r].start(co, r, TagMean, n, size)
	}
	sc.segs = resize(sc.segs, m-1)
	var failed error
	for j := range n {
		a, b := floatSeg(0, d, j)
		seg := x[a:b]
		// Segment j of every worker, then one pass adding them in rank
		// order: the sums of AddFinite of each in turn.
		for r := 1; r < m && failed == nil; r++ {
			sc.segs[r-1], failed = sc.windows[r].take(co, j)
		}
		if failed != nil {
			break
		}
		tl.mark(MilestoneIn, j)
		kernels.AddFiniteSum(seg, sc.segs, inv)
		tl.mark(MilestoneReduced, j)
		clear(sc.segs)
		for r := 1; r < m; r++ {
			sc.windows[r].refill(co, j, size(j+segWindow))
		}
		for r := 1; r < m; r++ {
			if err := co.outboxTo(r).push(TagMeanResult, floatBytes(seg), nil); err != nil && failed == nil {
				failed = err
			}
		}
		if failed == nil {
			tl.mark(MilestoneAnswered, j)
		}
		yield()
	}
	for r := 1; r < m; r++ { // nothing is posted and nothing reads x once this returns
		sc.windows[r].cancel(co)
		if err := co.outboxTo(r).wait(); err != nil && failed == nil {
			failed = err
		}
	}
	if failed != nil {
		return opError("mean", failed)
	}
	return nil
}

// sendSegments sends x to peer under tag, a frame per segment from x's own
// memory. With back (a server mean's worker) it first posts a receive of
// every segment of the result, from peer under TagMeanResult, straight
// into x, and waits for them: a segment of the result can only come once
// peer has received that segment of x, so the link never writes a segment
// the sends below still read, and posting them all before the first send
// means none arrives unposted (to be queued and copied).
func sendSegments(c Comm, peer int, tag Tag, x []float32, co *core, back bool) error {
	d, n := len(x), floatSegs(len(x))
	sc := &co.sc
	posted := 0
	if back {
		sc.reqs = resize(sc.reqs, n)
		for j := range n {
			a, b := floatSeg(0, d, j)
			sc.reqs[j] = recvReq{peer: peer, tag: TagMeanResult, dst: floatBytes(x[a:b])}
			co.post(&sc.reqs[j])
		}
		posted = n
	}
	var err error
	for j := range n {
		a, b := floatSeg(0, d, j)
		if err = c.Send(peer, tag, floatBytes(x[a:b])); err != nil {
			break
		}
	}
	if back && err == nil {
		co.tl.mark(MilestoneSent, -1)
	}
	return finishAll(co, sc.reqs[:posted], err, co.tl)
}

// finishAll finishes the posted receives rs in order, marking each in tl
// (nil: none) as a result; after the first error (or when err is already
// set) it withdraws the rest. It returns the first error.
func finishAll(co *core, rs []recvReq, err error, tl *Timeline) error {
	for i := range rs {
		if err != nil {
			co.cancel(&rs[i])
			continue
		}
		if err = co.finish(&rs[i], co.deadline()); err == nil {
			tl.mark(MilestoneResult, i)
		}
	}
	return err
}

// GatherFloat32s gathers every rank's x on root: into[r] receives rank r's
// vector for every r != root (each of len(x) values, the caller's memory,
// reused from step to step); into[root] is not touched (it may be x
// itself, or nil). Other ranks pass nil. The values arrive as sent,
// NaN and infinities included. Its frames are the first half of the server
// mean's (TagMean, a frame per segment), so a worker's bytes are
// MeanBytes("server")'s: an aggregator that runs on rank 0 in place of the
// mean moves exactly what the mean did.
func GatherFloat32s(c Comm, root int, x []float32, into [][]float32) error {
	if err := checkPeer(c, root, "gather"); err != nil {
		return err
	}
	m, me := c.Size(), c.Rank()
	if me == root {
		if len(into) != m {
			panic(fmt.Sprintf("collective: GatherFloat32s: %d buffers for %d ranks", len(into), m))
		}
		for r, v := range into {
			if r != root && len(v) != len(x) {
				panic(fmt.Sprintf("collective: GatherFloat32s: buffer %d has %d values, want %d", r, len(v), len(x)))
			}
		}
	}
	co := coreOf(c)
	if co == nil || !floatsLE {
		return gatherFloatsPlain(c, root, x, into)
	}
	if me != root {
		if err := sendSegments(c, root, TagMean, x, co, false); err != nil {
			return opError("gather", err)
		}
		return nil
	}
	d, n := len(x), floatSegs(len(x))
	sc := &co.sc
	sc.reqs = resize(sc.reqs, (m-1)*n)
	i := 0
	for r := range m {
		if r == root {
			continue
		}
		for j := range n { // every peer's segments at once: each link fills its own
			a, b := floatSeg(0, d, j)
			sc.reqs[i] = recvReq{peer: r, tag: TagMean, dst: floatBytes(into[r][a:b])}
			co.post(&sc.reqs[i])
			i++
		}
	}
	if err := finishAll(co, sc.reqs[:i], nil, nil); err != nil {
		return opError("gather", err)
	}
	return nil
}

// BroadcastFloat32s replaces x on every rank by root's x. Its frames are
// the second half of the server mean's (TagMeanResult, a frame per
// segment): root queues each segment to every rank at once from x's own
// memory, and the others receive straight into x.
func BroadcastFloat32s(c Comm, root int, x []float32) error {
	if err := checkPeer(c, root, "broadcast"); err != nil {
		return err
	}
	co := coreOf(c)
	if co == nil || !floatsLE {
		return broadcastFloatsPlain(c, root, x)
	}
	m, me, d, n := c.Size(), c.Rank(), len(x), floatSegs(len(x))
	if me != root {
		sc := &co.sc
		sc.reqs = resize(sc.reqs, n)
		for j := range n {
			a, b := floatSeg(0, d, j)
			sc.reqs[j] = recvReq{peer: root, tag: TagMeanResult, dst: floatBytes(x[a:b])}
			co.post(&sc.reqs[j])
		}
		if err := finishAll(co, sc.reqs[:n], nil, nil); err != nil {
			return opError("broadcast", err)
		}
		return nil
	}
	var failed error
	for j := range n {
		a, b := floatSeg(0, d, j)
		for r := range m {
			if r != root {
				if err := co.outboxTo(r).push(TagMeanResult, floatBytes(x[a:b]), nil); err != nil && failed == nil {
					failed = err
				}
			}
		}
		yield()
	}
	for r := range m {
		if r != root {
			if err := co.outboxTo(r).wait(); err != nil && failed == nil {
				failed = err
			}
		}
	}
	if failed != nil {
		return opError("broadcast", failed)
	}
	return nil
}

// The plain forms: the same frames and the same float32 operations in the
// same order, through the Comm interface only, each segment encoded into
// and decoded from a buffer of its own (EncodeFloat32s, DecodeFloat32s), a
// send and a receive at a time. They are what a Comm of another package
// gets, what runs where a vector's memory is not its wire form (floatsLE),
// and the reference the tests hold the streamed forms to.

// meanServerPlain is MeanServer's plain form.
func meanServerPlain(c Comm, x []float32) error {
	m, d := c.Size(), len(x)
	if c.Rank() != 0 {
		for j := range floatSegs(d) {
			a, b := floatSeg(0, d, j)
			if err := c.Send(0, TagMean, EncodeFloat32s(nil, x[a:b])); err != nil {
				return opError("mean", err)
			}
		}
		for j := range floatSegs(d) {
			a, b := floatSeg(0, d, j)
			if err := recvDecode(c, 0, TagMeanResult, x[a:b], "decode mean-result"); err != nil {
				return opError("mean", err)
			}
		}
		return nil
	}
	inv := 1 / float32(m)
	tmp := make([]float32, min(d, segFloats()))
	for j := range floatSegs(d) {
		a, b := floatSeg(0, d, j)
		seg, v := x[a:b], tmp[:b-a]
		for r := 1; r < m; r++ {
			if err := recvDecode(c, r, TagMean, v, "decode mean"); err != nil {
				return opError("mean", err)
			}
			scale := float32(1)
			if r == m-1 {
				scale = inv
			}
			kernels.AddFiniteNaive(seg, v, scale)
		}
		out := EncodeFloat32s(nil, seg)
		for r := 1; r < m; r++ {
			if err := c.Send(r, TagMeanResult, out); err != nil {
				return opError("mean", err)
			}
		}
	}
	return nil
}

// recvDecode receives one frame from peer under tag and decodes it into x,
// naming op and the peer if it does not hold len(x) float32s.
func recvDecode(c Comm, peer int, tag Tag, x []float32, op string) error {
	p, err := c.Recv(peer, tag)
	if err != nil {
		return err
	}
	if err := DecodeFloat32s(x, p); err != nil {
		return &PeerError{Rank: c.Rank(), Peer: peer, Op: op, Err: err}
	}
	return nil
}

// gatherFloatsPlain is GatherFloat32s's plain form.
func gatherFloatsPlain(c Comm, root int, x []float32, into [][]float32) error {
	d := len(x)
	if c.Rank() != root {
		for j := range floatSegs(d) {
			a, b := floatSeg(0, d, j)
			if err := c.Send(root, TagMean, EncodeFloat32s(nil, x[a:b])); err != nil {
				return opError("gather", err)
			}
		}
		return nil
	}
	for r := range c.Size() {
		if r == root {
			continue
		}
		for j := range floatSegs(d) {
			a, b := floatSeg(0, d, j)
			if err := recvDecode(c, r, TagMean, into[r][a:b], "decode gather"); err != nil {
				return opError("gather", err)
			}
		}
	}
	return nil
}

// broadcastFloatsPlain is BroadcastFloat32s's plain form.
func broadcastFloatsPlain(c Comm, root int, x []float32) error {
	d := len(x)
	for j := range floatSegs(d) {
		a, b := floatSeg(0, d, j)
		if c.Rank() != root {
			if err := recvDecode(c, root, TagMeanResult, x[a:b], "decode broadcast"); err != nil {
				return opError("broadcast", err)
			}
			continue
		}
		out := EncodeFloat32s(nil, x[a:b])
		for r := range c.Size() {
			if r != root {
				if err := c.Send(r, TagMeanResult, out); err != nil {
					return opError("broadcast", err)
				}
			}
		}
	}
	return nil
}
