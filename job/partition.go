package job

import (
	"fmt"
	"math"
	"path/filepath"
	"strconv"
	"strings"

	"signsgd/data"
)

// partitionKind is an entry of the partition registry: the name of its
// argument after the colon ("" for none).
type partitionKind struct{ arg string }

// partitions is the registry of how the training rows are divided among
// the ranks: --partition NAME[:ARG]. Byzantine ranks hold rows too (label
// flipping and mimicry read them).
var partitions = &registry[partitionKind]{flag: "partition", items: []choice[partitionKind]{
	{"iid", "a seeded permutation cut into equal parts, n mod workers rows left out (the default)", "", partitionKind{}},
	{"dirichlet", "dirichlet:ALPHA: each class split among the ranks by a Dirichlet(ALPHA) draw; small ALPHA, few classes a rank", "Hsu et al. 2019", partitionKind{arg: "ALPHA"}},
	{"shards", "shards:K: the rows sorted by label, cut into workers*K shards, K to each rank", "McMahan et al. 2017", partitionKind{arg: "K"}},
}}

// partitionSpec is a parsed --partition.
type partitionSpec struct {
	name  string
	alpha float64 // dirichlet
	k     int     // shards
}

// parsePartition reads --partition; "" is iid.
func parsePartition(v string) (partitionSpec, error) {
	if v == "" {
		return partitionSpec{name: "iid"}, nil
	}
	name, arg, hasArg := strings.Cut(v, ":")
	kind, err := partitions.parse(name)
	if err != nil {
		return partitionSpec{}, err
	}
	sp := partitionSpec{name: name}
	switch {
	case kind.arg == "" && hasArg:
		return sp, badFlag("--partition %s: %s takes no argument", v, name)
	case kind.arg == "":
		return sp, nil
	case !hasArg:
		return sp, badFlag("--partition %s: want %s:%s", v, name, kind.arg)
	}
	if name == "dirichlet" {
		a, err := strconv.ParseFloat(arg, 64)
		if err != nil || !(a > 0) || math.IsInf(a, 0) {
			return sp, badFlag("--partition %s: want dirichlet:ALPHA with ALPHA a finite number > 0", v)
		}
		sp.alpha = a
		return sp, nil
	}
	k, err := strconv.Atoi(arg)
	if err != nil || k < 1 {
		return sp, badFlag("--partition %s: want shards:K with K a positive integer", v)
	}
	sp.k = k
	return sp, nil
}

// checkPartition is config validation of --partition: the scheme parses
// and, beyond iid, the dataset has classes. (Whether there are rows
// enough is known once the data is loaded: partitionRows.)
func (c *Config) checkPartition() error {
	sp, err := parsePartition(c.Partition)
	if err != nil {
		return err
	}
	if sp.name == "iid" {
		c.Partition = "" // the default: config.json as before the flag
		return nil
	}
	if c.Dataset == "linreg" {
		return badFlag("--partition %s needs class labels: --dataset %s is a regression (use iid)", c.Partition, c.Dataset)
	}
	return nil
}

// partitionRows divides the first n training rows of src among m ranks
// by cfg's --partition; labels are the rows' classes (nil when src has
// none, under iid).
func partitionRows(cfg *Config, src data.Source, n, m int) (parts [][]int, labels []int, err error) {
	sp, err := parsePartition(cfg.Partition)
	if err != nil {
		return nil, nil, err
	}
	if src.NumClasses() > 0 {
		if labels, err = data.Labels(src, n); err != nil {
			return nil, nil, fmt.Errorf("--partition %s: %w", sp.name, err)
		}
	}
	switch sp.name {
	case "iid":
		return data.IIDPartition(n, m, cfg.Seed), labels, nil
	case "dirichlet":
		parts, err = data.DirichletPartition(labels, src.NumClasses(), m, sp.alpha, cfg.Seed)
	case "shards":
		parts, err = data.ShardPartition(labels, m, sp.k, cfg.Seed)
	}
	if err != nil {
		return nil, nil, badFlag("--partition %s with --workers %d: %v", cfg.Partition, m, err)
	}
	return parts, labels, nil
}

// partitionReport is OUT/partition.json: what each rank holds.
type partitionReport struct {
	Scheme  string          `json:"scheme"`
	Seed    uint64          `json:"seed"`
	Rows    int             `json:"rows"` // training rows partitioned
	Classes int             `json:"classes"`
	Ranks   []partitionRank `json:"ranks"`
}

type partitionRank struct {
	Rank      int    `json:"rank"`
	Role      string `json:"role"`
	Rows      int    `json:"rows"`
	Histogram []int  `json:"histogram,omitempty"` // rows of each class
}

// writePartition writes OUT/partition.json (rank 0, atomically).
func writePartition(cfg *Config, parts [][]int, labels []int, classes, n int, rl []Role) error {
	rep := partitionReport{Scheme: cfg.Partition, Seed: cfg.Seed, Rows: n, Classes: classes}
	if rep.Scheme == "" {
		rep.Scheme = "iid"
	}
	for r, rows := range parts {
		pr := partitionRank{Rank: r, Role: rl[r].String(), Rows: len(rows)}
		if labels != nil {
			pr.Histogram = data.Histogram(labels, classes, rows)
		}
		rep.Ranks = append(rep.Ranks, pr)
	}
	if err := writeJSONAtomic(filepath.Join(cfg.Out, "partition.json"), rep); err != nil {
		return fmt.Errorf("--out %s: %w", cfg.Out, err)
	}
	return nil
}

// partitionSteps is the steps of an epoch: under iid, the batches of the
// rank's share; otherwise the shares differ in size and every rank takes
// the steps of an even share (n/m rows), or the vote would wait for a
// rank with no batch left.
func partitionSteps(cfg *Config, shard, n, m, batch int) int {
	if cfg.Partition == "" {
		return data.StepsPerEpoch(shard, batch)
	}
	return data.StepsPerEpoch(n/m, batch)
}

// partitionBatches is this rank's batches of an epoch as positions in its
// share: data.Batches under iid (as before --partition), else
// data.CycleBatches with the common number of steps.
func (r *run) partitionBatches(epoch int) [][]int {
	if r.cfg.Partition == "" {
		return data.Batches(len(r.shard), r.batch, r.cfg.Seed, r.rank, epoch)
	}
	return data.CycleBatches(len(r.shard), r.batch, r.steps, r.cfg.Seed, r.rank, epoch)
}
