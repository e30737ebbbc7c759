package collective

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"slices"
	"sync"
	"sync/atomic"
	"time"
)

// TCPOptions say how one rank joins a job over TCP.
type TCPOptions struct {
	Rank, Size int
	// Coordinator is host:port where rank 0 listens and the others register.
	Coordinator string
	// Listener, for rank 0, is an already open listener to use instead of
	// listening on Coordinator (a launcher passes one down to avoid races on
	// the port). Ranks > 0 may pass their own listener too.
	Listener net.Listener
	// AdvertiseHost is the host ranks > 0 listen on and tell the others;
	// default: their own address on the connection to rank 0.
	AdvertiseHost string
	// JobID must be the same on every rank; a registration for another job
	// is refused.
	JobID string
	// SetupTimeout bounds the rendezvous (default 60 s).
	SetupTimeout time.Duration
	// Timeout bounds every Recv and Send (default DefaultTimeout; negative:
	// none).
	Timeout time.Duration
	// MaxFrame bounds a frame's payload (default DefaultMaxFrame).
	MaxFrame int
	// Logf, if set, reports connections that were refused during setup.
	Logf func(format string, args ...any)
}

func (o *TCPOptions) defaults() {
	if o.SetupTimeout <= 0 {
		o.SetupTimeout = 60 * time.Second
	}
	if o.Timeout == 0 {
		o.Timeout = DefaultTimeout
	}
	if o.Timeout < 0 {
		o.Timeout = 0
	}
	if o.MaxFrame <= 0 {
		o.MaxFrame = DefaultMaxFrame
	}
	if o.Logf == nil {
		o.Logf = func(string, ...any) {}
	}
}

// tcpComm is one rank of a job whose ranks are connected pairwise by TCP.
type tcpComm struct {
	rank, size int
	conns      []net.Conn // conns[peer]; nil for ourselves
	wmu        []sync.Mutex
	sendSeq    []uint32
	in         []*inbox
	cnt        counters
	timeout    time.Duration
	maxFrame   int
	done       chan struct{}
	closed     atomic.Bool
	wg         sync.WaitGroup
}

// DialTCP runs the rendezvous for one rank and returns its Comm once every
// pair of ranks is connected. Rank 0 listens on the coordinator address and
// waits for the others to register their own listening address; it sends
// back the table of all of them; then every rank r connects to the ranks
// 1..r-1 and accepts connections from r+1..size-1, so each pair shares one
// connection and no two ranks need a fixed port besides rank 0.
func DialTCP(opt TCPOptions) (Comm, error) {
	opt.defaults()
	if opt.Size < 1 || opt.Rank < 0 || opt.Rank >= opt.Size {
		return nil, fmt.Errorf("rank %d of %d: no such rank", opt.Rank, opt.Size)
	}
	c := &tcpComm{
		rank: opt.Rank, size: opt.Size,
		conns: make([]net.Conn, opt.Size), wmu: make([]sync.Mutex, opt.Size),
		sendSeq: make([]uint32, opt.Size), in: make([]*inbox, opt.Size),
		timeout: opt.Timeout, maxFrame: opt.MaxFrame, done: make(chan struct{}),
	}
	for i := range c.in {
		c.in[i] = newInbox()
	}
	deadline := time.Now().Add(opt.SetupTimeout)
	var err error
	if opt.Rank == 0 {
		err = c.setupCoordinator(opt, deadline)
	} else {
		err = c.setupWorker(opt, deadline)
	}
	if err != nil {
		for _, conn := range c.conns {
			if conn != nil {
				conn.Close()
			}
		}
		return nil, err
	}
	for p, conn := range c.conns {
		if conn == nil {
			continue
		}
		conn.SetDeadline(time.Time{})
		if tc, ok := conn.(*net.TCPConn); ok {
			tc.SetNoDelay(true)
		}
		c.wg.Add(1)
		go c.read(p, conn)
	}
	return c, nil
}

// hello is a rank's registration: who it is and where it listens.
type hello struct {
	rank, size int
	job, addr  string
}

func encodeHello(h hello) []byte {
	b := binary.LittleEndian.AppendUint32(nil, uint32(h.rank))
	b = binary.LittleEndian.AppendUint32(b, uint32(h.size))
	b = appendString(b, h.job)
	return appendString(b, h.addr)
}

func decodeHello(b []byte) (hello, error) {
	if len(b) < 8 {
		return hello{}, fmt.Errorf("hello of %d bytes is too short", len(b))
	}
	h := hello{rank: int(binary.LittleEndian.Uint32(b)), size: int(binary.LittleEndian.Uint32(b[4:]))}
	rest := b[8:]
	var err error
	if h.job, rest, err = readString(rest); err != nil {
		return hello{}, fmt.Errorf("hello job id: %w", err)
	}
	if h.addr, rest, err = readString(rest); err != nil {
		return hello{}, fmt.Errorf("hello address: %w", err)
	}
	if len(rest) != 0 {
		return hello{}, fmt.Errorf("hello has %d trailing bytes", len(rest))
	}
	return h, nil
}

func appendString(b []byte, s string) []byte {
	b = binary.LittleEndian.AppendUint16(b, uint16(len(s)))
	return append(b, s...)
}

func readString(b []byte) (string, []byte, error) {
	if len(b) < 2 {
		return "", nil, errors.New("truncated length")
	}
	n := int(binary.LittleEndian.Uint16(b))
	if len(b) < 2+n {
		return "", nil, fmt.Errorf("string of %d bytes truncated to %d", n, len(b)-2)
	}
	return string(b[2 : 2+n]), b[2+n:], nil
}

// writeSetupFrame and readSetupFrame carry the handshake (sequence 0; not
// counted as traffic).
func writeSetupFrame(conn net.Conn, tag Tag, p []byte) error {
	var hdr [HeaderSize]byte
	putHeader(hdr[:], tag, 0, len(p))
	bufs := net.Buffers{hdr[:], p}
	_, err := bufs.WriteTo(conn)
	return err
}

func readSetupFrame(conn net.Conn, want Tag) ([]byte, error) {
	var hdr [HeaderSize]byte
	tag, p, err := readFrame(conn, hdr[:], 0, 1<<20)
	if err != nil {
		return nil, err
	}
	if tag != want {
		return nil, fmt.Errorf("%w: %s frame, want %s", ErrBadFrame, tag, want)
	}
	return p, nil
}

func (c *tcpComm) setupCoordinator(opt TCPOptions, deadline time.Time) error {
	l := opt.Listener
	if l == nil {
		var err error
		if l, err = net.Listen("tcp", opt.Coordinator); err != nil {
			return fmt.Errorf("rank 0: listen on %s: %w", opt.Coordinator, err)
		}
	}
	defer l.Close()
	addrs := make([]string, c.size)
	addrs[0] = l.Addr().String()
	missing := c.size - 1
	for missing > 0 {
		if tl, ok := l.(*net.TCPListener); ok {
			tl.SetDeadline(deadline)
		}
		conn, err := l.Accept()
		if err != nil {
			var waiting []int
			for r := 1; r < c.size; r++ {
				if c.conns[r] == nil {
					waiting = append(waiting, r)
				}
			}
			return fmt.Errorf("rank 0: ranks %v did not register at %s within %v: %w", waiting, l.Addr(), opt.SetupTimeout, err)
		}
		conn.SetDeadline(minTime(deadline, time.Now().Add(10*time.Second)))
		h, err := c.readHello(conn, opt)
		if err == nil && c.conns[h.rank] != nil {
			err = fmt.Errorf("rank %d registered twice", h.rank)
		}
		if err != nil {
			opt.Logf("rank 0: refused connection from %s: %v", conn.RemoteAddr(), err)
			conn.Close()
			continue
		}
		c.conns[h.rank] = conn
		addrs[h.rank] = h.addr
		missing--
	}
	table := binary.LittleEndian.AppendUint32(nil, uint32(c.size))
	for _, a := range addrs {
		table = appendString(table, a)
	}
	for r := 1; r < c.size; r++ {
		c.conns[r].SetDeadline(deadline)
		if err := writeSetupFrame(c.conns[r], TagTable, table); err != nil {
			return &PeerError{Rank: 0, Peer: r, Op: "send table", Err: err}
		}
	}
	return nil
}

// readHello reads and checks a registration.
func (c *tcpComm) readHello(conn net.Conn, opt TCPOptions) (hello, error) {
	p, err := readSetupFrame(conn, TagHello)
	if err != nil {
		return hello{}, err
	}
	h, err := decodeHello(p)
	if err != nil {
		return hello{}, err
	}
	switch {
	case h.job != opt.JobID:
		return hello{}, fmt.Errorf("job %q, want %q", h.job, opt.JobID)
	case h.size != c.size:
		return hello{}, fmt.Errorf("rank %d says the job has %d ranks, we have %d", h.rank, h.size, c.size)
	case h.rank <= 0 || h.rank >= c.size:
		return hello{}, fmt.Errorf("rank %d is out of range", h.rank)
	}
	return h, nil
}

func (c *tcpComm) setupWorker(opt TCPOptions, deadline time.Time) error {
	// Register with rank 0, retrying while it starts.
	var conn net.Conn
	backoff := 20 * time.Millisecond
	for {
		var err error
		d := net.Dialer{Deadline: deadline}
		conn, err = d.Dial("tcp", opt.Coordinator)
		if err == nil {
			break
		}
		if time.Now().Add(backoff).After(deadline) {
			return fmt.Errorf("rank %d: no answer from rank 0 at %s after %v: %w", c.rank, opt.Coordinator, opt.SetupTimeout, err)
		}
		time.Sleep(backoff)
		backoff = min(2*backoff, time.Second)
	}
	c.conns[0] = conn
	conn.SetDeadline(deadline)
	l := opt.Listener
	if l == nil {
		host := opt.AdvertiseHost
		if host == "" {
			host, _, _ = net.SplitHostPort(conn.LocalAddr().String())
		}
		var err error
		if l, err = net.Listen("tcp", net.JoinHostPort(host, "0")); err != nil {
			return fmt.Errorf("rank %d: listen on %s: %w", c.rank, host, err)
		}
	}
	defer l.Close()
	me := hello{rank: c.rank, size: c.size, job: opt.JobID, addr: l.Addr().String()}
	if err := writeSetupFrame(conn, TagHello, encodeHello(me)); err != nil {
		return &PeerError{Rank: c.rank, Peer: 0, Op: "send hello", Err: err}
	}
	p, err := readSetupFrame(conn, TagTable)
	if err != nil {
		if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
			err = fmt.Errorf("rank 0 closed the connection (refused the registration?): %w", err)
		}
		return &PeerError{Rank: c.rank, Peer: 0, Op: "recv table", Err: err}
	}
	if len(p) < 4 || int(binary.LittleEndian.Uint32(p)) != c.size {
		return &PeerError{Rank: c.rank, Peer: 0, Op: "recv table", Err: fmt.Errorf("%w: table for another job size", ErrBadFrame)}
	}
	addrs := make([]string, c.size)
	rest := p[4:]
	for i := range addrs {
		if addrs[i], rest, err = readString(rest); err != nil {
			return &PeerError{Rank: c.rank, Peer: 0, Op: "recv table", Err: err}
		}
	}
	// Accept the higher ranks while dialing the lower ones.
	acceptErr := make(chan error, 1)
	go func() {
		for missing := c.size - 1 - c.rank; missing > 0; {
			if tl, ok := l.(*net.TCPListener); ok {
				tl.SetDeadline(deadline)
			}
			in, err := l.Accept()
			if err != nil {
				acceptErr <- fmt.Errorf("rank %d: waiting for ranks above it at %s: %w", c.rank, l.Addr(), err)
				return
			}
			in.SetDeadline(deadline)
			h, err := c.readHello(in, opt)
			if err == nil && (h.rank <= c.rank || c.conns[h.rank] != nil) {
				err = fmt.Errorf("unexpected connection from rank %d", h.rank)
			}
			if err != nil {
				opt.Logf("rank %d: refused connection from %s: %v", c.rank, in.RemoteAddr(), err)
				in.Close()
				continue
			}
			c.conns[h.rank] = in
			missing--
		}
		acceptErr <- nil
	}()
	var dialErr error
	for r := 1; r < c.rank && dialErr == nil; r++ {
		d := net.Dialer{Deadline: deadline}
		out, err := d.Dial("tcp", addrs[r])
		if err != nil {
			dialErr = &PeerError{Rank: c.rank, Peer: r, Op: "connect", Err: fmt.Errorf("%s: %w", addrs[r], err)}
			break
		}
		c.conns[r] = out
		out.SetDeadline(deadline)
		if err := writeSetupFrame(out, TagHello, encodeHello(me)); err != nil {
			dialErr = &PeerError{Rank: c.rank, Peer: r, Op: "send hello", Err: err}
		}
	}
	if dialErr != nil {
		l.Close()
		<-acceptErr
		return dialErr
	}
	return <-acceptErr
}

func minTime(a, b time.Time) time.Time {
	if a.Before(b) {
		return a
	}
	return b
}

// read moves frames from one peer's connection into its inbox until the
// connection ends.
func (c *tcpComm) read(peer int, conn net.Conn) {
	defer c.wg.Done()
	br := bufio.NewReaderSize(conn, 1<<16)
	var hdr [HeaderSize]byte
	for seq := uint32(0); ; seq++ {
		tag, p, err := readFrame(br, hdr[:], seq, c.maxFrame)
		if err != nil {
			switch {
			case c.closed.Load():
				err = ErrClosed
			case errors.Is(err, io.EOF) || errors.Is(err, net.ErrClosed) || isReset(err):
				err = fmt.Errorf("%w: rank %d closed the connection (%v)", ErrPeerLost, peer, err)
			}
			c.in[peer].fail(err)
			return
		}
		if err := c.in[peer].push(frame{tag: tag, payload: p}); err != nil {
			conn.Close()
			return
		}
	}
}

func isReset(err error) bool {
	var op *net.OpError
	return errors.As(err, &op) && !op.Timeout()
}

func (c *tcpComm) Rank() int { return c.rank }
func (c *tcpComm) Size() int { return c.size }

func (c *tcpComm) Send(peer int, tag Tag, payload []byte) error {
	op := "send " + tag.String()
	if err := checkPeer(c, peer, op); err != nil {
		return err
	}
	if c.closed.Load() {
		return &PeerError{Rank: c.rank, Peer: peer, Op: op, Err: ErrClosed}
	}
	if len(payload) > c.maxFrame {
		return &PeerError{Rank: c.rank, Peer: peer, Op: op, Err: fmt.Errorf("%w: payload of %d bytes exceeds the bound of %d", ErrBadFrame, len(payload), c.maxFrame)}
	}
	if peer == c.rank {
		if err := c.in[peer].push(frame{tag: tag, payload: slices.Clone(payload)}); err != nil {
			return &PeerError{Rank: c.rank, Peer: peer, Op: op, Err: err}
		}
		return nil
	}
	c.wmu[peer].Lock()
	defer c.wmu[peer].Unlock()
	var hdr [HeaderSize]byte
	putHeader(hdr[:], tag, c.sendSeq[peer], len(payload))
	conn := c.conns[peer]
	if c.timeout > 0 {
		conn.SetWriteDeadline(time.Now().Add(c.timeout))
	}
	bufs := net.Buffers{hdr[:], payload}
	if _, err := bufs.WriteTo(conn); err != nil {
		if c.closed.Load() {
			err = ErrClosed
		} else if !errors.Is(err, ErrTimeout) {
			err = fmt.Errorf("%w: %v", ErrPeerLost, err)
		}
		return &PeerError{Rank: c.rank, Peer: peer, Op: op, Err: err}
	}
	c.sendSeq[peer]++
	c.cnt.add(true, tag, HeaderSize+len(payload))
	return nil
}

func (c *tcpComm) Recv(peer int, tag Tag) ([]byte, error) {
	return receive(c, c.in, &c.cnt, c.timeout, c.done, peer, tag)
}

func (c *tcpComm) Traffic() Traffic { return c.cnt.snapshot() }

func (c *tcpComm) Close() error {
	if c.closed.Swap(true) {
		return nil
	}
	close(c.done)
	for _, conn := range c.conns {
		if conn != nil {
			conn.Close()
		}
	}
	c.wg.Wait()
	return nil
}
