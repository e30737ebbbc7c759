package job

import (
	"math/bits"

	"signsgd/kernels"
)

// Role is what a rank does with its gradient.
type Role int

const (
	Honest    Role = iota
	Blind          // inverts its gradient (SGD) or its sign
	Byzantine      // colludes, sees the others' gradients, sends what hurts most
)

func (r Role) String() string { return [...]string{"honest", "blind", "byzantine"}[r] }

// roles places the adversaries: blind ones at ranks 1..B, Byzantine ones at
// the highest F ranks. Rank 0, the server, is always honest.
func roles(workers, blind, byz int) []Role {
	out := make([]Role, workers)
	for r := 1; r <= blind; r++ {
		out[r] = Blind
	}
	for r := workers - byz; r < workers; r++ {
		out[r] = Byzantine
	}
	return out
}

// splitRoles returns the Byzantine ranks and the others, in rank order.
func splitRoles(rl []Role) (byz, others []int) {
	for r, x := range rl {
		if x == Byzantine {
			byz = append(byz, r)
		} else {
			others = append(others, r)
		}
	}
	return byz, others
}

// ByzantineVotes returns how many of f colluding Byzantines vote +1 at a
// coordinate whose non-Byzantine votes sum to a (the others vote -1), so
// that together they add v:
//
//	paper:  a > f: v = -f;  a < -f: v = +f;
//	        0 < a <= f: v = -a - ((f-a) mod 2);  -f <= a <= 0: v = -a + ((f+a) mod 2)
//	        (the total is driven to 0 where parity allows, else flipped by one)
//	oppose: every Byzantine votes -sign(a) (all abstain where a = 0)
//
// For oppose the second result says whether they abstain.
func ByzantineVotes(attack string, a, f int) (plus int, abstain bool) {
	if attack == "oppose" {
		switch {
		case a > 0:
			return 0, false
		case a < 0:
			return f, false
		}
		return 0, true
	}
	var v int
	switch {
	case a > f:
		v = -f
	case a < -f:
		v = f
	case a > 0:
		v = -a - (f-a)%2
	default:
		v = -a + (f+a)%2
	}
	return (f + v) / 2, false
}

// attackTally counts, at the Byzantine leader, what the Byzantines' votes
// did to the sum a of the other ranks' signs at each coordinate it planned
// (d per step).
type attackTally struct {
	coords    float64
	unanimous float64 // every other rank's sign the same, and not 0
	flipped   float64 // a != 0 and the total has the opposite sign
	zeroed    float64 // a != 0 and the total is 0
}

func (t *attackTally) add(u attackTally) {
	t.coords += u.coords
	t.unanimous += u.unanimous
	t.flipped += u.flipped
	t.zeroed += u.zeroed
}

// count adds k coordinates where h honest signs sum to a and the
// Byzantines add v (not counting them in coords).
func (t *attackTally) count(a, v, h int, k float64) {
	switch total := a + v; {
	case a == 0:
	case total == 0:
		t.zeroed += k
	case (total > 0) != (a > 0):
		t.flipped += k
	}
	if a == h || a == -h {
		t.unanimous += k
	}
}

// planAttack returns the f Byzantines' sign vectors against the honest ones.
// At each coordinate the first `plus` Byzantines vote +1, the rest -1. When
// tally is not nil, what the votes do to the honest sums is added to it.
//
// It works a word (64 coordinates) at a time, bit-sliced: each honest sign s
// adds 1+s (0, 1 or 2) into counters held as bit planes, so the planes
// count c = a + h for the honest sum a. For each value of c, a mask of the
// coordinates that have it picks the rule's answer from a table made once
// per call; coordinates are gathered by how many Byzantines vote +1, and
// each Byzantine's word is the union of the groups above its index.
// planAttackNaive is the reference.
func planAttack(honest []kernels.Signs, attack string, f int, tally *attackTally) []kernels.Signs {
	n := honest[0].N
	h := len(honest)
	// plusOf[c]: how many Byzantines vote +1 where the honest sum is c-h;
	// f+1 stands for abstaining. count[c]: how often c occurs.
	plusOf := make([]int, 2*h+1)
	for a := -h; a <= h; a++ {
		plus, abstain := ByzantineVotes(attack, a, f)
		if abstain {
			plus = f + 1
		}
		plusOf[a+h] = plus
	}
	count := make([]float64, 2*h+1)
	out := make([]kernels.Signs, f)
	for j := range out {
		out[j] = kernels.NewSigns(n)
	}
	planes := make([]uint64, bits.Len(uint(2*h)))
	// add adds the one-bit numbers x<<k into the planes (ripple carry).
	add := func(x uint64, k int) {
		for ; x != 0; k++ {
			planes[k], x = planes[k]^x, planes[k]&x
		}
	}
	group := make([]uint64, f+2) // group[p]: the word's coordinates where p vote +1
	for w := range kernels.Words(n) {
		valid := ^uint64(0)
		if r := n - 64*w; r < 64 {
			valid = 1<<uint(r) - 1
		}
		clear(planes)
		for _, s := range honest { // bits past n are counted, never read
			add(^s.NZ[w], 0)
			add(s.NZ[w]&^s.Neg[w], 1)
		}
		clear(group)
		for c := range count {
			eq := valid
			for k, p := range planes {
				if c>>uint(k)&1 == 1 {
					eq &= p
				} else {
					eq &^= p
				}
			}
			if eq != 0 {
				count[c] += float64(bits.OnesCount64(eq))
				group[plusOf[c]] |= eq
			}
		}
		// Byzantine j votes +1 where more than j vote +1, -1 elsewhere
		// unless they abstain.
		voting := valid &^ group[f+1]
		above := uint64(0)
		for j := f - 1; j >= 0; j-- {
			above |= group[j+1]
			out[j].NZ[w] = voting
			out[j].Neg[w] = voting &^ above
		}
	}
	if tally != nil {
		for c, k := range count {
			v := 0
			if plusOf[c] <= f {
				v = 2*plusOf[c] - f
			}
			tally.count(c-h, v, h, k)
		}
		tally.coords += float64(n)
	}
	return out
}

// planAttackNaive is planAttack one coordinate at a time, straight from
// ByzantineVotes: the reference the tests hold planAttack to.
func planAttackNaive(honest []kernels.Signs, attack string, f int, tally *attackTally) []kernels.Signs {
	n := honest[0].N
	sums := make([]int32, n)
	kernels.SignSums(sums, honest)
	out := make([]kernels.Signs, f)
	for j := range out {
		out[j] = kernels.NewSigns(n)
	}
	for i, a := range sums {
		plus, abstain := ByzantineVotes(attack, int(a), f)
		v := 0
		if !abstain {
			v = 2*plus - f
			for j := range out {
				if j < plus {
					out[j].Set(i, 1)
				} else {
					out[j].Set(i, -1)
				}
			}
		}
		if tally != nil {
			tally.count(int(a), v, len(honest), 1)
		}
	}
	if tally != nil {
		tally.coords += float64(n)
	}
	return out
}
