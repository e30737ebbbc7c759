package collective

import "signsgd/kernels"

// The ring mean (ring allreduce) of d float32s among M ranks, each rank
// sending only to rank+1 and receiving only from rank-1 (mod M).
//
// x is cut into M contiguous chunks, chunk k = [kd/M, (k+1)d/M), and each
// chunk into segments of at most floatSegmentBytes (a frame each; an empty
// chunk is one empty frame).
//
//	reduce-scatter (TagMean), steps s = 0..M-2:  rank r sends chunk r-s to r+1 and
//	    receives chunk r-1-s from r-1, which it adds into its own values
//	    of that chunk (received + own). Chunk k starts at rank k and picks
//	    up one rank per step, so after M-1 steps rank k-1 holds its sum,
//	    added in the fixed order of ranks k, k+1, ..., k-1; that rank
//	    multiplies it by 1/M (float32, as MeanServer does).
//	allgather (TagMeanResult), steps s = 0..M-2:  rank r sends chunk r+1-s to r+1 and
//	    receives chunk r-s from r-1, which it copies.
//
// Pipelined: the steps overlap segment by segment. What rank r sends at
// step s+1 is what it received and summed at step s, so each segment goes
// on to r+1 (through the outbox, whose goroutine sends while this one sums)
// as soon as it is summed, rather than after the whole chunk: segment j
// of a chunk is summed while segment j+1 arrives. The allgather's receives
// are posted at the start, straight into x, so its segments land in place
// and are forwarded from there. The additions are those of the unpipelined
// ring, in the same order, so the bits are the same.
//
// Each chunk is reduced once and then copied, so every rank ends with
// bit-identical values. Per rank: 2(M-1) chunks of about 4d/M bytes each
// way, plus a header per segment (see MeanBytes).
//
// Non-finite values: every rank counts its own NaN and infinite values as
// 0, and so counts a NaN or infinity in a partial sum it receives in the
// reduce-scatter, so no single rank can make the mean non-finite. Unlike
// the server's rule (which zeroes only the culprit's contribution), a
// neutralised partial sum drops the contributions of every rank upstream of
// the sender in that chunk's order, at that coordinate. The allgather copies
// values unchanged, so that every rank keeps the same bits.

// ringChunk returns the bounds [lo, hi) of chunk k of d values among m.
func ringChunk(d, m, k int) (lo, hi int) { return k * d / m, (k + 1) * d / m }

// MeanRing replaces x on every rank by the mean over ranks, by ring
// allreduce (see above). Every rank ends with the same bits.
func MeanRing(c Comm, x []float32) error {
	m, me := c.Size(), c.Rank()
	if m == 1 {
		return nil
	}
	co := coreOf(c)
	if co == nil || !floatsLE {
		return meanRingPlain(c, x)
	}
	d := len(x)
	next, prev := (me+1)%m, (me+m-1)%m
	mod := func(k int) int { return ((k % m) + m) % m }
	inv := 1 / float32(m)

	// The allgather's receives, every segment of chunks r, r-1, ..., r+2
	// in the order they come, into x. A segment's values can only arrive
	// once its chunk is reduced, which needs what this rank sends of it in
	// the reduce-scatter first: posting them now overlaps nothing.
	sc := &co.sc
	n := 0
	for s := range m - 1 {
		lo, hi := ringChunk(d, m, mod(me-s))
		n += floatSegs(hi - lo)
	}
	sc.reqs = resize(sc.reqs, n)
	i := 0
	for s := range m - 1 {
		lo, hi := ringChunk(d, m, mod(me-s))
		for j := range floatSegs(hi - lo) {
			a, b := floatSeg(lo, hi, j)
			sc.reqs[i] = recvReq{peer: prev, tag: TagMeanResult, dst: floatBytes(x[a:b])}
			co.post(&sc.reqs[i])
			i++
		}
	}
	out := co.outboxTo(next)
	fail := func(err error) error {
		finishAll(co, sc.reqs[:n], err, nil)
		out.wait() // nothing reads x once this returns
		return opError("mean", err)
	}

	// Reduce-scatter. Step 0 sends this rank's own chunk as it is: its
	// first receiver neutralises what it receives (AddBothFinite), which
	// is the same as neutralising it here, for a pass less.
	lo, hi := ringChunk(d, m, me)
	for j := range floatSegs(hi - lo) {
		a, b := floatSeg(lo, hi, j)
		if err := out.push(TagMean, floatBytes(x[a:b]), nil); err != nil {
			return fail(err)
		}
	}
	// The reduce-scatter's segments from r-1 come in a stream: chunk r-1,
	// r-2, ..., r+1, each in its segments; segWindow of them are posted
	// ahead into the window's buffers.
	rsChunk := func(i int) (s, j int) { // segment i of the stream: step s, segment j of its chunk
		for s = 0; ; s++ {
			lo, hi := ringChunk(d, m, mod(me-1-s))
			if k := floatSegs(hi - lo); i < k {
				return s, i
			} else {
				i -= k
			}
		}
	}
	rsLen := 0
	for s := range m - 1 {
		lo, hi := ringChunk(d, m, mod(me-1-s))
		rsLen += floatSegs(hi - lo)
	}
	size := func(i int) int {
		if i >= rsLen {
			return 0
		}
		s, j := rsChunk(i)
		lo, hi := ringChunk(d, m, mod(me-1-s))
		a, b := floatSeg(lo, hi, j)
		return b - a
	}
	sc.windows = resize(sc.windows, 1)
	win := &sc.windows[0]
	win.start(co, prev, TagMean, rsLen, size)
	defer win.cancel(co)
	i = 0
	for s := range m - 1 {
		k := mod(me - 1 - s)
		last := s == m-2 // chunk k = r+1 is then whole: scale it, start the allgather with it
		scale, tag := float32(1), TagMean
		if last {
			scale, tag = inv, TagMeanResult
		}
		lo, hi := ringChunk(d, m, k)
		for j := range floatSegs(hi - lo) {
			a, b := floatSeg(lo, hi, j)
			v, err := win.take(co, i)
			if err != nil {
				return fail(err)
			}
			kernels.AddBothFinite(x[a:b], v, scale)
			win.refill(co, i, size(i+segWindow))
			i++
			if err := out.push(tag, floatBytes(x[a:b]), nil); err != nil {
				return fail(err)
			}
			yield()
		}
	}

	// Allgather: each segment lands in x and goes on, but for the last
	// chunk (r+2), which r+1 already has.
	i = 0
	for s := range m - 1 {
		lo, hi := ringChunk(d, m, mod(me-s))
		for j := range floatSegs(hi - lo) {
			r := &sc.reqs[i]
			i++
			if err := co.finish(r, co.deadline()); err != nil {
				return fail(err) // finishAll skips the finished ones: they are idle
			}
			if s < m-2 {
				a, b := floatSeg(lo, hi, j)
				if err := out.push(TagMeanResult, floatBytes(x[a:b]), nil); err != nil {
					return fail(err)
				}
				yield()
			}
		}
	}
	if err := out.wait(); err != nil {
		return opError("mean", err)
	}
	return nil
}

// meanRingPlain is MeanRing unpipelined: a step at a time, each chunk's
// segments sent (encoded), then received (decoded) and added, through the
// Comm interface only. The same frames and the same additions in the same
// order as MeanRing: a Comm of another package gets it, it runs where a
// vector's memory is not its wire form, and the tests hold MeanRing to it.
func meanRingPlain(c Comm, x []float32) error {
	m, me, d := c.Size(), c.Rank(), len(x)
	next, prev := (me+1)%m, (me+m-1)%m
	mod := func(k int) int { return ((k % m) + m) % m }
	lo, hi := ringChunk(d, m, me)
	kernels.ZeroNonFiniteNaive(x[lo:hi])
	send := func(tag Tag, k int) error {
		lo, hi := ringChunk(d, m, k)
		for j := range floatSegs(hi - lo) {
			a, b := floatSeg(lo, hi, j)
			if err := c.Send(next, tag, EncodeFloat32s(nil, x[a:b])); err != nil {
				return err
			}
		}
		return nil
	}
	tmp := make([]float32, min(segFloats(), (d+m-1)/m))
	for s := range m - 1 {
		if err := send(TagMean, mod(me-s)); err != nil {
			return opError("mean", err)
		}
		k := mod(me - 1 - s)
		scale := float32(1)
		if s == m-2 {
			scale = 1 / float32(m)
		}
		lo, hi := ringChunk(d, m, k)
		for j := range floatSegs(hi - lo) {
			a, b := floatSeg(lo, hi, j)
			v := tmp[:b-a]
			if err := recvDecode(c, prev, TagMean, v, "decode mean"); err != nil {
				return opError("mean", err)
			}
			kernels.AddBothFiniteNaive(x[a:b], v, scale)
		}
	}
	for s := range m - 1 {
		if err := send(TagMeanResult, mod(me+1-s)); err != nil {
			return opError("mean", err)
		}
		lo, hi := ringChunk(d, m, mod(me-s))
		for j := range floatSegs(hi - lo) {
			a, b := floatSeg(lo, hi, j)
			if err := recvDecode(c, prev, TagMeanResult, x[a:b], "decode mean-result"); err != nil {
				return opError("mean", err)
			}
		}
	}
	return nil
}
