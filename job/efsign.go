package job

// Error feedback (Karimireddy, Rebjock, Stich and Jaggi 2019, "Error
// Feedback Fixes SignSGD and other Gradient Compression Schemes"; the
// compressed allreduce of DeepSpeed's 1-bit Adam and GRACE's efsignsgd):
// each worker adds its residual e to its gradient, p = g + e, sends the
// sign bit of every coordinate and one float32 scale per chunk of efChunk
// coordinates, s = mean |p| over the chunk, and keeps e = p - s sign(p),
// what it did not send. Rank 0 decodes every worker's s sign(p), combines
// them with --aggregator (the mean by default; median and the others are
// offered, since the mean of the scaled signs is not Byzantine-robust),
// adds its own residual to the result and sends back signs and scales
// the same way; every rank applies x <- x - lr (s sign(p0) + lambda x).
//
//	worker   p = g + e -> bits sign(p), scales -> e = p - s sign(p)   up
//	rank 0   a = aggregate_k s_k sign(p_k); p0 = a + e0 -> bits, scales  down
//
// One bit per coordinate and 4 bytes per chunk each way, plus the frame
// header (efBytes).
//
// Over --topology shard (DeepSpeed's compressed allreduce) rank j owns the
// chunks [j C/M, (j+1) C/M) of the C chunks: every rank sends each owner
// its slice of bits and scales, the owner combines the slices (a
// coordinate-wise aggregator: the mean, median or trimmed mean), keeps
// the down residual of its slice, and sends the compressed result back to
// every rank. With the same aggregator it computes what the server does,
// coordinate for coordinate, with no rank carrying M-1 vectors.
//
// The residual is kept as two float32 (hi + lo, TwoSum), so that
// residual + sent = input holds exactly, in real arithmetic, every step:
// a coordinate far below its chunk's scale is not lost to rounding.

import (
	"encoding/binary"
	"fmt"
	"math"

	"signsgd/collective"
	"signsgd/kernels"
)

// efChunk is the coordinates per scale (a multiple of 64).
const efChunk = 4096

// efBytes is the payload plus header of one compressed vector of d
// coordinates: a bit per coordinate (whole 64-bit words), a float32 per
// chunk.
func efBytes(d int) int {
	return collective.HeaderSize + 8*kernels.Words(d) + 4*efChunks(d)
}

func efChunks(d int) int { return (d + efChunk - 1) / efChunk }

// efState is one direction's error feedback: the residual and the last
// compressed vector.
type efState struct {
	hi, lo []float32 // the residual, hi + lo exactly
	p      []float32 // the last input, g + residual
	neg    []uint64  // the last sign bits, 1 = negative
	scales []float32
}

// newEFState keeps its residual in res (2d values: hi, then lo).
func newEFState(res []float32) *efState {
	d := len(res) / 2
	return &efState{hi: res[:d:d], lo: res[d:], p: make([]float32, d),
		neg: make([]uint64, kernels.Words(d)), scales: make([]float32, efChunks(d))}
}

// twoSum returns a + b rounded and the rounding error: s + e = a + b
// exactly (Knuth's TwoSum, without branches; exact barring overflow).
func twoSum(a, b float32) (s, e float32) {
	s = a + b
	bb := s - a
	e = (a - (s - bb)) + (b - bb)
	return s, e
}

// compress takes v (the gradient or the aggregate), forms p = v +
// residual, packs sign(p) and the chunks' scales, keeps the new residual
// p - s sign(p), and overwrites v with s sign(p), what is sent.
func (st *efState) compress(v []float32) {
	for i := range v {
		st.p[i] = (v[i] + st.hi[i]) + st.lo[i]
	}
	clear(st.neg)
	for c := range st.scales {
		lo, hi := c*efChunk, min(c*efChunk+efChunk, len(v))
		var sum float64
		for _, x := range st.p[lo:hi] {
			sum += math.Abs(float64(x))
		}
		s := float32(sum / float64(hi-lo))
		if math.IsNaN(float64(s)) || math.IsInf(float64(s), 0) {
			s = 0 // a non-finite input sends nothing and keeps nothing
		}
		st.scales[c] = s
		for i := lo; i < hi; i++ {
			q := s
			if math.Signbit(float64(st.p[i])) {
				q = -s
				st.neg[i/64] |= 1 << uint(i%64)
			}
			st.hi[i], st.lo[i] = twoSum(st.p[i], -q)
			if s == 0 {
				st.hi[i], st.lo[i] = 0, 0
			}
			v[i] = q
		}
	}
}

// encode appends the sign bits and the scales to b.
func (st *efState) encode(b []byte) []byte {
	for _, w := range st.neg {
		b = binary.LittleEndian.AppendUint64(b, w)
	}
	for _, s := range st.scales {
		b = binary.LittleEndian.AppendUint32(b, math.Float32bits(s))
	}
	return b
}

// efDecode writes s sign(p) of a payload into dst.
func efDecode(dst []float32, b []byte) error {
	d, words, chunks := len(dst), kernels.Words(len(dst)), efChunks(len(dst))
	if len(b) != 8*words+4*chunks {
		return fmt.Errorf("ef-signsgd: %d bytes, want %d for %d coordinates", len(b), 8*words+4*chunks, d)
	}
	sb := b[8*words:]
	for i := range dst {
		s := math.Float32frombits(binary.LittleEndian.Uint32(sb[4*(i/efChunk):]))
		if binary.LittleEndian.Uint64(b[8*(i/64):])>>(uint(i%64))&1 == 1 {
			s = -s
		}
		dst[i] = s
	}
	return nil
}

// efOpt is ef-signsgd: up is this rank's feedback, down the aggregate's
// (rank 0's over the server, each owner's over its slice under shard).
type efOpt struct {
	up, down *efState
	server   *serverAggregate
	shard    bool
	slice    *efState  // shard: the down residual of this rank's slice
	buf      []float32 // the residuals (and cclip's center): a checkpoint's state
}

// newEFOpt makes ef-signsgd for d parameters around the aggregator, over
// topology (server or shard).
func newEFOpt(server *serverAggregate, d int, topology string) *efOpt {
	n := 4 * d
	if server.st.center != nil {
		n += d
	}
	buf := make([]float32, n)
	o := &efOpt{up: newEFState(buf[:2*d]), down: newEFState(buf[2*d : 4*d]), server: server, shard: topology == "shard", buf: buf}
	if server.st.center != nil {
		server.st.center = buf[4*d:]
	}
	return o
}

// efShardRange is the coordinates [lo, hi) that rank j of m owns under the
// shard topology: whole chunks, [j C/m, (j+1) C/m) of the C chunks.
func efShardRange(d, m, j int) (lo, hi int) {
	c := efChunks(d)
	return min(j*c/m*efChunk, d), min((j+1)*c/m*efChunk, d)
}

// efSliceBytes is the frame, header included, that carries the compressed
// coordinates [lo, hi) (lo a multiple of efChunk).
func efSliceBytes(lo, hi int) int {
	return collective.HeaderSize + 8*kernels.Words(hi-lo) + 4*efChunks(hi-lo)
}

// efShardBytes is what rank sends and receives in one ef-signsgd step over
// the shard topology: its slice of every other owner's coordinates, then
// its own slice's result to every other rank, and the same back.
func efShardBytes(d, m, rank int) (sent, recv int) {
	lo, hi := efShardRange(d, m, rank)
	own := efSliceBytes(lo, hi)
	for j := range m {
		if j != rank {
			lo, hi := efShardRange(d, m, j)
			sent += efSliceBytes(lo, hi)
		}
	}
	return sent + (m-1)*own, sent + (m-1)*own
}

// encodeRange appends the sign bits and scales of coordinates [lo, hi)
// (lo a multiple of efChunk) to b: encode's layout for that slice, which
// efDecode reads into the slice.
func (st *efState) encodeRange(b []byte, lo, hi int) []byte {
	for _, w := range st.neg[lo/64 : lo/64+kernels.Words(hi-lo)] {
		b = binary.LittleEndian.AppendUint64(b, w)
	}
	for _, s := range st.scales[lo/efChunk : lo/efChunk+efChunks(hi-lo)] {
		b = binary.LittleEndian.AppendUint32(b, math.Float32bits(s))
	}
	return b
}

func (o *efOpt) step(s *stepEnv, g []float32) error {
	if s.role == Blind {
		kernels.Scale(g, -1)
	}
	if err := s.atk.grads(s.c, g, s.step); err != nil {
		return err
	}
	o.up.compress(g)
	c := s.c
	if o.shard {
		if err := o.exchangeShard(c, g); err != nil {
			return err
		}
		kernels.ApplyGradStep(s.params, g, s.lr, s.wd)
		return nil
	}
	if c.Rank() != 0 {
		if err := c.Send(0, collective.TagMean, o.up.encode(nil)); err != nil {
			return fmt.Errorf("ef-signsgd: %w", err)
		}
		if err := recvScaled(c, 0, collective.TagMeanResult, g, false); err != nil {
			return err
		}
	} else {
		sv := o.server
		m, d := c.Size(), len(g)
		if sv.vecs == nil {
			sv.vecs, sv.out, sv.hm = makeVectors(m, d), make([]float32, d), make([]float32, d)
		}
		copy(sv.vecs[0], g)
		for r := 1; r < m; r++ {
			if err := recvScaled(c, r, collective.TagMean, sv.vecs[r], true); err != nil {
				return err
			}
		}
		vecs := sv.vecs
		if sv.pre.run != nil {
			sv.ps.step = s.step
			vecs = sv.pre.run(&sv.ps, vecs)
		}
		sv.agg.run(&sv.st, sv.out, vecs)
		if sv.st.center != nil {
			copy(sv.st.center, sv.out)
		}
		sv.measure(sv.out)
		copy(g, sv.out)
		o.down.compress(g)
		out := o.down.encode(nil)
		for r := 1; r < m; r++ {
			if err := c.Send(r, collective.TagMeanResult, out); err != nil {
				return fmt.Errorf("ef-signsgd: %w", err)
			}
		}
	}
	kernels.ApplyGradStep(s.params, g, s.lr, s.wd)
	return nil
}

// state is what a checkpoint keeps: both residuals (rank 0's down
// residual is zeros elsewhere) and cclip's center.
func (o *efOpt) state() []float32 { return o.buf }

// exchangeShard replaces g, this rank's compressed gradient, by the
// compressed aggregate over the shard topology: every rank sends owner j
// its slice, j combines the M slices with the aggregator, compresses the
// result with its own down residual of that slice and sends it to every
// rank. No attack statistics (no rank sees the whole aggregate).
func (o *efOpt) exchangeShard(c collective.Comm, g []float32) error {
	m, d, me := c.Size(), len(g), c.Rank()
	for j := range m {
		if j == me {
			continue
		}
		lo, hi := efShardRange(d, m, j)
		if err := c.Send(j, collective.TagMean, o.up.encodeRange(nil, lo, hi)); err != nil {
			return fmt.Errorf("ef-signsgd: %w", err)
		}
	}
	lo, hi := efShardRange(d, m, me)
	sv := o.server
	if sv.vecs == nil {
		sv.vecs, sv.out = makeVectors(m, hi-lo), make([]float32, hi-lo)
	}
	for r := range m {
		if r == me {
			copy(sv.vecs[r], g[lo:hi])
			continue
		}
		if err := recvScaled(c, r, collective.TagMean, sv.vecs[r], true); err != nil {
			return err
		}
	}
	sv.agg.run(&sv.st, sv.out, sv.vecs)
	if o.slice == nil { // the down residual of this slice: the owner's part of o.down
		o.slice = &efState{hi: o.down.hi[lo:hi], lo: o.down.lo[lo:hi], p: o.down.p[lo:hi],
			neg: o.down.neg[lo/64 : lo/64+kernels.Words(hi-lo)], scales: o.down.scales[lo/efChunk : lo/efChunk+efChunks(hi-lo)]}
	}
	down := o.slice
	copy(g[lo:hi], sv.out)
	down.compress(g[lo:hi])
	out := down.encode(nil)
	for r := range m {
		if r != me {
			if err := c.Send(r, collective.TagMeanResult, out); err != nil {
				return fmt.Errorf("ef-signsgd: %w", err)
			}
		}
	}
	for j := range m {
		if j == me {
			continue
		}
		lo, hi := efShardRange(d, m, j)
		if err := recvScaled(c, j, collective.TagMeanResult, g[lo:hi], false); err != nil {
			return err
		}
	}
	return nil
}

// recvScaled receives the compressed vector rank r sends with tag and
// writes its scaled signs into dst; a worker's (sanitize) has its
// non-finite values counted as 0, as every worker value is.
func recvScaled(c collective.Comm, r int, tag collective.Tag, dst []float32, sanitize bool) error {
	p, err := c.Recv(r, tag)
	if err != nil {
		return fmt.Errorf("ef-signsgd: %w", err)
	}
	if err := efDecode(dst, p); err != nil {
		return fmt.Errorf("from rank %d: %w", r, err)
	}
	if sanitize {
		kernels.SanitizeFloat32(dst)
	}
	return nil
}
