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
	var seen attackTally
	for _, attack := range []string{"paper", "oppose"} {
		tally := attackTally{coords: 7, flipped: 1} // added to, not replaced
		votes := planAttack(honest, attack, 3, &tally)
		var want attackTally
		for j := 0; j < n; j++ {
			v, a := 0, 0
			for _, b := range votes {
				v += b.At(j)
			}
			for _, s := range honest {
				a += s.At(j)
			}
			plus, abstain := ByzantineVotes(attack, int(sums[j]), 3)
			add := 2*plus - 3
			if abstain {
				add = 0
			}
			if v != add {
				t.Fatalf("%s coordinate %d: Byzantines add %d, want %d", attack, j, v, add)
			}
			// What the votes did, counted from the signs themselves.
			total := a + v
			switch {
			case a != 0 && total == 0:
				want.zeroed++
			case a*total < 0:
				want.flipped++
			}
			if a == len(honest) || a == -len(honest) {
				want.unanimous++
			}
		}
		want.coords = float64(n) + 7
		want.flipped++
		if tally != want {
			t.Errorf("%s: tally %+v, want %+v", attack, tally, want)
		}
		seen.add(want)
	}
	// Between them the two attacks flip some coordinates and zero others.
	if seen.flipped <= 2 || seen.zeroed == 0 || seen.unanimous == 0 {
		t.Errorf("the signs exercise too little of the tally: %+v", seen)
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
