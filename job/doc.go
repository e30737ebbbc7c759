// Package job is the signsgd batch job: its configuration and command line,
// the models, the training loop with the three optimizers (SGD, SIGNSGD,
// SIGNUM), the adversaries, the metrics, and the local launcher.
//
// One step of SIGNUM on rank r (SIGNSGD is beta = 0):
//
//	shard batch -> model forward/backward -> gradient g (float32, d values)
//	  -> v = (1-beta) g + beta v, and sign(v) packed into 2 bit planes
//	                                         (kernels.MomentumSigns, one pass)
//	  -> blind: flip signs; byzantine: attack round (TagAttack, counted apart)
//	  -> majority vote over --topology       (collective.Vote: server, allgather, shard)
//	  -> x <- x - lr (sign(V) + lambda x)    (kernels.ApplySignStep)
//
// Plain SGD averages the float32 gradients (collective.Mean: server, ring) and
// takes x <- x - lr (mean + lambda x).
//
// Adversaries are never rank 0: blind ranks are 1..B, Byzantine ranks the
// highest F. The Byzantines' omniscience is a real extra round in which the
// other ranks send their signs (or gradients) to the lowest Byzantine rank,
// which plans every Byzantine's vote (planAttack, bit-sliced) and counts what
// the votes do to the others' sum (attack_* in the metrics).
//
// Output (rank 0): DIR/config.json before the ranks start, DIR/metrics.jsonl
// with one Record per epoch, DIR/summary.json (final record and the model's
// SHA-256, checked equal on every rank) at the end. Files are written whole
// (temporary file, fsync, rename; a metrics line whole or not at all). With
// --checkpoint-every every rank writes DIR/checkpoints/epoch-N/rank-R.ckpt.zst
// (checkpoint.go), which --resume reads back.
//
// Faults: the job's secret (secret.go) authenticates every connection;
// right after it every rank proves it runs rank 0's configuration and rank
// 0 locks --out (agree.go); a rank that fails tells the others why
// (collective.Abort) so each names the lost rank; --vote-deadline hands
// rank 0 a collective.Quorum so the vote goes on without crashed or
// stalled ranks, and the Byzantines' round waits for nobody past it
// (attack_deadline.go); --digest-every compares the ranks' models during
// the run. Checkpoints name their run, which alone decides what is kept
// and resumed (resume.go).
//
// Exit status (Main): 0 the run finished; 1 it failed once started; 2 it
// was refused before training (usageError: flags, values unusable as the
// run uses them (input.go), files named by flags, differing ranks, a held
// --out, --resume past --epochs).
package job
