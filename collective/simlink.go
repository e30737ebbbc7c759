package collective

import (
	"fmt"
	"math"
	"strconv"
	"strings"
	"sync"
	"time"
)

// The link model of a simulated world (SimNet). Every rank has a clock in
// simulated seconds and one network interface at Link's rate with a send
// queue and a receive queue. A frame of n bytes (header included) that
// rank s sends to rank r when s's clock reads t:
//
//	leaves     a = max(t, sendFree[s])        sendFree[s] = a + n/B
//	reaches r  b = max(a + L, recvFree[r])    recvFree[r] = b + n/B
//	arrives    b + n/B                         r's clock >= that once received
//
// So one frame alone takes L + n/B; k frames sent at once into one
// receiver end at L + k n/B (its receive queue), one sender's k frames to
// k receivers likewise (its send queue). A Send does not move the
// sender's clock (the interface queues it); a receive moves the
// receiver's clock to the frame's arrival if that is later. Compute
// moves a clock by Advance.
//
// The receive queue serves frames in the order the receiver takes them
// (Recv, RecvInto), so a rank's times do not depend on the order the
// goroutines ran in, only on the senders' clocks and the receiver's
// program order. The frames themselves travel as over NewMemWorld, at
// once; each carries its stamp beside it, in a FIFO per sender and tag
// (frames of a tag from a peer are received in order).

// Link is the network interface of every rank of a SimNet.
type Link struct {
	Bandwidth float64       // bytes per second, each way
	Latency   time.Duration // from the sender's interface to the receiver's
}

// Transfer is the time one frame of n bytes takes on an idle network.
func (l Link) Transfer(n int) float64 { return l.Latency.Seconds() + float64(n)/l.Bandwidth }

func (l Link) String() string {
	return fmt.Sprintf("%sbit,%v", formatRate(8*l.Bandwidth), l.Latency)
}

// formatRate writes bits per second with tc's suffixes.
func formatRate(bits float64) string {
	for _, u := range []struct {
		s string
		v float64
	}{{"t", 1e12}, {"g", 1e9}, {"m", 1e6}, {"k", 1e3}} {
		if bits >= u.v {
			return strconv.FormatFloat(bits/u.v, 'g', -1, 64) + u.s
		}
	}
	return strconv.FormatFloat(bits, 'g', -1, 64)
}

// ParseLink reads BANDWIDTH,LATENCY: a rate in bits per second with tc's
// suffixes (10gbit, 100mbit, 1.5gbit, 800kbit, 1e9bit) and a Go duration
// (5us, 20µs, 1ms, 0).
func ParseLink(s string) (Link, error) {
	rate, lat, ok := strings.Cut(s, ",")
	if !ok {
		return Link{}, fmt.Errorf("link %q: want BANDWIDTH,LATENCY (like 10gbit,5us)", s)
	}
	rate = strings.ToLower(strings.TrimSpace(rate))
	num, ok := strings.CutSuffix(rate, "bit")
	if !ok {
		return Link{}, fmt.Errorf("link %q: bandwidth %q: want bits per second like 10gbit, 100mbit", s, rate)
	}
	mult := 1.0
	if n := len(num); n > 0 {
		switch num[n-1] {
		case 'k':
			mult, num = 1e3, num[:n-1]
		case 'm':
			mult, num = 1e6, num[:n-1]
		case 'g':
			mult, num = 1e9, num[:n-1]
		case 't':
			mult, num = 1e12, num[:n-1]
		}
	}
	v, err := strconv.ParseFloat(num, 64)
	if err != nil || !(v > 0) || math.IsInf(v, 0) {
		return Link{}, fmt.Errorf("link %q: bandwidth %q: want a positive rate like 10gbit", s, rate)
	}
	d, err := time.ParseDuration(strings.TrimSpace(lat))
	if err != nil || d < 0 {
		return Link{}, fmt.Errorf("link %q: latency %q: want a duration like 5us", s, lat)
	}
	return Link{Bandwidth: v * mult / 8, Latency: d}, nil
}

// SimNet is an in-memory world with modelled links and a simulated clock
// per rank (see the model above).
type SimNet struct {
	link  Link
	ranks []*simRank
	comms []Comm
}

// simRank is one rank's clock, interface and stamps of frames coming in.
type simRank struct {
	mu       sync.Mutex
	clock    float64 // simulated seconds
	sendFree float64 // when the send queue is next free
	recvFree float64 // when the receive queue is next free

	stampMu sync.Mutex
	stamps  map[stampKey][]float64 // by sender and tag, in order: when each frame can reach this rank (a + L)
}

type stampKey struct {
	from int
	tag  Tag
}

// NewSimNet returns a world of n ranks over link: NewMemWorld's Comms,
// each wrapped to stamp its frames and keep its clock. Recv waits at most
// timeout (real time; 0: forever).
func NewSimNet(n int, link Link, timeout time.Duration) *SimNet {
	if !(link.Bandwidth > 0) {
		panic("collective: NewSimNet with a link of no bandwidth")
	}
	w := NewMemWorld(n, timeout)
	s := &SimNet{link: link, ranks: make([]*simRank, n), comms: make([]Comm, n)}
	for r := range s.ranks {
		s.ranks[r] = &simRank{stamps: map[stampKey][]float64{}}
		s.comms[r] = &simComm{Comm: w[r], net: s, rank: r}
	}
	return s
}

// Comms returns every rank's Comm, by rank.
func (s *SimNet) Comms() []Comm { return s.comms }

// Link returns the network's link.
func (s *SimNet) Link() Link { return s.link }

// Clock returns rank r's simulated time in seconds.
func (s *SimNet) Clock(r int) float64 {
	k := s.ranks[r]
	k.mu.Lock()
	defer k.mu.Unlock()
	return k.clock
}

// Advance moves rank r's clock by d seconds (its compute).
func (s *SimNet) Advance(r int, d float64) {
	k := s.ranks[r]
	k.mu.Lock()
	k.clock += d
	k.mu.Unlock()
}

// SimClock is what a Comm of a SimNet adds: its rank's clock.
type SimClock interface {
	// Clock is the rank's simulated time in seconds.
	Clock() float64
	// Advance moves the clock by d seconds of the rank's own work.
	Advance(d float64)
}

// simComm is one rank of a SimNet.
type simComm struct {
	Comm
	net  *SimNet
	rank int
}

var _ SimClock = (*simComm)(nil)

func (c *simComm) Clock() float64    { return c.net.Clock(c.rank) }
func (c *simComm) Advance(d float64) { c.net.Advance(c.rank, d) }

// stamp queues the frame's send on this rank's interface and records
// when it reaches the receiver's.
func (c *simComm) stamp(peer int, tag Tag, n int) {
	s := c.net
	me := s.ranks[c.rank]
	me.mu.Lock()
	a := max(me.clock, me.sendFree)
	me.sendFree = a + float64(n)/s.link.Bandwidth
	me.mu.Unlock()
	to := s.ranks[peer]
	to.stampMu.Lock()
	k := stampKey{c.rank, tag}
	to.stamps[k] = append(to.stamps[k], a+s.link.Latency.Seconds())
	to.stampMu.Unlock()
}

// arrive takes the stamp of the next frame of tag from peer through this
// rank's receive queue and moves the clock to its arrival.
func (c *simComm) arrive(peer int, tag Tag, n int) {
	me := c.net.ranks[c.rank]
	me.stampMu.Lock()
	k := stampKey{peer, tag}
	q := me.stamps[k]
	if len(q) == 0 {
		me.stampMu.Unlock()
		return // a frame this world did not stamp: cannot happen
	}
	reach := q[0]
	if len(q) == 1 {
		delete(me.stamps, k)
	} else {
		me.stamps[k] = q[1:]
	}
	me.stampMu.Unlock()
	me.mu.Lock()
	b := max(reach, me.recvFree)
	me.recvFree = b + float64(n)/c.net.link.Bandwidth
	me.clock = max(me.clock, me.recvFree)
	me.mu.Unlock()
}

func (c *simComm) Send(peer int, tag Tag, payload []byte) error {
	if peer == c.rank || peer < 0 || peer >= len(c.net.ranks) {
		return c.Comm.Send(peer, tag, payload)
	}
	c.stamp(peer, tag, HeaderSize+len(payload))
	return c.Comm.Send(peer, tag, payload)
}

func (c *simComm) Recv(peer int, tag Tag) ([]byte, error) {
	p, err := c.Comm.Recv(peer, tag)
	if err == nil && peer != c.rank {
		c.arrive(peer, tag, HeaderSize+len(p))
	}
	return p, err
}

func (c *simComm) RecvInto(peer int, tag Tag, dst []byte) error {
	err := c.Comm.RecvInto(peer, tag, dst)
	if err == nil && peer != c.rank {
		c.arrive(peer, tag, HeaderSize+len(dst))
	}
	return err
}

func (c *simComm) RecvBy(peer int, tag Tag, deadline time.Time) ([]byte, error) {
	p, err := c.Comm.RecvBy(peer, tag, deadline)
	if err == nil && peer != c.rank {
		c.arrive(peer, tag, HeaderSize+len(p))
	}
	return p, err
}
