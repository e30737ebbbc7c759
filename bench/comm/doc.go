// Package comm measures what a step of distributed SIGNSGD, SIGNUM and
// plain SGD costs in bytes and seconds, with real ranks: separate processes
// of this program that join over TCP (collective.DialTCP) exactly as a
// training job's ranks do. It is `signsgd bench`:
//
//	signsgd bench comm   bytes and seconds of one exchange per optimizer,
//	                     topology, worker count M and gradient size d, on
//	                     loopback, beside the byte formula and beside
//	                     gloo's fp32 allreduce (bench/gloo_allreduce.py),
//	                     and each exchange beside its wire floor: raw TCP
//	                     moving the same bytes in the same pattern, nothing
//	                     else (floor.go)
//	signsgd bench scale  time per step against M: 1..32 ranks on loopback,
//	                     then ranks in network namespaces behind veth pairs
//	                     and a bridge with tc bandwidth limits (root only),
//	                     a least-squares model of the exchange time and its
//	                     projection to 64..1024 workers
//	signsgd bench step   a whole training step (ResNet-18 by default) split
//	                     into forward/backward, pack, exchange, vote, update
//
// # Data flow of one measured configuration
//
//	parent (bench comm|scale|step)
//	  -- starts M processes: <this binary> bench rank --spec JSON --rank r
//	     (rank 0 gets the parent's listening socket as fd 3 on loopback;
//	     in a namespace it listens on its own 10.77.0.1)
//	rank r: gradient g (synthetic, or a network's LossGrad)
//	  pack:     kernels.MomentumSigns (signsgd: PackSigns; sgd: nothing)
//	  barrier   (not timed: the exchange is measured without stragglers)
//	  exchange: the collective (vote or mean)           bytes from Comm.Traffic
//	  update:   kernels.ApplySignStep / ApplyGradStep
//	  ... warm-up steps, then timed steps ...
//	  collective.Gather of every rank's per-step times and bytes to rank 0
//	rank 0: one JSON line on stdout --> parent: medians, CSV, Markdown, PNG
//
// Per phase the time of a step is the slowest rank's; a configuration's
// figure is the median over its timed steps (warm-up steps excluded).
//
// All ranks share this machine's cores: a rank gets GOMAXPROCS and one
// OpenBLAS thread each of cores/M (at least 1), so from M = 3 ranks on two
// cores the ranks take turns; every output says how many ranks shared how
// many cores.
//
// The wire floor: right after each server vote, bench comm times the same M
// processes moving a worker's measured bytes in the same number of frames
// each way over raw loopback TCP, with no framing, vote, encoding or
// allocation (floor.go). No implementation of the server vote moving those
// bytes on those cores can be faster, so the floor says how much of a gap
// to gloo the vote could still close, and on a machine with fewer cores
// than ranks the transport itself, a copy by a core on each side of every
// byte, is the limit.
//
// What the floor's ratio can reach on loopback: there the wire is memory
// copies (into the kernel and out of it, a read and a write of every byte
// each), so any pass of the exchange's own over the data costs about what
// the wire does. Per chunk of n voter bits in the server vote of M ranks,
// the floor touches 4 (M-1) (n + r) bits, r being a result's bits on the
// wire (its non-zero plane, n, and a sign bit for each coordinate not
// tied). Rank 0 must also read the M sign planes and write the result's
// two planes and the sign bits of its wire form (M n + 2 n + r - n), and
// each worker read that form and write its two planes (r + 2 n): even with
// every pass fused, about 1.8x the floor's memory traffic at M = 2 (half
// the coordinates tied, r = 1.5 n) and 1.56x at M = 4 (three in eight
// tied, r = 1.625 n). Only an exchange that ends at the wire form, its
// result taken into the update chunk by chunk, gets under 1.5x on
// loopback (about 1.45x at M = 2, 1.21x at M = 4); over a network the
// floor is the wire's and the passes are cheap beside it. --timeline shows
// where the rest goes.
//
// On a machine whose speed drifts from minute to minute one run's ratio
// to the floor can land anywhere in a wide band (on a two-core VM, the
// shard vote at M = 4 gave 1.27x to 2.2x in runs minutes apart).
// --repeat N runs each configuration N times (a run: the exchange under
// each --security mode in turn, then the floor of the first mode's bytes)
// and reports the median of the runs' own ratios, each run's exchange over
// the same run's floor, with their range.
//
// What an exchange costs the cores: every rank measures its own process's
// CPU time (getrusage: user and system, all threads) over the collective
// call, and the floor's ranks over theirs; comm.md sums them over the
// ranks, step by step, and gives the medians side by side. Where ranks
// share cores that is what an exchange takes from them. A rank delayed by
// other work is not charged for the wait, but copies and context switches
// cost more on a busy machine: on a noisy two-core VM the CPU ratio moved
// from run to run about as much as the time's did, and with it.
//
// With --timeline every rank records the milestones of each server vote
// and mean and shard vote (collective.Timeline): timeline.csv has every
// event, timeline.png draws each configuration's median step rank by rank,
// and comm.md sums up how long the reducing rank waited for its first
// chunk, reduced and answered each one, and when the last rank had its
// result. `make bench-comm` writes its results, with command, machine and
// date, under bench/results (comm, scale, step).
package comm
