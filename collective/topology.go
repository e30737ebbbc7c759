package collective

import (
	"fmt"
	"strings"

	"signsgd/kernels"
)

// A topology is the pattern of messages a collective uses (see doc.go for
// the table of bytes per rank):
//
//   - vote "server" (VoteServer, the paper's Algorithm 1): rank 0 gathers
//     the signs, counts and sends the result back; rank 0 is trusted.
//   - vote "allgather" (VoteAllgather): every rank sends its signs to every
//     other rank and counts locally; the ranks then compare digests of what
//     they received, so a rank that sent different votes to different ranks
//     is named and the step fails.
//   - vote "shard" (VoteShard): rank j counts the vote of the j-th slice of
//     the coordinates and sends that slice of the result to everyone; shard
//     owners are trusted.
//   - mean "server" (MeanServer): rank 0 sums and sends the mean back.
//   - mean "ring" (MeanRing): reduce-scatter then allgather along the ring
//     0 -> 1 -> ... -> M-1 -> 0.

// VoteTopologies are the topologies Vote accepts; the first is the default.
var VoteTopologies = []string{"server", "allgather", "shard"}

// MeanTopologies are the topologies Mean accepts; the first is the default.
var MeanTopologies = []string{"server", "ring"}

// Vote runs the majority vote of local over topology: result receives
// sign(sum of every rank's signs) on every rank, the same on all of them.
func Vote(c Comm, topology string, local, result kernels.Signs, opt kernels.VoteOptions) error {
	switch topology {
	case "server":
		return VoteServer(c, local, result, opt)
	case "allgather":
		return VoteAllgather(c, local, result, opt)
	case "shard":
		return VoteShard(c, local, result, opt)
	}
	return fmt.Errorf("rank %d: vote: unknown topology %q (want %s)", c.Rank(), topology, strings.Join(VoteTopologies, ", "))
}

// Mean replaces x on every rank by the mean over ranks, over topology.
func Mean(c Comm, topology string, x []float32) error {
	switch topology {
	case "server":
		return MeanServer(c, x)
	case "ring":
		return MeanRing(c, x)
	}
	return fmt.Errorf("rank %d: mean: unknown topology %q (want %s)", c.Rank(), topology, strings.Join(MeanTopologies, ", "))
}

// digestVectorLen is the payload of an allgather vote's digest vector:
// one SHA-256 digest per rank.
func digestVectorLen(m int) int { return 32 * m }

// VoteBytes is what rank sends and receives, frame headers included, in
// one vote of d coordinates among m ranks over topology. It counts every
// signs payload at MaxSignsWireLen, so it is exact when the payloads are
// raw (CompressNone) and every sign is non-zero, and an upper bound
// otherwise: compression is used only where it is shorter, and a zero sign
// costs no sign bit. It panics on an unknown topology.
//
//	server, rank 0:    (M-1) S(d) each way
//	server, rank r>0:  S(d) each way
//	allgather:         (M-1)(H + W(d)) + (M-1)(H + 32M) each way (no digests for M <= 2)
//	shard, rank r:     sum over j != r of (H + W(n_j)) + (M-1)(H + W(n_r)) each way
//
// where H = HeaderSize, W(n) = MaxSignsWireLen(n) = 7 + 2 ceil(n/8),
// S(d) = sum over the vote's chunks of H + W(chunk) (a frame per chunk of a
// million coordinates: H + W(d) up to that size), and n_j
// is the number of coordinates of shard j (whole 64-coordinate words, the
// words split as evenly as they go). Shard's total is about
// 2 x 2(M-1)/M x d/8 bytes each way, whatever M.
func VoteBytes(topology string, d, m, rank int) (sent, recv int) {
	if m <= 1 {
		return 0, 0
	}
	h := HeaderSize
	switch topology {
	case "server":
		n := serverVoteLen(d)
		if rank == 0 {
			return (m - 1) * n, (m - 1) * n
		}
		return n, n
	case "allgather":
		n := (m - 1) * (h + MaxSignsWireLen(d))
		if m > 2 {
			n += (m - 1) * (h + digestVectorLen(m))
		}
		return n, n
	case "shard":
		w := kernels.Words(d)
		n := 0
		for j := 0; j < m; j++ {
			if j != rank {
				n += h + MaxSignsWireLen(shardLen(d, w, m, j))
			}
		}
		n += (m - 1) * (h + MaxSignsWireLen(shardLen(d, w, m, rank)))
		return n, n
	}
	panic(fmt.Sprintf("collective: VoteBytes: unknown topology %q", topology))
}

// MeanBytes is what rank sends and receives, frame headers included, in
// one mean of d float32s among m ranks over topology (exact). It panics on
// an unknown topology. Vectors travel in frames of at most
// floatSegmentBytes (1 MiB) of payload: F(n) = S(n) H + 4n bytes for n
// values, S(n) = max(1, ceil(4n / 1 MiB)) frames.
//
//	server, rank 0:    (M-1) F(d) each way
//	server, rank r>0:  F(d) each way
//	ring, rank r:      sent the sum of F(c_k) over k != r+1 and over k != r+2,
//	                   received the sum of F(c_k) over k != r and over k != r+1
//
// where c_k is the length of ring chunk k (indices mod M): about 2(M-1)/M x
// 4d bytes each way.
func MeanBytes(topology string, d, m, rank int) (sent, recv int) {
	if m <= 1 {
		return 0, 0
	}
	switch topology {
	case "server":
		if rank == 0 {
			n := (m - 1) * floatFramesLen(d)
			return n, n
		}
		return floatFramesLen(d), floatFramesLen(d)
	case "ring":
		f := func(k int) int {
			lo, hi := ringChunk(d, m, k%m)
			return floatFramesLen(hi - lo)
		}
		all := 0
		for k := range m {
			all += f(k)
		}
		sent = 2*all - f(rank+1) - f(rank+2)
		recv = 2*all - f(rank) - f(rank+1)
		return sent, recv
	}
	panic(fmt.Sprintf("collective: MeanBytes: unknown topology %q", topology))
}

// MeanFrames is the number of frames a worker sends (and receives) in a
// server mean of d float32s, and the number rank 0 receives from each: one
// per segment of at most 1 MiB.
func MeanFrames(d int) int { return floatSegs(d) }

// RingChunk returns the bounds [lo, hi) of chunk k of d values among m
// ranks in the ring mean (MeanRing).
func RingChunk(d, m, k int) (lo, hi int) { return ringChunk(d, m, ((k%m)+m)%m) }

// Float32Frames returns the payload sizes, in bytes, of the frames that
// carry n float32s in the fp32 collectives: a frame per segment of at most
// 1 MiB, one empty frame for n = 0.
func Float32Frames(n int) []int {
	out := make([]int, floatSegs(n))
	for j := range out {
		a, b := floatSeg(0, n, j)
		out[j] = 4 * (b - a)
	}
	return out
}
