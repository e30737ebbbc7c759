package job

import (
	"fmt"

	"signsgd/collective"
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

// signAttack is the Byzantines' extra round for SIGNSGD/SIGNUM. Every
// non-Byzantine rank sends its signs to the lowest Byzantine rank (the
// leader), which sums them per coordinate, decides every Byzantine's vote
// and sends each its vector. On return, a Byzantine's mine holds what it
// will vote. The round's bytes are tagged TagAttack, apart from the vote's.
// The leader adds what its votes did to tally.
func signAttack(c collective.Comm, rl []Role, attack string, mine kernels.Signs, tally *attackTally) error {
	byz, honest := splitRoles(rl)
	if len(byz) == 0 {
		return nil
	}
	leader := byz[0]
	me := c.Rank()
	if rl[me] != Byzantine {
		if err := c.Send(leader, collective.TagAttack, mine.Encode(nil)); err != nil {
			return fmt.Errorf("attack round: %w", err)
		}
		return nil
	}
	if me != leader {
		p, err := c.Recv(leader, collective.TagAttack)
		if err != nil {
			return fmt.Errorf("attack round: %w", err)
		}
		if err := mine.Decode(p); err != nil {
			return fmt.Errorf("attack round: from rank %d: %w", leader, err)
		}
		return nil
	}
	seen := make([]kernels.Signs, len(honest))
	for i, r := range honest {
		p, err := c.Recv(r, collective.TagAttack)
		if err != nil {
			return fmt.Errorf("attack round: %w", err)
		}
		seen[i] = kernels.NewSigns(mine.N)
		if err := seen[i].Decode(p); err != nil {
			return fmt.Errorf("attack round: from rank %d: %w", r, err)
		}
	}
	votes := planAttack(seen, attack, len(byz), tally)
	for j, r := range byz {
		if r == me {
			mine.CopyFrom(votes[j])
			continue
		}
		if err := c.Send(r, collective.TagAttack, votes[j].Encode(nil)); err != nil {
			return fmt.Errorf("attack round: %w", err)
		}
	}
	return nil
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

// planAttack returns the f Byzantines' sign vectors against the honest ones.
// At each coordinate the first `plus` Byzantines vote +1, the rest -1. When
// tally is not nil, what the votes do to the honest sums is added to it.
func planAttack(honest []kernels.Signs, attack string, f int, tally *attackTally) []kernels.Signs {
	n := honest[0].N
	sums := make([]int32, n)
	kernels.SignSums(sums, honest)
	out := make([]kernels.Signs, f)
	for j := range out {
		out[j] = kernels.NewSigns(n)
	}
	var t attackTally
	h := int32(len(honest))
	for i, a := range sums {
		plus, abstain := ByzantineVotes(attack, int(a), f)
		v := int32(0)
		if !abstain {
			v = int32(2*plus - f)
			for j := range out {
				if j < plus {
					out[j].Set(i, 1)
				} else {
					out[j].Set(i, -1)
				}
			}
		}
		switch total := a + v; {
		case a == 0:
		case total == 0:
			t.zeroed++
		case (total > 0) != (a > 0):
			t.flipped++
		}
		if a == h || a == -h {
			t.unanimous++
		}
	}
	t.coords = float64(n)
	if tally != nil {
		tally.add(t)
	}
	return out
}

// sgdAttack is the Byzantines' extra round for SGD: every non-Byzantine rank
// sends its gradient to the leader, which sends minus their sum so the sum
// of all gradients is zero; the other Byzantines send zeros. g is replaced
// on Byzantine ranks.
func sgdAttack(c collective.Comm, rl []Role, g []float32) error {
	byz, honest := splitRoles(rl)
	if len(byz) == 0 {
		return nil
	}
	leader, me := byz[0], c.Rank()
	switch {
	case rl[me] != Byzantine:
		if err := c.Send(leader, collective.TagAttack, collective.EncodeFloat32s(nil, g)); err != nil {
			return fmt.Errorf("attack round: %w", err)
		}
		return nil
	case me != leader:
		clear(g)
		return nil
	}
	vecs := make([][]float32, len(honest))
	for i, r := range honest {
		p, err := c.Recv(r, collective.TagAttack)
		if err != nil {
			return fmt.Errorf("attack round: %w", err)
		}
		vecs[i] = make([]float32, len(g))
		if err := collective.DecodeFloat32s(vecs[i], p); err != nil {
			return fmt.Errorf("attack round: from rank %d: %w", r, err)
		}
	}
	// Sum in rank order, as the server does, so the total is exactly zero.
	kernels.SumFloat32(g, vecs)
	kernels.Scale(g, -1)
	return nil
}
