package collective

import (
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
	"time"
)

// meanInputs are the vectors of m ranks of d values: magnitudes over seven
// decades, so that the order of the additions shows in the bits.
func meanInputs(m, d int, seed uint64) [][]float32 {
	in := make([][]float32, m)
	for r := range in {
		rng := rand.New(rand.NewPCG(uint64(r), seed))
		in[r] = make([]float32, d)
		for i := range in[r] {
			in[r][i] = float32(rng.NormFloat64() * math.Pow(10, float64(rng.IntN(7)-3)))
		}
	}
	return in
}

// runMean runs topology's mean of inputs on comms and returns every rank's
// result, failing on an error or on bytes other than MeanBytes'.
func runMean(t *testing.T, comms []Comm, topo string, inputs [][]float32) [][]float32 {
	t.Helper()
	m, d := len(comms), len(inputs[0])
	outs := make([][]float32, m)
	runAll(t, comms, func(c Comm) error {
		x := slices.Clone(inputs[c.Rank()])
		before := c.Traffic()
		if err := Mean(c, topo, x); err != nil {
			return err
		}
		outs[c.Rank()] = x
		s, r := MeanBytes(topo, d, m, c.Rank())
		return checkBytes(c, before, s, r, true)
	})
	return outs
}

// meanTolerance is how far a float32 mean of m values may lie from the
// exact one: each of the m-1 additions and the multiply by 1/m rounds once,
// by at most 2^-24 of its result's magnitude, which is at most the sum of
// the terms' magnitudes; so |got - exact| <= (m+1) 2^-24 sum|x_r| / m.
func meanTolerance(m int, absSum float64) float64 {
	return float64(m+1) * 0x1p-24 * absSum / float64(m)
}

// TestFloatMeansAgainstReference: the server and ring means on both
// transports give every rank the same bits, within meanTolerance of the
// float64 mean, the same bits as their plain forms and as the plain forms
// with every value byte-swapped (the big-endian path), and exactly the
// bytes of MeanBytes. Segments of 12 and 16 bytes put segment boundaries
// inside every chunk; d from 0 to 4099 covers d smaller than M, M not
// dividing d and chunks of unequal sizes.
func TestFloatMeansAgainstReference(t *testing.T) {
	for _, tr := range transports {
		for _, m := range []int{1, 2, 3, 5, 8} {
			comms := tr.make(t, m)
			for _, seg := range []int{1 << 20, 16, 12} {
				for _, d := range []int{0, 1, 3, m - 1, 7, 64, 1000, 4099} {
					if d < 0 {
						continue
					}
					inputs := meanInputs(m, d, uint64(seg))
					for _, topo := range MeanTopologies {
						name := fmt.Sprintf("%s %s ranks=%d d=%d segment=%d bytes", tr.name, topo, m, d, seg)
						var fast, plain, swapped [][]float32
						withSegmentBytes(seg, func() {
							fast = runMean(t, comms, topo, inputs)
							plain = runPlainMean(t, m, topo, inputs)
							withSwappedFloats(func() { swapped = runMean(t, comms, topo, inputs) })
						})
						for i := range d {
							var sum, abs float64
							for r := range inputs {
								sum += float64(inputs[r][i])
								abs += math.Abs(float64(inputs[r][i]))
							}
							want := sum / float64(m)
							if got := float64(fast[0][i]); math.Abs(got-want) > meanTolerance(m, abs) {
								t.Fatalf("%s: mean[%d] = %v, float64 mean %v (tolerance %g)", name, i, got, want, meanTolerance(m, abs))
							}
							for r := range m {
								for _, o := range []struct {
									what string
									v    float32
								}{{"rank 0's", fast[0][i]}, {"the plain form's", plain[r][i]}, {"the byte-swapped form's", swapped[r][i]}} {
									if math.Float32bits(fast[r][i]) != math.Float32bits(o.v) {
										t.Fatalf("%s: rank %d has mean[%d] = %v, %s %v", name, r, i, fast[r][i], o.what, o.v)
									}
								}
							}
						}
					}
				}
			}
		}
	}
}

// runPlainMean runs the plain form of topology's mean on a fresh in-memory
// world.
func runPlainMean(t *testing.T, m int, topo string, inputs [][]float32) [][]float32 {
	t.Helper()
	outs := make([][]float32, m)
	runAll(t, NewMemWorld(m, 20*time.Second), func(c Comm) error {
		x := slices.Clone(inputs[c.Rank()])
		outs[c.Rank()] = x
		if m == 1 {
			return nil
		}
		if topo == "ring" {
			return meanRingPlain(c, x)
		}
		return meanServerPlain(c, x)
	})
	return outs
}

// TestMeanSumsInRankOrder pins the order of the additions: the server sums
// x_0 + x_1 + ... + x_{M-1}, the ring adds chunk k in the order of ranks
// k, k+1, ..., k-1; on values where the order changes the float32 result
// (1, 2^24 and -2^24), each must give its own order's bits. A wrong order
// here gives 0 or 2 instead of 1.
func TestMeanSumsInRankOrder(t *testing.T) {
	big := float32(1 << 24)
	inputs := [][]float32{{big, 1}, {-big, big}, {1, -big}} // d = 2 among 3: chunks [0,0) [0,1) [1,2)
	sum := func(order []int, i int) float32 {
		var s float32
		for j, r := range order {
			if j == 0 {
				s = inputs[r][i]
			} else {
				s += inputs[r][i]
			}
		}
		return s * (1 / float32(3))
	}
	want := map[string][]float32{
		"server": {sum([]int{0, 1, 2}, 0), sum([]int{0, 1, 2}, 1)},
		"ring":   {sum([]int{1, 2, 0}, 0), sum([]int{2, 0, 1}, 1)},
	}
	if want["server"][0] == want["ring"][0] && want["server"][1] == want["ring"][1] {
		t.Fatal("the inputs do not tell the orders apart")
	}
	for _, tr := range transports {
		comms := tr.make(t, 3)
		for _, topo := range MeanTopologies {
			out := runMean(t, comms, topo, inputs)
			for r := range out {
				if !slices.Equal(out[r], want[topo]) {
					t.Errorf("%s %s: rank %d has %v, want %v", tr.name, topo, r, out[r], want[topo])
				}
			}
		}
	}
}

// TestGatherBroadcastFloat32s: GatherFloat32s puts every rank's vector,
// non-finite values included, into the root's buffers and leaves the
// root's own slot alone; BroadcastFloat32s gives every rank the root's
// vector; both on both transports, for every root, sizes across segment
// boundaries, with exactly the bytes of the server mean's halves.
func TestGatherBroadcastFloat32s(t *testing.T) {
	for _, tr := range transports {
		for _, m := range []int{1, 2, 4} {
			comms := tr.make(t, m)
			for _, seg := range []int{1 << 20, 12} {
				withSegmentBytes(seg, func() {
					for _, d := range []int{0, 1, 5, 1000} {
						inputs := meanInputs(m, d, 9)
						for r := range inputs {
							if d > 1 {
								inputs[r][d-1] = float32(math.NaN())
								inputs[r][0] = float32(math.Inf(-1))
							}
						}
						for root := range m {
							name := fmt.Sprintf("%s ranks=%d d=%d root=%d segment=%d", tr.name, m, d, root, seg)
							runAll(t, comms, func(c Comm) error {
								var into [][]float32
								if c.Rank() == root {
									into = make([][]float32, m)
									for r := range into {
										if r != root {
											into[r] = make([]float32, d)
										}
									}
								}
								before := c.Traffic()
								if err := GatherFloat32s(c, root, inputs[c.Rank()], into); err != nil {
									return err
								}
								up, _ := MeanBytes("server", d, m, 1)
								if err := checkGatherBytes(c, root, before, up, true); err != nil {
									return fmt.Errorf("%s: gather: %v", name, err)
								}
								for r, v := range into {
									if r != root && !sameFloatBits(v, inputs[r]) {
										return fmt.Errorf("%s: gathered %v from rank %d, want %v", name, v, r, inputs[r])
									}
								}
								if c.Rank() == root && into[root] != nil {
									return fmt.Errorf("%s: the root's own slot was set", name)
								}
								x := slices.Clone(inputs[c.Rank()])
								before = c.Traffic()
								if err := BroadcastFloat32s(c, root, x); err != nil {
									return err
								}
								if err := checkGatherBytes(c, root, before, up, false); err != nil {
									return fmt.Errorf("%s: broadcast: %v", name, err)
								}
								if !sameFloatBits(x, inputs[root]) {
									return fmt.Errorf("%s: broadcast gave %v, want %v", name, x, inputs[root])
								}
								return nil
							})
						}
					}
				})
			}
		}
	}
}

// checkGatherBytes checks a gather's (up) or a broadcast's (down) bytes:
// each non-root rank moves one vector's frames, the root M-1 of them.
func checkGatherBytes(c Comm, root int, before Traffic, vec int, up bool) error {
	after := c.Traffic()
	sent, recv := after.Sent.Bytes-before.Sent.Bytes, after.Recv.Bytes-before.Recv.Bytes
	if c.Size() == 1 {
		vec = 0
	}
	wantSent, wantRecv := int64(vec), int64(0)
	if c.Rank() == root {
		wantSent, wantRecv = 0, int64(c.Size()-1)*int64(vec)
	}
	if !up {
		wantSent, wantRecv = wantRecv, wantSent
	}
	if sent != wantSent || recv != wantRecv {
		return fmt.Errorf("sent %d recv %d bytes, want %d and %d", sent, recv, wantSent, wantRecv)
	}
	return nil
}

func sameFloatBits(a, b []float32) bool {
	return slices.EqualFunc(a, b, func(x, y float32) bool { return math.Float32bits(x) == math.Float32bits(y) })
}

// TestFloatCodec: EncodeFloat32s is the vector's memory on this host and
// the explicit little-endian form on the swapped path, the same bytes
// either way; DecodeFloat32s reads both back, and refuses a wrong length.
func TestFloatCodec(t *testing.T) {
	if !littleEndian {
		t.Skip("the byte view is only the wire form on a little-endian host")
	}
	x := []float32{1, -2.5, float32(math.NaN()), float32(math.Inf(1)), 3e-39, 0}
	fast := EncodeFloat32s([]byte("hdr"), x)
	var swapped []byte
	withSwappedFloats(func() { swapped = EncodeFloat32s([]byte("hdr"), x) })
	if string(fast) != string(swapped) || len(fast) != 3+4*len(x) || string(fast[:3]) != "hdr" {
		t.Fatalf("encode: %x and %x", fast, swapped)
	}
	if got := fast[3+4]; got != 0x00 || fast[3+7] != 0xc0 { // -2.5 = 0xc0200000, little-endian
		t.Fatalf("-2.5 encoded as % x", fast[7:11])
	}
	for _, swap := range []bool{false, true} {
		y := make([]float32, len(x))
		dec := func() error { return DecodeFloat32s(y, fast[3:]) }
		var err error
		if swap {
			withSwappedFloats(func() { err = dec() })
		} else {
			err = dec()
		}
		if err != nil || !sameFloatBits(x, y) {
			t.Fatalf("decode (swapped %v): %v, %v", swap, y, err)
		}
		if err := DecodeFloat32s(y, fast[4:]); !errors.Is(err, ErrBadFrame) {
			t.Fatalf("decode of a short frame: %v", err)
		}
	}
}

// TestSendRecvFloat32s: one frame of 4 len(x) bytes, received straight
// into x, readable by DecodeFloat32s; a frame of another length is refused
// by name on both transports.
func TestSendRecvFloat32s(t *testing.T) {
	for _, tr := range transports {
		comms := tr.make(t, 2)
		x := []float32{1, 2, 3, float32(math.NaN())}
		if err := SendFloat32s(comms[0], 1, TagAttack, x); err != nil {
			t.Fatal(err)
		}
		y := make([]float32, 4)
		if err := RecvFloat32s(comms[1], 0, TagAttack, y); err != nil || !sameFloatBits(x, y) {
			t.Fatalf("%s: got %v, %v", tr.name, y, err)
		}
		SendFloat32s(comms[0], 1, TagAttack, x[:3])
		err := RecvFloat32s(comms[1], 0, TagAttack, y)
		if !errors.Is(err, ErrBadFrame) || !strings.Contains(err.Error(), "rank 1: recv attack from rank 0") {
			t.Fatalf("%s: short frame: %v", tr.name, err)
		}
	}
}

// TestMeanRefusesBadSegment: a segment of the wrong length is an error
// naming the peer, in the server mean and in the ring.
func TestMeanRefusesBadSegment(t *testing.T) {
	for _, tr := range transports {
		for _, topo := range MeanTopologies {
			comms := tr.make(t, 2)
			errs := runAllErrs(comms, func(c Comm) error {
				if c.Rank() == 1 { // sends 3 values where 2 are due, then waits to be told
					c.Send(0, TagMean, EncodeFloat32s(nil, []float32{1, 2, 3}))
					time.Sleep(100 * time.Millisecond)
					c.Close()
					return nil
				}
				return Mean(c, topo, []float32{1, 2, 3, 4})
			})
			if !errors.Is(errs[0], ErrBadFrame) || !strings.Contains(errs[0].Error(), "rank 0: recv mean from rank 1: bad frame: frame of 12 bytes, want") {
				t.Errorf("%s %s: %v", tr.name, topo, errs[0])
			}
		}
	}
}
