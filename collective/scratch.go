package collective

import (
	"encoding/binary"
	"math/bits"
	"sync"
	"unsafe"

	"signsgd/kernels"
)

// slicePools recycles slices of T, one pool per power-of-two capacity so
// that a slice taken always fits. The vote encodes into, receives into and
// decodes through such buffers (bytesPool, wordsPool), and the transports
// queue frames nobody waits for yet in them: fresh multi-megabyte buffers
// are not free, the runtime zeroes them and the kernel faults their pages
// in, which for a ResNet-18-sized vote cost many times the real work
// (BenchmarkExchangeTCP; `signsgd bench step` times a whole step).
//
// Each class keeps a reserve of up to poolReserveBytes (at least two
// slices) that survives garbage collections, which empty a sync.Pool: a
// training step that allocates elsewhere would otherwise make every
// exchange after a collection allocate (and fault in) its buffers again.
// Past the reserve, slices go to a sync.Pool, in a box (*[]T) that is
// itself recycled, so neither get nor put allocates once warm.
type slicePools[T any] struct {
	reserve [64]struct {
		mu sync.Mutex
		s  [][]T
	}
	classes [64]sync.Pool // *[]T holding a slice of capacity 1<<class
	boxes   sync.Pool     // empty *[]T
}

// poolReserveBytes bounds what a class keeps across collections.
const poolReserveBytes = 64 << 20

var (
	bytesPool slicePools[byte]
	wordsPool slicePools[uint64]
)

// sizeClass is the pool of a request for n elements: capacity 1<<class.
func sizeClass(n int) int { return bits.Len(uint(max(n, 1) - 1)) }

// reserveLen is how many slices class c keeps in reserve.
func reserveLen[T any](c int) int {
	var t T
	return max(2, poolReserveBytes/(int(unsafe.Sizeof(t))<<c))
}

// get returns a slice of length n with undefined contents.
func (p *slicePools[T]) get(n int) []T {
	c := sizeClass(n)
	r := &p.reserve[c]
	r.mu.Lock()
	if k := len(r.s); k > 0 {
		b := r.s[k-1]
		r.s[k-1] = nil
		r.s = r.s[:k-1]
		r.mu.Unlock()
		return b[:n]
	}
	r.mu.Unlock()
	if bp, ok := p.classes[c].Get().(*[]T); ok {
		b := *bp
		*bp = nil
		p.boxes.Put(bp)
		return b[:n]
	}
	return make([]T, n, 1<<c)
}

// put hands a slice back once nothing refers to it. It goes to the largest
// class its capacity covers.
func (p *slicePools[T]) put(b []T) {
	if cap(b) == 0 {
		return
	}
	c := bits.Len(uint(cap(b))) - 1
	r := &p.reserve[c]
	r.mu.Lock()
	if len(r.s) < reserveLen[T](c) {
		r.s = append(r.s, b[:0])
		r.mu.Unlock()
		return
	}
	r.mu.Unlock()
	bp, _ := p.boxes.Get().(*[]T)
	if bp == nil {
		bp = new([]T)
	}
	*bp = b[:0]
	p.classes[c].Put(bp)
}

func getBytes(n int) []byte   { return bytesPool.get(n) }
func putBytes(b []byte)       { bytesPool.put(b) }
func getWords(n int) []uint64 { return wordsPool.get(n) }
func putWords(w []uint64)     { wordsPool.put(w) }

// encodeVote is EncodeSignsWire of s, with the vote's compression, into a
// pooled buffer; hand it back with putBytes once sent.
func encodeVote(s kernels.Signs) []byte {
	return EncodeSignsWire(getBytes(MaxSignsWireLen(s.N))[:0], s, voteCompression)
}

// encodeVoteParts is encodeVote without copying what the wire form takes
// from s's words as they are: its payload is the parts of p, one after
// another, and equals encodeVote(s) byte for byte (TestEncodeVoteParts;
// s canonical, as a vote's signs are). On a little-endian host, where the
// non-zero plane is not stored compressed, p is the 7-byte wire header (in
// buf), the non-zero plane as s.NZ's memory (none for a dense vote under
// CompressAuto), and the sign plane: s.Neg's memory when no sign is zero,
// else the sign bits gathered into buf; a partial last word gives its
// first bytes. Anything else is encodeVote's buffer, whole. buf is pooled: hand it back (putBytes) once p is sent;
// s's words must not change until then.
func encodeVoteParts(s kernels.Signs) (p parts, buf []byte) {
	const h = SignsWireHeaderSize
	c := voteCompression
	if !littleEndian || len(s.NZ) == 0 {
		buf = encodeVote(s)
		return parts{buf}, buf
	}
	plane := (s.N + 7) / 8 // a raw plane's bytes: a partial last word's first ones
	nnz := countNZ(s)
	if nnz == s.N && c != CompressNone {
		buf = append(getBytes(h)[:0], signsWireFormat, planeOnes, planeRaw, 0, 0, 0, 0)
		return parts{buf, wordBytes(s.Neg)[:plane]}, buf
	}
	nz := wordBytes(s.NZ)[:plane]
	if c == CompressAuto && len(nz) >= minCompress && samplePays(nz) {
		buf = encodeVote(s) // the plane may compress: EncodeSignsWire decides
		return parts{buf, nil}, buf
	}
	sw := kernels.Words(nnz)
	buf = getBytes(8 + 8*sw)
	copy(buf, []byte{signsWireFormat, planeRaw, planeRaw})
	binary.LittleEndian.PutUint32(buf[3:], uint32(len(nz)))
	if nnz == s.N {
		return parts{buf[:h], nz, wordBytes(s.Neg)[:plane]}, buf
	}
	if sw > 0 {
		if uintptr(unsafe.Pointer(&buf[8]))%8 != 0 { // pooled buffers of 16 bytes and more are aligned
			putBytes(buf)
			buf = encodeVote(s)
			return parts{buf}, buf
		}
		words := unsafe.Slice((*uint64)(unsafe.Pointer(&buf[8])), sw)
		clear(words)
		gatherSignBits(words, s)
	}
	return parts{buf[:h], nz, buf[8 : 8+(nnz+7)/8]}, buf
}

// engine is a Comm of this package (NewMemWorld, DialTCP): its collectives
// run on the core's posted receives, send queues and scratch. Any other
// Comm gets the plain forms, which use the Comm interface only.
type engine interface {
	Comm
	base() *core
}

// coreOf returns c's core, or nil for a Comm of another package.
func coreOf(c Comm) *core {
	if e, ok := c.(engine); ok {
		return e.base()
	}
	return nil
}

// scratch is what one Comm's collectives keep between calls, so that an
// exchange in the steady state allocates nothing: the receives they post,
// the fan-out of results, and the votes' buffers. Collectives on one Comm
// run one at a time (every rank calls them in the same order), so one
// scratch per Comm is enough.
type scratch struct {
	reqs    []recvReq
	windows []window    // by peer
	segs    [][]float32 // the server mean's received segments, by worker
	fan     fanout

	peers    []int           // the ranks a vote sends to
	counted  []bool          // by index in peers: still counted in this vote
	voters   []kernels.Signs // what kernels.Vote counts
	chunks   []kernels.Signs // a chunk of each of them (countVote)
	signs    []kernels.Signs // decoded votes, by slot, reused while they fit
	vwins    []signWindow    // rank 0's posted vote chunks, by index in peers
	vreqs    []recvReq       // a shard owner's posted votes, by rank
	vbufs    [][]byte        // their buffers
	ones     []uint64        // all bits set (onesFor)
	onesTail []uint64        // all bits set but past a partial last word's N (onesFor)
	payloads [][]byte        // the allgather vote's payloads, by rank
	reports  [][]byte        // its digest vectors, by rank
}

// signsBuf returns scratch sign vector i, of n coordinates (contents
// undefined: the caller overwrites all of it).
func (sc *scratch) signsBuf(i, n int) kernels.Signs {
	for len(sc.signs) <= i {
		sc.signs = append(sc.signs, kernels.Signs{})
	}
	s := &sc.signs[i]
	if s.N != n || len(s.NZ) != kernels.Words(n) {
		w := kernels.Words(n)
		if cap(s.NZ) >= w {
			*s = kernels.Signs{N: n, NZ: s.NZ[:w], Neg: s.Neg[:w]}
		} else {
			*s = kernels.NewSigns(n)
		}
	}
	return *s
}

// others sets sc.peers to every rank of c but c's own, in order.
func (sc *scratch) others(c Comm) []int {
	sc.peers = sc.peers[:0]
	for r := range c.Size() {
		if r != c.Rank() {
			sc.peers = append(sc.peers, r)
		}
	}
	return sc.peers
}

// scratchOf returns c's scratch (a fresh one for a Comm of another
// package).
func scratchOf(c Comm) *scratch {
	if co := coreOf(c); co != nil {
		return &co.sc
	}
	return new(scratch)
}

// segWindow is how many segments of one peer's stream a collective keeps
// posted ahead into buffers of its own (the server mean's rank 0 per
// worker, the ring's reduce-scatter): the link writes segment k+1.. while
// segment k is summed, without queueing frames in the byte pool. gloo keeps
// two in flight; a few more absorb the scheduling of ranks that share
// cores.
const segWindow = 8

// window is one peer's posted segments: segWindow receives and their
// buffers, segment i in slot i % segWindow.
type window struct {
	peer int
	tag  Tag
	n    int // segments in the stream
	reqs [segWindow]recvReq
	bufs [segWindow][]byte
}

// start posts the first segments of a stream of n from peer under tag;
// size(i) is segment i's number of float32s.
func (w *window) start(co *core, peer int, tag Tag, n int, size func(i int) int) {
	w.peer, w.tag, w.n = peer, tag, n
	for i := range min(segWindow, n) {
		w.post(co, i, size(i))
	}
}

// post posts segment i, of k float32s, into its slot's buffer.
func (w *window) post(co *core, i, k int) {
	s := i % segWindow
	if cap(w.bufs[s]) < 4*segFloats() {
		w.bufs[s] = make([]byte, 4*segFloats())
	}
	w.reqs[s] = recvReq{peer: w.peer, tag: w.tag, dst: w.bufs[s][:4*k], borrow: true}
	co.post(&w.reqs[s])
}

// take waits for segment i and returns its values (its slot's memory, or
// the byte-pool buffer it was queued in when it came before its slot was
// posted; the caller's until it calls refill(i)).
func (w *window) take(co *core, i int) ([]float32, error) {
	r := &w.reqs[i%segWindow]
	if err := co.finish(r, co.deadline()); err != nil {
		return nil, err
	}
	return bytesFloats(r.got), nil
}

// refill hands back segment i's buffer if it was lent, and reuses its
// slot for segment i+segWindow, if the stream has one, of k float32s.
func (w *window) refill(co *core, i, k int) {
	w.reqs[i%segWindow].giveBack()
	if i+segWindow < w.n {
		w.post(co, i+segWindow, k)
	}
}

// cancel withdraws whatever is still posted.
func (w *window) cancel(co *core) {
	for s := range w.reqs {
		co.cancel(&w.reqs[s])
		w.reqs[s].giveBack()
	}
}
