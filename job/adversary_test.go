package job

import (
	"testing"

	"signsgd/kernels"
)

func TestByzantineVotesPaperRule(t *testing.T) {
	// (a, f) -> v = 2*plus - f, from the rule in DESIGN.md
	cases := []struct{ a, f, v int }{
		{5, 4, -4}, {-5, 4, 4}, // cannot flip: oppose fully
		{3, 4, -4}, {1, 4, -2}, {4, 4, -4}, {2, 4, -2}, // 0 < a <= f
		{0, 4, 0}, {-2, 4, 2}, {-4, 4, 4}, {-1, 4, 2}, {-3, 4, 4}, // -f <= a <= 0
		{0, 1, 1}, {1, 1, -1}, {-1, 1, 1}, {2, 1, -1}, {-2, 1, 1},
		{0, 3, 1}, {2, 3, -3}, {3, 3, -3}, {-3, 3, 3}, {1, 3, -1},
	}
	for _, c := range cases {
		plus, abstain := ByzantineVotes("paper", c.a, c.f)
		if abstain || 2*plus-c.f != c.v {
			t.Errorf("paper a=%d f=%d: v=%d (abstain %v), want %d", c.a, c.f, 2*plus-c.f, abstain, c.v)
		}
	}
	// properties over a range: |v| <= f, v = f mod 2, total at most 1 in
	// magnitude where the Byzantines can reach it, and never helps the
	// honest sign.
	for f := 1; f <= 8; f++ {
		for a := -20; a <= 20; a++ {
			plus, _ := ByzantineVotes("paper", a, f)
			v := 2*plus - f
			if plus < 0 || plus > f {
				t.Fatalf("a=%d f=%d: %d of %d vote +1", a, f, plus, f)
			}
			if (a > 0 && v > 0) || (a < 0 && v < 0) {
				t.Fatalf("a=%d f=%d: v=%d helps the honest sign", a, f, v)
			}
			if a >= -f && a <= f && (a+v > 1 || a+v < -1) {
				t.Fatalf("a=%d f=%d: total %d not driven to 0 or a flip", a, f, a+v)
			}
		}
	}
}

func TestByzantineVotesOppose(t *testing.T) {
	for _, c := range []struct {
		a, plus int
		abstain bool
	}{{3, 0, false}, {-2, 4, false}, {0, 0, true}} {
		plus, abstain := ByzantineVotes("oppose", c.a, 4)
		if plus != c.plus || abstain != c.abstain {
			t.Errorf("oppose a=%d: plus %d abstain %v", c.a, plus, abstain)
		}
	}
}

func TestPlanAttackSums(t *testing.T) {
	n := 200
	honest := make([]kernels.Signs, 5)
	for i := range honest {
		honest[i] = kernels.NewSigns(n)
		for j := 0; j < n; j++ {
			honest[i].Set(j, (i*j+j/3+i)%3-1)
		}
	}
	sums := make([]int32, n)
	kernels.SignSums(sums, honest)
	for _, attack := range []string{"paper", "oppose"} {
		votes := planAttack(honest, attack, 3)
		for j := 0; j < n; j++ {
			v := 0
			for _, b := range votes {
				v += b.At(j)
			}
			plus, abstain := ByzantineVotes(attack, int(sums[j]), 3)
			want := 2*plus - 3
			if abstain {
				want = 0
			}
			if v != want {
				t.Fatalf("%s coordinate %d: Byzantines add %d, want %d", attack, j, v, want)
			}
		}
	}
}

func TestRoles(t *testing.T) {
	rl := roles(9, 2, 3)
	want := []Role{Honest, Blind, Blind, Honest, Honest, Honest, Byzantine, Byzantine, Byzantine}
	for i := range want {
		if rl[i] != want[i] {
			t.Fatalf("roles(9, 2, 3) = %v", rl)
		}
	}
}
