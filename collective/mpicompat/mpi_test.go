package mpicompat

import (
	"fmt"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/btracey/mpi"

	"signsgd/collective"
)

// world connects n ranks over real TCP on loopback and returns them as
// mpi.Interface values.
func world(t *testing.T, n int) []mpi.Interface {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	out := make([]mpi.Interface, n)
	errs := make([]error, n)
	var wg sync.WaitGroup
	for r := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			opt := collective.TCPOptions{Rank: r, Size: n, Coordinator: l.Addr().String(), JobID: "mpi", Secret: []byte("mpicompat-test-secret"), Timeout: 20 * time.Second}
			if r == 0 {
				opt.Listener = l
			}
			c, err := collective.DialTCP(opt)
			errs[r] = err
			if err == nil {
				out[r] = New(c)
			}
		}()
	}
	wg.Wait()
	for r, err := range errs {
		if err != nil {
			t.Fatalf("rank %d: %v", r, err)
		}
	}
	return out
}

type point struct {
	X, Y float64
	Name string
}

// TestInterfaceRing passes typed messages round a ring through
// mpi.Interface at 4 ranks, receiving tags out of order, then finalizes
// every rank: the sequence that makes btracey/mpi's own network panic.
func TestInterfaceRing(t *testing.T) {
	const n = 4
	ranks := world(t, n)
	var wg sync.WaitGroup
	errs := make([]error, n)
	for _, m := range ranks {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[m.Rank()] = func() error {
				if err := m.Init(); err != nil {
					return err
				}
				if m.Size() != n {
					return fmt.Errorf("size %d", m.Size())
				}
				r := m.Rank()
				next, prev := (r+1)%n, (r+n-1)%n
				// tag 2 first, then tag 1: the receiver asks for 1 first
				if err := m.Send(point{X: float64(r), Y: -1, Name: "p"}, next, 2); err != nil {
					return err
				}
				if err := m.Send([]float64{float64(r), 0.5}, next, 1); err != nil {
					return err
				}
				if err := m.Send(mpi.Raw{byte(r)}, next, 7); err != nil {
					return err
				}
				var v []float64
				if err := m.Receive(&v, prev, 1); err != nil {
					return err
				}
				var p point
				if err := m.Receive(&p, prev, 2); err != nil {
					return err
				}
				var raw mpi.Raw
				if err := m.Receive(&raw, prev, 7); err != nil {
					return err
				}
				if len(v) != 2 || v[0] != float64(prev) || p.X != float64(prev) || p.Name != "p" || len(raw) != 1 || raw[0] != byte(prev) {
					return fmt.Errorf("rank %d got %v %v %v", r, v, p, raw)
				}
				if err := m.Send(1, next, -1); err == nil {
					return fmt.Errorf("negative tag accepted")
				}
				m.Finalize()
				return nil
			}()
		}()
	}
	wg.Wait()
	for r, err := range errs {
		if err != nil {
			t.Fatalf("rank %d: %v", r, err)
		}
	}
}

// TestWrongTypeIsAnError decodes into the wrong type: an error, no panic.
func TestWrongTypeIsAnError(t *testing.T) {
	ranks := world(t, 2)
	if err := ranks[0].Send("text", 1, 3); err != nil {
		t.Fatal(err)
	}
	var x []int
	if err := ranks[1].Receive(&x, 0, 3); err == nil {
		t.Fatal("decoding a string into []int succeeded")
	}
	ranks[0].(*Comm).c.Close()
	ranks[1].(*Comm).c.Close()
}
