package collective

import (
	"fmt"
	"iter"
	"math/rand/v2"
	"sync"

	"signsgd/kernels"
)

// A size-only replay of the collectives on SimNet's link model, for worlds
// too large to run with their payloads (M = 4096 ranks of d = 11.7M values
// would need M buffers of 47 MB for the mean and M inboxes of them at rank
// 0). Each collective's plain form (the form a SimNet Comm gets) is
// written out as the program of frames it sends and receives, in the same
// order, with the same sizes; SimulateExchange runs those programs through
// the link model of simlink.go, stamp for stamp, and so gives the clocks a
// SimNet run of the real collective gives (TestScheduleMatchesSimNet holds
// it to them).
//
// What the payload's content decides and is fixed here: a fp32 frame is
// 4 bytes a value whatever they are; a worker's signs frame is what
// EncodeSignsWire makes of the signs of a dense random gradient (no zero
// sign: the sign plane alone, no compression), which is what bench scale
// sends. A vote's result (the server's and the shard owners') is what it
// makes of M independent fair voters' majority: with M even a coordinate
// ties (sign 0) with probability C(M, M/2) / 2^M, 37.5% at M = 4, and the
// result then carries its non-zero plane too (compressed where zstd
// shortens it, as at large M); SimModel.Unanimous makes every voter agree
// (no ties, the workers' frame size). A sparse or compressible gradient
// would send less.
//
// What SimNet does not charge and the replay may (SimCosts): rank 0's sum
// of each received fp32 segment, every ring rank's addition of its
// neighbour's chunk, the vote count of each server chunk and shard, and
// the allgather's SHA-256 digests of every payload. Decoding is not
// charged (a copy of the bytes, small beside the count).

// SimCosts are the per-unit compute times, in seconds, the replay adds to
// a rank's clock. The zero value charges nothing (SimNet's model).
type SimCosts struct {
	AddPerValue      float64 // one float32 added into a sum (the mean's reduction)
	VotePerVoterWord float64 // one voter's 64-coordinate word counted by kernels.Vote
	HashPerByte      float64 // one byte through SHA-256 (the allgather's digests)
}

// SimModel is the link and compute model of a replay.
type SimModel struct {
	Link Link
	// HalfDuplex makes a rank's interface carry one frame at a time,
	// sending or receiving: its send and receive queues are one.
	HalfDuplex bool
	Costs      SimCosts
	// Unanimous: every voter sends the same signs, so a vote's result has
	// no ties and is as long as a vote (default: independent voters).
	Unanimous bool
}

// simOp is one step of a rank's program.
type simOp struct {
	kind  uint8 // opSend, opRecv, opCompute
	tag   uint8 // 0 or 1: the collective's first and second phase
	peer  int
	bytes int     // frame bytes, header included
	secs  float64 // opCompute
}

const (
	opSend uint8 = iota
	opRecv
	opCompute
)

// SimulateExchange is the simulated seconds one exchange of d values by
// kind ("mean" or "vote") over topology takes among m ranks that start it
// together on idle links: the latest rank's clock at its end.
func SimulateExchange(kind, topology string, m, d int, model SimModel) (float64, error) {
	if !(model.Link.Bandwidth > 0) {
		return 0, fmt.Errorf("simulate %s %s: link of no bandwidth", kind, topology)
	}
	if m < 1 || d < 0 {
		return 0, fmt.Errorf("simulate %s %s: %d ranks, %d values", kind, topology, m, d)
	}
	var prog func(r int) iter.Seq[simOp]
	c := model.Costs
	ties := tieProbability(m)
	if model.Unanimous {
		ties = 0
	}
	switch kind + ":" + topology {
	case "mean:server":
		prog = func(r int) iter.Seq[simOp] { return meanServerProgram(r, m, d, c) }
	case "mean:ring":
		prog = func(r int) iter.Seq[simOp] { return meanRingProgram(r, m, d, c) }
	case "vote:server":
		prog = func(r int) iter.Seq[simOp] { return voteServerProgram(r, m, d, c, ties) }
	case "vote:allgather":
		prog = func(r int) iter.Seq[simOp] { return voteAllgatherProgram(r, m, d, c) }
	case "vote:shard":
		prog = func(r int) iter.Seq[simOp] { return voteShardProgram(r, m, d, c, ties) }
	default:
		return 0, fmt.Errorf("simulate: no program for %s over %q", kind, topology)
	}
	if m == 1 {
		return 0, nil
	}
	return runPrograms(m, prog, model)
}

// runPrograms runs every rank's program under model: each rank runs until
// a receive finds no frame stamped for it, and waits until its sender
// stamps one.
func runPrograms(m int, prog func(r int) iter.Seq[simOp], model SimModel) (float64, error) {
	type rankState struct {
		clock, sendFree, recvFree float64
		next                      func() (simOp, bool)
		stop                      func()
		blocked                   bool
		op                        simOp // the receive it waits in
		done                      bool
	}
	bw, lat := model.Link.Bandwidth, model.Link.Latency.Seconds()
	rs := make([]rankState, m)
	for r := range rs {
		rs[r].next, rs[r].stop = iter.Pull(prog(r))
	}
	defer func() {
		for r := range rs {
			rs[r].stop()
		}
	}()
	// Stamps of frames in flight, by (receiver, sender, tag): the first
	// in head (-1: none), any later ones in more, in order.
	head := make([]float64, 2*m*m)
	for i := range head {
		head[i] = -1
	}
	more := map[int][]float64{}
	key := func(to, from int, tag uint8) int { return (to*m+from)*2 + int(tag) }
	runnable := make([]int, 0, m)
	for r := m - 1; r >= 0; r-- {
		runnable = append(runnable, r)
	}
	done := 0
	for len(runnable) > 0 {
		r := runnable[len(runnable)-1]
		runnable = runnable[:len(runnable)-1]
		me := &rs[r]
		for {
			var op simOp
			if me.blocked {
				op, me.blocked = me.op, false
			} else {
				var ok bool
				if op, ok = me.next(); !ok {
					me.done = true
					done++
					break
				}
			}
			switch op.kind {
			case opCompute:
				me.clock += op.secs
			case opSend:
				a := max(me.clock, me.sendFree)
				if model.HalfDuplex {
					a = max(a, me.recvFree)
				}
				me.sendFree = a + float64(op.bytes)/bw
				if model.HalfDuplex {
					me.recvFree = me.sendFree
				}
				k := key(op.peer, r, op.tag)
				if head[k] < 0 {
					head[k] = a + lat
				} else {
					more[k] = append(more[k], a+lat)
				}
				if to := &rs[op.peer]; to.blocked && to.op.peer == r && to.op.tag == op.tag {
					runnable = append(runnable, op.peer)
				}
			case opRecv:
				k := key(r, op.peer, op.tag)
				reach := head[k]
				if reach < 0 {
					me.blocked, me.op = true, op
					break
				}
				if q := more[k]; len(q) > 0 {
					head[k] = q[0]
					if len(q) == 1 {
						delete(more, k)
					} else {
						more[k] = q[1:]
					}
				} else {
					head[k] = -1
				}
				b := max(reach, me.recvFree)
				if model.HalfDuplex {
					b = max(b, me.sendFree)
				}
				me.recvFree = b + float64(op.bytes)/bw
				if model.HalfDuplex {
					me.sendFree = me.recvFree
				}
				me.clock = max(me.clock, me.recvFree)
			}
			if me.blocked {
				break
			}
		}
	}
	if done < m {
		for r := range rs {
			if rs[r].blocked {
				return 0, fmt.Errorf("simulate: rank %d waits for a frame of tag %d from rank %d that is never sent", r, rs[r].op.tag, rs[r].op.peer)
			}
		}
	}
	end := 0.0
	for r := range rs {
		end = max(end, rs[r].clock)
	}
	return end, nil
}

func floatFrame(n int) int { return HeaderSize + 4*n }

// meanServerProgram is meanServerPlain's frames.
func meanServerProgram(me, m, d int, c SimCosts) iter.Seq[simOp] {
	return func(yield func(simOp) bool) {
		if me != 0 {
			for j := range floatSegs(d) {
				a, b := floatSeg(0, d, j)
				if !yield(simOp{kind: opSend, peer: 0, bytes: floatFrame(b - a)}) {
					return
				}
			}
			for j := range floatSegs(d) {
				a, b := floatSeg(0, d, j)
				if !yield(simOp{kind: opRecv, tag: 1, peer: 0, bytes: floatFrame(b - a)}) {
					return
				}
			}
			return
		}
		for j := range floatSegs(d) {
			a, b := floatSeg(0, d, j)
			for r := 1; r < m; r++ {
				if !yield(simOp{kind: opRecv, peer: r, bytes: floatFrame(b - a)}) ||
					!yield(simOp{kind: opCompute, secs: c.AddPerValue * float64(b-a)}) {
					return
				}
			}
			for r := 1; r < m; r++ {
				if !yield(simOp{kind: opSend, tag: 1, peer: r, bytes: floatFrame(b - a)}) {
					return
				}
			}
		}
	}
}

// meanRingProgram is meanRingPlain's frames.
func meanRingProgram(me, m, d int, c SimCosts) iter.Seq[simOp] {
	next, prev := (me+1)%m, (me+m-1)%m
	mod := func(k int) int { return ((k % m) + m) % m }
	return func(yield func(simOp) bool) {
		chunk := func(kind, tag uint8, peer, k int, add float64) bool {
			lo, hi := ringChunk(d, m, k)
			for j := range floatSegs(hi - lo) {
				a, b := floatSeg(lo, hi, j)
				if !yield(simOp{kind: kind, tag: tag, peer: peer, bytes: floatFrame(b - a)}) {
					return false
				}
				if add > 0 && !yield(simOp{kind: opCompute, secs: add * float64(b-a)}) {
					return false
				}
			}
			return true
		}
		for s := range m - 1 {
			if !chunk(opSend, 0, next, mod(me-s), 0) || !chunk(opRecv, 0, prev, mod(me-1-s), c.AddPerValue) {
				return
			}
		}
		for s := range m - 1 {
			if !chunk(opSend, 1, next, mod(me+1-s), 0) || !chunk(opRecv, 1, prev, mod(me-s), 0) {
				return
			}
		}
	}
}

// voteServerProgram is Quorum.Vote's frames (no quorum: VoteServer).
func voteServerProgram(me, m, d int, c SimCosts, ties float64) iter.Seq[simOp] {
	w := kernels.Words(d)
	return func(yield func(simOp) bool) {
		chunks := chunkCount(w)
		frame := func(k int) int { lo, hi := chunkWords(w, k); return voteFrameLen(wordsLen(d, lo, hi)) }
		result := func(k int) int { lo, hi := chunkWords(w, k); return resultFrameLen(wordsLen(d, lo, hi), ties) }
		if me != 0 {
			for k := range chunks {
				if !yield(simOp{kind: opSend, peer: 0, bytes: frame(k)}) {
					return
				}
			}
			for k := range chunks {
				if !yield(simOp{kind: opRecv, tag: 1, peer: 0, bytes: result(k)}) {
					return
				}
			}
			return
		}
		for k := range chunks {
			lo, hi := chunkWords(w, k)
			for r := 1; r < m; r++ {
				if !yield(simOp{kind: opRecv, peer: r, bytes: frame(k)}) {
					return
				}
			}
			if !yield(simOp{kind: opCompute, secs: c.VotePerVoterWord * float64(m*(hi-lo))}) {
				return
			}
			for r := 1; r < m; r++ {
				if !yield(simOp{kind: opSend, tag: 1, peer: r, bytes: result(k)}) {
					return
				}
			}
		}
	}
}

// voteAllgatherProgram is VoteAllgather's frames, checkDigests's with them.
func voteAllgatherProgram(me, m, d int, c SimCosts) iter.Seq[simOp] {
	return func(yield func(simOp) bool) {
		n := voteFrameLen(d)
		for pass := range 2 {
			if pass == 1 {
				if m <= 2 {
					break
				}
				n = HeaderSize + digestVectorLen(m)
				if !yield(simOp{kind: opCompute, secs: c.HashPerByte * float64(m*(voteFrameLen(d)-HeaderSize))}) {
					return
				}
			}
			for p := range m {
				if p != me && !yield(simOp{kind: opSend, tag: uint8(pass), peer: p, bytes: n}) {
					return
				}
			}
			for p := range m {
				if p != me && !yield(simOp{kind: opRecv, tag: uint8(pass), peer: p, bytes: n}) {
					return
				}
			}
		}
		yield(simOp{kind: opCompute, secs: c.VotePerVoterWord * float64(m*kernels.Words(d))})
	}
}

// voteShardProgram is VoteShard's frames.
func voteShardProgram(me, m, d int, c SimCosts, ties float64) iter.Seq[simOp] {
	w := kernels.Words(d)
	frame := func(j int) int { return voteFrameLen(shardLen(d, w, m, j)) }
	result := func(j int) int { return resultFrameLen(shardLen(d, w, m, j), ties) }
	return func(yield func(simOp) bool) {
		for j := range m {
			if j != me && !yield(simOp{kind: opSend, peer: j, bytes: frame(j)}) {
				return
			}
		}
		for r := range m {
			if r != me && !yield(simOp{kind: opRecv, peer: r, bytes: frame(me)}) {
				return
			}
		}
		lo, hi := shardWords(w, m, me)
		if !yield(simOp{kind: opCompute, secs: c.VotePerVoterWord * float64(m*(hi-lo))}) {
			return
		}
		for j := range m {
			if j != me && !yield(simOp{kind: opSend, tag: 1, peer: j, bytes: result(me)}) {
				return
			}
		}
		for j := range m {
			if j != me && !yield(simOp{kind: opRecv, tag: 1, peer: j, bytes: result(j)}) {
				return
			}
		}
	}
}

var voteFrameLens sync.Map // coordinates -> frame bytes

// voteFrameLen is the frame, header included, that carries the vote of n
// coordinates of a dense random gradient: encodeVote's length.
func voteFrameLen(n int) int {
	if v, ok := voteFrameLens.Load(n); ok {
		return v.(int)
	}
	s := kernels.NewSigns(n)
	g := make([]float32, n)
	rng := rand.New(rand.NewPCG(uint64(n), 7))
	for i := range g {
		g[i] = float32(rng.NormFloat64())
	}
	kernels.PackSigns(s, g)
	b := encodeVote(s)
	l := HeaderSize + len(b)
	putBytes(b)
	voteFrameLens.Store(n, l)
	return l
}

// tieProbability is the chance that m independent fair voters tie at a
// coordinate: C(m, m/2) / 2^m for even m (by the product of the ratios,
// no overflow), 0 for odd m.
func tieProbability(m int) float64 {
	if m%2 != 0 {
		return 0
	}
	p := 1.0
	for i := 1; i <= m/2; i++ { // C(m, m/2) / 2^m = prod (m/2 + i) / (4 i)
		p *= float64(m/2+i) / float64(4*i)
	}
	return p
}

type resultKey struct {
	n    int
	ties float64
}

var resultFrameLens sync.Map // resultKey -> frame bytes

// resultFrameLen is the frame, header included, that carries a vote result
// of n coordinates whose ties (sign 0) fall at random with probability
// ties: encodeVote's length for such a result (the worker's frame when
// ties is 0).
func resultFrameLen(n int, ties float64) int {
	if ties == 0 {
		return voteFrameLen(n)
	}
	k := resultKey{n, ties}
	if v, ok := resultFrameLens.Load(k); ok {
		return v.(int)
	}
	s := kernels.NewSigns(n)
	rng := rand.New(rand.NewPCG(uint64(n), 11))
	for i := range n {
		if rng.Float64() >= ties {
			s.Set(i, 1-2*rng.IntN(2))
		}
	}
	b := encodeVote(s)
	l := HeaderSize + len(b)
	putBytes(b)
	resultFrameLens.Store(k, l)
	return l
}
