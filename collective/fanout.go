package collective

import (
	"slices"
	"sync"
	"sync/atomic"

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

// fanout sends a sequence of payloads to each of some peers, in order, one
// goroutine per peer, so that its caller goes on with the next payload
// while the peers drain the earlier ones, and a peer slow to read does not
// hold up the others. A payload comes from the byte pool and goes back to
// it once every peer has sent it.
type fanout struct {
	peers   []int
	queues  []chan *fanFrame
	closed  []bool
	errs    []error // by peer index: the first send error
	senders sync.WaitGroup
}

type fanFrame struct {
	b    []byte
	refs atomic.Int32
}

func (f *fanFrame) release() {
	if f.refs.Add(-1) == 0 {
		putBytes(f.b)
	}
}

// newFanout starts the senders of tag to peers, for at most n payloads.
func newFanout(c Comm, peers []int, tag Tag, n int) *fanout {
	f := &fanout{peers: peers, queues: make([]chan *fanFrame, len(peers)), closed: make([]bool, len(peers)), errs: make([]error, len(peers))}
	for i, p := range peers {
		q := make(chan *fanFrame, n)
		f.queues[i] = q
		f.senders.Go(func() {
			for fr := range q {
				if f.errs[i] == nil { // after an error, only release
					f.errs[i] = c.Send(p, tag, fr.b)
				}
				fr.release()
			}
		})
	}
	return f
}

// send queues b to every peer not stopped; b goes back to the pool once
// sent to all of them.
func (f *fanout) send(b []byte) {
	fr := &fanFrame{b: b}
	fr.refs.Store(1)
	for i, q := range f.queues {
		if !f.closed[i] {
			fr.refs.Add(1)
			q <- fr
		}
	}
	fr.release()
}

// stop queues nothing more to peer p; what is queued is still sent.
func (f *fanout) stop(p int) {
	if i := slices.Index(f.peers, p); i >= 0 && !f.closed[i] {
		f.closed[i] = true
		close(f.queues[i])
	}
}

// wait returns, once everything queued is sent (or failed), each peer's
// first send error, by index in peers. Nothing can be queued after it.
func (f *fanout) wait() []error {
	for _, p := range f.peers {
		f.stop(p)
	}
	f.senders.Wait()
	return f.errs
}
