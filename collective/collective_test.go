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

// runAll runs f on every rank concurrently and fails the test on any error.
func runAll(t *testing.T, comms []Comm, f func(c Comm) error) {
	t.Helper()
	errs := make([]error, len(comms))
	var wg sync.WaitGroup
	for r, c := range comms {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[r] = f(c)
		}()
	}
	wg.Wait()
	for r, err := range errs {
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
						if err := MeanFloat32(c, x); err != nil {
							return err
						}
						for i, v := range x {
							sum := float32(n*i + n*(n-1)/2)
							if want := sum * (1 / float32(n)); v != want {
								return fmt.Errorf("d=%d: mean[%d] = %v, want %v", d, i, v, want)
							}
						}
						return checkTraffic(c, before, MeanBytesPerWorker(d))
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
							return checkTraffic(c, before, VoteBytesPerWorker(d))
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
	putHeader(hdr[:], TagVote, 0, 1<<30)
	tc.conns[0].Write(hdr[:])
	_, err := comms[0].Recv(1, TagVote)
	if !errors.Is(err, ErrBadFrame) || !strings.Contains(err.Error(), "rank 0: recv vote from rank 1") {
		t.Fatalf("corrupt frame: %v", err)
	}
}

func TestSetupRefusesStrangers(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	var logged atomic.Int32
	done := make(chan error, 1)
	var c0 Comm
	go func() {
		var err error
		c0, err = DialTCP(TCPOptions{Rank: 0, Size: 2, Listener: l, JobID: "job", SetupTimeout: 10 * time.Second,
			Logf: func(string, ...any) { logged.Add(1) }})
		done <- err
	}()
	// garbage, then a hello for another job: both refused
	for _, payload := range [][]byte{[]byte("GET / HTTP/1.0\r\n\r\nxxxxxxxxxxxxxxxx"), nil} {
		conn, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		if payload == nil {
			writeSetupFrame(conn, TagHello, encodeHello(hello{rank: 1, size: 2, job: "other", addr: "x:1"}))
		} else {
			conn.Write(payload)
		}
		buf := make([]byte, 1)
		conn.SetReadDeadline(time.Now().Add(5 * time.Second))
		if _, err := conn.Read(buf); err == nil {
			t.Fatal("stranger got an answer")
		}
		conn.Close()
	}
	c1, err := DialTCP(TCPOptions{Rank: 1, Size: 2, Coordinator: addr, JobID: "job", SetupTimeout: 10 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer c1.Close()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	defer c0.Close()
	if logged.Load() != 2 {
		t.Fatalf("%d refusals logged, want 2", logged.Load())
	}
}

func TestNoCoordinator(t *testing.T) {
	l, _ := net.Listen("tcp", "127.0.0.1:0")
	addr := l.Addr().String()
	l.Close()
	_, err := DialTCP(TCPOptions{Rank: 3, Size: 4, Coordinator: addr, SetupTimeout: 300 * time.Millisecond})
	if err == nil || !strings.Contains(err.Error(), "rank 3: no answer from rank 0 at "+addr) {
		t.Fatalf("got %v", err)
	}
}

func FuzzFrameHeader(f *testing.F) {
	var ok [HeaderSize]byte
	putHeader(ok[:], TagVote, 3, 10)
	f.Add(ok[:])
	f.Add([]byte("SG\x01\x00garbage-garbage"))
	f.Fuzz(func(t *testing.T, b []byte) {
		var hdr [HeaderSize]byte
		tag, p, err := readFrame(strings.NewReader(string(b)), hdr[:], 3, 1<<16)
		if err != nil {
			return
		}
		if len(p) > 1<<16 || len(b) < HeaderSize+len(p) {
			t.Fatalf("accepted %s frame of %d bytes from %d input bytes", tag, len(p), len(b))
		}
	})
}

func FuzzHello(f *testing.F) {
	f.Add(encodeHello(hello{rank: 1, size: 4, job: "j", addr: "127.0.0.1:5"}))
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
		if err := MeanFloat32(c, x); err != nil {
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
