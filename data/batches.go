package data

import "math/rand/v2"

// ShardIndices is rank's share of n samples: a permutation drawn from seed
// (the same on every rank) cut into size equal, disjoint parts, the
// remainder left out. Every rank sees every class, even in folders sorted
// by class.
func ShardIndices(n, rank, size int, seed uint64) []int {
	perm := rand.New(rand.NewPCG(seed, 0x5ba4d)).Perm(n)
	per := n / size
	return perm[rank*per : (rank+1)*per]
}

// PerWorkerBatch is the paper code's per-worker batch: the total batch
// divided by the number of workers, at least 1.
func PerWorkerBatch(total, workers int) int { return max(1, total/workers) }

// Batches returns the row indices of each mini-batch of one epoch over n
// rows: a permutation drawn from (seed, rank, epoch), cut into batches of
// size batch (the last one may be smaller).
func Batches(n, batch int, seed uint64, rank, epoch int) [][]int {
	rng := rand.New(rand.NewPCG(seed^0x9e3779b97f4a7c15, uint64(rank)<<32|uint64(epoch)))
	perm := rng.Perm(n)
	var out [][]int
	for lo := 0; lo < n; lo += batch {
		out = append(out, perm[lo:min(lo+batch, n)])
	}
	return out
}

// StepsPerEpoch is len(Batches(n, batch, ...)).
func StepsPerEpoch(n, batch int) int { return (n + batch - 1) / batch }

// CycleBatches is the batches of one epoch over n rows when the ranks'
// shares differ in size: steps batches of size batch (every rank takes the
// same number of steps, or the vote would wait for a rank that has none
// left), drawn from successive permutations of the n rows seeded by
// (seed, rank, epoch), so a rank with few rows goes through them several
// times an epoch and a rank with many sees a different part each epoch.
// Every rank's first permutation is Batches'.
func CycleBatches(n, batch, steps int, seed uint64, rank, epoch int) [][]int {
	rng := rand.New(rand.NewPCG(seed^0x9e3779b97f4a7c15, uint64(rank)<<32|uint64(epoch)))
	pos := make([]int, 0, steps*batch+n)
	for len(pos) < steps*batch {
		pos = append(pos, rng.Perm(n)...)
	}
	out := make([][]int, steps)
	for s := range out {
		out[s] = pos[s*batch : (s+1)*batch : (s+1)*batch]
	}
	return out
}
