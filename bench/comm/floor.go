package comm

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"time"

	"signsgd/bench"
	"signsgd/collective"
)

// The wire floor: the least time loopback TCP takes to move one exchange's
// bytes in the exchange's pattern among the same M processes, with nothing
// else done: no framing, no sums, no vote, no encoding, no allocation per
// step. Whatever the exchange takes above this is ours; this much no
// implementation of that pattern on these cores can avoid. Every frame
// weighs what the exchange's frame weighed, header included, and leaves
// from and lands at its own place in memory as large as the exchange's
// (floorSteps). Three patterns:
//
//	server (the server mean and the server vote): workers write Frames
//	  frames (UpBytes in all) to rank 0, then read Frames frames
//	  (DownBytes); rank 0 reads frame k from every worker, then hands frame
//	  k of the result to one writer goroutine per worker.
//
//	    worker r                          rank 0
//	      write 1 (barrier)   ------->     read 1 from each
//	                          <-------     write 1 to each
//	      t0                                t0
//	      write frame 0..F-1  ------->     for k: read frame k from each,
//	                          <-------            queue frame k to each writer
//	      read frame 0..F-1                wait for the writers
//	      t1                                t1
//
//	ring (the ring mean): rank r writes to r+1 and reads from r-1 the
//	  frames of MeanRing (collective.RingChunk, collective.Float32Frames):
//	  its own chunk at once, then every frame it reads, as soon as it has
//	  read it, except the allgather's last chunk, which r+1 already has.
//
//	mesh (the allgather and shard votes): in each phase (the votes, then
//	  the digests or the results), every rank queues Phases[p][r][q] bytes
//	  to a writer goroutine per peer q and reads Phases[p][q][r] bytes from
//	  each peer in rank order; a phase's reads end before the next phase's
//	  writes are queued, as the vote must count before it answers.
//
// Every connection opens with the job id and the rank under an HMAC of the
// bench's secret, so no stray process on the machine joins. Workers reach
// rank 0 first (the hub, which also carries the barrier and the reports);
// for ring and mesh each also listens, tells rank 0 its port, gets the
// table back, and dials the lower ranks it needs.

// floorHello is what a connecting rank sends first: its rank and an
// HMAC-SHA256 of (job id, rank) under the configuration's secret.
const floorHello = 4 + sha256.Size

// floorMAC is the HMAC of (jobID, rank) under secret.
func floorMAC(secret []byte, jobID string, rank int) []byte {
	h := hmac.New(sha256.New, secret)
	h.Write([]byte(jobID))
	var r [4]byte
	binary.LittleEndian.PutUint32(r[:], uint32(rank))
	h.Write(r[:])
	return h.Sum(nil)
}

// splitBytes cuts n bytes into frames parts, the first n%frames one byte
// longer.
func splitBytes(n, frames int) []int {
	out := make([]int, frames)
	for i := range out {
		out[i] = n / frames
		if i < n%frames {
			out[i]++
		}
	}
	return out
}

// floorNeeds says whether rank r needs a connection of its own to rank q
// (both above 0: the hub connects rank 0 to everyone).
func floorNeeds(spec rankSpec, r, q int) bool {
	m := spec.Workers
	switch spec.Pattern {
	case "ring":
		return (r+1)%m == q || (q+1)%m == r
	case "mesh":
		return true
	}
	return false
}

// runFloor is one rank of a floor configuration; rank 0 returns every
// rank's times (Exchange only: the pattern). Every read is io.ReadFull of
// its frame's exact size, so a step either moves all the bytes or fails.
func runFloor(spec rankSpec, rank int, listen net.Listener, secret []byte) ([]rankTimes, error) {
	switch spec.Pattern {
	case "", "server":
		if spec.Frames < 1 || spec.UpBytes < spec.Frames || spec.DownBytes < spec.Frames {
			return nil, fmt.Errorf("floor: %d frames for %d bytes up and %d down", spec.Frames, spec.UpBytes, spec.DownBytes)
		}
	case "ring":
		if spec.Dim < 0 {
			return nil, fmt.Errorf("floor: ring of %d values", spec.Dim)
		}
	case "mesh":
		if len(spec.Phases) == 0 {
			return nil, errors.New("floor: mesh without phases")
		}
		for _, ph := range spec.Phases {
			if len(ph) != spec.Workers {
				return nil, fmt.Errorf("floor: a mesh phase for %d ranks, want %d", len(ph), spec.Workers)
			}
			for _, row := range ph {
				if len(row) != spec.Workers {
					return nil, fmt.Errorf("floor: a mesh phase row of %d ranks, want %d", len(row), spec.Workers)
				}
			}
		}
	default:
		return nil, fmt.Errorf("floor: unknown pattern %q", spec.Pattern)
	}
	timeout := time.Duration(spec.Timeout * float64(time.Second))
	links, err := floorConnect(spec, rank, listen, secret, timeout)
	defer func() {
		for _, c := range links {
			if c != nil {
				c.Close()
			}
		}
	}()
	if err != nil {
		return nil, fmt.Errorf("floor: %w", err)
	}
	mine, err := floorSteps(spec, rank, links)
	if err != nil {
		return nil, fmt.Errorf("floor: %w", err)
	}
	if rank != 0 {
		hub := links[0]
		b, err := json.Marshal(mine)
		if err != nil {
			return nil, err
		}
		_, err = hub.Write(append(binary.LittleEndian.AppendUint32(nil, uint32(len(b))), b...))
		if err == nil {
			// rank 0 closes once it has every report
			_, err = hub.Read(make([]byte, 1))
			if errors.Is(err, io.EOF) {
				err = nil
			}
		}
		return nil, err
	}
	all := make([]rankTimes, spec.Workers)
	all[0] = mine
	for r := 1; r < spec.Workers; r++ {
		var n [4]byte
		if _, err := io.ReadFull(links[r], n[:]); err != nil {
			return nil, fmt.Errorf("floor: times of rank %d: %w", r, err)
		}
		size := binary.LittleEndian.Uint32(n[:])
		if size > 1<<24 {
			return nil, fmt.Errorf("floor: times of rank %d: %d bytes", r, size)
		}
		b := make([]byte, size)
		if _, err := io.ReadFull(links[r], b); err != nil {
			return nil, fmt.Errorf("floor: times of rank %d: %w", r, err)
		}
		if err := json.Unmarshal(b, &all[r]); err != nil {
			return nil, fmt.Errorf("floor: times of rank %d: %w", r, err)
		}
	}
	return all, nil
}

// floorConnect joins a floor configuration: links[q] is the connection to
// rank q (the hub when q or rank is 0; nil where the pattern needs none).
func floorConnect(spec rankSpec, rank int, listen net.Listener, secret []byte, timeout time.Duration) (links []net.Conn, err error) {
	m := spec.Workers
	links = make([]net.Conn, m)
	needsPeers := spec.Pattern == "ring" || spec.Pattern == "mesh"
	if rank != 0 {
		var own net.Listener
		if needsPeers {
			if own, err = net.Listen("tcp", "127.0.0.1:0"); err != nil {
				return links, err
			}
			defer own.Close()
		}
		conn, err := net.DialTimeout("tcp", spec.Coordinator, timeout)
		if err != nil {
			return links, fmt.Errorf("dial rank 0 at %s: %w", spec.Coordinator, err)
		}
		links[0] = conn
		conn.SetDeadline(time.Now().Add(timeout))
		hello := binary.LittleEndian.AppendUint32(nil, uint32(rank))
		if _, err := conn.Write(append(hello, floorMAC(secret, spec.JobID, rank)...)); err != nil {
			return links, fmt.Errorf("hello to rank 0: %w", err)
		}
		if !needsPeers {
			return links, nil
		}
		var port [4]byte
		binary.LittleEndian.PutUint32(port[:], uint32(own.Addr().(*net.TCPAddr).Port))
		if _, err := conn.Write(port[:]); err != nil {
			return links, fmt.Errorf("port to rank 0: %w", err)
		}
		table := make([]byte, 4*m)
		if _, err := io.ReadFull(conn, table); err != nil {
			return links, fmt.Errorf("table from rank 0: %w", err)
		}
		// Dial the lower ranks we need, accept the higher ones.
		for q := 1; q < rank; q++ {
			if !floorNeeds(spec, rank, q) {
				continue
			}
			addr := fmt.Sprintf("127.0.0.1:%d", binary.LittleEndian.Uint32(table[4*q:]))
			c, err := net.DialTimeout("tcp", addr, timeout)
			if err != nil {
				return links, fmt.Errorf("dial rank %d at %s: %w", q, addr, err)
			}
			links[q] = c
			c.SetDeadline(time.Now().Add(timeout))
			if _, err := c.Write(append(binary.LittleEndian.AppendUint32(nil, uint32(rank)), floorMAC(secret, spec.JobID, rank)...)); err != nil {
				return links, fmt.Errorf("hello to rank %d: %w", q, err)
			}
		}
		want := 0
		for q := rank + 1; q < m; q++ {
			if floorNeeds(spec, rank, q) {
				want++
			}
		}
		if err := floorAccept(own, links, want, rank+1, spec, secret, timeout); err != nil {
			return links, err
		}
		return links, nil
	}
	if listen == nil {
		if listen, err = net.Listen("tcp", spec.Coordinator); err != nil {
			return links, fmt.Errorf("listen on %s: %w", spec.Coordinator, err)
		}
	}
	defer listen.Close()
	if err := floorAccept(listen, links, m-1, 1, spec, secret, timeout); err != nil {
		return links, err
	}
	if needsPeers {
		table := make([]byte, 4*m)
		for r := 1; r < m; r++ {
			if _, err := io.ReadFull(links[r], table[4*r:4*r+4]); err != nil {
				return links, fmt.Errorf("port of rank %d: %w", r, err)
			}
		}
		for r := 1; r < m; r++ {
			if _, err := links[r].Write(table); err != nil {
				return links, fmt.Errorf("table to rank %d: %w", r, err)
			}
		}
	}
	return links, nil
}

// floorAccept accepts want authenticated connections from ranks >= lo on
// l into links; strays are closed.
func floorAccept(l net.Listener, links []net.Conn, want, lo int, spec rankSpec, secret []byte, timeout time.Duration) error {
	if tl, ok := l.(*net.TCPListener); ok {
		tl.SetDeadline(time.Now().Add(timeout))
	}
	for joined := 0; joined < want; {
		c, err := l.Accept()
		if err != nil {
			return fmt.Errorf("%d of %d ranks joined: %w", joined, want, err)
		}
		// A stray connection that says nothing holds up the others for
		// a few seconds at most.
		c.SetDeadline(time.Now().Add(min(timeout, 5*time.Second)))
		var hello [floorHello]byte
		if _, err := io.ReadFull(c, hello[:]); err != nil {
			c.Close()
			continue
		}
		c.SetDeadline(time.Now().Add(timeout))
		r := int(binary.LittleEndian.Uint32(hello[:4]))
		if r < lo || r >= spec.Workers || links[r] != nil || !hmac.Equal(hello[4:], floorMAC(secret, spec.JobID, r)) {
			c.Close() // not one of ours
			continue
		}
		links[r] = c
		joined++
	}
	return nil
}

// span is a frame of n bytes at offset off of a rank's memory.
type span struct{ off, n int }

// spans lays frames of the given sizes end to end from offset 0.
func spans(sizes []int) []span {
	out := make([]span, len(sizes))
	off := 0
	for i, n := range sizes {
		out[i] = span{off, n}
		off += n
	}
	return out
}

// extent is the memory spans take.
func extent(ss ...[]span) int {
	n := 1
	for _, s := range ss {
		for _, f := range s {
			n = max(n, f.off+f.n)
		}
	}
	return n
}

// floorSteps runs spec's warm-up and timed steps of its pattern over links.
// Every frame leaves from, and lands at, its own place in memory as large
// as what the exchange touches (a server mean's worker: its whole vector
// each way; the ring: the vector, each frame at its segment's place), not
// a small buffer reused frame after frame that the caches would keep: an
// exchange of d values must read and write that memory, and so does its
// floor.
func floorSteps(spec rankSpec, rank int, links []net.Conn) (rankTimes, error) {
	m := spec.Workers
	rt := rankTimes{Rank: rank}
	var up, down []span           // server: a worker's frames each way (rank 0: the same places, every worker's frame k at k's)
	var ringSend, ringRecv []span // ring: in order
	forward := 0
	var sendMem, recvMem int
	switch spec.Pattern {
	case "", "server":
		up, down = spans(splitBytes(spec.UpBytes, spec.Frames)), spans(splitBytes(spec.DownBytes, spec.Frames))
		sendMem, recvMem = extent(up), extent(down)
		if rank == 0 {
			sendMem, recvMem = recvMem, sendMem
		}
	case "ring":
		ringSend, ringRecv, forward = ringFloorFrames(spec.Dim, m, rank)
		sendMem = extent(ringSend, ringRecv) // one vector: received frames go on from where they landed
		recvMem = 1
	case "mesh":
		for _, ph := range spec.Phases {
			sent, got := 0, 0
			for q := range m {
				sent += ph[rank][q]
				got += ph[q][rank]
			}
			sendMem, recvMem = max(sendMem, sent, 1), max(recvMem, got, 1)
		}
	}
	out, in := make([]byte, sendMem), make([]byte, recvMem)
	for i := range out {
		out[i] = byte(i) // not a page of zeros
	}
	if spec.Pattern == "ring" {
		in = out
	}
	// One writer goroutine per peer serves every step: a span in its queue
	// writes out[off:off+n], n < 0 ends the step and reports the step's
	// first error.
	type writer struct {
		q    chan span
		errs chan error
	}
	writers := make([]*writer, m)
	writerTo := func(q int) *writer {
		if writers[q] == nil {
			w := &writer{q: make(chan span, 1<<12), errs: make(chan error, 1)}
			writers[q] = w
			go func() {
				var err error
				for f := range w.q {
					switch {
					case f.n < 0:
						w.errs <- err
						err = nil
					case err == nil:
						_, err = links[q].Write(out[f.off : f.off+f.n])
					}
				}
			}()
		}
		return writers[q]
	}
	defer func() {
		for _, w := range writers {
			if w != nil {
				close(w.q)
			}
		}
	}()
	endStep := func(step int) error {
		var first error
		for q, w := range writers {
			if w == nil {
				continue
			}
			w.q <- span{n: -1}
			if err := <-w.errs; err != nil && first == nil {
				first = fmt.Errorf("step %d: write to rank %d: %w", step, q, err)
			}
		}
		return first
	}
	read := func(q int, f span) error {
		_, err := io.ReadFull(links[q], in[f.off:f.off+f.n])
		return err
	}
	one := make([]byte, 1)
	for step := range spec.Warmup + spec.Steps {
		if err := floorBarrier(links, rank, one); err != nil {
			return rt, fmt.Errorf("step %d: barrier: %w", step, err)
		}
		cpu := bench.ProcessCPU()
		t := time.Now()
		var err error
		switch spec.Pattern {
		case "", "server":
			if rank != 0 {
				w := writerTo(0)
				for _, f := range up {
					w.q <- f
				}
				for k, f := range down {
					if err == nil && read(0, f) != nil {
						err = fmt.Errorf("step %d: frame %d from rank 0", step, k)
					}
				}
				break
			}
			for k := range spec.Frames {
				for r := 1; r < m && err == nil; r++ {
					if e := read(r, up[k]); e != nil {
						err = fmt.Errorf("step %d: frame %d from rank %d: %w", step, k, r, e)
					}
				}
				for r := 1; r < m; r++ {
					writerTo(r).q <- down[k]
				}
			}
		case "ring":
			next, prev := (rank+1)%m, (rank+m-1)%m
			w := writerTo(next)
			own := len(ringSend) - forward
			for _, f := range ringSend[:own] {
				w.q <- f
			}
			for i, f := range ringRecv {
				if e := read(prev, f); e != nil {
					err = fmt.Errorf("step %d: frame %d from rank %d: %w", step, i, prev, e)
					break
				}
				if i < forward {
					w.q <- ringSend[own+i]
				}
			}
		case "mesh":
			for p, ph := range spec.Phases {
				off := 0
				for q := range m {
					if q != rank {
						writerTo(q).q <- span{off, ph[rank][q]}
						off += ph[rank][q]
					}
				}
				off = 0
				for q := 0; q < m && err == nil; q++ {
					if q != rank {
						if e := read(q, span{off, ph[q][rank]}); e != nil {
							err = fmt.Errorf("step %d: phase %d from rank %d: %w", step, p, q, e)
						}
						off += ph[q][rank]
					}
				}
			}
		}
		if werr := endStep(step); err == nil {
			err = werr
		}
		if err != nil {
			return rt, err
		}
		if el := time.Since(t).Seconds(); step >= spec.Warmup {
			rt.Exchange = append(rt.Exchange, el)
			rt.ExchangeCPU = append(rt.ExchangeCPU, bench.ProcessCPU()-cpu)
		}
	}
	return rt, nil
}

// floorBarrier is the untimed barrier before a step, over the hub: every
// worker writes a byte to rank 0, which answers each once it has all.
func floorBarrier(links []net.Conn, rank int, one []byte) error {
	if rank != 0 {
		if _, err := links[0].Write(one); err != nil {
			return err
		}
		_, err := io.ReadFull(links[0], one)
		return err
	}
	for r := 1; r < len(links); r++ {
		if _, err := io.ReadFull(links[r], one); err != nil {
			return fmt.Errorf("from rank %d: %w", r, err)
		}
	}
	for r := 1; r < len(links); r++ {
		if _, err := links[r].Write(one); err != nil {
			return fmt.Errorf("to rank %d: %w", r, err)
		}
	}
	return nil
}

// ringFloorFrames are the frames rank sends and receives in one ring mean
// of d values among m ranks, each weighing its payload and a frame header,
// in order, each at its segment's place in the vector (4 bytes a value;
// the frame's header rides on its segment's first bytes): it receives the
// reduce-scatter's chunks r-1, r-2, ..., r+1 and the allgather's r, r-1,
// ..., r+2; it sends its own chunk r, then each frame it received but the
// last chunk's (forward of them, sent in the order received, from where
// they landed).
func ringFloorFrames(d, m, rank int) (send, recv []span, forward int) {
	frames := func(k int) []span {
		lo, hi := collective.RingChunk(d, m, k)
		var out []span
		off := 4 * lo
		for _, n := range collective.Float32Frames(hi - lo) {
			out = append(out, span{off, n + collective.HeaderSize})
			off += n
		}
		return out
	}
	for s := range m - 1 {
		recv = append(recv, frames(rank-1-s)...)
	}
	for s := range m - 1 {
		recv = append(recv, frames(rank-s)...)
	}
	own := frames(rank)
	forward = len(recv) - len(frames(rank+2))
	send = append(own, recv[:forward]...)
	return send, recv, forward
}
