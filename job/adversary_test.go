package job

import (
	"math/rand/v2"
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
		for name, plan := range map[string]func([]kernels.Signs, string, int, *attackTally) []kernels.Signs{"planAttack": planAttack, "planAttackNaive": planAttackNaive} {
			tally := attackTally{coords: 7, flipped: 1} // added to, not replaced
			votes := plan(honest, attack, 3, &tally)
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
					t.Fatalf("%s %s coordinate %d: Byzantines add %d, want %d", name, attack, j, v, add)
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
				t.Errorf("%s %s: tally %+v, want %+v", name, attack, tally, want)
			}
			seen.add(want)
		}
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

// BenchmarkPlanAttack plans the paper's attack for 4 Byzantines against 5
// other ranks on the MNIST cnn's 1,199,882 coordinates.
func BenchmarkPlanAttack(b *testing.B) {
	const n = 1199882
	r := rand.New(rand.NewPCG(8005, 2))
	honest := make([]kernels.Signs, 5)
	for i := range honest {
		honest[i] = kernels.NewSigns(n)
		for j := 0; j < n; j++ {
			honest[i].Set(j, r.IntN(3)-1)
		}
	}
	for _, c := range []struct {
		name string
		plan func([]kernels.Signs, string, int, *attackTally) []kernels.Signs
	}{{"bitsliced", planAttack}, {"naive", planAttackNaive}} {
		b.Run(c.name, func(b *testing.B) {
			var tally attackTally
			b.SetBytes(n / 8)
			for b.Loop() {
				c.plan(honest, "paper", 4, &tally)
			}
		})
	}
}

// randomSigns returns h vectors of n signs, each zero with probability
// zero/8 and otherwise +-1 at even odds.
func randomSigns(r *rand.Rand, h, n, zero int) []kernels.Signs {
	out := make([]kernels.Signs, h)
	for i := range out {
		out[i] = kernels.NewSigns(n)
		for j := 0; j < n; j++ {
			if r.IntN(8) >= zero {
				out[i].Set(j, 2*r.IntN(2)-1)
			}
		}
	}
	return out
}

// checkPlanAttack holds planAttack to planAttackNaive: every Byzantine's
// word and the tally, exactly.
func checkPlanAttack(t *testing.T, honest []kernels.Signs, attack string, f int) {
	t.Helper()
	var got, want attackTally
	fast := planAttack(honest, attack, f, &got)
	slow := planAttackNaive(honest, attack, f, &want)
	for j := range slow {
		for w := range slow[j].NZ {
			if fast[j].NZ[w] != slow[j].NZ[w] || fast[j].Neg[w] != slow[j].Neg[w] {
				t.Fatalf("%s, %d honest of %d signs, f=%d: Byzantine %d word %d: nz %x neg %x, want %x %x",
					attack, len(honest), honest[0].N, f, j, w, fast[j].NZ[w], fast[j].Neg[w], slow[j].NZ[w], slow[j].Neg[w])
			}
		}
	}
	if got != want {
		t.Fatalf("%s, %d honest of %d signs, f=%d: tally %+v, want %+v", attack, len(honest), honest[0].N, f, got, want)
	}
}

// planAttack against its reference over vector lengths around the word
// size, 1-12 honest ranks, 1-12 Byzantines, with and without zero signs.
func TestPlanAttackMatchesNaive(t *testing.T) {
	r := rand.New(rand.NewPCG(8005, 3))
	for _, n := range []int{1, 63, 64, 65, 130, 1000} {
		for h := 1; h <= 12; h++ {
			for _, f := range []int{1, 2, 3, h - 1, h, h + 1, 12} {
				if f < 1 {
					continue
				}
				honest := randomSigns(r, h, n, r.IntN(4))
				for _, attack := range []string{"paper", "oppose"} {
					checkPlanAttack(t, honest, attack, f)
				}
			}
		}
	}
}

// FuzzPlanAttack: arbitrary honest signs (as the leader decodes them from
// the other ranks) and counts.
func FuzzPlanAttack(f *testing.F) {
	f.Add(uint8(5), uint8(4), false, []byte{0xff, 0x0f, 0x33, 0x81, 0x7e, 0x01, 0x80, 0x55})
	f.Add(uint8(1), uint8(1), true, []byte{0})
	f.Fuzz(func(t *testing.T, h, byz uint8, oppose bool, raw []byte) {
		if len(raw) == 0 {
			return
		}
		hn, fn := int(h%16)+1, int(byz%16)+1
		n := 1 + len(raw)*4/hn
		honest := make([]kernels.Signs, hn)
		for i := range honest {
			honest[i] = kernels.NewSigns(n)
			for j := 0; j < n; j++ {
				k := i*n + j // two bits of raw per sign, cycling
				switch raw[(k/4)%len(raw)] >> uint(2*(k%4)) & 3 {
				case 1:
					honest[i].Set(j, 1)
				case 2, 3:
					honest[i].Set(j, -1)
				}
			}
		}
		attack := "paper"
		if oppose {
			attack = "oppose"
		}
		checkPlanAttack(t, honest, attack, fn)
	})
}

// tallyVotesNaive is the reference for tallyVotes: the sums, then each
// coordinate through attackTally.count.
func tallyVotesNaive(others, byz []kernels.Signs, tally *attackTally) {
	n := others[0].N
	a := make([]int32, n)
	v := make([]int32, n)
	kernels.SignSums(a, others)
	kernels.SignSums(v, byz)
	for i := range a {
		tally.count(int(a[i]), int(v[i]), len(others), 1)
	}
	tally.coords += float64(n)
}

// measureNaive is the reference for attackRound.measure's count: the
// coordinates where result differs from the sign of the honest sum.
func measureNaive(honest []kernels.Signs, result kernels.Signs) int {
	sums := make([]int32, result.N)
	kernels.SignSums(sums, honest)
	n := 0
	for i, s := range sums {
		h := 0
		if s > 0 {
			h = 1
		} else if s < 0 {
			h = -1
		}
		if result.At(i) != h {
			n++
		}
	}
	return n
}

// TestTallyAndMeasureMatchNaive: tallyVotes and attackRound.measure, a
// word at a time, against their coordinate-by-coordinate references, over
// lengths around the word size, 1-9 other ranks (even counts tie), 1-4
// Byzantines, with and without zero signs, and a result that is the
// honest vote itself (no disagreement) or random.
func TestTallyAndMeasureMatchNaive(t *testing.T) {
	r := rand.New(rand.NewPCG(8005, 4))
	for _, n := range []int{1, 63, 64, 65, 130, 1000} {
		for h := 1; h <= 9; h++ {
			for f := 1; f <= 4; f++ {
				zero := r.IntN(4)
				others := randomSigns(r, h, n, zero)
				byz := randomSigns(r, f, n, r.IntN(4))
				if h%3 == 0 { // unanimity somewhere
					for _, o := range others[1:] {
						copy(o.NZ, others[0].NZ[:len(o.NZ)/2])
						copy(o.Neg, others[0].Neg[:len(o.Neg)/2])
					}
				}
				var got, want attackTally
				tallyVotes(others, byz, &got)
				tallyVotesNaive(others, byz, &want)
				if got != want {
					t.Fatalf("n=%d h=%d f=%d zero=%d: tally %+v, want %+v", n, h, f, zero, got, want)
				}

				results := []kernels.Signs{byz[0], kernels.NewSigns(n)}
				kernels.Vote(results[1], others, kernels.VoteOptions{Tie: kernels.TieZero})
				for _, res := range results {
					a := &attackRound{atk: attack{sign: &signAttack{}}, byz: []int{h}, honest: others}
					a.measure(h, res)
					a.measure(h, res) // the buffers again
					if d, c := a.takeDisagreement(); d != float64(2*measureNaive(others, res)) || c != float64(2*n) {
						t.Fatalf("n=%d h=%d: measure %v of %v coordinates, want %d of %d", n, h, d, c, 2*measureNaive(others, res), 2*n)
					}
				}
			}
		}
	}
}
