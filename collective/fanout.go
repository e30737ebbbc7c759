package collective

import "signsgd/kernels"

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
