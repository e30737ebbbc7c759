package collective

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
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
	// is refused, and every frame carries JobHash(JobID).
	JobID string
	// Secret is the job's shared secret: every connection starts with a
	// challenge-response (HMAC-SHA256 over fresh nonces) proving both ends
	// know it. Required; at least 16 bytes.
	Secret []byte
	// SetupTimeout bounds the rendezvous (default 60 s).
	SetupTimeout time.Duration
	// Timeout bounds every Recv and Send (default DefaultTimeout; negative:
	// none).
	Timeout time.Duration
	// MaxFrame bounds a frame's payload (default DefaultMaxFrame).
	MaxFrame int
	// DropStale makes a receive skip frames of an earlier step (a vote that
	// arrived after its deadline) instead of failing on them; they are
	// counted in Traffic.StaleFrames.
	DropStale bool
	// Security protects every frame after the handshake: SecuritySeal
	// (the zero value) encrypts and authenticates them, SecurityAuth
	// authenticates them, SecurityOff sends them as they are. Every rank
	// of a job must use the same; a rank with another is refused.
	Security Security
	// Logf, if set, reports connections that were refused, with their
	// address and why.
	Logf func(format string, args ...any)
}

// MinSecret is the shortest secret DialTCP accepts, in bytes.
const MinSecret = 16

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

// handshakeTimeout bounds one connection's handshake, so a silent or slow
// stranger holds nothing up for long.
const handshakeTimeout = 10 * time.Second

// setupMaxFrame bounds handshake frames (the table of addresses included).
const setupMaxFrame = 1 << 20

// tcpComm is one rank of a job whose ranks are connected pairwise by TCP.
type tcpComm struct {
	core
	job      uint32
	conns    []net.Conn // conns[peer]; nil for ourselves
	links    []tcpLink  // links[peer]: the send side of conns[peer]
	maxFrame int
	security Security
	// overhead is what Security adds to each payload on the wire (0 or
	// SealOverhead).
	overhead int
	// sendSeal[peer] seals the frames to peer (under links[peer].mu),
	// recvSeal[peer] opens the frames from peer (in its reader); nil with
	// SecurityOff.
	sendSeal, recvSeal []*sealer
	closed             atomic.Bool
	wg                 sync.WaitGroup
}

// tcpLink is the send side of one connection: a frame's header and the
// buffers handed to writev live here, reused under mu, so a Send allocates
// nothing.
type tcpLink struct {
	mu   sync.Mutex
	seq  uint32
	hdr  [HeaderSize]byte
	vecs [2 + len(parts{})][]byte
	bufs net.Buffers
	join []byte // a payload in parts, joined for the sealer or a send to itself
}

// DialTCP runs the rendezvous for one rank and returns its Comm once every
// pair of ranks is connected. Rank 0 listens on the coordinator address and
// waits for the others to register their own listening address; it sends
// back the table of all of them; then every rank r connects to the ranks
// 1..r-1 and accepts connections from r+1..size-1, so each pair shares one
// connection and no two ranks need a fixed port besides rank 0. Every
// connection is authenticated with the job's secret first; one that fails
// is logged with its address and closed, and the rendezvous goes on.
//
// A caller that leaves opt.Security unset gets sealed links (SecuritySeal
// is the zero value): a library caller cannot send plaintext by omission.
// Choose SecurityAuth or SecurityOff explicitly; job resolves its
// --transport-security auto to SecurityOff only when every rank is on one
// host.
func DialTCP(opt TCPOptions) (Comm, error) {
	opt.defaults()
	if opt.Size < 1 || opt.Rank < 0 || opt.Rank >= opt.Size {
		return nil, fmt.Errorf("rank %d of %d: no such rank", opt.Rank, opt.Size)
	}
	if len(opt.Secret) < MinSecret {
		return nil, fmt.Errorf("rank %d: the job's secret has %d bytes, want at least %d", opt.Rank, len(opt.Secret), MinSecret)
	}
	c := &tcpComm{
		job: JobHash(opt.JobID), conns: make([]net.Conn, opt.Size), links: make([]tcpLink, opt.Size),
		maxFrame: opt.MaxFrame, security: opt.Security,
		sendSeal: make([]*sealer, opt.Size), recvSeal: make([]*sealer, opt.Size),
	}
	if _, err := ParseSecurity(opt.Security.String()); err != nil {
		return nil, fmt.Errorf("rank %d: %w", opt.Rank, err)
	}
	if opt.Security != SecurityOff {
		c.overhead = SealOverhead
	}
	c.init(opt.Rank, opt.Size, opt.Timeout)
	c.send = c.Send
	c.sendv = c.sendParts
	c.stall = func(peer int) {
		if conn := c.conns[peer]; conn != nil {
			conn.Close()
		}
	}
	c.setDropStale(opt.DropStale)
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

// nonceSize is the size of a handshake nonce and of a MAC.
const nonceSize = 32

// hello is a rank's registration: who it is, where it listens, its nonce
// and the MAC proving it knows the secret.
type hello struct {
	rank, size int
	job, addr  string
	// security is the rank's TCPOptions.Security, aesgcm whether it seals
	// with AES-GCM (else ChaCha20-Poly1305): the connecting rank chooses,
	// the accepting one follows.
	security Security
	aesgcm   bool
	nonce    [nonceSize]byte
	mac      [nonceSize]byte
}

// helloBody is everything in a hello the MAC covers.
func helloBody(h hello) []byte {
	b := binary.LittleEndian.AppendUint32(nil, uint32(h.rank))
	b = binary.LittleEndian.AppendUint32(b, uint32(h.size))
	b = appendString(b, h.job)
	b = appendString(b, h.addr)
	aesgcm := byte(0)
	if h.aesgcm {
		aesgcm = 1
	}
	b = append(b, byte(h.security), aesgcm)
	return append(b, h.nonce[:]...)
}

func encodeHello(h hello) []byte { return append(helloBody(h), h.mac[:]...) }

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
	if len(rest) != 2+2*nonceSize {
		return hello{}, fmt.Errorf("hello ends with %d bytes, want the security mode, a nonce and a MAC (%d)", len(rest), 2+2*nonceSize)
	}
	if rest[0] > byte(SecurityOff) || rest[1] > 1 {
		return hello{}, fmt.Errorf("hello's transport security %d, cipher %d: not a mode and a 0 or 1", rest[0], rest[1])
	}
	h.security, h.aesgcm = Security(rest[0]), rest[1] == 1
	rest = rest[2:]
	copy(h.nonce[:], rest)
	copy(h.mac[:], rest[nonceSize:])
	return h, nil
}

// mac is HMAC-SHA256 under the secret of a purpose label and the parts.
func mac(secret []byte, label string, parts ...[]byte) [nonceSize]byte {
	m := hmac.New(sha256.New, secret)
	m.Write([]byte(label))
	m.Write([]byte{0})
	for _, p := range parts {
		m.Write(p)
	}
	var out [nonceSize]byte
	copy(out[:], m.Sum(nil))
	return out
}

func newNonce() [nonceSize]byte {
	var n [nonceSize]byte
	rand.Read(n[:])
	return n
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

// writeSetupFrame and readSetupFrame carry the handshake (sequence 0, step
// 0; not counted as traffic).
func (c *tcpComm) writeSetupFrame(conn net.Conn, tag Tag, p []byte) error {
	var hdr [HeaderSize]byte
	putHeader(hdr[:], header{tag: tag, length: len(p), job: c.job})
	bufs := net.Buffers{hdr[:], p}
	_, err := bufs.WriteTo(conn)
	return err
}

func (c *tcpComm) readSetupFrame(conn net.Conn, want Tag) ([]byte, error) {
	var hdr [HeaderSize]byte
	h, p, err := readFrame(conn, hdr[:], c.job, 0, setupMaxFrame)
	if err != nil {
		return nil, err
	}
	if h.tag != want {
		return nil, fmt.Errorf("%w: %s frame, want %s", ErrBadFrame, h.tag, want)
	}
	return p, nil
}

// peerConn is a connection whose handshake ended, well or not.
type peerConn struct {
	conn net.Conn
	h    hello
	// challenge is the nonce the accepting side sent (the keys' salt with
	// h.nonce).
	challenge [nonceSize]byte
	err       error
}

// acceptPeers accepts connections on l until every rank in want has
// registered, running each handshake in its own goroutine so a stranger
// cannot hold up the others. A connection that fails its handshake, or
// registers a rank not wanted or already registered, is logged and closed.
// welcome says whether to answer a good hello with a welcome (the mesh;
// rank 0 answers with the table later instead).
func (c *tcpComm) acceptPeers(l net.Listener, opt TCPOptions, deadline time.Time, want map[int]bool, welcome bool) (map[int]peerConn, error) {
	got := map[int]peerConn{}
	if len(want) == 0 {
		return got, nil
	}
	results := make(chan peerConn)
	stop := make(chan struct{})
	defer close(stop)
	if tl, ok := l.(*net.TCPListener); ok {
		tl.SetDeadline(deadline)
	}
	go func() {
		for {
			conn, err := l.Accept()
			if err != nil {
				select {
				case results <- peerConn{err: err}:
				case <-stop:
				}
				return
			}
			go func() {
				pc := c.answerHandshake(conn, opt, deadline, welcome)
				select {
				case results <- pc:
				case <-stop:
					// The rendezvous ended while this handshake ran: a
					// stranger's failure is still logged, as it would
					// have been a moment earlier.
					if pc.err != nil {
						opt.Logf("rank %d: refused connection from %s: %v", c.rank, conn.RemoteAddr(), pc.err)
					} else {
						opt.Logf("rank %d: refused connection from %s: rank %d registered after the rendezvous ended", c.rank, conn.RemoteAddr(), pc.h.rank)
					}
					conn.Close()
				}
			}()
		}
	}()
	for len(got) < len(want) {
		pc := <-results
		if pc.conn == nil {
			var waiting []int
			for r := range c.size {
				if want[r] {
					if _, ok := got[r]; !ok {
						waiting = append(waiting, r)
					}
				}
			}
			return got, &MissingRanksError{Rank: c.rank, Missing: waiting, Addr: l.Addr().String(), Within: opt.SetupTimeout, Err: pc.err}
		}
		if pc.err == nil {
			if !want[pc.h.rank] {
				pc.err = fmt.Errorf("rank %d may not connect here", pc.h.rank)
			} else if _, dup := got[pc.h.rank]; dup {
				pc.err = fmt.Errorf("rank %d registered twice", pc.h.rank)
			}
		}
		if pc.err != nil {
			opt.Logf("rank %d: refused connection from %s: %v", c.rank, pc.conn.RemoteAddr(), pc.err)
			pc.conn.Close()
			continue
		}
		got[pc.h.rank] = pc
	}
	return got, nil
}

// answerHandshake is the accepting side: send a challenge, read and check
// the hello, and in the mesh answer with a welcome.
func (c *tcpComm) answerHandshake(conn net.Conn, opt TCPOptions, deadline time.Time, welcome bool) peerConn {
	conn.SetDeadline(minTime(deadline, time.Now().Add(handshakeTimeout)))
	challenge := newNonce()
	if err := c.writeSetupFrame(conn, TagChallenge, challenge[:]); err != nil {
		return peerConn{conn: conn, err: fmt.Errorf("send challenge: %w", err)}
	}
	p, err := c.readSetupFrame(conn, TagHello)
	if err != nil {
		return peerConn{conn: conn, err: err}
	}
	h, err := decodeHello(p)
	if err != nil {
		return peerConn{conn: conn, err: err}
	}
	want := mac(opt.Secret, "signsgd hello", challenge[:], helloBody(h))
	switch {
	case !hmac.Equal(h.mac[:], want[:]):
		err = errors.New("authentication failed (wrong secret)")
	case h.job != opt.JobID:
		err = fmt.Errorf("job %q, want %q", h.job, opt.JobID)
	case h.size != c.size:
		err = fmt.Errorf("rank %d says the job has %d ranks, we have %d", h.rank, h.size, c.size)
	case h.rank <= 0 || h.rank >= c.size:
		err = fmt.Errorf("rank %d is out of range", h.rank)
	case h.security != opt.Security:
		err = fmt.Errorf("rank %d uses transport security %s, this rank %s", h.rank, h.security, opt.Security)
	}
	if err != nil {
		return peerConn{conn: conn, err: err}
	}
	if welcome {
		w := mac(opt.Secret, "signsgd welcome", h.nonce[:], challenge[:])
		if err := c.writeSetupFrame(conn, TagWelcome, w[:]); err != nil {
			return peerConn{conn: conn, err: fmt.Errorf("send welcome: %w", err)}
		}
	}
	return peerConn{conn: conn, h: h, challenge: challenge}
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
	want := map[int]bool{}
	for r := 1; r < c.size; r++ {
		want[r] = true
	}
	got, err := c.acceptPeers(l, opt, deadline, want, false)
	for r, pc := range got {
		c.conns[r] = pc.conn
	}
	if err != nil {
		c.noticeSetupFailure(got, err)
		return err
	}
	for r, pc := range got {
		if err := c.setKeys(r, opt.Secret, pc.challenge[:], pc.h.nonce[:], false, pc.h.aesgcm); err != nil {
			return err
		}
	}
	addrs := make([]string, c.size)
	addrs[0] = l.Addr().String()
	for r, pc := range got {
		addrs[r] = pc.h.addr
	}
	table := binary.LittleEndian.AppendUint32(nil, uint32(c.size))
	for _, a := range addrs {
		table = appendString(table, a)
	}
	for r := 1; r < c.size; r++ {
		// The table's MAC, over the rank's own nonce, proves to it that
		// rank 0 knows the secret too.
		nonce := got[r].h.nonce
		m := mac(opt.Secret, "signsgd table", nonce[:], table)
		c.conns[r].SetDeadline(deadline)
		if err := c.writeSetupFrame(c.conns[r], TagTable, append(slices.Clip(table), m[:]...)); err != nil {
			return &PeerError{Rank: 0, Peer: r, Op: "send table", Err: err}
		}
	}
	return nil
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
	ch, err := c.readChallenge(conn)
	if err != nil {
		return &PeerError{Rank: c.rank, Peer: 0, Op: "register", Err: err}
	}
	sent, err := c.sendHello(conn, opt, me, ch)
	if err != nil {
		return &PeerError{Rank: c.rank, Peer: 0, Op: "register", Err: err}
	}
	p, err := c.readTable(conn, deadline)
	if err != nil {
		if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
			err = fmt.Errorf("rank 0 closed the connection (refused the registration: wrong secret or job?): %w", err)
		}
		return &PeerError{Rank: c.rank, Peer: 0, Op: "recv table", Err: err}
	}
	if len(p) < 4+nonceSize {
		return &PeerError{Rank: c.rank, Peer: 0, Op: "recv table", Err: fmt.Errorf("%w: table of %d bytes", ErrBadFrame, len(p))}
	}
	table, tmac := p[:len(p)-nonceSize], p[len(p)-nonceSize:]
	if want := mac(opt.Secret, "signsgd table", sent.nonce[:], table); !hmac.Equal(tmac, want[:]) {
		return &PeerError{Rank: c.rank, Peer: 0, Op: "recv table", Err: errors.New("authentication failed: rank 0 does not know the job's secret")}
	}
	if int(binary.LittleEndian.Uint32(table)) != c.size {
		return &PeerError{Rank: c.rank, Peer: 0, Op: "recv table", Err: fmt.Errorf("%w: table for another job size", ErrBadFrame)}
	}
	addrs := make([]string, c.size)
	rest := table[4:]
	for i := range addrs {
		if addrs[i], rest, err = readString(rest); err != nil {
			return &PeerError{Rank: c.rank, Peer: 0, Op: "recv table", Err: err}
		}
	}
	// Accept the higher ranks while dialing the lower ones.
	type accepted struct {
		got map[int]peerConn
		err error
	}
	acceptDone := make(chan accepted, 1)
	go func() {
		want := map[int]bool{}
		for r := c.rank + 1; r < c.size; r++ {
			want[r] = true
		}
		got, err := c.acceptPeers(l, opt, deadline, want, true)
		acceptDone <- accepted{got, err}
	}()
	var dialErr error
	for r := 1; r < c.rank && dialErr == nil; r++ {
		dialErr = c.dialPeer(r, addrs[r], opt, me, deadline)
	}
	if dialErr != nil {
		l.Close()
	}
	a := <-acceptDone
	for r, pc := range a.got {
		c.conns[r] = pc.conn
	}
	if dialErr != nil {
		return dialErr
	}
	if a.err != nil {
		return a.err
	}
	for r, pc := range a.got {
		if err := c.setKeys(r, opt.Secret, pc.challenge[:], pc.h.nonce[:], false, pc.h.aesgcm); err != nil {
			return err
		}
	}
	return c.setKeys(0, opt.Secret, ch, sent.nonce[:], true, sent.aesgcm)
}

// dialPeer connects to a lower rank of the mesh and authenticates both
// ways.
func (c *tcpComm) dialPeer(r int, addr string, opt TCPOptions, me hello, deadline time.Time) error {
	d := net.Dialer{Deadline: deadline}
	out, err := d.Dial("tcp", addr)
	if err != nil {
		return &PeerError{Rank: c.rank, Peer: r, Op: "connect", Err: fmt.Errorf("%s: %w", addr, err)}
	}
	c.conns[r] = out
	out.SetDeadline(deadline)
	ch, err := c.readChallenge(out)
	if err != nil {
		return &PeerError{Rank: c.rank, Peer: r, Op: "connect", Err: err}
	}
	sent, err := c.sendHello(out, opt, me, ch)
	if err != nil {
		return &PeerError{Rank: c.rank, Peer: r, Op: "connect", Err: err}
	}
	w, err := c.readSetupFrame(out, TagWelcome)
	if err != nil {
		return &PeerError{Rank: c.rank, Peer: r, Op: "connect", Err: fmt.Errorf("recv welcome: %w", err)}
	}
	if want := mac(opt.Secret, "signsgd welcome", sent.nonce[:], ch); !hmac.Equal(w, want[:]) {
		return &PeerError{Rank: c.rank, Peer: r, Op: "connect", Err: fmt.Errorf("authentication failed: %s does not know the job's secret", addr)}
	}
	return c.setKeys(r, opt.Secret, ch, sent.nonce[:], true, sent.aesgcm)
}

// setKeys derives the keys of the link to peer from the nonces of its
// handshake (challenge: the accepting side's; nonce: the connecting
// side's; dialed: whether this rank connected) and makes its sealers.
func (c *tcpComm) setKeys(peer int, secret, challenge, nonce []byte, dialed, aesgcm bool) error {
	if c.security == SecurityOff {
		return nil
	}
	out, err := deriveLinkKey(secret, challenge, nonce, c.rank, peer, c.security)
	if err != nil {
		return &PeerError{Rank: c.rank, Peer: peer, Op: "derive keys", Err: err}
	}
	in, err := deriveLinkKey(secret, challenge, nonce, peer, c.rank, c.security)
	if err != nil {
		return &PeerError{Rank: c.rank, Peer: peer, Op: "derive keys", Err: err}
	}
	if c.sendSeal[peer], err = newSealer(out, c.security, aesgcm); err != nil {
		return &PeerError{Rank: c.rank, Peer: peer, Op: "derive keys", Err: err}
	}
	if c.recvSeal[peer], err = newSealer(in, c.security, aesgcm); err != nil {
		return &PeerError{Rank: c.rank, Peer: peer, Op: "derive keys", Err: err}
	}
	return nil
}

// readChallenge reads the challenge an accepting peer opens with.
func (c *tcpComm) readChallenge(conn net.Conn) ([]byte, error) {
	ch, err := c.readSetupFrame(conn, TagChallenge)
	if err != nil {
		return nil, fmt.Errorf("recv challenge: %w", err)
	}
	if len(ch) != nonceSize {
		return nil, fmt.Errorf("%w: challenge of %d bytes, want %d", ErrBadFrame, len(ch), nonceSize)
	}
	return ch, nil
}

// sendHello is the connecting side: answer challenge ch with our hello
// and its MAC.
func (c *tcpComm) sendHello(conn net.Conn, opt TCPOptions, me hello, ch []byte) (hello, error) {
	me.nonce = newNonce()
	me.security, me.aesgcm = opt.Security, hasAESGCM
	me.mac = mac(opt.Secret, "signsgd hello", ch, helloBody(me))
	if err := c.writeSetupFrame(conn, TagHello, encodeHello(me)); err != nil {
		return me, fmt.Errorf("send hello: %w", err)
	}
	return me, nil
}

func minTime(a, b time.Time) time.Time {
	if a.Before(b) {
		return a
	}
	return b
}

// read moves frames from one peer's connection into its inbox until the
// connection ends: each payload straight into the buffer of the receive
// posted for it, or into a pooled buffer queued for a later Recv (see
// inbox.begin).
func (c *tcpComm) read(peer int, conn net.Conn) {
	defer c.wg.Done()
	br := newLinkReader(conn)
	var hdr [HeaderSize]byte
	in := c.inbox(peer)
	s := c.recvSeal[peer]
	for seq := uint32(0); ; seq++ {
		h, err := readHeader(br, hdr[:], c.job, seq, c.maxFrame+c.overhead)
		if err == nil && h.length < c.overhead {
			err = fmt.Errorf("%w: payload of %d bytes cannot hold its %d-byte tag", ErrBadFrame, h.length, c.overhead)
		}
		if err != nil && s != nil && !isReadError(err) {
			err = fmt.Errorf("frame from rank %d %w: %w", peer, ErrAuth, err)
		}
		if err == nil {
			dst, r, berr := in.begin(h.tag, h.step, h.length-c.overhead)
			if berr != nil { // the inbox failed (flooded): end the link
				conn.Close()
				return
			}
			if err = c.readSealed(br, s, hdr[:], h, dst); err != nil {
				err = c.linkError(peer, err)
			}
			br.framed(h.length)
			in.end(peer, h.tag, h.step, dst, r, err)
			if err == nil {
				continue
			}
		}
		in.fail(c.linkError(peer, err))
		return
	}
}

// readSealed reads the payload of the frame with header h into dst
// (len(dst) = h.length - c.overhead), opening it with s if the link is
// sealed: SecurityAuth reads the payload straight into dst and its tag
// after it, then checks it; SecuritySeal reads the sealed payload into
// s's buffer and opens it into dst (one pass: decrypt and check).
func (c *tcpComm) readSealed(r io.Reader, s *sealer, hdr []byte, h header, dst []byte) error {
	if s == nil {
		return readPayload(r, h, dst)
	}
	var sealed []byte
	if s.mode == SecurityAuth {
		if err := readPayload(r, h, dst); err != nil {
			return err
		}
		if _, err := io.ReadFull(r, s.tag[:]); err != nil {
			if errors.Is(err, io.EOF) {
				err = io.ErrUnexpectedEOF
			}
			return fmt.Errorf("tag of %s frame: %w", h.tag, err)
		}
	} else {
		sealed = s.sealBuf(h.length)
		if err := readPayload(r, h, sealed); err != nil {
			return err
		}
	}
	if err := s.open(hdr, sealed, dst); err != nil {
		return fmt.Errorf("frame from rank %d %w (%s frame, sequence %d)", c.peerOf(s), err, h.tag, h.seq)
	}
	return nil
}

// peerOf is the peer whose frames s opens.
func (c *tcpComm) peerOf(s *sealer) int {
	for p, x := range c.recvSeal {
		if x == s {
			return p
		}
	}
	return -1
}

// isReadError says whether err is the connection's (it ended or timed
// out) rather than a header's.
func isReadError(err error) bool { return !errors.Is(err, ErrBadFrame) }

// linkError says why reading from peer failed.
func (c *tcpComm) linkError(peer int, err error) error {
	switch {
	case c.closed.Load():
		return ErrClosed
	case errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, net.ErrClosed) || isReset(err):
		return fmt.Errorf("%w: rank %d closed the connection (%v)", ErrPeerLost, peer, err)
	}
	return err
}

func isReset(err error) bool {
	var op *net.OpError
	return errors.As(err, &op) && !op.Timeout()
}

func (c *tcpComm) Send(peer int, tag Tag, payload []byte) error {
	return c.sendParts(peer, tag, parts{payload})
}

// sendParts sends one frame whose payload is p's parts one after another:
// in the clear they leave as they are, in one writev with the header (no
// copy into a payload of one piece); a sealed or authenticated link, or a
// send to this rank, joins them first in the link's own buffer.
func (c *tcpComm) sendParts(peer int, tag Tag, p parts) error {
	if err := c.checkPeer(peer, "send", tag); err != nil {
		return err
	}
	if c.closed.Load() {
		return &PeerError{Rank: c.rank, Peer: peer, Op: "send " + tag.String(), Err: ErrClosed}
	}
	n := p.len()
	if n > c.maxFrame {
		return &PeerError{Rank: c.rank, Peer: peer, Op: "send " + tag.String(), Err: fmt.Errorf("%w: payload of %d bytes exceeds the bound of %d", ErrBadFrame, n, c.maxFrame)}
	}
	step := c.step.Load()
	l := &c.links[peer]
	l.mu.Lock()
	defer l.mu.Unlock()
	payload := p[0]
	if len(payload) != n && (peer == c.rank || c.sendSeal[peer] != nil) {
		l.join = p.appendTo(l.join[:0])
		payload = l.join
	}
	if peer == c.rank {
		if err := c.deliver(peer, tag, step, payload); err != nil {
			return &PeerError{Rank: c.rank, Peer: peer, Op: "send " + tag.String(), Err: err}
		}
		return nil
	}
	putHeader(l.hdr[:], header{tag: tag, seq: l.seq, length: n + c.overhead, job: c.job, step: step})
	conn := c.conns[peer]
	if c.timeout > 0 {
		conn.SetWriteDeadline(time.Now().Add(c.timeout))
	}
	l.bufs = append(l.vecs[:0], l.hdr[:])
	switch s := c.sendSeal[peer]; {
	case s == nil:
		for _, b := range p {
			if len(b) > 0 {
				l.bufs = append(l.bufs, b)
			}
		}
	case s.mode == SecurityAuth:
		l.bufs = append(l.bufs, payload, s.seal(l.hdr[:], payload))
	default:
		l.bufs = append(l.bufs, s.seal(l.hdr[:], payload))
	}
	_, err := l.bufs.WriteTo(conn)
	clear(l.vecs[:])
	l.bufs = nil
	if err != nil {
		if c.closed.Load() {
			err = ErrClosed
		} else if !errors.Is(err, ErrTimeout) {
			err = fmt.Errorf("%w: %v", ErrPeerLost, err)
		}
		return &PeerError{Rank: c.rank, Peer: peer, Op: "send " + tag.String(), Err: err}
	}
	l.seq++
	c.cnt.add(true, tag, HeaderSize+n)
	return nil
}

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
