package comm

import (
	"net"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// countingConn counts the bytes read and written through a connection.
type countingConn struct {
	net.Conn
	read, written *atomic.Int64
}

func (c countingConn) Read(p []byte) (int, error) {
	n, err := c.Conn.Read(p)
	c.read.Add(int64(n))
	return n, err
}

func (c countingConn) Write(p []byte) (int, error) {
	n, err := c.Conn.Write(p)
	c.written.Add(int64(n))
	return n, err
}

// The floor moves exactly the bytes it was asked to, each way, every step
// (one barrier byte each way besides), and times every timed step.
func TestFloorMovesBytes(t *testing.T) {
	const m = 3
	spec := rankSpec{Mode: "floor", UpBytes: 100_003, DownBytes: 170_001, Frames: 5, Steps: 3, Warmup: 2, Workers: m}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	var read, written atomic.Int64
	conns := make([]net.Conn, m)
	var workers sync.WaitGroup
	errs := make([]error, m)
	times := make([]rankTimes, m)
	for r := 1; r < m; r++ {
		c, err := net.Dial("tcp", ln.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		peer, err := ln.Accept()
		if err != nil {
			t.Fatal(err)
		}
		defer peer.Close()
		// A short transfer fails the step instead of hanging the test.
		c.SetDeadline(time.Now().Add(20 * time.Second))
		peer.SetDeadline(time.Now().Add(20 * time.Second))
		conns[r] = countingConn{peer, &read, &written}
		workers.Go(func() { times[r], errs[r] = floorWorker(c, spec, r) })
	}
	root, err := floorRoot(conns, spec)
	workers.Wait()
	if err != nil {
		t.Fatal(err)
	}
	for r := 1; r < m; r++ {
		if errs[r] != nil {
			t.Fatalf("rank %d: %v", r, errs[r])
		}
		if len(times[r].Exchange) != spec.Steps {
			t.Errorf("rank %d: %d timed steps, want %d", r, len(times[r].Exchange), spec.Steps)
		}
	}
	if len(root.Exchange) != spec.Steps {
		t.Errorf("rank 0: %d timed steps, want %d", len(root.Exchange), spec.Steps)
	}
	steps := int64(spec.Steps + spec.Warmup)
	if want := steps * (m - 1) * int64(spec.UpBytes+1); read.Load() != want {
		t.Errorf("rank 0 read %d bytes, want %d", read.Load(), want)
	}
	if want := steps * (m - 1) * int64(spec.DownBytes+1); written.Load() != want {
		t.Errorf("rank 0 wrote %d bytes, want %d", written.Load(), want)
	}
}
