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
)

// The wire floor: the least time loopback TCP takes to move one server
// vote's bytes among the same M processes, with nothing else done. Workers
// write Frames frames (UpBytes in all) to rank 0, then read Frames frames
// (DownBytes); rank 0 reads frame k from every worker, then hands frame k
// of the result to one writer goroutine per worker, as the vote does. No
// framing, no allocation per step, no vote, no encoding: whatever the vote
// takes above this is ours; this much no implementation of the server
// topology on these cores can avoid.
//
//	worker r                          rank 0
//	  write 1 (barrier)   ------->     read 1 from each
//	                      <-------     write 1 to each
//	  t0                                t0
//	  write frame 0..F-1  ------->     for k: read frame k from each,
//	                      <-------            queue frame k to each writer
//	  read frame 0..F-1                wait for the writers
//	  t1                                t1
//
// The connection opens with the job id and the rank under an HMAC of the
// bench's secret, so no stray process on the machine joins.

// floorHello is what a worker sends first: its rank and an HMAC-SHA256 of
// (job id, rank) under the configuration's secret.
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

// runFloor is one rank of a floor configuration; rank 0 returns every
// rank's times (Exchange only: the pattern). Every read is io.ReadFull of
// its frame's exact size, so a step either moves all the bytes or fails.
func runFloor(spec rankSpec, rank int, listen net.Listener, secret []byte) ([]rankTimes, error) {
	if spec.Frames < 1 || spec.UpBytes < spec.Frames || spec.DownBytes < spec.Frames {
		return nil, fmt.Errorf("floor: %d frames for %d bytes up and %d down", spec.Frames, spec.UpBytes, spec.DownBytes)
	}
	timeout := time.Duration(spec.Timeout * float64(time.Second))
	if rank != 0 {
		conn, err := net.DialTimeout("tcp", spec.Coordinator, timeout)
		if err != nil {
			return nil, fmt.Errorf("floor: dial rank 0 at %s: %w", spec.Coordinator, err)
		}
		defer conn.Close()
		conn.SetDeadline(time.Now().Add(timeout))
		hello := binary.LittleEndian.AppendUint32(nil, uint32(rank))
		if _, err := conn.Write(append(hello, floorMAC(secret, spec.JobID, rank)...)); err != nil {
			return nil, fmt.Errorf("floor: hello to rank 0: %w", err)
		}
		mine, err := floorWorker(conn, spec, rank)
		if err != nil {
			return nil, fmt.Errorf("floor: %w", err)
		}
		b, err := json.Marshal(mine)
		if err != nil {
			return nil, err
		}
		_, err = conn.Write(append(binary.LittleEndian.AppendUint32(nil, uint32(len(b))), b...))
		if err == nil {
			// rank 0 closes once it has every report
			_, err = conn.Read(make([]byte, 1))
			if errors.Is(err, io.EOF) {
				err = nil
			}
		}
		return nil, err
	}
	if listen == nil {
		l, err := net.Listen("tcp", spec.Coordinator)
		if err != nil {
			return nil, fmt.Errorf("floor: listen on %s: %w", spec.Coordinator, err)
		}
		listen = l
	}
	defer listen.Close()
	conns := make([]net.Conn, spec.Workers)
	defer func() {
		for _, c := range conns {
			if c != nil {
				c.Close()
			}
		}
	}()
	if tl, ok := listen.(*net.TCPListener); ok {
		tl.SetDeadline(time.Now().Add(timeout))
	}
	for joined := 1; joined < spec.Workers; {
		c, err := listen.Accept()
		if err != nil {
			return nil, fmt.Errorf("floor: %d of %d ranks joined: %w", joined, spec.Workers, err)
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
		if r < 1 || r >= spec.Workers || conns[r] != nil || !hmac.Equal(hello[4:], floorMAC(secret, spec.JobID, r)) {
			c.Close() // not one of ours
			continue
		}
		conns[r] = c
		joined++
	}
	all := make([]rankTimes, spec.Workers)
	var err error
	if all[0], err = floorRoot(conns, spec); err != nil {
		return nil, fmt.Errorf("floor: %w", err)
	}
	for r := 1; r < spec.Workers; r++ {
		var n [4]byte
		if _, err := io.ReadFull(conns[r], n[:]); err != nil {
			return nil, fmt.Errorf("floor: times of rank %d: %w", r, err)
		}
		size := binary.LittleEndian.Uint32(n[:])
		if size > 1<<24 {
			return nil, fmt.Errorf("floor: times of rank %d: %d bytes", r, size)
		}
		b := make([]byte, size)
		if _, err := io.ReadFull(conns[r], b); err != nil {
			return nil, fmt.Errorf("floor: times of rank %d: %w", r, err)
		}
		if err := json.Unmarshal(b, &all[r]); err != nil {
			return nil, fmt.Errorf("floor: times of rank %d: %w", r, err)
		}
	}
	return all, nil
}

// floorWorker runs a worker's steps over conn.
func floorWorker(conn net.Conn, spec rankSpec, rank int) (rankTimes, error) {
	up, down := splitBytes(spec.UpBytes, spec.Frames), splitBytes(spec.DownBytes, spec.Frames)
	out, in := make([]byte, up[0]), make([]byte, down[0])
	for i := range out {
		out[i] = byte(i) // not a page of zeros
	}
	rt := rankTimes{Rank: rank}
	one := make([]byte, 1)
	for step := range spec.Warmup + spec.Steps {
		if _, err := conn.Write(one); err != nil {
			return rt, fmt.Errorf("step %d: barrier: %w", step, err)
		}
		if _, err := io.ReadFull(conn, one); err != nil {
			return rt, fmt.Errorf("step %d: barrier: %w", step, err)
		}
		t := time.Now()
		for _, n := range up {
			if _, err := conn.Write(out[:n]); err != nil {
				return rt, fmt.Errorf("step %d: write: %w", step, err)
			}
		}
		for _, n := range down {
			if _, err := io.ReadFull(conn, in[:n]); err != nil {
				return rt, fmt.Errorf("step %d: read: %w", step, err)
			}
		}
		el := time.Since(t).Seconds()
		if step >= spec.Warmup {
			rt.Exchange = append(rt.Exchange, el)
		}
	}
	return rt, nil
}

// floorRoot runs rank 0's steps over conns (conns[0] unused). One writer
// goroutine per worker serves every step: a frame size in its queue writes
// that many bytes, -1 ends the step and reports the step's first error.
func floorRoot(conns []net.Conn, spec rankSpec) (rankTimes, error) {
	m := len(conns)
	up, down := splitBytes(spec.UpBytes, spec.Frames), splitBytes(spec.DownBytes, spec.Frames)
	in, out := make([]byte, up[0]), make([]byte, down[0])
	for i := range out {
		out[i] = byte(i)
	}
	queues := make([]chan int, m)
	stepErrs := make([]chan error, m)
	for r := 1; r < m; r++ {
		queues[r], stepErrs[r] = make(chan int, spec.Frames+1), make(chan error, 1)
		go func() {
			var err error
			for n := range queues[r] {
				switch {
				case n < 0:
					stepErrs[r] <- err
					err = nil
				case err == nil:
					_, err = conns[r].Write(out[:n])
				}
			}
		}()
	}
	defer func() {
		for r := 1; r < m; r++ {
			close(queues[r])
		}
	}()
	rt := rankTimes{Rank: 0}
	one := make([]byte, 1)
	for step := range spec.Warmup + spec.Steps {
		for r := 1; r < m; r++ {
			if _, err := io.ReadFull(conns[r], one); err != nil {
				return rt, fmt.Errorf("step %d: barrier from rank %d: %w", step, r, err)
			}
		}
		for r := 1; r < m; r++ {
			if _, err := conns[r].Write(one); err != nil {
				return rt, fmt.Errorf("step %d: barrier to rank %d: %w", step, r, err)
			}
		}
		t := time.Now()
		var readErr error
		for k := range spec.Frames {
			for r := 1; r < m && readErr == nil; r++ {
				if _, err := io.ReadFull(conns[r], in[:up[k]]); err != nil {
					readErr = fmt.Errorf("step %d: frame %d from rank %d: %w", step, k, r, err)
				}
			}
			for r := 1; r < m; r++ {
				queues[r] <- down[k]
			}
		}
		var writeErr error
		for r := 1; r < m; r++ {
			queues[r] <- -1
		}
		for r := 1; r < m; r++ {
			if err := <-stepErrs[r]; err != nil && writeErr == nil {
				writeErr = fmt.Errorf("step %d: write to rank %d: %w", step, r, err)
			}
		}
		if readErr != nil {
			return rt, readErr
		}
		if writeErr != nil {
			return rt, writeErr
		}
		el := time.Since(t).Seconds()
		if step >= spec.Warmup {
			rt.Exchange = append(rt.Exchange, el)
		}
	}
	return rt, nil
}
