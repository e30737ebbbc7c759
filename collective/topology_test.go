package collective

import (
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"strings"
	"sync"
	"testing"
	"time"

	"signsgd/kernels"
)

// checkTrafficAtMost checks a server collective's bytes against an upper
// bound per worker (compressed votes).
func checkTrafficAtMost(c Comm, before Traffic, perWorker int) error {
	after := c.Traffic()
	sent, recv := after.Sent.Bytes-before.Sent.Bytes, after.Recv.Bytes-before.Recv.Bytes
	want := int64(perWorker)
	if c.Rank() == 0 {
		want *= int64(c.Size() - 1)
	}
	if sent > want || recv > want || (c.Size() > 1 && (sent == 0 || recv == 0)) {
		return fmt.Errorf("traffic: sent %d recv %d bytes, want at most %d each", sent, recv, want)
	}
	return nil
}

// checkBytes compares one collective's traffic with the formula: exactly,
// or as an upper bound.
func checkBytes(c Comm, before Traffic, wantSent, wantRecv int, exact bool) error {
	after := c.Traffic()
	sent := int(after.Sent.Bytes - before.Sent.Bytes)
	recv := int(after.Recv.Bytes - before.Recv.Bytes)
	if exact && (sent != wantSent || recv != wantRecv) {
		return fmt.Errorf("traffic: sent %d recv %d bytes, formula %d and %d", sent, recv, wantSent, wantRecv)
	}
	if sent > wantSent || recv > wantRecv {
		return fmt.Errorf("traffic: sent %d recv %d bytes, more than the formula's %d and %d", sent, recv, wantSent, wantRecv)
	}
	return nil
}

// runAllErrs runs f on every rank concurrently and returns each rank's error.
func runAllErrs(comms []Comm, f func(c Comm) error) []error {
	errs := make([]error, len(comms))
	var wg sync.WaitGroup
	for r, c := range comms {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[r] = f(c)
		}()
	}
	wg.Wait()
	return errs
}

var rankCounts = []int{1, 2, 3, 4, 5, 8}

// voteSizes include sizes that are not a multiple of 64 and sizes with
// fewer words than ranks (empty shards).
var voteSizes = []int{0, 1, 63, 64, 65, 200, 1000, 64*13 + 9}

// voterSigns is rank r's vote in the topology tests: dense (no zero) or
// with zeros, from a seed every rank knows.
func voterSigns(r, d int, dense bool) kernels.Signs {
	rng := rand.New(rand.NewPCG(uint64(r), uint64(d)))
	s := kernels.NewSigns(d)
	for i := 0; i < d; i++ {
		if dense {
			s.Set(i, 1-2*rng.IntN(2))
		} else {
			s.Set(i, rng.IntN(3)-1)
		}
	}
	return s
}

// TestVoteTopologies: every topology gives every rank exactly the naive
// vote, for any number of ranks and any size, and moves the bytes the
// formula says (exactly when raw and dense, at most that otherwise). The
// server vote runs whole and cut into chunks of 1 and 3 words (the sizes
// go up to 14 words), the last chunk shorter or not.
func TestVoteTopologies(t *testing.T) {
	for _, cw := range []int{voteChunkWords, 1, 3} {
		withChunkWords(cw, func() { testVoteTopologies(t, cw) })
	}
}

func testVoteTopologies(t *testing.T, chunkWords int) {
	for _, topo := range VoteTopologies {
		for _, m := range rankCounts {
			comms := NewMemWorld(m, 20*time.Second)
			for _, d := range voteSizes {
				for _, dense := range []bool{true, false} {
					voters := make([]kernels.Signs, m)
					for r := range voters {
						voters[r] = voterSigns(r, d, dense)
					}
					for _, tie := range []kernels.TieRule{kernels.TieZero, kernels.TiePlus, kernels.TieRandom} {
						opt := kernels.VoteOptions{Tie: tie, Seed: 42}
						want := kernels.NewSigns(d)
						kernels.VoteNaive(want, voters, opt)
						for _, cp := range []Compression{CompressAuto, CompressNone} {
							exact := cp == CompressNone && dense && tie != kernels.TieZero
							name := fmt.Sprintf("%s ranks=%d d=%d dense=%v tie=%v compression=%d chunk=%d words", topo, m, d, dense, tie, cp, chunkWords)
							withCompression(cp, func() {
								errs := runAllErrs(comms, func(c Comm) error {
									result := kernels.NewSigns(d)
									before := c.Traffic()
									if err := Vote(c, topo, voters[c.Rank()], result, opt); err != nil {
										return err
									}
									if err := equalSigns(result, want); err != nil {
										return err
									}
									s, r := VoteBytes(topo, d, m, c.Rank())
									return checkBytes(c, before, s, r, exact)
								})
								for r, err := range errs {
									if err != nil {
										t.Fatalf("%s: rank %d: %v", name, r, err)
									}
								}
							})
						}
					}
				}
			}
		}
	}
}

// TestMeanTopologies: every mean topology gives every rank the same bits,
// the float64 mean within float32 rounding, the exact mean of integers, and
// exactly the bytes of the formula.
func TestMeanTopologies(t *testing.T) {
	for _, topo := range MeanTopologies {
		for _, m := range rankCounts {
			comms := NewMemWorld(m, 20*time.Second)
			for _, d := range []int{0, 1, 3, 7, 64, 1000, 4099} {
				inputs := make([][]float32, m)
				ref := make([]float64, d)
				for r := range inputs {
					rng := rand.New(rand.NewPCG(uint64(r), 77))
					inputs[r] = make([]float32, d)
					for i := range inputs[r] {
						inputs[r][i] = float32(rng.NormFloat64() * math.Pow(10, float64(rng.IntN(7)-3)))
						ref[i] += float64(inputs[r][i])
					}
				}
				outs := make([][]float32, m)
				runAll(t, comms, func(c Comm) error {
					x := append([]float32(nil), inputs[c.Rank()]...)
					before := c.Traffic()
					if err := Mean(c, topo, x); err != nil {
						return err
					}
					outs[c.Rank()] = x
					s, r := MeanBytes(topo, d, m, c.Rank())
					return checkBytes(c, before, s, r, true)
				})
				for i := 0; i < d; i++ {
					var scale float64 // the rounding error grows with the terms' size
					for r := range inputs {
						scale += math.Abs(float64(inputs[r][i]))
					}
					want := ref[i] / float64(m)
					if got := float64(outs[0][i]); math.Abs(got-want) > 1e-6*scale/float64(m)+1e-30 {
						t.Fatalf("%s ranks=%d d=%d: mean[%d] = %v, want %v", topo, m, d, i, got, want)
					}
					for r := 1; r < m; r++ {
						if math.Float32bits(outs[r][i]) != math.Float32bits(outs[0][i]) {
							t.Fatalf("%s ranks=%d d=%d: rank %d has mean[%d] = %v, rank 0 %v", topo, m, d, r, i, outs[r][i], outs[0][i])
						}
					}
				}
				// x_r[i] = r + i: exact sums, so the mean is exact too.
				runAll(t, comms, func(c Comm) error {
					x := make([]float32, d)
					for i := range x {
						x[i] = float32(c.Rank() + i)
					}
					if err := Mean(c, topo, x); err != nil {
						return err
					}
					for i, v := range x {
						if want := float32(m*i+m*(m-1)/2) * (1 / float32(m)); v != want {
							return fmt.Errorf("%s d=%d: mean[%d] = %v, want %v", topo, d, i, v, want)
						}
					}
					return nil
				})
			}
		}
	}
}

// TestRingNeutralisesNonFinite: a rank with NaN and infinities cannot make
// the ring's mean non-finite; its bad coordinates count as 0.
func TestRingNeutralisesNonFinite(t *testing.T) {
	nan, inf := float32(math.NaN()), float32(math.Inf(1))
	for _, bad := range []int{0, 1, 2} {
		comms := NewMemWorld(3, 10*time.Second)
		good := [][]float32{{1, 2, 3, 4}, {3, 4, 5, 6}}
		inputs := [][]float32{}
		for r := 0; r < 3; r++ {
			if r == bad {
				inputs = append(inputs, []float32{nan, inf, -inf, 2})
			} else {
				inputs = append(inputs, good[0])
				good = good[1:]
			}
		}
		want := []float32{4 * (1 / float32(3)), 6 * (1 / float32(3)), 8 * (1 / float32(3)), 12 * (1 / float32(3))}
		runAll(t, comms, func(c Comm) error {
			x := append([]float32(nil), inputs[c.Rank()]...)
			if err := MeanRing(c, x); err != nil {
				return err
			}
			for i := range x {
				if x[i] != want[i] {
					return fmt.Errorf("bad rank %d: mean[%d] = %v, want %v", bad, i, x[i], want[i])
				}
			}
			return nil
		})
	}
}

// TestRingPartialSumNonFinite: a non-finite partial sum received from a
// peer counts as 0 (what the rule documents): rank 1 passes on Inf.
func TestRingPartialSumNonFinite(t *testing.T) {
	comms := NewMemWorld(2, 10*time.Second)
	errs := runAllErrs(comms, func(c Comm) error {
		if c.Rank() == 1 { // sends +Inf instead of its chunk 1, then plays along
			if err := c.Send(0, TagMean, EncodeFloat32s(nil, []float32{float32(math.Inf(1))})); err != nil {
				return err
			}
			if _, err := c.Recv(0, TagMean); err != nil {
				return err
			}
			if err := c.Send(0, TagMeanResult, EncodeFloat32s(nil, []float32{7})); err != nil {
				return err
			}
			_, err := c.Recv(0, TagMeanResult)
			return err
		}
		x := []float32{1, 2}
		if err := MeanRing(c, x); err != nil {
			return err
		}
		if x[0] != 7 || x[1] != 2*0.5 {
			return fmt.Errorf("mean %v, want [7 1]", x)
		}
		return nil
	})
	for r, err := range errs {
		if err != nil {
			t.Fatalf("rank %d: %v", r, err)
		}
	}
}

// equivocate plays rank comms' allgather vote as a Byzantine rank that
// sends vote a to every rank but those in other, which get vote b; it then
// reports honestly what it received.
func equivocate(c Comm, a, b kernels.Signs, other map[int]bool) {
	m, me := c.Size(), c.Rank()
	payloads := make([][]byte, m)
	pa, pb := EncodeSignsWire(nil, a, voteCompression), EncodeSignsWire(nil, b, voteCompression)
	payloads[me] = pa
	for p := 0; p < m; p++ {
		if p == me {
			continue
		}
		if other[p] {
			c.Send(p, TagVote, pb)
		} else {
			c.Send(p, TagVote, pa)
		}
	}
	for p := 0; p < m; p++ {
		if p != me {
			payloads[p], _ = c.Recv(p, TagVote)
		}
	}
	sc := scratchOf(c)
	sc.payloads = payloads
	sc.fan.start(c, sc.others(c))
	checkDigests(c, sc)
	sc.fan.wait()
}

func TestAllgatherEquivocation(t *testing.T) {
	for _, tr := range transports {
		t.Run(tr.name, func(t *testing.T) {
			const m, d, byz = 5, 300, 3
			comms := tr.make(t, m)
			a := voterSigns(byz, d, true)
			b := kernels.NewSigns(d)
			b.CopyFrom(a)
			b.Set(17, -a.At(17)) // one coordinate differs
			errs := runAllErrs(comms, func(c Comm) error {
				if c.Rank() == byz {
					equivocate(c, a, b, map[int]bool{4: true})
					return nil
				}
				return Vote(c, "allgather", voterSigns(c.Rank(), d, true), kernels.NewSigns(d), kernels.VoteOptions{})
			})
			for r, err := range errs {
				if r == byz {
					continue
				}
				want := fmt.Sprintf("rank %d: check vote with rank 3: equivocation: rank 3 sent different votes to ranks 0 and 4", r)
				if !errors.Is(err, ErrEquivocation) || !strings.Contains(err.Error(), want) {
					t.Errorf("rank %d: got %v, want %q", r, err, want)
				}
			}
		})
	}
}

// TestAllgatherBadVoteNamesSender: a rank that sends the same garbage to
// everyone passes the digest check, and every rank then fails decoding it,
// naming it.
func TestAllgatherBadVoteNamesSender(t *testing.T) {
	const m, d = 4, 100
	comms := NewMemWorld(m, 10*time.Second)
	errs := runAllErrs(comms, func(c Comm) error {
		if c.Rank() == 2 {
			payloads := make([][]byte, m)
			payloads[2] = []byte("garbage")
			for p := 0; p < m; p++ {
				if p != 2 {
					c.Send(p, TagVote, payloads[2])
				}
			}
			for p := 0; p < m; p++ {
				if p != 2 {
					payloads[p], _ = c.Recv(p, TagVote)
				}
			}
			sc := scratchOf(c)
			sc.payloads = payloads
			sc.fan.start(c, sc.others(c))
			checkDigests(c, sc)
			sc.fan.wait()
			return nil
		}
		return VoteAllgather(c, voterSigns(c.Rank(), d, false), kernels.NewSigns(d), kernels.VoteOptions{})
	})
	for r, err := range errs {
		if r == 2 {
			continue
		}
		want := fmt.Sprintf("vote: rank %d: decode vote with rank 2: bad frame", r)
		if !errors.Is(err, ErrBadFrame) || !strings.Contains(err.Error(), want) {
			t.Errorf("rank %d: got %v, want %q", r, err, want)
		}
	}
}

// TestShardBadResultNamesOwner: a shard owner that sends a malformed result
// is named by every rank that decodes it.
func TestShardBadResultNamesOwner(t *testing.T) {
	const m, d = 3, 64 * 6
	comms := NewMemWorld(m, 10*time.Second)
	errs := runAllErrs(comms, func(c Comm) error {
		if c.Rank() == 1 {
			for _, p := range []int{0, 2} {
				c.Send(p, TagVote, EncodeSignsWire(nil, kernels.NewSigns(128), CompressNone))
			}
			for _, p := range []int{0, 2} {
				c.Recv(p, TagVote)
				c.Send(p, TagVoteResult, EncodeSignsWire(nil, kernels.NewSigns(64), CompressNone))
			}
			return nil
		}
		return VoteShard(c, voterSigns(c.Rank(), d, true), kernels.NewSigns(d), kernels.VoteOptions{})
	})
	for _, r := range []int{0, 2} {
		want := fmt.Sprintf("rank %d: decode vote-result with rank 1: bad frame", r)
		if !errors.Is(errs[r], ErrBadFrame) || !strings.Contains(errs[r].Error(), want) {
			t.Errorf("rank %d: got %v, want %q", r, errs[r], want)
		}
	}
}

// TestTopologiesOverTCP runs every topology over real loopback TCP.
func TestTopologiesOverTCP(t *testing.T) {
	const m, d = 4, 64*5 + 3
	comms := tcpWorld(t, m)
	voters := make([]kernels.Signs, m)
	for r := range voters {
		voters[r] = voterSigns(r, d, false)
	}
	opt := kernels.VoteOptions{Tie: kernels.TieRandom, Seed: 3}
	want := kernels.NewSigns(d)
	kernels.VoteNaive(want, voters, opt)
	for _, topo := range VoteTopologies {
		runAll(t, comms, func(c Comm) error {
			result := kernels.NewSigns(d)
			before := c.Traffic()
			if err := Vote(c, topo, voters[c.Rank()], result, opt); err != nil {
				return err
			}
			if err := equalSigns(result, want); err != nil {
				return fmt.Errorf("%s: %v", topo, err)
			}
			s, r := VoteBytes(topo, d, m, c.Rank())
			return checkBytes(c, before, s, r, false)
		})
	}
	for _, topo := range MeanTopologies {
		runAll(t, comms, func(c Comm) error {
			x := make([]float32, d)
			for i := range x {
				x[i] = float32(c.Rank() + i)
			}
			before := c.Traffic()
			if err := Mean(c, topo, x); err != nil {
				return err
			}
			for i, v := range x {
				if want := float32(m*i+m*(m-1)/2) * (1 / float32(m)); v != want {
					return fmt.Errorf("%s: mean[%d] = %v, want %v", topo, i, v, want)
				}
			}
			s, r := MeanBytes(topo, d, m, c.Rank())
			return checkBytes(c, before, s, r, true)
		})
	}
}

func TestUnknownTopology(t *testing.T) {
	c := NewMemWorld(1, time.Second)[0]
	if err := Vote(c, "ring", kernels.NewSigns(1), kernels.NewSigns(1), kernels.VoteOptions{}); err == nil ||
		!strings.Contains(err.Error(), `rank 0: vote: unknown topology "ring" (want server, allgather, shard)`) {
		t.Errorf("vote: %v", err)
	}
	if err := Mean(c, "shard", make([]float32, 1)); err == nil ||
		!strings.Contains(err.Error(), `rank 0: mean: unknown topology "shard" (want server, ring)`) {
		t.Errorf("mean: %v", err)
	}
}

// TestByteFormulas pins the formulas on closed forms.
func TestByteFormulas(t *testing.T) {
	h := HeaderSize
	const d = 64 * 100 // 100 words; 800 bytes per raw plane
	w := 7 + 2*800
	for _, tc := range []struct {
		topo       string
		m, rank    int
		sent, recv int
		mean       bool
	}{
		{"server", 1, 0, 0, 0, false},
		{"server", 4, 0, 3 * (h + w), 3 * (h + w), false},
		{"server", 4, 2, h + w, h + w, false},
		{"allgather", 2, 1, h + w, h + w, false},
		{"allgather", 4, 3, 3*(h+w) + 3*(h+128), 3*(h+w) + 3*(h+128), false},
		// 100 words in 4 shards of 25: 1600 coordinates, 7 + 2*200 bytes
		{"shard", 4, 1, 6 * (h + 407), 6 * (h + 407), false},
		{"server", 3, 1, h + 4*d, h + 4*d, true},
		// 6400 floats in 4 chunks of 1600
		{"ring", 4, 2, 6*h + 4*6*1600, 6*h + 4*6*1600, true},
		{"ring", 2, 0, 2*h + 4*d, 2*h + 4*d, true},
	} {
		f := VoteBytes
		if tc.mean {
			f = MeanBytes
		}
		if s, r := f(tc.topo, d, tc.m, tc.rank); s != tc.sent || r != tc.recv {
			t.Errorf("%s m=%d rank %d mean=%v: %d and %d bytes, want %d and %d", tc.topo, tc.m, tc.rank, tc.mean, s, r, tc.sent, tc.recv)
		}
	}
	// Shard: about 2 x 2d/8 x (M-1)/M each way, whatever M; ring: about
	// 2(M-1)/M x 4d.
	const big = 1 << 20
	for _, m := range []int{2, 3, 8, 16} {
		for r := 0; r < m; r++ {
			s, _ := VoteBytes("shard", big, m, r)
			want := 2 * 2 * big / 8 * float64(m-1) / float64(m)
			if math.Abs(float64(s)-want) > want*0.01 {
				t.Errorf("shard m=%d rank %d: %d bytes, want about %.0f", m, r, s, want)
			}
			s, _ = MeanBytes("ring", big, m, r)
			want = 2 * float64(m-1) / float64(m) * 4 * big
			if math.Abs(float64(s)-want) > want*0.01 {
				t.Errorf("ring m=%d rank %d: %d bytes, want about %.0f", m, r, s, want)
			}
		}
	}
}

// TestPostedVotes: rank 0's posted window of vote chunks (server), and a
// shard owner's posted votes, give the naive vote whether the votes land
// in place (posted first), come before they are posted (queued, then
// lent: rank 0 starts late, and the server vote has more chunks than
// voteWindow), are dense (counted in place) or hold zeros (decoded), with
// a shorter last chunk or not, on both transports, twice in a row (the
// slots are reused).
func TestPostedVotes(t *testing.T) {
	for _, tr := range transports {
		for _, topo := range []string{"server", "shard"} {
			testPostedVotes(t, tr.name, tr.make(t, 3), topo)
		}
	}
}

func testPostedVotes(t *testing.T, tr string, comms []Comm, topo string) {
	withChunkWords(2, func() {
		for _, d := range []int{64 * 2 * (voteWindow + 5), 64*2*(voteWindow+5) - 37, 64 * 3} {
			for _, dense := range []bool{true, false} {
				for _, late := range []bool{false, true} {
					voters := make([]kernels.Signs, len(comms))
					for r := range voters {
						voters[r] = voterSigns(r, d, dense)
					}
					opt := kernels.VoteOptions{Tie: kernels.TieZero}
					want := kernels.NewSigns(d)
					kernels.VoteNaive(want, voters, opt)
					for range 2 {
						errs := runAllErrs(comms, func(c Comm) error {
							if late && c.Rank() == 0 {
								time.Sleep(20 * time.Millisecond)
							}
							result := kernels.NewSigns(d)
							if err := Vote(c, topo, voters[c.Rank()], result, opt); err != nil {
								return err
							}
							return equalSigns(result, want)
						})
						for r, err := range errs {
							if err != nil {
								t.Fatalf("%s %s d=%d dense=%v late=%v: rank %d: %v", tr, topo, d, dense, late, r, err)
							}
						}
					}
				}
			}
		}
	})
}
