// Package collective connects the ranks of a job and runs the collectives
// the optimizers need: barrier, broadcast, gather, the float32 mean of plain
// distributed SGD and the majority vote of SIGNSGD/SIGNUM.
//
// A Comm (rank, size, send, receive) has two implementations behind the
// same tests: NewMemWorld, goroutines in one process, and DialTCP, real
// processes over TCP. Collectives are functions over a Comm; they never know
// about models or adversaries.
//
// # Frames
//
// Every message is one frame, on both transports:
//
//	offset  size  field
//	0       2     magic "SG"
//	2       1     version (2)
//	3       1     flags (0)
//	4       4     tag, little-endian: which collective (or 1<<31 + user tag)
//	8       4     sequence number of the frame on this link and direction
//	12      4     payload length, at most the Comm's MaxFrame
//	16      4     job: JobHash of the job id
//	20      4     step the sender was at (Comm.SetStep)
//	24      n     payload
//
// A receiver checks magic, version, job, sequence and length before it
// reads the payload, and fails the link (naming the peer) on any mismatch.
// Frames from one peer are delivered in order; Recv takes the first pending
// frame with the tag asked for, and fails if it was sent at another step
// than the receiver's (or, with TCPOptions.DropStale, skips one from an
// earlier step: a vote that missed its deadline). A TagControl frame is an
// abort notice (Abort): receives from that peer then fail with its reason.
//
// # Joining a job
//
// DialTCP's rendezvous authenticates every connection with the job's
// secret before anything else: the accepting side sends a 32-byte nonce
// (TagChallenge); the connecting rank answers with its registration, its
// own nonce and HMAC-SHA256(secret, "signsgd hello", challenge,
// registration) (TagHello); the answer, rank 0's table of addresses
// (TagTable) or a peer's TagWelcome, carries a MAC over the connecting
// rank's nonce, so both ends prove they know the secret and no message can
// be replayed. Handshakes run concurrently, each bounded in time; a
// connection that fails one is logged with its address and closed, and the
// rendezvous goes on.
//
// # Sealed frames
//
// After the handshake every frame of a link is protected as
// TCPOptions.Security says (the same on every rank; a rank with another is
// refused at the handshake, which carries the mode in the MAC'd hello):
//
//	SecuritySeal  payload encrypted and authenticated (the zero value:
//	              a caller that says nothing gets it)
//	SecurityAuth  payload in the clear, authenticated (GMAC)
//	SecurityOff   payload as it is: plaintext, unauthenticated
//
// Keys: each connection and direction has its own 32-byte key and 4-byte
// nonce prefix, HKDF-SHA256 with the job's secret as input key, the two
// handshake nonces (the acceptor's challenge, the connecting rank's nonce)
// as salt, and "signsgd frames MODE: rank FROM to rank TO" as info
// (deriveLinkKey). No key is sent, and no two links, directions or modes
// share one.
//
// Nonce: the direction's prefix and the frame's 64-bit sequence number on
// that link and direction, little-endian (4 + 8 bytes). Both ends count it
// (it is never read off the wire), so a frame replayed, reordered, or
// dropped with a later one sent does not open, and no nonce repeats under
// a key.
//
// Frame: the 24-byte header above, unchanged except that its length
// counts a 16-byte tag (SealOverhead) after the payload, then the payload
// (ciphertext under seal, plaintext under auth), then the tag. The header is
// the associated data, so its tag, step, sequence and length are covered
// too. The AEAD is AES-256-GCM, or ChaCha20-Poly1305 when the connecting
// rank's CPU has no AES and carry-less multiply instructions (it says
// which in its hello; the acceptor follows). Under auth the tag is GCM's
// over the header and the payload as associated data (GMAC).
//
// Failure: a frame that does not open ends its link with an error wrapping
// ErrAuth that names this rank, the peer, the frame's tag and sequence
// number ("rank 0: frame from rank 2 failed authentication (tampered or
// replayed) ..."); a collective then fails as it does for a lost peer (with
// a Quorum, that rank is dropped). A header that is itself wrong under seal
// or auth is reported the same way. The receive of such a frame returns the
// error, never its bytes (a RecvInto buffer then holds nothing usable), and
// every later receive from that peer fails too.
//
// Cost: one pass of the cipher over every payload on each side, on the
// goroutine that already moves that frame: a peer's outbox (or the
// caller's, for a direct Send) seals, the link's reader opens. The sealer
// owns a buffer per link and direction, grown to the longest frame and
// reused, so a sealed link allocates nothing per frame
// (TestSealedLinksDoNotAllocate, TestExchangesDoNotAllocate). Under seal
// a receiver reads the ciphertext into that buffer and decrypts it into the
// receive's buffer (Go's AEAD needs ciphertext and tag together); under
// auth the payload is read straight into place and its tag checked there.
// Traffic counts the payload, not the tag: 16 bytes per frame more are on
// the wire. BenchmarkSealer measures the per-core rate of each mode;
// `signsgd bench comm --security` and `bench step --security` what it adds
// to an exchange and a step (bench/results/security, security-step).
//
// # Faults
//
// Without a Quorum a lost or silent peer is an error naming it (ErrPeerLost,
// ErrTimeout after the Comm's timeout). A Quorum (the job's --vote-deadline)
// makes rank 0's server vote count only the votes that arrived in time,
// the others abstaining, and drop a rank that misses too many or whose link
// ends, from the vote, the gathers and the barrier.
//
// NewMemNetwork is the in-memory world with faults on demand (a link that
// drops, delays or is cut, a rank that crashes or stalls at a step), so
// these paths are tested without killing processes.
//
// # Traffic
//
// Every Comm counts the bytes of the frames it sends and of the frames its
// caller receives, header included, in total and per tag, so a job can
// report the bytes each step puts on the wire next to the formula.
//
// # Timelines
//
// SetTimeline makes a Comm's exchanges that reduce in chunks (the server
// vote and mean, the shard vote) record their milestones (Milestone: a
// rank's start and end, its last chunk sent, each result chunk in and
// decoded; the reducing rank's holding, reducing and answering of each
// chunk) on the wall clock, so the events of ranks on one machine line
// up: where an exchange's time goes, which rank waits on which. Without a
// Timeline a mark is an inlined nil check. bench comm --timeline writes
// them.
//
// # Buffers: who owns a frame's payload
//
// An exchange in the steady state copies each payload once on each side
// (the kernel's copy: TCP moves a frame with one writev of its header and
// its payload, and reads it with one read into its final place) and
// allocates nothing. The rules that make that safe:
//
//   - Send side: the payload is the caller's memory, read until Send
//     returns and not after; the fast collectives pass their vectors' own
//     memory (a []float32 viewed as bytes; see "fp32 on the wire"), or a
//     pooled buffer they encoded into. The votes send their wire form in
//     parts (encodeVoteParts): the 7-byte header, then the planes that are
//     the signs' own words as they are (a dense vote's Neg, a result's
//     non-zero mask), then what had to be computed (gathered sign bits);
//     TCP in the clear writes them with the frame header in one writev,
//     a sealed link joins them in its own buffer first. A frame queued to a peer's outbox
//     (outbox.go: a goroutine per peer that sends queued frames in order,
//     so a collective sums or counts while its frames drain) stays the
//     collective's until the push is collected (outbox.wait), which the
//     collective does before it returns.
//   - Receive side: the buffer a payload goes into is chosen in one place,
//     inbox.begin, once the frame's header is read, and the payload is
//     written there once, by the link's reader (TCP) or by the sender
//     (in memory), then handed over in inbox.end. If a receive was posted
//     for that frame (Comm.RecvInto, or a collective's posted receives:
//     the vector itself for a ring's allgather and a mean's result, the
//     caller's buffers for GatherFloat32s, a window of the collective's own
//     segment buffers for the sums), the payload goes straight into the
//     receive's buffer, which belongs to the link from post to finish
//     (core.post, core.finish, core.cancel; a receive never returns while
//     its buffer is being written). Otherwise it goes into a buffer of the
//     byte pool, queued until a Recv returns it to its caller, who owns it
//     (the collectives hand theirs back to the pool). Frames of one tag
//     from one peer meet receives in order: the (q+1)-th receive posted
//     for a tag takes the next frame when q older ones are queued.
//   - A posted receive that meets a frame already queued copies it into
//     its buffer, unless it borrows (recvReq.borrow): the windows of the
//     server mean, the ring's reduce-scatter and the server vote then sum
//     or count the queued buffer itself and hand it back to the pool, so
//     a stream that runs ahead of its window costs no second copy (the
//     server mean's rank 0 copied 18 ms of its 38 ms per step at M = 4,
//     d = 11,689,512). A receive with a max (a vote's payload varies in
//     length) takes any frame up to max bytes, in place when it fits.
//
// Sealed frames (see above) keep these rules: a sender seals into its
// link's own buffer, never into the caller's payload, and a link's reader
// opens a payload into the buffer inbox.begin chose before inbox.end hands
// it over, so no receive ever sees bytes that failed authentication.
//
// # fp32 on the wire
//
// float32 vectors travel as little-endian IEEE 754 binary32. On a
// little-endian host (checked once, at start) that is the vector's memory:
// the fast collectives send a byte view of the caller's slice and receive
// into one, with no per-value encoding; EncodeFloat32s/DecodeFloat32s and
// SendFloat32s/RecvFloat32s are the same copies for other callers. On a
// big-endian host every value is byte-swapped through a buffer by the
// plain forms of the collectives (the same frames and the same float32
// operations in the same order, through the Comm interface only), which
// are also what a Comm of another package gets, and the reference the
// tests hold the fast forms to (they force that path on this host too).
//
// Vectors travel in segments of at most 1 MiB (floatSegmentBytes), a frame
// each. The ring (ring.go) is gloo's ring allreduce (gloo/allreduce.cc): M
// chunks, reduce-scatter then allgather, each chunk cut into segments of
// at most 1 MiB (gloo's kMaxSegmentSize) so that a rank sums segment k
// while segment k+1 arrives; gloo keeps two segments in flight, we post
// segWindow (8) ahead into buffers of our own and forward each segment as
// soon as it is summed, as NCCL does: its simple-protocol ring moves data
// through a FIFO of NCCL_STEPS = 8 slots of buffSize/8 = 512 KiB (a 4 MiB
// staging buffer), a chunk of 4 slots (2 MiB) per ring step, forwarded a
// slice of 2 slots (1 MiB) at a time; it halves the chunk for small
// messages only in its tree and CollNet algorithms (down to 32-128 KiB, so
// their deeper pipelines stay full). Our segments are the same 1 MiB, and
// a vector smaller than that is one frame.
// Not gloo's halving-doubling (allreduce_halving_doubling.h): it moves the
// same bytes as the ring in 2 log2(M) rounds instead of 2(M-1), which pays
// where per-message latency dominates (small d, many ranks), needs a second
// scheme for M not a power of two, and sums each coordinate in a butterfly
// order; the ring's order (chunk k: ranks k, k+1, ..., k-1) is the one this
// program has always used, so models stay bit for bit what they were, and
// its messages are megabytes here. The server mean (mean.go) streams the
// same way: rank 0 adds each worker's segment k as it comes, in rank
// order, and queues segment k of the mean to every worker while segment
// k+1 arrives. GatherFloat32s and BroadcastFloat32s are its two halves
// (every rank's vector into the root's buffers, the root's vector to every
// rank) with its frames and bytes, for aggregators that run on rank 0.
//
// A NaN or an infinity a peer sends counts as 0 (kernels.AddFiniteSum and
// AddBothFinite): in the server mean, that peer's contribution to that
// coordinate; in the ring, the partial sum received, so the contributions
// of the ranks upstream of the sender at that coordinate (see ring.go).
//
// # Signs on the wire
//
// Every vote payload, a voter's signs or a result, is EncodeSignsWire's
// form (see wire.go): a 7-byte header, the non-zero mask (ceil(d/8) bytes)
// and one sign bit per non-zero coordinate (ceil(nnz/8) bytes), each of the
// two planes stored as one zstd frame where that is shorter. A dense float
// gradient costs about d/8 bytes, a ReLU network's less; never more than
// MaxSignsWireLen(d) = 7 + 2 ceil(d/8). DecodeSignsWire treats the bytes
// as untrusted: each plane must decode to exactly its known size, and bad
// input names the sending rank.
//
// A mask of all ones (no zero sign: a float gradient) is not stored at all,
// so such a vote is d bits plus the headers. Any other mask is stored as
// one zstd frame (fastest level) when that is shorter, and zstd is tried on
// a large mask only when a small sample of it shrinks (a tied vote's mask
// does not). The sign bits are always raw: they are as good as random, and
// compressing them only costs time. They are gathered and scattered with
// the CPU's PEXT/PDEP (BMI2, one assembly loop, bits_amd64.s) where it has
// them, else through byte tables (-tags noasm); both are checked against a
// bit loop. With AVX-512 (F and VPOPCNTDQ) the scatter of a received
// result goes eight words at a time: their popcounts and a prefix sum give
// each word its offset in the stream, so the eight PDEPs do not wait on
// each other (BenchmarkScatterCopy). BenchmarkSignsWire times the codec and BenchmarkSignsWirePlanes
// compares the compressors on float-like and ReLU-like planes.
//
// The vote's encode, receive and decode buffers come from pools sized by
// powers of two (scratch.go): a fresh multi-megabyte buffer per frame pays
// its page faults and zeroing every step.
//
// # Topologies (Vote, Mean; bytes per rank and step: VoteBytes, MeanBytes)
//
//	vote server     rank r != 0: signs --> rank 0; rank 0 counts (kernels.Vote)
//	                and sends the result --> every rank. Rank 0 is trusted. The
//	                signs and the result travel in chunks of 2^20
//	                coordinates, so rank 0 counts and returns chunk k while
//	                chunk k+1 is on its way (over a real link rank 0's link
//	                then carries votes in and results out at once), and
//	                sends each result to every worker at once. Rank 0
//	                posts voteWindow chunks of every worker ahead, each
//	                into a buffer of its own one byte in, so that a dense
//	                vote's sign plane (at offset 7 of its payload) lands
//	                8-byte aligned and is counted where it landed, with a
//	                shared all-ones mask (viewSignsWire): no decode, no
//	                copy; a partial last word too (its bits past d are
//	                cleared where it landed). A dense vote that came
//	                before its receive was posted is lent from the queue
//	                and only its sign plane copied. A vote with zeros, or
//	                under a Quorum's deadline
//	                (which takes whole frames from the queue, never waiting
//	                on one a stalling rank half wrote), is decoded. Each
//	                worker posts its result chunks before it votes, with
//	                a word to spare, and scatters a result's sign plane
//	                from where it landed (planeWords).
//	vote allgather  every rank: signs --> every rank; SHA-256 digests of what it
//	                received --> every rank; all compare (equivocation fails the
//	                step, naming the rank) and count locally. Nobody is trusted.
//	vote shard      rank r: shard j of its signs --> rank j; rank j counts shard j
//	                and sends that part of the result --> every rank. About
//	                2 x 2d/8 bytes per rank whatever M; shard owners are trusted.
//	                Rank j posts the votes for its shard as rank 0's server
//	                vote posts its chunks, and counts dense ones, and its
//	                own signs, in place.
//	mean server     rank r != 0: 4d bytes --> rank 0 --> 4d bytes back, in 1 MiB
//	                segments; rank 0 sums and answers segment by segment.
//	mean ring       reduce-scatter then allgather along the ring, pipelined by
//	                segment: 2(M-1)/M x 4d bytes per rank, the same bits on
//	                every rank.
//
// Per step, with H the frame header, W(n) = MaxSignsWireLen(n) and F(n) =
// S(n) H + 4n the frames of n float32s (S(n) = max(1, ceil(4n / 1 MiB))):
//
//	vote server     worker S(d) = sum over chunks of H + W(chunk) each way (H + W(d)
//	                up to a million coordinates); rank 0 M-1 times that
//	vote allgather  (M-1)(H + W(d)) + (M-1)(H + 32M) each way
//	vote shard      sum over j != r of (H + W(n_j)) + (M-1)(H + W(n_r)) each way
//	mean server     worker F(d) each way; rank 0 M-1 times that (GatherFloat32s:
//	                the way up; BroadcastFloat32s: the way down)
//	mean ring       sent: sum of F(c_k) over k != r+1 and over k != r+2;
//	                received: over k != r and over k != r+1 (c_k: chunk k's length)
//
// In round figures, per worker and step each way: the server vote about
// 2 ceil(d/8) bytes at most (d/8 for a dense float gradient's signs, 32x
// fewer than fp32), the shard vote about 2 x 2d/8 whatever M, the fp32
// server mean 4d and the ring about 2 (M-1)/M x 4d. The job reports the
// measured bytes beside the formula (formula_bytes_per_step); they are
// below it when the planes compress. `signsgd bench comm` measures them
// (package signsgd/bench/comm).
package collective
