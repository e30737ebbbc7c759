package collective

import (
	"fmt"
	"strings"
	"testing"

	"signsgd/kernels"
)

// rankLoop runs an exchange on every rank's own long-lived goroutine, once
// per call of run, so that testing.AllocsPerRun counts what the exchange
// allocates and nothing of the harness (no goroutine or closure per run).
type rankLoop struct {
	start []chan struct{}
	done  chan error
}

func newRankLoop(comms []Comm, f func(c Comm) error) *rankLoop {
	l := &rankLoop{start: make([]chan struct{}, len(comms)), done: make(chan error, len(comms))}
	for r, c := range comms {
		l.start[r] = make(chan struct{})
		go func() {
			for range l.start[r] {
				l.done <- f(c)
			}
		}()
	}
	return l
}

// run runs the exchange once on every rank and returns the first error.
func (l *rankLoop) run() error {
	for _, s := range l.start {
		s <- struct{}{}
	}
	var first error
	for range l.start {
		if err := <-l.done; err != nil && first == nil {
			first = err
		}
	}
	return first
}

func (l *rankLoop) stop() {
	for _, s := range l.start {
		close(s)
	}
}

// exchanges are the steady-state exchanges of a training step, each as a
// function of the rank's Comm: fp32 (d values, in several segments) and
// votes (dense signs, in several chunks).
func exchanges(m, d int, dense bool) []struct {
	name string
	f    func(c Comm) error
} {
	xs := make([][]float32, m)
	into := make([][]float32, m)
	signs, results := make([]kernels.Signs, m), make([]kernels.Signs, m)
	for r := range m {
		xs[r] = make([]float32, d)
		into[r] = make([]float32, d)
		signs[r], results[r] = voterSigns(r, d, dense), kernels.NewSigns(d)
	}
	vote := func(topo string) func(c Comm) error {
		return func(c Comm) error {
			return Vote(c, topo, signs[c.Rank()], results[c.Rank()], kernels.VoteOptions{Tie: kernels.TieZero})
		}
	}
	return []struct {
		name string
		f    func(c Comm) error
	}{
		{"mean-server", func(c Comm) error { return MeanServer(c, xs[c.Rank()]) }},
		{"mean-ring", func(c Comm) error { return MeanRing(c, xs[c.Rank()]) }},
		{"gather", func(c Comm) error {
			var in [][]float32
			if c.Rank() == 0 {
				in = into
			}
			return GatherFloat32s(c, 0, xs[c.Rank()], in)
		}},
		{"broadcast", func(c Comm) error { return BroadcastFloat32s(c, 0, xs[c.Rank()]) }},
		{"vote-server", vote("server")},
		{"vote-allgather", vote("allgather")},
		{"vote-shard", vote("shard")},
	}
}

// allocTransports are the transports the allocation tests run on: memory,
// and TCP under each Security (sealing must not allocate per frame either).
var allocTransports = []struct {
	name string
	make func(t *testing.T, n int) []Comm
}{
	{"mem", transports[0].make},
	{"tcp-seal", func(t *testing.T, n int) []Comm { return tcpWorldOpts(t, n, TCPOptions{Security: SecuritySeal}) }},
	{"tcp-auth", func(t *testing.T, n int) []Comm { return tcpWorldOpts(t, n, TCPOptions{Security: SecurityAuth}) }},
	{"tcp-off", func(t *testing.T, n int) []Comm { return tcpWorldOpts(t, n, TCPOptions{Security: SecurityOff}) }},
}

// TestExchangesDoNotAllocate: once warm, no steady-state exchange
// allocates, on either transport and under every Security: every rank's
// sends, receives, sums and counts together, several segments (chunks) per
// vector; the votes with dense signs and with zeros (whose planes zstd
// compresses), the result with ties (M = 4) or without.
func TestExchangesDoNotAllocate(t *testing.T) {
	if raceEnabled {
		t.Skip("allocation counts under the race detector: sync.Pool drops items at random")
	}
	const d = 64*300 + 5
	withSegmentBytes(4096, func() {
		withChunkWords(64, func() {
			for _, tr := range allocTransports {
				for _, m := range []int{3, 4} {
					for _, dense := range []bool{true, false} {
						comms := tr.make(t, m)
						for _, x := range exchanges(m, d, dense) {
							if !dense && !strings.HasPrefix(x.name, "vote") {
								continue
							}
							l := newRankLoop(comms, x.f)
							for range 3 { // warm the pools and the scratch
								if err := l.run(); err != nil {
									t.Fatal(err)
								}
							}
							var err error
							allocs := testing.AllocsPerRun(20, func() {
								if e := l.run(); e != nil {
									err = e
								}
							})
							l.stop()
							if err != nil {
								t.Fatal(err)
							}
							t.Logf("%s %s ranks=%d dense=%v: %.1f allocations per exchange", tr.name, x.name, m, dense, allocs)
							if allocs > maxExchangeAllocs {
								t.Errorf("%s %s ranks=%d dense=%v: %.1f allocations per exchange, want at most %d", tr.name, x.name, m, dense, allocs, maxExchangeAllocs)
							}
						}
					}
				}
			}
		})
	})
}

// maxExchangeAllocs is what an exchange may allocate on all ranks together:
// nothing; the slack absorbs the runtime's own rare allocations (a timer
// heap growing, a sync.Pool refilled after a collection).
const maxExchangeAllocs = 1

// TestSealedLinksDoNotAllocate: a link's sealer seals and opens in buffers
// it keeps, so once a link has carried its longest frame, frames of every
// length up to it cost no allocation in either direction, under seal and
// auth (and off, for comparison): Send from one rank, RecvInto the
// caller's buffer on the other, lengths changing frame to frame.
func TestSealedLinksDoNotAllocate(t *testing.T) {
	if raceEnabled {
		t.Skip("allocation counts under the race detector: sync.Pool drops items at random")
	}
	lengths := []int{1 << 20, 17, 0, 4096, 1<<20 - 3, 65536 + 1}
	for _, sec := range []Security{SecuritySeal, SecurityAuth, SecurityOff} {
		comms := tcpWorldOpts(t, 2, TCPOptions{Security: sec})
		payload := make([]byte, lengths[0])
		for i := range payload {
			payload[i] = byte(i * 7)
		}
		dst := make([]byte, lengths[0])
		i := 0
		l := newRankLoop(comms, func(c Comm) error {
			n := lengths[i%len(lengths)]
			if c.Rank() == 0 {
				return c.Send(1, TagUser, payload[:n])
			}
			if err := c.RecvInto(0, TagUser, dst[:n]); err != nil {
				return err
			}
			if string(dst[:n]) != string(payload[:n]) {
				return fmt.Errorf("frame of %d bytes arrived changed", n)
			}
			return nil
		})
		step := func() error {
			err := l.run()
			i++
			return err
		}
		for range 2 * len(lengths) { // every length once, the reader's buffer grown
			if err := step(); err != nil {
				t.Fatal(err)
			}
		}
		var err error
		allocs := testing.AllocsPerRun(3*len(lengths), func() {
			if e := step(); e != nil && err == nil {
				err = e
			}
		})
		l.stop()
		if err != nil {
			t.Fatal(err)
		}
		t.Logf("%s: %.2f allocations per frame", sec, allocs)
		// AllocsPerRun's average is rounded down: a rare allocation of the
		// runtime's over 18 frames is 0, one per frame is not.
		if allocs > 0 {
			t.Errorf("%s: %.2f allocations per frame sent and received, want none", sec, allocs)
		}
	}
}
