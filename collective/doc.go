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
//	2       1     version (1)
//	3       1     flags (0)
//	4       4     tag, little-endian: which collective (or 1<<31 + user tag)
//	8       4     sequence number of the frame on this link and direction
//	12      4     payload length, at most the Comm's MaxFrame
//	16      n     payload
//
// A receiver checks magic, version, sequence and length before it reads the
// payload, and fails the link (naming the peer) on any mismatch. Frames from
// one peer are delivered in order; Recv takes the first pending frame with
// the tag asked for.
//
// # Traffic
//
// Every Comm counts the bytes of the frames it sends and of the frames its
// caller receives, header included, in total and per tag, so a job can
// report the bytes each step puts on the wire next to the formula.
//
// # Server vote (the paper's Algorithm 1)
//
//	rank r != 0:  signs (2 bit planes, 16*ceil(d/64) bytes) --> rank 0
//	rank 0:       decode (canonicalize) M vectors, kernels.Vote
//	rank 0:       ternary result (same encoding) --> every rank r != 0
//
// Per worker and step: one frame up and one down of 16 + 16*ceil(d/64)
// bytes each.
package collective
