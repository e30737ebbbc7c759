package collective

import (
	"errors"
	"fmt"
	"math"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"signsgd/kernels"
)

// transports builds an n-rank world on each transport.
var transports = []struct {
	name string
	make func(t *testing.T, n int) []Comm
}{
	{"mem", func(t *testing.T, n int) []Comm { return NewMemWorld(n, 20*time.Second) }},
	{"tcp", tcpWorld},
}

func tcpWorld(t *testing.T, n int) []Comm {
	t.Helper()
	return tcpWorldOpts(t, n, TCPOptions{})
}

func tcpWorldOpts(t *testing.T, n int, base TCPOptions) []Comm {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	comms := make([]Comm, n)
	errs := make([]error, n)
	var wg sync.WaitGroup
	for r := 0; r < n; r++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			opt := base
			opt.Rank, opt.Size, opt.Coordinator, opt.JobID = r, n, l.Addr().String(), "test"
			if opt.Secret == nil {
				opt.Secret = testSecret
			}
			opt.SetupTimeout = 20 * time.Second
			if opt.Timeout == 0 {
				opt.Timeout = 20 * time.Second
			}
			if r == 0 {
				opt.Listener = l
			}
			comms[r], errs[r] = DialTCP(opt)
		}()
	}
	wg.Wait()
	for r, err := range errs {
		if err != nil {
			t.Fatalf("rank %d: %v", r, err)
		}
	}
	t.Cleanup(func() {
		for _, c := range comms {
			c.Close()
		}
	})
	return comms
}

// testSecret is the tests' job secret.
var testSecret = []byte("0123456789abcdef-test-secret")

// runAll runs f on every rank concurrently and fails the test on any error.
func runAll(t *testing.T, comms []Comm, f func(c Comm) error) {
	t.Helper()
	for r, err := range runAllErrs(comms, f) {
		if err != nil {
			t.Fatalf("rank %d: %v", r, err)
		}
	}
}

// rankSign is rank r's vote at coordinate i in the vote test: a pattern with
// many ties and abstentions.
func rankSign(r, i int) int { return (r*7+i*3+r*i)%3 - 1 }

func TestCollectives(t *testing.T) {
	for _, tr := range transports {
		for n := 1; n <= 9; n++ {
			t.Run(fmt.Sprintf("%s/ranks=%d", tr.name, n), func(t *testing.T) {
				comms := tr.make(t, n)

				// barrier: nobody leaves before everybody arrived
				var arrived atomic.Int32
				runAll(t, comms, func(c Comm) error {
					arrived.Add(1)
					if err := Barrier(c); err != nil {
						return err
					}
					if got := arrived.Load(); got != int32(n) {
						return fmt.Errorf("left the barrier with %d of %d arrived", got, n)
					}
					return nil
				})

				// broadcast from every root
				for root := 0; root < n; root++ {
					runAll(t, comms, func(c Comm) error {
						var data []byte
						if c.Rank() == root {
							data = []byte(fmt.Sprintf("from %d", root))
						}
						got, err := Broadcast(c, root, data)
						if err != nil {
							return err
						}
						if want := fmt.Sprintf("from %d", root); string(got) != want {
							return fmt.Errorf("broadcast got %q, want %q", got, want)
						}
						return nil
					})
				}

				// gather to every root
				for root := 0; root < n; root++ {
					runAll(t, comms, func(c Comm) error {
						got, err := Gather(c, root, []byte{byte(c.Rank()), byte(2 * c.Rank())})
						if err != nil {
							return err
						}
						if c.Rank() != root {
							if got != nil {
								return errors.New("non-root got gather output")
							}
							return nil
						}
						for r, p := range got {
							if len(p) != 2 || p[0] != byte(r) || p[1] != byte(2*r) {
								return fmt.Errorf("gather slot %d = %v", r, p)
							}
						}
						return nil
					})
				}

				for _, d := range []int{0, 1, 63, 64, 65, 1000} {
					// mean: x_r[i] = r + i, exact in float32
					runAll(t, comms, func(c Comm) error {
						x := make([]float32, d)
						for i := range x {
							x[i] = float32(c.Rank() + i)
						}
						before := c.Traffic()
						if err := MeanServer(c, x); err != nil {
							return err
						}
						for i, v := range x {
							sum := float32(n*i + n*(n-1)/2)
							if want := sum * (1 / float32(n)); v != want {
								return fmt.Errorf("d=%d: mean[%d] = %v, want %v", d, i, v, want)
							}
						}
						return checkTraffic(c, before, workerBytes(MeanBytes("server", d, n, 1)))
					})

					// vote with ties and abstentions
					for _, tie := range []kernels.TieRule{kernels.TieZero, kernels.TiePlus, kernels.TieRandom} {
						runAll(t, comms, func(c Comm) error {
							local, result := kernels.NewSigns(d), kernels.NewSigns(d)
							for i := 0; i < d; i++ {
								local.Set(i, rankSign(c.Rank(), i))
							}
							opt := kernels.VoteOptions{Tie: tie, Seed: 99}
							before := c.Traffic()
							if err := VoteServer(c, local, result, opt); err != nil {
								return err
							}
							want := kernels.NewSigns(d)
							voters := make([]kernels.Signs, n)
							for r := range voters {
								voters[r] = kernels.NewSigns(d)
								for i := 0; i < d; i++ {
									voters[r].Set(i, rankSign(r, i))
								}
							}
							kernels.VoteNaive(want, voters, opt)
							for i := 0; i < d; i++ {
								if result.At(i) != want.At(i) {
									return fmt.Errorf("d=%d tie=%v: vote[%d] = %d, want %d", d, tie, i, result.At(i), want.At(i))
								}
							}
							return checkTrafficAtMost(c, before, workerBytes(VoteBytes("server", d, n, 1)))
						})
					}
				}
			})
		}
	}
}

// checkTraffic checks one server collective's bytes: a worker sends and
// receives one frame of perWorker bytes; rank 0 does so with every worker.
func checkTraffic(c Comm, before Traffic, perWorker int) error {
	after := c.Traffic()
	sent, recv := after.Sent.Bytes-before.Sent.Bytes, after.Recv.Bytes-before.Recv.Bytes
	want := int64(perWorker)
	if c.Rank() == 0 {
		want *= int64(c.Size() - 1)
	}
	if sent != want || recv != want {
		return fmt.Errorf("traffic: sent %d recv %d bytes, want %d each", sent, recv, want)
	}
	return nil
}

func TestLostPeerIsNamed(t *testing.T) {
	for _, tr := range transports {
		t.Run(tr.name, func(t *testing.T) {
			comms := tr.make(t, 3)
			comms[0].Close()
			_, err := comms[2].Recv(0, TagVoteResult)
			if err == nil {
				t.Fatal("receive from a closed rank succeeded")
			}
			var pe *PeerError
			if !errors.As(err, &pe) || pe.Peer != 0 || pe.Rank != 2 {
				t.Fatalf("error does not name the peer: %v", err)
			}
			if !strings.Contains(err.Error(), "rank 2: recv vote-result from rank 0") {
				t.Fatalf("error message %q", err)
			}
		})
	}
}

func TestRecvTimeout(t *testing.T) {
	comms := tcpWorldOpts(t, 2, TCPOptions{Timeout: 200 * time.Millisecond})
	start := time.Now()
	_, err := comms[1].Recv(0, TagBarrier)
	if !errors.Is(err, ErrTimeout) {
		t.Fatalf("want a timeout, got %v", err)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Fatalf("timeout took %v", d)
	}
}

func TestFrameBound(t *testing.T) {
	comms := tcpWorldOpts(t, 2, TCPOptions{MaxFrame: 100})
	if err := comms[1].Send(0, TagGather, make([]byte, 101)); !errors.Is(err, ErrBadFrame) {
		t.Fatalf("oversized send: %v", err)
	}
	if err := comms[1].Send(0, TagGather, make([]byte, 100)); err != nil {
		t.Fatalf("send at the bound: %v", err)
	}
	if p, err := comms[0].Recv(1, TagGather); err != nil || len(p) != 100 {
		t.Fatalf("recv at the bound: %d bytes, %v", len(p), err)
	}
}

// TestCorruptFrameFailsLink writes a frame with a bad length straight onto
// a link: the receiver fails that link with an error naming the peer.
func TestCorruptFrameFailsLink(t *testing.T) {
	comms := tcpWorldOpts(t, 2, TCPOptions{MaxFrame: 1000})
	tc := comms[1].(*tcpComm)
	var hdr [HeaderSize]byte
	putHeader(hdr[:], header{tag: TagVote, length: 1 << 30, job: JobHash("test")})
	tc.conns[0].Write(hdr[:])
	_, err := comms[0].Recv(1, TagVote)
	if !errors.Is(err, ErrBadFrame) || !strings.Contains(err.Error(), "rank 0: recv vote from rank 1") {
		t.Fatalf("corrupt frame: %v", err)
	}
}

// TestSetupRefusesStrangers: connections to rank 0's port that send
// garbage, a hello with a wrong secret, an oversized frame, a hello for
// another job, or nothing at all are each refused and logged with their
// address, and the job's real ranks still meet.
func TestSetupRefusesStrangers(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	var logMu sync.Mutex
	var logged []string
	done := make(chan error, 1)
	var c0 Comm
	go func() {
		var err error
		c0, err = DialTCP(TCPOptions{Rank: 0, Size: 2, Listener: l, JobID: "job", Secret: testSecret, SetupTimeout: 20 * time.Second,
			Logf: func(f string, a ...any) { logMu.Lock(); logged = append(logged, fmt.Sprintf(f, a...)); logMu.Unlock() }})
		done <- err
	}()
	// A silent connection first: it must not hold the others up.
	silent, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer silent.Close()
	stranger := &tcpComm{job: JobHash("job")}
	forged := hello{rank: 1, size: 2, job: "job", addr: "127.0.0.1:1"}
	attempts := []func(conn net.Conn){
		func(conn net.Conn) { conn.Write([]byte("GET / HTTP/1.0\r\n\r\nxxxxxxxxxxxxxxxxxxxxxxxxxxxx")) },
		func(conn net.Conn) { // a well-formed hello under a wrong secret
			ch, err := stranger.readChallenge(conn)
			if err == nil {
				stranger.sendHello(conn, TCPOptions{Secret: []byte("not-the-secret-at-all")}, forged, ch)
			}
		},
		func(conn net.Conn) { // a frame header announcing 1 GiB
			var hdr [HeaderSize]byte
			putHeader(hdr[:], header{tag: TagHello, length: 1 << 30, job: JobHash("job")})
			conn.Write(hdr[:])
		},
		func(conn net.Conn) { // the right secret, another job
			other := &tcpComm{job: JobHash("job")}
			ch, err := other.readChallenge(conn)
			if err == nil {
				h := forged
				h.job = "other"
				other.sendHello(conn, TCPOptions{Secret: testSecret}, h, ch)
			}
		},
	}
	for i, attempt := range attempts {
		conn, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		attempt(conn)
		conn.SetReadDeadline(time.Now().Add(5 * time.Second))
		// The stranger gets at most the challenge, never a table.
		var hdr [HeaderSize]byte
		for {
			h, _, err := readFrame(conn, hdr[:], JobHash("job"), 0, 1<<20)
			if err != nil {
				break
			}
			if h.tag != TagChallenge {
				t.Fatalf("stranger %d got a %s frame", i, h.tag)
			}
		}
		conn.Close()
	}
	c1, err := DialTCP(TCPOptions{Rank: 1, Size: 2, Coordinator: addr, JobID: "job", Secret: testSecret, SetupTimeout: 20 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer c1.Close()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	defer c0.Close()
	logMu.Lock()
	defer logMu.Unlock()
	if len(logged) != len(attempts) {
		t.Fatalf("%d refusals logged, want %d: %q", len(logged), len(attempts), logged)
	}
	for _, want := range []string{"bad frame: magic", "wrong secret", "exceeds the bound", `job "other"`} {
		found := false
		for _, line := range logged {
			found = found || (strings.Contains(line, want) && strings.Contains(line, "refused connection from 127.0.0.1:"))
		}
		if !found {
			t.Errorf("no refusal logged with %q and the address: %q", want, logged)
		}
	}
	// The real pair works.
	if err := c1.Send(0, TagGather, []byte("hi")); err != nil {
		t.Fatal(err)
	}
	if p, err := c0.Recv(1, TagGather); err != nil || string(p) != "hi" {
		t.Fatalf("recv %q, %v", p, err)
	}
}

// TestWorkerRefusesFakeCoordinator: a rank registering with something that
// does not know the secret fails, naming why.
func TestWorkerRefusesFakeCoordinator(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go DialTCP(TCPOptions{Rank: 0, Size: 2, Listener: l, JobID: "job", Secret: []byte("an-impostor-secret!!"), SetupTimeout: 5 * time.Second})
	_, err = DialTCP(TCPOptions{Rank: 1, Size: 2, Coordinator: l.Addr().String(), JobID: "job", Secret: testSecret, SetupTimeout: 5 * time.Second})
	if err == nil || !strings.Contains(err.Error(), "rank 1: recv table from rank 0") {
		t.Fatalf("got %v", err)
	}
}

func TestSecretRequired(t *testing.T) {
	_, err := DialTCP(TCPOptions{Rank: 1, Size: 2, Coordinator: "127.0.0.1:1", Secret: []byte("short")})
	if err == nil || !strings.Contains(err.Error(), "secret has 5 bytes") {
		t.Fatalf("got %v", err)
	}
}

// TestStepMismatch: a frame sent at another step is refused by name; with
// DropStale a frame of a past step is skipped and counted.
func TestStepMismatch(t *testing.T) {
	comms := tcpWorld(t, 2)
	comms[1].SetStep(4)
	comms[1].Send(0, TagVote, []byte("late"))
	comms[0].SetStep(5)
	_, err := comms[0].Recv(1, TagVote)
	if !errors.Is(err, ErrBadFrame) || !strings.Contains(err.Error(), "frame for step 4, this rank is at step 5") {
		t.Fatalf("stale frame: %v", err)
	}

	comms = tcpWorldOpts(t, 2, TCPOptions{DropStale: true})
	comms[1].SetStep(4)
	comms[1].Send(0, TagVote, []byte("late"))
	comms[1].SetStep(5)
	comms[1].Send(0, TagVote, []byte("on time"))
	comms[0].SetStep(5)
	p, err := comms[0].Recv(1, TagVote)
	if err != nil || string(p) != "on time" {
		t.Fatalf("got %q, %v", p, err)
	}
	if n := comms[0].Traffic().StaleFrames; n != 1 {
		t.Fatalf("%d stale frames counted, want 1", n)
	}
	start := time.Now()
	if _, err := comms[0].RecvBy(1, TagVote, start.Add(50*time.Millisecond)); !errors.Is(err, ErrTimeout) {
		t.Fatalf("RecvBy past its deadline: %v", err)
	}
}

func TestNoCoordinator(t *testing.T) {
	l, _ := net.Listen("tcp", "127.0.0.1:0")
	addr := l.Addr().String()
	l.Close()
	_, err := DialTCP(TCPOptions{Rank: 3, Size: 4, Coordinator: addr, Secret: testSecret, SetupTimeout: 300 * time.Millisecond})
	if err == nil || !strings.Contains(err.Error(), "rank 3: no answer from rank 0 at "+addr) {
		t.Fatalf("got %v", err)
	}
}

func FuzzFrameHeader(f *testing.F) {
	var ok [HeaderSize]byte
	putHeader(ok[:], header{tag: TagVote, seq: 3, length: 10, job: 7, step: 9})
	f.Add(append(ok[:], "0123456789"...))
	f.Add([]byte("SG\x02\x00garbage-garbage-garbage"))
	f.Fuzz(func(t *testing.T, b []byte) {
		var hdr [HeaderSize]byte
		h, p, err := readFrame(strings.NewReader(string(b)), hdr[:], 7, 3, 1<<16)
		if err != nil {
			return
		}
		if len(p) > 1<<16 || len(b) < HeaderSize+len(p) || h.job != 7 || h.seq != 3 || h.length != len(p) {
			t.Fatalf("accepted %+v with %d payload bytes from %d input bytes", h, len(p), len(b))
		}
	})
}

func FuzzHello(f *testing.F) {
	f.Add(encodeHello(hello{rank: 1, size: 4, job: "j", addr: "127.0.0.1:5", nonce: newNonce(), mac: newNonce()}))
	f.Fuzz(func(t *testing.T, b []byte) {
		h, err := decodeHello(b)
		if err != nil {
			return
		}
		if got := encodeHello(h); string(got) != string(b) {
			t.Fatalf("round trip changed %x to %x", b, got)
		}
	})
}

// TestMeanNeutralisesNonFinite: a peer sending NaN and infinities cannot
// make the mean non-finite; its bad coordinates count as 0.
func TestMeanNeutralisesNonFinite(t *testing.T) {
	comms := NewMemWorld(3, 10*time.Second)
	nan, inf := float32(math.NaN()), float32(math.Inf(1))
	inputs := [][]float32{{1, 2, 3, 4}, {3, 4, 5, 6}, {nan, inf, -inf, 2}}
	want := []float32{4 * (1 / float32(3)), 6 * (1 / float32(3)), 8 * (1 / float32(3)), 12 * (1 / float32(3))}
	runAll(t, comms, func(c Comm) error {
		x := append([]float32(nil), inputs[c.Rank()]...)
		if err := MeanServer(c, x); err != nil {
			return err
		}
		for i := range x {
			if x[i] != want[i] {
				return fmt.Errorf("mean[%d] = %v, want %v", i, x[i], want[i])
			}
		}
		return nil
	})
}

// FuzzHandshake feeds rank 0's side of the handshake arbitrary bytes after
// its challenge: it never panics and never accepts a stranger.
func FuzzHandshake(f *testing.F) {
	h := encodeHello(hello{rank: 1, size: 2, job: "job", addr: "x:1"})
	framed := make([]byte, HeaderSize)
	putHeader(framed, header{tag: TagHello, length: len(h), job: JobHash("job")})
	f.Add(append(framed, h...))
	f.Add([]byte("SG\x02\x00\x01\x00\x00\x00"))
	f.Fuzz(func(t *testing.T, b []byte) {
		a, z := net.Pipe()
		defer a.Close()
		defer z.Close()
		go func() {
			var hdr [HeaderSize]byte
			readFrame(z, hdr[:], JobHash("job"), 0, 1<<10)
			z.Write(b)
			z.Close()
		}()
		c := &tcpComm{job: JobHash("job")}
		c.init(0, 2, time.Second)
		pc := c.answerHandshake(a, TCPOptions{JobID: "job", Secret: testSecret}, time.Now().Add(2*time.Second), true)
		if pc.err == nil {
			t.Fatalf("accepted %x as rank %d", b, pc.h.rank)
		}
	})
}

// workerBytes is the sent half of a formula (a worker sends and receives
// the same).
func workerBytes(sent, _ int) int { return sent }

// TestOtherJobFrameFailsLink: a frame stamped with another job's hash is
// refused by name.
func TestOtherJobFrameFailsLink(t *testing.T) {
	comms := tcpWorld(t, 2)
	tc := comms[1].(*tcpComm)
	var hdr [HeaderSize]byte
	putHeader(hdr[:], header{tag: TagVote, job: JobHash("another job")})
	tc.conns[0].Write(hdr[:])
	_, err := comms[0].Recv(1, TagVote)
	want := fmt.Sprintf("frame for job %08x, this job is %08x", JobHash("another job"), JobHash("test"))
	if !errors.Is(err, ErrBadFrame) || !strings.Contains(err.Error(), want) {
		t.Fatalf("got %v, want %q", err, want)
	}
}
