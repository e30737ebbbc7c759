package collective

import (
	"encoding/binary"
	"fmt"
	"math"
	"sync"

	"signsgd/kernels"
)

// The collectives below use the server topology: rank 0 gathers, computes
// and sends the result back. Every rank must call them in the same order.

// opError names the collective around a transport error.
func opError(op string, err error) error {
	return fmt.Errorf("%s: %w", op, err)
}

// Barrier returns once every rank has entered it.
func Barrier(c Comm) error {
	if c.Rank() != 0 {
		if err := c.Send(0, TagBarrier, nil); err != nil {
			return opError("barrier", err)
		}
		_, err := c.Recv(0, TagBarrier)
		if err != nil {
			return opError("barrier", err)
		}
		return nil
	}
	for r := 1; r < c.Size(); r++ {
		if _, err := c.Recv(r, TagBarrier); err != nil {
			return opError("barrier", err)
		}
	}
	for r := 1; r < c.Size(); r++ {
		if err := c.Send(r, TagBarrier, nil); err != nil {
			return opError("barrier", err)
		}
	}
	return nil
}

// Broadcast returns root's data on every rank (data is ignored elsewhere).
func Broadcast(c Comm, root int, data []byte) ([]byte, error) {
	if err := checkPeer(c, root, "broadcast"); err != nil {
		return nil, err
	}
	if c.Rank() != root {
		p, err := c.Recv(root, TagBroadcast)
		if err != nil {
			return nil, opError("broadcast", err)
		}
		return p, nil
	}
	for r := 0; r < c.Size(); r++ {
		if r != root {
			if err := c.Send(r, TagBroadcast, data); err != nil {
				return nil, opError("broadcast", err)
			}
		}
	}
	return data, nil
}

// Gather returns, on root, every rank's data indexed by rank; other ranks
// get nil.
func Gather(c Comm, root int, data []byte) ([][]byte, error) {
	if err := checkPeer(c, root, "gather"); err != nil {
		return nil, err
	}
	if c.Rank() != root {
		if err := c.Send(root, TagGather, data); err != nil {
			return nil, opError("gather", err)
		}
		return nil, nil
	}
	out := make([][]byte, c.Size())
	for r := range out {
		if r == root {
			out[r] = data
			continue
		}
		p, err := c.Recv(r, TagGather)
		if err != nil {
			return nil, opError("gather", err)
		}
		out[r] = p
	}
	return out, nil
}

// EncodeFloat32s appends x as little-endian float32s.
func EncodeFloat32s(b []byte, x []float32) []byte {
	for _, v := range x {
		b = binary.LittleEndian.AppendUint32(b, math.Float32bits(v))
	}
	return b
}

// DecodeFloat32s reads len(x) little-endian float32s from b.
func DecodeFloat32s(x []float32, b []byte) error {
	if len(b) != 4*len(x) {
		return fmt.Errorf("%w: %d bytes for %d float32s", ErrBadFrame, len(b), len(x))
	}
	for i := range x {
		x[i] = math.Float32frombits(binary.LittleEndian.Uint32(b[4*i:]))
	}
	return nil
}

// MeanFloat32 replaces x on every rank by the mean over ranks (rank 0 sums
// in rank order, so the result is the same on every run). A NaN or an
// infinity in a peer's vector (a Byzantine worker can send them) is
// neutralised: that coordinate counts as 0 from that peer, so one worker
// can never make the mean non-finite.
func MeanFloat32(c Comm, x []float32) error {
	m := c.Size()
	if c.Rank() != 0 {
		if err := c.Send(0, TagMean, EncodeFloat32s(nil, x)); err != nil {
			return opError("mean", err)
		}
		p, err := c.Recv(0, TagMeanResult)
		if err != nil {
			return opError("mean", err)
		}
		if err := DecodeFloat32s(x, p); err != nil {
			return opError("mean", &PeerError{Rank: c.Rank(), Peer: 0, Op: "decode mean-result", Err: err})
		}
		return nil
	}
	vecs := make([][]float32, m)
	vecs[0] = x
	for r := 1; r < m; r++ {
		p, err := c.Recv(r, TagMean)
		if err != nil {
			return opError("mean", err)
		}
		v := make([]float32, len(x))
		if err := DecodeFloat32s(v, p); err != nil {
			return opError("mean", &PeerError{Rank: 0, Peer: r, Op: "decode mean", Err: err})
		}
		zeroNonFinite(v)
		vecs[r] = v
	}
	sum := make([]float32, len(x))
	kernels.SumFloat32(sum, vecs)
	kernels.Scale(sum, 1/float32(m))
	copy(x, sum)
	out := EncodeFloat32s(nil, x)
	for r := 1; r < m; r++ {
		if err := c.Send(r, TagMeanResult, out); err != nil {
			return opError("mean", err)
		}
	}
	return nil
}

// zeroNonFinite replaces NaN and infinite values by 0 and returns how many.
func zeroNonFinite(v []float32) int {
	n := 0
	for i, x := range v {
		if math.Float32bits(x)&0x7f800000 == 0x7f800000 {
			v[i] = 0
			n++
		}
	}
	return n
}

// VoteServer runs the paper's majority vote: every rank sends its packed
// signs to rank 0, which decodes them (canonicalizing untrusted bits),
// counts the vote with kernels.Vote and sends the ternary result back.
// result receives sign(sum of votes) on every rank. It is the strict form
// of Quorum.Vote: every rank must vote.
func VoteServer(c Comm, local, result kernels.Signs, opt kernels.VoteOptions) error {
	var strict *Quorum
	return strict.Vote(c, local, result, opt)
}

// sendEach sends payload(p) under tag to every rank p in peers at the same
// time, so that a peer slow to drain its socket does not hold up the
// others (a multi-megabyte frame does not fit a socket's buffer, so each
// write waits for its reader). errs[i] is peers[i]'s error. payload is
// called once per peer, from that peer's goroutine; done, if not nil, is
// called with its result once the send has returned.
func sendEach(c Comm, peers []int, tag Tag, payload func(p int) []byte, done func(p int, b []byte)) []error {
	errs := make([]error, len(peers))
	one := func(i int) {
		b := payload(peers[i])
		errs[i] = c.Send(peers[i], tag, b)
		if done != nil {
			done(peers[i], b)
		}
	}
	if len(peers) == 1 {
		one(0)
		return errs
	}
	var wg sync.WaitGroup
	for i := range peers {
		wg.Go(func() { one(i) })
	}
	wg.Wait()
	return errs
}

// others returns every rank of c but c's own, in order.
func others(c Comm) []int {
	out := make([]int, 0, c.Size()-1)
	for r := range c.Size() {
		if r != c.Rank() {
			out = append(out, r)
		}
	}
	return out
}

// firstError returns the first non-nil error of errs.
func firstError(errs []error) error {
	for _, err := range errs {
		if err != nil {
			return err
		}
	}
	return nil
}
