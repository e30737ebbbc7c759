package data

import (
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
)

// How the training rows are divided among the workers. Every scheme is a
// pure function of the labels, the number of workers and the seed, so each
// rank computes the whole partition by itself and all agree.
//
//	iid          ShardIndices: one seeded permutation cut into equal parts,
//	             the remainder n mod m left out (the job's default).
//	dirichlet:a  per class, the shares of the workers are a draw from
//	             Dirichlet(a, ..., a) (Hsu et al. 2019); the class's rows,
//	             shuffled, are cut at the rounded cumulative shares.
//	shards:k     the rows sorted by label (seeded order within a label) cut
//	             into m*k shards of sizes differing by at most one, dealt k to
//	             each worker by a seeded permutation (McMahan et al. 2017).
//
// Under dirichlet and shards every row belongs to exactly one worker.

// Labeled is a Source whose samples have classes it can tell without
// loading them: Dataset (synthetic logistic, MNIST), ImageFolder and the
// synthetic ImageNet.
type Labeled interface {
	Label(i int) int
}

// Label implements Labeled: row i's class (its target, for classification).
func (d Dataset) Label(i int) int { return int(d.Y[i]) }

// Labels returns the classes of the first n samples of src.
func Labels(src Source, n int) ([]int, error) {
	l, ok := src.(Labeled)
	if !ok || src.NumClasses() == 0 {
		return nil, fmt.Errorf("the dataset has no class labels")
	}
	out := make([]int, n)
	for i := range out {
		out[i] = l.Label(i)
		if out[i] < 0 || out[i] >= src.NumClasses() {
			return nil, fmt.Errorf("sample %d: label %d outside [0, %d)", i, out[i], src.NumClasses())
		}
	}
	return out, nil
}

// IIDPartition is ShardIndices(n, r, m, seed) for every rank r.
func IIDPartition(n, m int, seed uint64) [][]int {
	perm := rand.New(rand.NewPCG(seed, 0x5ba4d)).Perm(n)
	per := n / m
	out := make([][]int, m)
	for r := range out {
		out[r] = perm[r*per : (r+1)*per : (r+1)*per]
	}
	return out
}

// DirichletProportions is the draw behind DirichletPartition: for each of
// classes classes, the shares of m workers, drawn from Dirichlet(alpha)
// with the seed's own stream. A draw whose gammas all underflow to zero
// (tiny alpha) is the Dirichlet's limit: the whole class to one worker,
// drawn uniformly.
func DirichletProportions(classes, m int, alpha float64, seed uint64) [][]float64 {
	rng := rand.New(rand.NewPCG(seed, 0xd1c1e7))
	out := make([][]float64, classes)
	for c := range out {
		p := make([]float64, m)
		sum := 0.0
		for k := range p {
			p[k] = Gamma(rng, alpha)
			sum += p[k]
		}
		if sum == 0 || math.IsInf(sum, 0) {
			clear(p)
			p[rng.IntN(m)] = 1
		} else {
			for k := range p {
				p[k] /= sum
			}
		}
		out[c] = p
	}
	return out
}

// dirichletCuts splits count rows by the shares p: worker k gets
// round(count*P_k) - round(count*P_{k-1}) rows, P the cumulative shares, so
// each worker's count is within one of count*p_k and they add up to count.
func dirichletCuts(count int, p []float64) []int {
	cuts := make([]int, len(p)+1)
	cum := 0.0
	for k := range p {
		cum += p[k]
		cuts[k+1] = min(count, int(math.Round(cum*float64(count))))
	}
	cuts[len(p)] = count
	return cuts
}

// DirichletPartition gives each worker, of each class, the share drawn by
// DirichletProportions(classes, m, alpha, seed); the rows of a class are
// shuffled (a stream of the seed apart from the draw's) before the cut.
// A worker left without rows then takes the row last dealt to the worker
// holding the most (the lowest rank among equals), workers taken in rank order, so
// every worker trains on something; it needs len(labels) >= m. Each
// worker's rows are returned in increasing order.
func DirichletPartition(labels []int, classes, m int, alpha float64, seed uint64) ([][]int, error) {
	if !(alpha > 0) || math.IsInf(alpha, 0) {
		return nil, fmt.Errorf("dirichlet: alpha %v; need a finite alpha > 0", alpha)
	}
	if len(labels) < m {
		return nil, fmt.Errorf("dirichlet: %d rows for %d workers; every worker needs one", len(labels), m)
	}
	props := DirichletProportions(classes, m, alpha, seed)
	rng := rand.New(rand.NewPCG(seed, 0x5ba4e))
	byClass := rowsByClass(labels, classes)
	out := make([][]int, m)
	for c, rows := range byClass {
		rng.Shuffle(len(rows), func(i, j int) { rows[i], rows[j] = rows[j], rows[i] })
		cuts := dirichletCuts(len(rows), props[c])
		for k := range out {
			out[k] = append(out[k], rows[cuts[k]:cuts[k+1]]...)
		}
	}
	for k := range out {
		if len(out[k]) > 0 {
			continue
		}
		big := 0
		for j := range out {
			if len(out[j]) > len(out[big]) {
				big = j
			}
		}
		last := len(out[big]) - 1
		out[k] = append(out[k], out[big][last])
		out[big] = out[big][:last]
	}
	for k := range out {
		slices.Sort(out[k])
	}
	return out, nil
}

// ShardPartition sorts the rows by label (in a seeded order within each
// label), cuts them into m*k contiguous shards (the first n mod (m*k) one
// row longer) and deals them k to each worker by a seeded permutation of
// the shards. It needs len(labels) >= m*k. Each worker's rows are returned
// in increasing order.
func ShardPartition(labels []int, m, k int, seed uint64) ([][]int, error) {
	if k < 1 {
		return nil, fmt.Errorf("shards: k %d; need at least 1", k)
	}
	n, s := len(labels), m*k
	if n < s {
		return nil, fmt.Errorf("shards:%d: %d rows for %d workers x %d shards; need at least one row a shard", k, n, m, k)
	}
	rng := rand.New(rand.NewPCG(seed, 0x5a4d5))
	order := rng.Perm(n)
	slices.SortStableFunc(order, func(a, b int) int { return labels[a] - labels[b] })
	deal := rng.Perm(s)
	out := make([][]int, m)
	per, extra := n/s, n%s
	for w := range out {
		for _, sh := range deal[w*k : (w+1)*k] {
			lo := sh*per + min(sh, extra)
			hi := lo + per
			if sh < extra {
				hi++
			}
			out[w] = append(out[w], order[lo:hi]...)
		}
		slices.Sort(out[w])
	}
	return out, nil
}

// rowsByClass lists the rows of each class in increasing order.
func rowsByClass(labels []int, classes int) [][]int {
	out := make([][]int, classes)
	for i, l := range labels {
		out[l] = append(out[l], i)
	}
	return out
}

// Histogram counts the classes of rows.
func Histogram(labels []int, classes int, rows []int) []int {
	h := make([]int, classes)
	for _, i := range rows {
		h[labels[i]]++
	}
	return h
}

// Gamma draws from Gamma(alpha, 1) by Marsaglia and Tsang's method (2000):
// for alpha >= 1, d = alpha - 1/3, c = 1/sqrt(9d), repeat x ~ N(0,1),
// v = (1 + c x)^3 until v > 0 and log U < x^2/2 + d - d v + d log v, and
// return d v; for alpha < 1, Gamma(alpha+1) U^(1/alpha) (their boost),
// computed in logarithms so that small alphas underflow only to 0.
func Gamma(rng *rand.Rand, alpha float64) float64 {
	if alpha < 1 {
		g := Gamma(rng, alpha+1)
		u := 1 - rng.Float64() // (0, 1]
		return math.Exp(math.Log(g) + math.Log(u)/alpha)
	}
	d := alpha - 1.0/3
	c := 1 / math.Sqrt(9*d)
	for {
		x := rng.NormFloat64()
		v := 1 + c*x
		if v <= 0 {
			continue
		}
		v = v * v * v
		u := 1 - rng.Float64()
		if math.Log(u) < 0.5*x*x+d-d*v+d*math.Log(v) {
			return d * v
		}
	}
}
