package collective

import (
	"fmt"
	"math/rand/v2"
	"sync"
	"time"
)

// MemNetwork is an in-memory world whose links fail on demand, so that the
// quorum, abort and deadline paths are tested deterministically without
// killing processes (after etcd's rafttest network). Every rank's Comm is
// NewMemWorld's, wrapped: a frame sent on a link from -> to can be
//
//	dropped   with a probability, drawn from a source seeded by
//	          MemOptions.Seed (the receiver waits, as for a frame that
//	          never comes)
//	delayed   by a fixed duration: Send returns once the frame is
//	          delivered, as over a saturated link, so frames stay in order
//	cut       (Cut, Partition, Isolate): dropped until Heal
//
// and a rank can crash (Crash, CrashAt: its links end, as a killed
// process's do: receives from it and sends to it fail with ErrPeerLost) or
// stall (StallAt: its goroutine stops at a step, alive but silent, as a
// hung process's). A frame a rank sends to itself is never touched. Dropped
// frames are not counted as sent.
type MemNetwork struct {
	mu      sync.Mutex
	comms   []*faultComm
	rng     *rand.Rand
	drop    map[netLink]float64
	delay   map[netLink]time.Duration
	cut     map[netLink]bool
	crashed []bool
	crashAt map[int]uint32
	stallAt map[int]uint32
	dropped int
	release chan struct{}
	closed  bool
}

// MemOptions configure a MemNetwork.
type MemOptions struct {
	// Timeout bounds every Recv (0: forever).
	Timeout time.Duration
	// DropStale is TCPOptions.DropStale: receives skip frames of an
	// earlier step (a vote that missed its deadline).
	DropStale bool
	// Seed seeds the source of the drops.
	Seed uint64
}

// AnyRank, as either end of a link, stands for every rank.
const AnyRank = -1

// netLink is one direction between two ranks.
type netLink struct{ from, to int }

// NewMemNetwork returns a world of n ranks with every link working.
func NewMemNetwork(n int, opt MemOptions) *MemNetwork {
	w := NewMemWorld(n, opt.Timeout)
	net := &MemNetwork{
		rng:     rand.New(rand.NewPCG(opt.Seed, 0x6e6574)),
		drop:    map[netLink]float64{},
		delay:   map[netLink]time.Duration{},
		cut:     map[netLink]bool{},
		crashed: make([]bool, n),
		crashAt: map[int]uint32{},
		stallAt: map[int]uint32{},
		release: make(chan struct{}),
	}
	for r, c := range w {
		c.(*memComm).dropStale = opt.DropStale
		net.comms = append(net.comms, &faultComm{Comm: c, net: net, rank: r})
	}
	return net
}

// Comms returns every rank's Comm, by rank.
func (n *MemNetwork) Comms() []Comm {
	out := make([]Comm, len(n.comms))
	for r, c := range n.comms {
		out[r] = c
	}
	return out
}

// links calls f on every link from -> to matches (AnyRank: every rank), but
// never a rank's link to itself.
func (n *MemNetwork) links(from, to int, f func(netLink)) {
	for a := range n.comms {
		for b := range n.comms {
			if a != b && (from == AnyRank || from == a) && (to == AnyRank || to == b) {
				f(netLink{a, b})
			}
		}
	}
}

// Drop makes the links from -> to lose each frame with probability p.
func (n *MemNetwork) Drop(from, to int, p float64) {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.links(from, to, func(l netLink) { n.drop[l] = p })
}

// Delay makes every frame on the links from -> to take d to arrive.
func (n *MemNetwork) Delay(from, to int, d time.Duration) {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.links(from, to, func(l netLink) { n.delay[l] = d })
}

// Cut loses every frame on the links from -> to until Heal.
func (n *MemNetwork) Cut(from, to int) {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.links(from, to, func(l netLink) { n.cut[l] = true })
}

// Partition cuts every link between ranks of different groups, both ways;
// a rank in no group is cut from every group.
func (n *MemNetwork) Partition(groups ...[]int) {
	group := make([]int, len(n.comms))
	for r := range group {
		group[r] = -1 - r // alone
	}
	for g, ranks := range groups {
		for _, r := range ranks {
			group[r] = g
		}
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	n.links(AnyRank, AnyRank, func(l netLink) {
		if group[l.from] != group[l.to] {
			n.cut[l] = true
		}
	})
}

// Isolate cuts rank r off from every other rank, both ways.
func (n *MemNetwork) Isolate(r int) {
	n.Cut(r, AnyRank)
	n.Cut(AnyRank, r)
}

// Heal removes every drop, delay and cut (crashes and stalls stay).
func (n *MemNetwork) Heal() {
	n.mu.Lock()
	defer n.mu.Unlock()
	clear(n.drop)
	clear(n.delay)
	clear(n.cut)
}

// Crash ends rank r now: its Comm closes, and the other ranks' receives
// from it and sends to it fail with ErrPeerLost.
func (n *MemNetwork) Crash(r int) {
	n.mu.Lock()
	already := n.crashed[r]
	n.crashed[r] = true
	n.mu.Unlock()
	if !already {
		n.comms[r].Comm.Close()
	}
}

// CrashAt crashes rank r when it sets its step to step (Comm.SetStep).
func (n *MemNetwork) CrashAt(r int, step uint32) {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.crashAt[r] = step
}

// StallAt makes rank r stop when it sets its step to step: SetStep does not
// return until Close, and r sends nothing meanwhile.
func (n *MemNetwork) StallAt(r int, step uint32) {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.stallAt[r] = step
}

// Dropped returns how many frames were lost to drops and cuts so far.
func (n *MemNetwork) Dropped() int {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.dropped
}

// Close closes every rank's Comm and lets stalled ranks go on (to fail on
// their closed Comm).
func (n *MemNetwork) Close() {
	n.mu.Lock()
	if n.closed {
		n.mu.Unlock()
		return
	}
	n.closed = true
	n.mu.Unlock()
	for _, c := range n.comms {
		c.Comm.Close()
	}
	close(n.release)
}

// fate decides what happens to one frame on link l: lost, or delivered
// after delay; err is set when the receiver has crashed.
func (n *MemNetwork) fate(l netLink) (lost bool, delay time.Duration, err error) {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.crashed[l.to] {
		return false, 0, fmt.Errorf("%w: rank %d crashed", ErrPeerLost, l.to)
	}
	if n.cut[l] || (n.drop[l] > 0 && n.rng.Float64() < n.drop[l]) {
		n.dropped++
		return true, 0, nil
	}
	return false, n.delay[l], nil
}

// faultComm is one rank of a MemNetwork: NewMemWorld's Comm with the
// network's faults on its sends and its steps.
type faultComm struct {
	Comm
	net  *MemNetwork
	rank int
}

func (c *faultComm) Send(peer int, tag Tag, payload []byte) error {
	if peer == c.rank || peer < 0 || peer >= len(c.net.comms) {
		return c.Comm.Send(peer, tag, payload)
	}
	lost, delay, err := c.net.fate(netLink{c.rank, peer})
	switch {
	case err != nil:
		return &PeerError{Rank: c.rank, Peer: peer, Op: "send " + tag.String(), Err: err}
	case lost:
		return nil
	case delay > 0:
		select {
		case <-time.After(delay):
		case <-c.net.release:
		}
	}
	return c.Comm.Send(peer, tag, payload)
}

func (c *faultComm) SetStep(step uint32) {
	n := c.net
	n.mu.Lock()
	crash, okCrash := n.crashAt[c.rank]
	stall, okStall := n.stallAt[c.rank]
	n.mu.Unlock()
	if okCrash && step >= crash {
		n.Crash(c.rank)
	}
	if okStall && step >= stall {
		<-n.release
	}
	c.Comm.SetStep(step)
}

// Close crashes the rank: to its peers, a rank that leaves looks like one
// that died.
func (c *faultComm) Close() error {
	c.net.Crash(c.rank)
	return nil
}
