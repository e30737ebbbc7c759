package job

import (
	"math"
	"os"
	"slices"
	"strings"
	"testing"

	"signsgd/kernels"
)

// TestAlieZ checks Baruch et al.'s z by hand: for n = 9, f = 4 the
// Byzantines must win s = floor(9/2 + 1) - 4 = 1 worker, so z =
// Phi^-1(8/9) = 1.2206; for n = 50, f = 12 (the paper's own example) s =
// 14 and z = Phi^-1(36/50) = 0.5828.
func TestAlieZ(t *testing.T) {
	for _, c := range []struct {
		n, f int
		z    float64
	}{{9, 4, 1.22064}, {50, 12, 0.58284}, {9, 2, 0.43073}} {
		if z := alieZ(c.n, c.f); math.Abs(z-c.z) > 1e-4 {
			t.Errorf("alieZ(%d, %d) = %.5f, want %.5f", c.n, c.f, z, c.z)
		}
		// Phi(z) = (n-s)/n, from the definition.
		s := max(c.n/2+1-c.f, 1)
		if phi := 0.5 * (1 + math.Erf(alieZ(c.n, c.f)/math.Sqrt2)); math.Abs(phi-float64(c.n-s)/float64(c.n)) > 1e-12 {
			t.Errorf("Phi(z) = %v, want %v", phi, float64(c.n-s)/float64(c.n))
		}
	}
}

// TestGradientAttacks checks each planned gradient attack against its
// definition on three small vectors worked out by hand.
func TestGradientAttacks(t *testing.T) {
	others := [][]float32{{1, 2, 0}, {3, 2, -4}, {5, 2, 1}}
	// mean (3, 2, -1); sample std (2, 0, sqrt(7)).
	p := &attackParams{z: 1.5, eps: 0.5}
	out := makeVectors(2, 3)
	planALIE(p, others, out)
	want := []float32{3 - 1.5*2, 2, -1 - 1.5*float32(math.Sqrt(7))}
	for j := range out {
		for i := range want {
			if math.Abs(float64(out[j][i]-want[i])) > 1e-6 {
				t.Fatalf("alie: Byzantine %d got %v, want %v", j, out[j], want)
			}
		}
	}
	planIPM(p, others, out)
	for j := range out {
		if !slices.Equal(out[j], []float32{-1.5, -1, 0.5}) {
			t.Fatalf("ipm: Byzantine %d got %v, want [-1.5 -1 0.5]", j, out[j])
		}
	}
	planMimic(p, others, out)
	for j := range out {
		if !slices.Equal(out[j], others[0]) {
			t.Fatalf("mimic: Byzantine %d got %v, want %v", j, out[j], others[0])
		}
	}
	zeroSum.plan(p, others, out[:1])
	if !slices.Equal(out[0], []float32{-9, -6, 3}) {
		t.Fatalf("zero-sum: %v, want [-9 -6 3]", out[0])
	}
	g := []float32{1, -2, 3, 4}
	attacks.items[slices.IndexFunc(attacks.items, func(c choice[attack]) bool { return c.Name == "signflip" })].Value.grad.local(&attackParams{scale: 2}, g)
	if !slices.Equal(g, []float32{-2, 4, -6, -8}) {
		t.Fatalf("signflip: %v", g)
	}
	localInf(p, g)
	if !math.IsNaN(float64(g[0])) || !math.IsInf(float64(g[1]), 1) || g[2] != -3e38 || !math.IsNaN(float64(g[3])) {
		t.Fatalf("inf: %v", g)
	}
}

// TestRandomAttacks checks the seeded draws: Gaussian's moments, random
// signs' balance, and that two Byzantines (or two steps) draw differently
// while the same rank and step draw the same.
func TestRandomAttacks(t *testing.T) {
	const n = 200000
	p := &attackParams{sigma: 3, seed: 7, rank: 5, step: 2}
	g := make([]float32, n)
	localGaussian(p, g)
	var s, q float64
	for _, v := range g {
		s += float64(v)
		q += float64(v) * float64(v)
	}
	mean, sd := s/n, math.Sqrt(q/n-(s/n)*(s/n))
	if math.Abs(mean) > 5*3/math.Sqrt(n) || math.Abs(sd-3) > 0.05 {
		t.Fatalf("gaussian: mean %.4f sd %.4f, want 0 and 3", mean, sd)
	}
	h := make([]float32, n)
	localGaussian(p, h)
	if !slices.Equal(g, h) {
		t.Fatal("gaussian: the same rank and step drew differently")
	}
	p.rank = 6
	localGaussian(p, h)
	if slices.Equal(g, h) {
		t.Fatal("gaussian: two Byzantines drew the same noise")
	}
	sg := kernels.NewSigns(n)
	localRandomSigns(p, sg)
	plus := 0
	for i := range n {
		switch sg.At(i) {
		case 1:
			plus++
		case 0:
			t.Fatal("random signs: an abstention")
		}
	}
	if math.Abs(float64(plus)/n-0.5) > 5*0.5/math.Sqrt(n) {
		t.Fatalf("random signs: %d of %d are +1", plus, n)
	}
}

// TestSignPlansOfFloats checks ALIE's and IPM's sign forms: every Byzantine
// votes the sign of the gradient plan, and the tally counts against the
// others' signs.
func TestSignPlansOfFloats(t *testing.T) {
	floats := [][]float32{{1, -1, 2, 0.1}, {1, -1, -2, 0.3}, {1, -1, 2, 0.2}}
	others := make([]kernels.Signs, len(floats))
	for i, f := range floats {
		others[i] = kernels.NewSigns(4)
		kernels.PackSigns(others[i], f)
	}
	out := []kernels.Signs{kernels.NewSigns(4), kernels.NewSigns(4)}
	var tally attackTally
	signOfPlan(planIPM)(&attackParams{eps: 0.5}, others, floats, out, &tally)
	for j := range out {
		for i, want := range []int{-1, 1, -1, -1} {
			if out[j].At(i) != want {
				t.Fatalf("ipm signs: Byzantine %d coordinate %d is %d, want %d", j, i, out[j].At(i), want)
			}
		}
	}
	// Sums of the others: 3, -3, 1, 3; the Byzantines add -2, 2, -2, -2:
	// coordinate 2 flips (1 - 2 = -1); none is zeroed; 3 of 4 unanimous.
	if tally.coords != 4 || tally.flipped != 1 || tally.zeroed != 0 || tally.unanimous != 3 {
		t.Fatalf("tally %+v, want 4 coordinates, 1 flipped, 0 zeroed, 3 unanimous", tally)
	}
}

// TestRegistries holds the registries to their promises: every attack has
// a form, every parameter flag exists, and --help lists every name with
// its line.
func TestRegistries(t *testing.T) {
	fs := runFlags(&Config{})
	help := methodsReference()
	for _, it := range attacks.items {
		if it.Value.grad == nil && it.Value.sign == nil {
			t.Errorf("attack %s has no form", it.Name)
		}
		if g := it.Value.grad; g != nil && (g.round == (g.plan == nil) || !g.round && g.local == nil) {
			t.Errorf("attack %s: a gradient form needs a plan with its round, a local step without", it.Name)
		}
		if s := it.Value.sign; s != nil && s.plan == nil && s.local == nil {
			t.Errorf("attack %s: a sign form needs a plan or a local step", it.Name)
		}
		for _, p := range it.Value.params {
			if fs.Lookup(p) == nil {
				t.Errorf("attack %s reads --%s, which is not a flag", it.Name, p)
			}
		}
	}
	for _, it := range aggregators.items {
		for _, p := range it.Value.params {
			if fs.Lookup(p) == nil {
				t.Errorf("aggregator %s reads --%s, which is not a flag", it.Name, p)
			}
		}
	}
	for _, names := range [][]string{optimizers.Names(), aggregators.Names(), preAggregators.Names(), attacks.Names(), partitions.Names(), securities.Names()} {
		for _, n := range names {
			if !strings.Contains(help, "\n  "+n+" ") {
				t.Errorf("--help does not list %s", n)
			}
		}
	}
	if _, err := optimizers.parse("adam"); err == nil || !strings.Contains(err.Error(), "--opt: unknown value \"adam\" (want sgd, signsgd, signum, sto-signsgd, sto-signum, ef-signsgd)") {
		t.Errorf("parse: %v", err)
	}
}

// TestEveryAttackTrains runs every attack with each optimizer it has a
// form for, and every aggregator and pre-aggregator, one short epoch in
// memory: each must train to the end with the same model on every rank,
// and record what it measured.
func TestEveryAttackTrains(t *testing.T) {
	base := []string{"--epochs", "1", "--train-limit", "1500", "--eval-limit", "200", "--byzantine", "2"}
	for _, it := range attacks.items {
		for _, opt := range []string{"sgd", "signum"} {
			kind, _ := optimizers.parse(opt)
			if (kind.sign && it.Value.sign == nil) || (!kind.sign && it.Value.grad == nil) {
				continue
			}
			_, rec := trainInMemory(t, 6, append([]string{"--opt", opt, "--attack", it.Name}, base...)...)
			if rec["attack"] != it.Name {
				t.Errorf("%s %s: metrics attack %v", opt, it.Name, rec["attack"])
			}
			key := "update_cosine"
			if kind.sign {
				key = "sign_disagree"
			}
			if _, ok := rec[key].(float64); !ok && it.Name != "inf" {
				t.Errorf("%s %s: no %s in %v", opt, it.Name, key, rec)
			}
		}
	}
	for _, agg := range aggregators.Names() {
		for _, pre := range []string{"", "nnm", "bucket:2"} {
			_, rec := trainInMemory(t, 6, append([]string{"--opt", "sgd", "--aggregator", agg, "--pre", pre}, base...)...)
			if rec["aggregator"] != agg {
				t.Errorf("%s: metrics aggregator %v", agg, rec["aggregator"])
			}
		}
	}
}

// TestReadmeListsMethods keeps the README's tables of aggregators and
// attacks true to the registries: every name has its row.
func TestReadmeListsMethods(t *testing.T) {
	b, err := os.ReadFile("../README.md")
	if err != nil {
		t.Fatal(err)
	}
	readme := string(b)
	for _, n := range aggregators.Names() {
		if !strings.Contains(readme, "\n| `"+n+"` |") {
			t.Errorf("README: no row for aggregator %s", n)
		}
	}
	for _, n := range preAggregators.Names() {
		if !strings.Contains(readme, "\n| `--pre "+n) {
			t.Errorf("README: no row for pre-aggregator %s", n)
		}
	}
	for _, it := range attacks.items {
		row := "\n| `" + it.Name + "` | "
		i := strings.Index(readme, row)
		if i < 0 {
			t.Errorf("README: no row for attack %s", it.Name)
			continue
		}
		cols := strings.Split(readme[i+len(row):i+strings.Index(readme[i+1:], "\n")+1], "|")
		if (strings.TrimSpace(cols[0]) == "yes") != (it.Value.grad != nil) || (strings.TrimSpace(cols[1]) == "yes") != (it.Value.sign != nil) {
			t.Errorf("README: attack %s's sgd/signs columns %q %q disagree with its forms", it.Name, cols[0], cols[1])
		}
	}
}
