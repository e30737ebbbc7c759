package collective

import (
	"time"

	"signsgd/kernels"
)

// voteChunkWords is the size, in 64-coordinate words, of the chunks the
// server vote sends, counts and returns one after another: 16384 words are
// a million coordinates, 128 KiB a plane, small enough that the pipeline
// fills at once and large enough that a frame's fixed costs (a header, a
// system call, a wake-up) stay under a percent. Tests lower it.
var voteChunkWords = 1 << 14

// chunkCount is the number of chunks of a vote of w words (1 for w = 0).
func chunkCount(w int) int { return max(1, (w+voteChunkWords-1)/voteChunkWords) }

// chunkWords returns the words [lo, hi) of chunk k of a vote of w words:
// [k C, (k+1) C) for C = voteChunkWords, the last one shorter.
func chunkWords(w, k int) (lo, hi int) {
	lo = min(k*voteChunkWords, w)
	return lo, min(lo+voteChunkWords, w)
}

// chunkOf returns chunk k of s, sharing its words.
func chunkOf(s kernels.Signs, k int) kernels.Signs {
	lo, hi := chunkWords(len(s.NZ), k)
	return wordsOf(s, lo, hi)
}

// ServerVoteFrames is the number of frames a worker sends (and receives)
// in one server vote of d coordinates: one per chunk.
func ServerVoteFrames(d int) int { return chunkCount(kernels.Words(d)) }

// serverVoteLen is what a worker sends (and receives) in one server vote of
// d coordinates, headers included: a frame per chunk, raw planes.
func serverVoteLen(d int) int {
	w := kernels.Words(d)
	n := 0
	for k := range chunkCount(w) {
		lo, hi := chunkWords(w, k)
		n += HeaderSize + MaxSignsWireLen(wordsLen(d, lo, hi))
	}
	return n
}

// countVote is kernels.Vote of voters into dst a chunk (voteChunkWords) at
// a time, word 0 of dst being word base of the whole vote (for the random
// tie rule): each call stays on this goroutine, in the caches and without
// allocating, as the server vote's count of a chunk does.
func countVote(dst kernels.Signs, voters []kernels.Signs, opt kernels.VoteOptions, base int, sc *scratch) {
	w := len(dst.NZ)
	for k := range chunkCount(w) {
		lo, hi := chunkWords(w, k)
		sc.chunks = sc.chunks[:0]
		for _, v := range voters {
			sc.chunks = append(sc.chunks, wordsOf(v, lo, hi))
		}
		kernels.Vote(wordsOf(dst, lo, hi), sc.chunks, opt.AtWord(base+lo))
	}
}

// voteWindow is how many chunks of one worker's votes rank 0 keeps posted
// ahead (signWindow): the link writes chunk k+1.. in place while chunk k
// is counted. 16 chunks are a whole ResNet-18 vote.
const voteWindow = 16

// signWindow is one worker's vote chunks, posted at rank 0 into buffers of
// its own: a chunk's slot holds its dense wire form (no zero sign, 7 +
// ceil(n/8) bytes) one byte into the slot's buffer, so that its sign plane
// lies 8-byte aligned and is counted where it landed (viewSignsWire). A
// longer payload (zero signs stored raw), or one that came before its slot
// was posted, is lent from the queue instead (recvReq.borrow).
type signWindow struct {
	peer int
	n    int // chunks in the vote
	d    int // coordinates in the vote
	reqs [voteWindow]recvReq
	bufs [voteWindow][]byte
}

// start posts the first chunks of a vote of d coordinates from peer.
func (w *signWindow) start(co *core, peer, d int) {
	w.peer, w.d, w.n = peer, d, chunkCount(kernels.Words(d))
	for k := range min(voteWindow, w.n) {
		w.post(co, k)
	}
}

// post posts chunk k into its slot.
func (w *signWindow) post(co *core, k int) {
	s := k % voteWindow
	lo, hi := chunkWords(kernels.Words(w.d), k)
	postVote(co, &w.reqs[s], &w.bufs[s], w.peer, TagVote, wordsLen(w.d, lo, hi), false)
}

// postVote posts r, a receive of a vote payload (a voter's signs or a
// result) of n coordinates from peer under tag, into *buf (grown to fit)
// one byte in: a plane that starts a word into the payload's planes then
// lies 8-byte aligned. Without whole, dst holds a dense vote (the sign
// plane right after the 7-byte header, for viewSignsWire) and a longer
// payload (up to MaxSignsWireLen(n)), or one already queued, is lent.
// With whole, dst takes any payload up to MaxSignsWireLen(n), with a word
// to spare behind it, so a result's raw sign plane after a raw non-zero
// plane of whole words is scattered where it landed (planeWords).
func postVote(co *core, r *recvReq, buf *[]byte, peer int, tag Tag, n int, whole bool) {
	size, spare := SignsWireHeaderSize+(n+7)/8, 8*kernels.Words(n)-(n+7)/8 // (the sign plane's last word, whole)
	if whole {
		size, spare = MaxSignsWireLen(n), 8
	}
	if cap(*buf) < 1+size+spare {
		*buf = make([]byte, 1+size+spare)
	}
	*r = recvReq{peer: peer, tag: tag, dst: (*buf)[1 : 1+size], max: MaxSignsWireLen(n), borrow: true}
	co.post(r)
}

// take waits for chunk k, until deadline, and returns its payload (the
// caller's until it calls refill(k)).
func (w *signWindow) take(co *core, k int, deadline time.Time) ([]byte, error) {
	r := &w.reqs[k%voteWindow]
	if err := co.finish(r, deadline); err != nil {
		return nil, err
	}
	return r.got, nil
}

// refill hands back chunk k's buffer if it was lent, and posts chunk
// k+voteWindow in its slot, if the vote has one.
func (w *signWindow) refill(co *core, k int) {
	w.reqs[k%voteWindow].giveBack()
	if k+voteWindow < w.n {
		w.post(co, k+voteWindow)
	}
}

// cancel withdraws whatever is still posted.
func (w *signWindow) cancel(co *core) {
	for s := range w.reqs {
		co.cancel(&w.reqs[s])
		w.reqs[s].giveBack()
	}
}

// onesFor returns the NZ plane of a dense vote of s's size, read only:
// Words(s.N) words with every bit set but the last word's past s.N (the
// NZ plane of dense votes viewed in place, viewSignsWire). A vote of whole
// words shares one buffer of ones; one whose last word is partial (the
// last chunk or shard of most sizes) has its own, rebuilt when its size
// changes.
func (sc *scratch) onesFor(s kernels.Signs) []uint64 {
	w := len(s.NZ)
	if s.N == 64*w {
		if len(sc.ones) < w {
			sc.ones = make([]uint64, w)
			fillOnes(sc.ones)
		}
		return sc.ones[:w:w]
	}
	t := sc.onesTail
	if len(t) != w || t[w-1] != tailMask(s, w-1) {
		t = resize(t, w)
		fillOnes(t)
		t[w-1] = tailMask(s, w-1)
		sc.onesTail = t
	}
	return t[:w:w]
}
