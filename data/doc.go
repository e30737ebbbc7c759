// Package data makes and loads the datasets of the experiments and splits
// them across ranks: the paper's synthetic linear and logistic regression
// (20 correlated Gaussian features, 10,000 samples); MNIST and ImageNet come
// with the networks.
//
// A Dataset is a flat row-major feature matrix and one target per row.
// ShardIndices gives rank r of M its part of a seeded permutation (M
// disjoint, equal parts);
// Batches cuts a shard into the epoch's shuffled mini-batches from a seed,
// so a run's data order depends only on (seed, rank, epoch).
package data
