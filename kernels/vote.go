package kernels

import (
	"fmt"
	"math/bits"
	"unsafe"
)

// TieRule says what the vote gives where the sum of signs is zero.
type TieRule uint8

const (
	// TieZero gives 0 (abstain): the paper's rule, sign(0) = 0.
	TieZero TieRule = iota
	// TiePlus gives +1, as Bernstein et al.'s 2019 code does.
	TiePlus
	// TieRandom gives +1 or -1 from a hash of the seed and the coordinate,
	// so every rank that counts the same vote breaks ties the same way.
	TieRandom
)

var tieNames = [...]string{TieZero: "zero", TiePlus: "plus", TieRandom: "random"}

func (t TieRule) String() string {
	if int(t) < len(tieNames) {
		return tieNames[t]
	}
	return fmt.Sprintf("TieRule(%d)", uint8(t))
}

// ParseTieRule reads a tie rule's name: zero, plus or random.
func ParseTieRule(s string) (TieRule, error) {
	for i, n := range tieNames {
		if s == n {
			return TieRule(i), nil
		}
	}
	return 0, fmt.Errorf("unknown tie rule %q (want zero, plus or random)", s)
}

// VoteOptions configure a majority vote.
type VoteOptions struct {
	Tie  TieRule
	Seed uint64 // for TieRandom; use a different seed every step
}

// tieWord returns the random tie-break bits of word w (1 = -1) for TieRandom.
func tieWord(seed uint64, w int) uint64 {
	z := seed + uint64(w+1)*0x9e3779b97f4a7c15
	z = (z ^ z>>30) * 0xbf58476d1ce4e5b9
	z = (z ^ z>>27) * 0x94d049bb133111eb
	return z ^ z>>31
}

// AtWord returns the options of a vote over the words from w on of a longer
// vector (one shard of it): ties then break as they do at those words of
// the whole vector's vote, since tieWord(Seed, w+v) = tieWord(Seed+w*C, v)
// for C, the step tieWord adds per word.
func (o VoteOptions) AtWord(w int) VoteOptions {
	o.Seed += uint64(w) * 0x9e3779b97f4a7c15
	return o
}

// maxPlanes bounds the counters' width: up to 2^30 voters.
const maxPlanes = 32

func checkVote(op string, dst Signs, voters []Signs) {
	dst.check(op)
	if len(voters) >= 1<<30 {
		panic(fmt.Sprintf("kernels: %s: %d voters is too many", op, len(voters)))
	}
	for i := range voters {
		voters[i].check(op)
		if voters[i].N != dst.N {
			panic(fmt.Sprintf("kernels: %s: voter %d has length %d, result has %d", op, i, voters[i].N, dst.N))
		}
	}
}

// Vote writes the majority vote sign(sum of voters) into dst. The voters must
// be canonical (see Signs.Canonicalize); dst may not alias a voter.
//
// Reference: VoteNaive. For each word, the counts of NZ bits and of Neg bits
// over the voters are kept bit-sliced: plane j of a counter holds bit j of the
// 64 counts. Voters enter eight at a time through carry-save adders, so a word
// costs about five logical operations per voter and plane, with no loop over
// bits. Then V = count(NZ) - 2 count(Neg) is compared with zero bit-sliced.
// Words of float gradients are dense (no zero signs), and for them only
// count(Neg) is counted. Large votes are split across Threads() goroutines.
func Vote(dst Signs, voters []Signs, opt VoteOptions) {
	checkVote("Vote", dst, voters)
	m := len(voters)
	nw := len(dst.NZ)
	if nw == 0 {
		return
	}
	// Addresses of word 0 of every plane: checkVote has made sure each
	// plane holds nw words, so the loads below stay in bounds. A vote that
	// runs on one goroutine (the collectives count a chunk at a time) keeps
	// them on the stack and allocates nothing.
	if min(Threads(), nw/voteGrain) <= 1 && m <= voteStackVoters {
		var nzBuf, negBuf [voteStackVoters]unsafe.Pointer
		nzs, negs := nzBuf[:m], negBuf[:m]
		for i, v := range voters {
			nzs[i], negs[i] = unsafe.Pointer(&v.NZ[0]), unsafe.Pointer(&v.Neg[0])
		}
		voteWordsFast(dst, nzs, negs, opt, 0, nw)
	} else {
		nzs := make([]unsafe.Pointer, m)
		negs := make([]unsafe.Pointer, m)
		for i, v := range voters {
			nzs[i], negs[i] = unsafe.Pointer(&v.NZ[0]), unsafe.Pointer(&v.Neg[0])
		}
		parallelFor(nw, voteGrain, func(lo, hi int) {
			voteWordsFast(dst, nzs, negs, opt, lo, hi)
		})
	}
	mask := tailMask(dst.N)
	dst.NZ[nw-1] &= mask
	dst.Neg[nw-1] &= mask
}

// useAsm lets tests switch the assembly kernels off to compare them with
// the portable Go.
var useAsm = true // read by vote_amd64.go

// useAVX512 lets tests switch the AVX-512 vote kernel off to check the AVX2
// one on CPUs that have both.
var useAVX512 = true // read by vote_amd64.go

// applyTies resolves the ties eq[i] of word w+i by opt.Tie (not TieZero).
func applyTies(dst Signs, eq []uint64, opt VoteOptions, w int) {
	for i, e := range eq {
		switch opt.Tie {
		case TiePlus:
			dst.NZ[w+i] |= e
		case TieRandom:
			dst.NZ[w+i] |= e
			dst.Neg[w+i] |= e & tieWord(opt.Seed, w+i)
		}
	}
}

// voteStackVoters is the most voters whose plane addresses a one-goroutine
// Vote keeps on its stack.
const voteStackVoters = 64

// voteGrain is the fewest words a goroutine of Vote is given.
const voteGrain = 1 << 14

// voteWords counts words lo..hi-1 of the vote.
func voteWords(dst Signs, nzs, negs []unsafe.Pointer, opt VoteOptions, lo, hi int) {
	m := len(nzs)
	k := bits.Len(uint(m))      // planes for counts 0..m
	var dense [maxPlanes]uint64 // count(NZ) = m everywhere, bit-sliced
	for j := 0; j < k; j++ {
		dense[j] = -(uint64(m) >> uint(j) & 1)
	}
	for w := lo; w < hi; w++ {
		var cn, cg [maxPlanes]uint64
		// Float gradients are almost never exactly zero: when every voter's
		// NZ word is all ones, count(NZ) is m and only Neg needs counting.
		off := uintptr(w) * 8
		all := ^uint64(0)
		for _, p := range nzs {
			all &= *(*uint64)(unsafe.Add(p, off))
		}
		if all == ^uint64(0) {
			cn = dense
		} else {
			countWord(&cn, nzs, w, k)
		}
		countWord(&cg, negs, w, k)
		// Compare a = count(NZ) with b = 2 count(Neg), most significant
		// plane first; b's plane j is count(Neg)'s plane j-1.
		var gt, lt uint64
		eq := ^uint64(0)
		for j := k; j >= 0; j-- {
			var a, b uint64
			if j < k {
				a = cn[j]
			}
			if j > 0 {
				b = cg[j-1]
			}
			gt |= eq & a &^ b
			lt |= eq & b &^ a
			eq &^= a ^ b
		}
		nz, neg := gt|lt, lt
		switch opt.Tie {
		case TiePlus:
			nz |= eq
		case TieRandom:
			nz |= eq
			neg |= eq & tieWord(opt.Seed, w)
		}
		dst.NZ[w], dst.Neg[w] = nz, neg
	}
}

// countWord adds word w of every plane in in to the bit-sliced counter c of
// k planes. Groups of eight go through a Harley-Seal tree of carry-save
// (full) adders whose ones, twos and fours stay in registers; the weight-8
// carry and the leftover voters ripple up the planes. in holds the address of
// word 0 of each plane; the caller has checked every plane's length.
func countWord(c *[maxPlanes]uint64, in []unsafe.Pointer, w, k int) {
	m := len(in)
	v := 0
	off := uintptr(w) * 8
	if k >= 4 {
		ones, twos, fours := c[0], c[1], c[2]
		for ; v+8 <= m; v += 8 {
			g := in[v : v+8 : v+8]
			a := *(*uint64)(unsafe.Add(g[0], off))
			b := *(*uint64)(unsafe.Add(g[1], off))
			x := *(*uint64)(unsafe.Add(g[2], off))
			y := *(*uint64)(unsafe.Add(g[3], off))
			// ones + a + b -> ones, twosA; ones + x + y -> ones, twosB
			u := ones ^ a
			twosA := ones&a | u&b
			u ^= b
			t := u ^ x
			twosB := u&x | t&y
			ones = t ^ y
			// twos + twosA + twosB -> twos, foursA
			u = twos ^ twosA
			foursA := twos&twosA | u&twosB
			twos = u ^ twosB
			a = *(*uint64)(unsafe.Add(g[4], off))
			b = *(*uint64)(unsafe.Add(g[5], off))
			x = *(*uint64)(unsafe.Add(g[6], off))
			y = *(*uint64)(unsafe.Add(g[7], off))
			u = ones ^ a
			twosA = ones&a | u&b
			u ^= b
			t = u ^ x
			twosB = u&x | t&y
			ones = t ^ y
			u = twos ^ twosA
			foursB := twos&twosA | u&twosB
			twos = u ^ twosB
			// fours + foursA + foursB -> fours, eights
			u = fours ^ foursA
			eights := fours&foursA | u&foursB
			fours = u ^ foursB
			for j := 3; j < k && eights != 0; j++ {
				t := c[j] & eights
				c[j] ^= eights
				eights = t
			}
		}
		c[0], c[1], c[2] = ones, twos, fours
	}
	for ; v < m; v++ {
		carry := *(*uint64)(unsafe.Add(in[v], off))
		for j := 0; j < k && carry != 0; j++ {
			t := c[j] & carry
			c[j] ^= carry
			carry = t
		}
	}
}

// VoteNaive is the reference for Vote: an integer sum per coordinate.
func VoteNaive(dst Signs, voters []Signs, opt VoteOptions) {
	checkVote("VoteNaive", dst, voters)
	for i := 0; i < dst.N; i++ {
		sum := 0
		for _, v := range voters {
			sum += v.At(i)
		}
		switch {
		case sum > 0:
			dst.Set(i, 1)
		case sum < 0:
			dst.Set(i, -1)
		case opt.Tie == TiePlus:
			dst.Set(i, 1)
		case opt.Tie == TieRandom:
			if tieWord(opt.Seed, i/64)>>uint(i%64)&1 == 1 {
				dst.Set(i, -1)
			} else {
				dst.Set(i, 1)
			}
		default:
			dst.Set(i, 0)
		}
	}
}

// SignSums writes, for every coordinate, the sum of the voters' signs into
// out (len(out) == N). It walks the set bits of each word, so its cost grows
// with the number of non-zero signs; the attack simulation uses it.
func SignSums(out []int32, voters []Signs) {
	for i := range out {
		out[i] = 0
	}
	for _, v := range voters {
		if v.N != len(out) {
			panic(fmt.Sprintf("kernels: SignSums: voter of length %d into %d sums", v.N, len(out)))
		}
		for w, nz := range v.NZ {
			neg := v.Neg[w]
			base := w * 64
			for nz != 0 {
				j := bits.TrailingZeros64(nz)
				out[base+j] += 1 - 2*int32(neg>>uint(j)&1)
				nz &= nz - 1
			}
		}
	}
}
