// Package chaos is `signsgd chaos` (`make chaos`): a fixed number of
// randomized fault rounds against a logistic regression job of real rank
// processes on loopback, with and without a Byzantine rank, each checked
// for nothing lost.
//
// A round starts `signsgd run` (the local launcher) and, once a random
// number of epochs is recorded, injects one fault:
//
//	kill            SIGKILL a rank; the job ends non-zero naming it, and a
//	                --resume from the checkpoints ends with the model of an
//	                uninterrupted run (the same SHA-256)
//	kill-twice      the same, with a second kill during the resumed run
//	stall           SIGSTOP a rank; the job ends after --timeout naming it,
//	                then as kill
//	signal          SIGINT or SIGTERM to the launcher; then as kill
//	deadline-kill   with --vote-deadline: SIGKILL a worker (the Byzantine
//	                leader too); the job finishes every epoch without it
//	                and records its drop
//	deadline-stall  the same with SIGSTOP
//
// After each round: every metrics line is whole JSON, summary.json is
// whole or absent, and no process of the round is left. A round that
// breaks any of this, or outlives its time limit, failed.
package chaos
