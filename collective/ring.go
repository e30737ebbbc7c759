package collective

import "signsgd/kernels"

// The ring mean (ring allreduce) of d float32s among M ranks, each rank
// sending only to rank+1 and receiving only from rank-1 (mod M).
//
// x is cut into M contiguous chunks, chunk k = [kd/M, (k+1)d/M).
//
//	reduce-scatter (TagMean), steps s = 0..M-2:  rank r sends chunk r-s to r+1 and
//	    receives chunk r-1-s from r-1, which it adds into its own values
//	    of that chunk (received + own). Chunk k starts at rank k and picks
//	    up one rank per step, so after M-1 steps rank k-1 holds its sum,
//	    added in the fixed order of ranks k, k+1, ..., k-1; that rank
//	    multiplies it by 1/M (float32, as MeanFloat32 does).
//	allgather (TagMeanResult), steps s = 0..M-2:  rank r sends chunk r+1-s to r+1 and
//	    receives chunk r-s from r-1, which it copies.
//
// Each chunk is reduced once and then copied, so every rank ends with
// bit-identical values. Per rank: 2(M-1) frames of about 4d/M bytes each
// way (see MeanBytes).
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
	zeroNonFinite(x)
	next, prev := (me+1)%m, (me+m-1)%m
	mod := func(k int) int { return ((k % m) + m) % m }
	buf := make([]float32, (len(x)+m-1)/m)
	recv := func(tag Tag, k int) ([]float32, error) {
		lo, hi := ringChunk(len(x), m, k)
		p, err := c.Recv(prev, tag)
		if err != nil {
			return nil, err
		}
		v := buf[:hi-lo]
		if err := DecodeFloat32s(v, p); err != nil {
			return nil, &PeerError{Rank: me, Peer: prev, Op: "decode " + tag.String(), Err: err}
		}
		return v, nil
	}
	send := func(tag Tag, k int) error {
		lo, hi := ringChunk(len(x), m, k)
		return c.Send(next, tag, EncodeFloat32s(nil, x[lo:hi]))
	}
	for s := 0; s < m-1; s++ {
		if err := send(TagMean, mod(me-s)); err != nil {
			return opError("mean", err)
		}
		k := mod(me - 1 - s)
		v, err := recv(TagMean, k)
		if err != nil {
			return opError("mean", err)
		}
		zeroNonFinite(v)
		lo, _ := ringChunk(len(x), m, k)
		for i, a := range v {
			x[lo+i] = a + x[lo+i]
		}
	}
	lo, hi := ringChunk(len(x), m, mod(me+1))
	kernels.Scale(x[lo:hi], 1/float32(m))
	for s := 0; s < m-1; s++ {
		if err := send(TagMeanResult, mod(me+1-s)); err != nil {
			return opError("mean", err)
		}
		k := mod(me - s)
		v, err := recv(TagMeanResult, k)
		if err != nil {
			return opError("mean", err)
		}
		lo, _ := ringChunk(len(x), m, k)
		copy(x[lo:], v)
	}
	return nil
}
