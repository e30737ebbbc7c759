package data

import "testing"

func TestShardsAndBatches(t *testing.T) {
	train, _, _ := Synthetic(Logistic, 8005)
	for _, m := range []int{1, 3, 9, 16} {
		per := train.Len() / m
		seen := map[int]bool{}
		for r := 0; r < m; r++ {
			shard := ShardIndices(train.Len(), r, m, 8005)
			if len(shard) != per {
				t.Fatalf("M=%d rank %d: %d rows, want %d", m, r, len(shard), per)
			}
			if again := ShardIndices(train.Len(), r, m, 8005); again[0] != shard[0] || again[per-1] != shard[per-1] {
				t.Fatalf("M=%d rank %d: the same seed gave another shard", m, r)
			}
			for _, i := range shard {
				if i < 0 || i >= train.Len() || seen[i] {
					t.Fatalf("M=%d: row %d out of range or in two shards", m, i)
				}
				seen[i] = true
			}
			s := Dataset{Features: train.Features, Classes: train.Classes, X: make([]float32, per*train.Features), Y: make([]float32, per)}
			if err := train.Batch(s.X, s.Y, shard, 0); err != nil {
				t.Fatal(err)
			}
			b := PerWorkerBatch(128, m)
			batches := Batches(s.Len(), b, 8005, r, 0)
			if len(batches) != StepsPerEpoch(s.Len(), b) {
				t.Fatalf("%d batches, want %d", len(batches), StepsPerEpoch(s.Len(), b))
			}
			count := make([]int, s.Len())
			for _, bt := range batches {
				if len(bt) > b {
					t.Fatalf("batch of %d > %d", len(bt), b)
				}
				for _, i := range bt {
					count[i]++
				}
			}
			for i, c := range count {
				if c != 1 {
					t.Fatalf("row %d appears %d times in an epoch", i, c)
				}
			}
		}
	}
	if PerWorkerBatch(128, 9) != 14 || PerWorkerBatch(128, 200) != 1 {
		t.Fatal("PerWorkerBatch")
	}
	a, b := Batches(100, 10, 1, 0, 0), Batches(100, 10, 1, 0, 1)
	if a[0][0] == b[0][0] && a[0][1] == b[0][1] && a[0][2] == b[0][2] {
		t.Fatal("epochs share an order")
	}
}
