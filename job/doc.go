// Package job is the signsgd batch job: its configuration and command line,
// the models, the training loop with its optimizers (SGD, SIGNSGD, SIGNUM and
// their variants), the aggregators, the adversaries and attacks, the
// metrics, the launchers, faults and checkpoints. Its flags are listed by
// `signsgd run --help`, generated from the same registries as the
// configuration's checks, so the two cannot drift.
//
// # One step
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
// takes x <- x - lr (mean + lambda x); on the server topology rank 0 may
// combine them with a robust --aggregator (after an optional --pre) instead
// of the mean. Every value a worker sends that is not finite counts as 0
// first, so no worker can make the model non-finite. --opt sto-signsgd (and
// sto-signum, on the momentum) sends +1 with probability (1 + g_i/B)/2,
// B = max |g_i| or --sto-b (Jin et al. 2021), then the same vote, wire and
// attacks. --partition dirichlet:ALPHA splits each class among the ranks by
// a Dirichlet(ALPHA) draw (Hsu et al. 2019), shards:K deals each rank K
// label-sorted shards (McMahan et al. 2017); rank 0 writes each rank's
// class histogram to OUT/partition.json. --opt ef-signsgd (error feedback,
// efsign.go) sends sign bits and a scale per chunk with each worker's
// residual kept, combined by rank 0 (server) or by each slice's owner
// (shard, a coordinate-wise aggregator) with the aggregate's residual kept
// the same way; it averages, so it is not Byzantine-robust by design.
// --code (code.go, Sohn et al. 2020) has each worker vote the majority of
// the signs of several partitions' gradients: repetition:R guarantees the
// vote of the same workers all honest against (R-1)/2 Byzantines;
// deterministic[:B] guarantees the majority of all partitions' signs
// against B (default: the job's adversaries), for 2B+1 workers computing
// every partition's gradient and the others about half of them.
//
// # Adversaries and attacks
//
// Adversaries are never rank 0: blind ranks are 1..B and invert their
// gradient or sign; Byzantine ranks are the highest F. The Byzantines'
// omniscience is a real extra round in which the other ranks send their
// signs (or gradients) to the lowest Byzantine rank, which plans every
// Byzantine's vote (planAttack, bit-sliced, checked against its
// coordinate-at-a-time reference) and counts what the votes do to the
// others' sum (attack_unanimous, attack_flipped, attack_zeroed in the
// metrics; flips and zeroes on the epoch line).
//
// The paper's rule for signs (--attack paper): at a coordinate where the
// non-Byzantine signs sum to a, the f Byzantines together add v, with
// |v| <= f and v = f mod 2:
//
//	a > f          v = -f
//	a < -f         v = +f
//	0 < a <= f     v = -a - ((f-a) mod 2)
//	-f <= a <= 0   v = -a + ((f+a) mod 2)
//
// so the total is driven to 0 where parity allows, else one vote past it.
// --attack oppose: every Byzantine sends -sign(a). For SGD the paper's
// attack is zero-sum: one Byzantine sends minus the others' sum, so the
// mean is exactly zero. The other attacks (alie, ipm, gaussian, signflip,
// labelflip, mimic, inf, crash) and the aggregators (median, trimmed-mean,
// krum, multi-krum, geomed, cclip; pre-aggregators nnm, bucket) are one
// registry each (attack.go, aggregate.go), with their references in
// `signsgd run --help` and the README's tables; a flag the chosen method
// would ignore is refused naming both.
//
// # Launchers
//
// --launcher auto: with --rank R --workers M --coordinator host:port this
// process is rank R (rank 0 listens there, the others register, then every
// pair of ranks connects directly); else under mpirun or in an srun step it
// reads its rank from their environment (package slurm); else it launches
// every rank as a process of itself on loopback, rank 0 on a listening
// socket the launcher opens and hands down (no port race), each with
// GOMAXPROCS = cores / ranks. Rank 0 runs the last epoch's evaluation, while
// the others only wait, on all the cores the job holds on its node.
// --launcher sim runs every rank as a goroutine
// over the in-memory transport (collective.NewSimNet with --sim-link), the
// same rank code, with simulated step and exchange times in the metrics.
//
// # Output
//
// Rank 0 writes DIR/config.json before the ranks start; DIR/metrics.jsonl,
// one Record per epoch (losses, test accuracy, bytes sent and received per
// step per worker and by rank 0, the formula's bytes, the attack round's
// bytes, step time, the attack's counts, the aggregator's distance to the
// honest update, abstentions and dropped ranks), written and synced as the
// epoch ends; DIR/summary.json at the end (final record, parameter count,
// wall time and the model's SHA-256, checked equal on every rank). Files
// are written whole (temporary file, fsync, rename; a metrics line whole or
// not at all).
//
// # Faults
//
// Authentication: the job's secret (secret.go) is $SIGNSGD_SECRET, else
// --secret-file (mode 600), else a fresh one the local launcher or
// signsgd.sbatch makes per job, else HMAC-SHA256(~/.config/signsgd/key, job
// id); every connection proves it (collective's handshake), and a stranger
// is logged with its address and refused while the rendezvous goes on.
//
// Transport security (security.go, --transport-security; the modes are
// listed by `run --help` from its registry): after the handshake every
// frame is sealed (seal), authenticated (auth) or plaintext (off), with keys
// the handshake derives (collective's "Sealed frames"). auto, the default,
// is off when every rank is on one host and seal otherwise: where the ranks
// are comes from the launcher (Slurm's or OpenMPI's ranks on this node
// against all of them, else the node list; the local launcher is one host),
// and without one from --coordinator (on loopback: one host). The start
// line says which is in force and why. A frame that fails authentication
// ends the job naming the peer, as a lost rank does.
//
// One configuration: right after the rendezvous every rank sends rank 0 a
// digest of its settings (every flag of the experiment but --out and
// --timeout, plus --resume and the build); a rank that differs fails the job
// naming the flag, and rank 0 locks --out (OUT/.lock, outlock.go) (agree.go).
//
// Crashes and stragglers: without --vote-deadline a lost rank ends the job;
// the rank that notices tells the others why (collective.Abort), so each
// exits naming the lost rank within milliseconds of a crash, or after
// --timeout if it stalls. With --vote-deadline (server vote) rank 0 hands
// the vote a collective.Quorum: votes missing at the deadline abstain, a
// rank that misses --drop-after deadlines in a row or whose link ends is
// dropped, and the Byzantines' round waits for nobody past half the deadline
// (attack_deadline.go); the job ends once no worker is left. Rank 0's loss
// always ends the job. --digest-every compares the ranks' models during the
// run and names the ranks that differ from the majority.
//
// Checkpoints: --checkpoint-every N makes every rank write
// OUT/checkpoints/epoch-NNNN/rank-NNNN.ckpt.zst (checkpoint.go): parameters,
// batch-norm statistics, momentum, epoch and step (every random generator
// derives from seed, rank, epoch and step, so that is their whole state) and,
// on rank 0, the metrics so far; zstd-compressed with a SHA-256 over the
// content, written through a temporary file, fsynced and renamed. Each
// checkpoint names its run, which alone decides what is kept (its newest
// three) and resumed (resume.go): --resume continues the latest run from
// the newest epoch every rank holds intact, naming any corrupted or foreign
// checkpoint it skips, and ends with the uninterrupted run's model.
// signsgd.sbatch passes --checkpoint-every and --resume, so a requeued job
// carries on. Kill any process at any moment and metrics.jsonl holds whole
// lines, summary.json is whole or absent, checkpoints are intact or absent.
// `signsgd chaos` (bench/chaos) checks this in randomized rounds.
//
// # Exit status
//
// cli.Main returns, and every error is one line naming what and where:
//
//	0  the run finished: summary.json written, every rank's model checked equal
//	1  the run failed once started: a rank killed, lost or silent past
//	   --timeout, models diverged, no worker left, an error writing --out,
//	   SIGINT or SIGTERM, an internal error
//	2  refused before training (usageError): a bad flag or combination, a
//	   value unusable in float32 (input.go), sizes beyond this machine's
//	   memory, a bad --coordinator, an unusable --secret-file or data file,
//	   ranks with different configurations, --out held by another run,
//	   --resume with --epochs below the checkpoints'; the launcher also exits
//	   2 when a rank refuses the job
//
// # Datasets and networks
//
//	--dataset           what                                          --model
//	logreg, linreg      the paper's synthetic regression: 20 features, mlp (20-40-2 / 20-40-1)
//	                    10,000 samples, Toeplitz correlation 0.3,
//	                    80/20 split, standardised; labels in {0, 1}
//	mnist               IDX files (default: the GoMNIST module's)     mlp (784-128-10), cnn, mnistnet
//	imagenet            --data-dir with train/<class>/*.JPEG and val/  resnet18, resnet50
//	imagenet-synthetic  ImageNet-shaped data made on the fly           resnet18, resnet50
//
// The networks (package nn) are the paper code's cnn (its TorchNet) and
// mnistnet, and torchvision's ResNet-18 and ResNet-50 with batch norm and
// top-1/top-5 accuracy. Each rank gets cores / ranks-on-the-node threads for
// BLAS, the vote and image decoding.
//
// MNIST's defaults differ from the paper's: the paper's 1e-5 for the signs
// barely moves a network in 5 epochs (its code sums the workers' gradients
// where we average), so on MNIST SIGNSGD and SIGNUM default to 1e-4, a tenth
// of it from the fifth epoch (MNISTDecayEvery), and SIGNUM's beta to 0.99
// (MNISTBeta). A larger beta averages more mini-batches into each rank's
// momentum, so the honest signs agree more often and fewer coordinates are
// flipped by the Byzantines. The runs that chose these values are in
// bench/results/mnist-defaults; why SIGNUM plateaus against 4 of 9
// Byzantines is bench/theory's drift.
package job
