// Package spawn starts the rank processes of one job on this machine, for
// the local launcher (`signsgd run` without --rank) and the benchmarks
// (`signsgd bench`, whose ranks are `signsgd bench rank`): rank 0's
// listening socket opened by the parent and handed down (so no other
// process can take its port in between), a job ID, each rank's command
// with its thread count and its death tied to the parent's, all ranks
// started or none, and their exits on one channel. What to do with a
// failed rank is the caller's.
package spawn
