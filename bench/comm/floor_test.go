package comm

import (
	"fmt"
	"net"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"signsgd/collective"
)

// countingConn counts the bytes written through a connection.
type countingConn struct {
	net.Conn
	written *atomic.Int64
}

func (c countingConn) Write(p []byte) (int, error) {
	n, err := c.Conn.Write(p)
	c.written.Add(int64(n))
	return n, err
}

// floorMesh connects m ranks pairwise over loopback TCP; links[r][q] is
// rank r's end towards q, and wrote[r][q] counts what r writes to q.
func floorMesh(t *testing.T, m int) (links [][]net.Conn, wrote [][]*atomic.Int64) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	links = make([][]net.Conn, m)
	wrote = make([][]*atomic.Int64, m)
	for r := range m {
		links[r] = make([]net.Conn, m)
		wrote[r] = make([]*atomic.Int64, m)
		for q := range m {
			wrote[r][q] = new(atomic.Int64)
		}
	}
	for r := range m {
		for q := r + 1; q < m; q++ {
			a, err := net.Dial("tcp", ln.Addr().String())
			if err != nil {
				t.Fatal(err)
			}
			b, err := ln.Accept()
			if err != nil {
				t.Fatal(err)
			}
			// A short transfer fails the step instead of hanging the test.
			a.SetDeadline(time.Now().Add(20 * time.Second))
			b.SetDeadline(time.Now().Add(20 * time.Second))
			t.Cleanup(func() { a.Close(); b.Close() })
			links[r][q] = countingConn{a, wrote[r][q]}
			links[q][r] = countingConn{b, wrote[q][r]}
		}
	}
	return links, wrote
}

// runFloorSteps runs floorSteps on every rank of spec at once.
func runFloorSteps(t *testing.T, spec rankSpec, links [][]net.Conn) {
	t.Helper()
	var wg sync.WaitGroup
	errs := make([]error, spec.Workers)
	times := make([]rankTimes, spec.Workers)
	for r := range spec.Workers {
		wg.Go(func() { times[r], errs[r] = floorSteps(spec, r, links[r]) })
	}
	wg.Wait()
	for r, err := range errs {
		if err != nil {
			t.Fatalf("rank %d: %v", r, err)
		}
		if len(times[r].Exchange) != spec.Steps {
			t.Errorf("rank %d: %d timed steps, want %d", r, len(times[r].Exchange), spec.Steps)
		}
	}
}

// TestFloorMovesBytes: each pattern moves exactly the bytes it was asked
// to between each pair of ranks, every step (besides one barrier byte each
// way between rank 0 and each worker), and times every timed step.
func TestFloorMovesBytes(t *testing.T) {
	const steps, warmup = 3, 2
	const all = steps + warmup
	t.Run("server", func(t *testing.T) {
		const m = 3
		spec := rankSpec{Mode: "floor", Pattern: "server", UpBytes: 100_003, DownBytes: 170_001, Frames: 5, Steps: steps, Warmup: warmup, Workers: m}
		links, wrote := floorMesh(t, m)
		runFloorSteps(t, spec, links)
		for r := 1; r < m; r++ {
			if got, want := wrote[r][0].Load(), int64(all*(spec.UpBytes+1)); got != want {
				t.Errorf("rank %d wrote %d bytes to rank 0, want %d", r, got, want)
			}
			if got, want := wrote[0][r].Load(), int64(all*(spec.DownBytes+1)); got != want {
				t.Errorf("rank 0 wrote %d bytes to rank %d, want %d", got, r, want)
			}
		}
	})
	t.Run("ring", func(t *testing.T) {
		for _, m := range []int{2, 3, 5} {
			const d = 1<<18 + 1001 // chunks of more than one 1 MiB segment
			spec := rankSpec{Mode: "floor", Pattern: "ring", Dim: d, Steps: steps, Warmup: warmup, Workers: m}
			links, wrote := floorMesh(t, m)
			runFloorSteps(t, spec, links)
			for r := range m {
				next := (r + 1) % m
				sent, _ := collective.MeanBytes("ring", d, m, r)
				want := int64(all * sent)
				if next == 0 || r == 0 {
					want += all // the barrier
				}
				if got := wrote[r][next].Load(); got != want {
					t.Errorf("ranks=%d: rank %d wrote %d bytes to rank %d, want %d (MeanBytes)", m, r, got, next, want)
				}
			}
		}
	})
	t.Run("mesh", func(t *testing.T) {
		const m = 4
		phases := [][][]int{make([][]int, m), make([][]int, m)}
		for p := range phases {
			for r := range m {
				phases[p][r] = make([]int, m)
				for q := range m {
					if q != r {
						phases[p][r][q] = 1000*(p+1) + 10*r + q
					}
				}
			}
		}
		spec := rankSpec{Mode: "floor", Pattern: "mesh", Phases: phases, Steps: steps, Warmup: warmup, Workers: m}
		links, wrote := floorMesh(t, m)
		runFloorSteps(t, spec, links)
		for r := range m {
			for q := range m {
				if q == r {
					continue
				}
				want := int64(all * (phases[0][r][q] + phases[1][r][q]))
				if r == 0 || q == 0 {
					want += all
				}
				if got := wrote[r][q].Load(); got != want {
					t.Errorf("rank %d wrote %d bytes to rank %d, want %d", r, got, q, want)
				}
			}
		}
	})
}

// TestRingFloorFrames: the ring floor's frames are MeanRing's: as many
// bytes as MeanBytes says each way, its own chunk sent first, and what it
// forwards is what it received, in order.
func TestRingFloorFrames(t *testing.T) {
	for _, m := range []int{2, 3, 4, 7} {
		for _, d := range []int{0, 5, 1 << 19, 3<<18 + 7} {
			for r := range m {
				send, recv, forward := ringFloorFrames(d, m, r)
				sum := func(xs []span) (s int) {
					for _, x := range xs {
						s += x.n
					}
					return s
				}
				wantSent, wantRecv := collective.MeanBytes("ring", d, m, r)
				if sum(send) != wantSent || sum(recv) != wantRecv {
					t.Fatalf("ranks=%d d=%d rank %d: %d sent, %d received; MeanBytes %d and %d", m, d, r, sum(send), sum(recv), wantSent, wantRecv)
				}
				own := len(send) - forward
				if fmt.Sprint(send[own:]) != fmt.Sprint(recv[:forward]) {
					t.Fatalf("ranks=%d d=%d rank %d: forwards %v of %v", m, d, r, send[own:], recv)
				}
			}
		}
	}
}
