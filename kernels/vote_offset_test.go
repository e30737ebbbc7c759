package kernels

import (
	"math/rand/v2"
	"testing"
)

// TestVoteAtWord: a vote over a run of whole words of a longer vector,
// with the options AtWord gives, equals that part of the whole vote, ties
// included.
func TestVoteAtWord(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 7))
	const n, m = 64*9 + 17, 4
	voters := make([]Signs, m)
	for v := range voters {
		voters[v] = NewSigns(n)
		for i := 0; i < n; i++ {
			voters[v].Set(i, rng.IntN(3)-1)
		}
	}
	for _, tie := range []TieRule{TieZero, TiePlus, TieRandom} {
		opt := VoteOptions{Tie: tie, Seed: 12345}
		whole := NewSigns(n)
		Vote(whole, voters, opt)
		for lo := 0; lo < Words(n); lo++ {
			for hi := lo; hi <= Words(n); hi++ {
				sn := min(64*hi, n) - 64*lo
				part := make([]Signs, m)
				for v := range part {
					part[v] = Signs{N: sn, NZ: voters[v].NZ[lo:hi], Neg: voters[v].Neg[lo:hi]}
				}
				fast, naive := NewSigns(sn), NewSigns(sn)
				Vote(fast, part, opt.AtWord(lo))
				VoteNaive(naive, part, opt.AtWord(lo))
				for i := 0; i < sn; i++ {
					if want := whole.At(64*lo + i); fast.At(i) != want || naive.At(i) != want {
						t.Fatalf("tie=%v words %d..%d: coordinate %d is %d (naive %d), whole vote %d", tie, lo, hi, i, fast.At(i), naive.At(i), want)
					}
				}
			}
		}
	}
}
