package collective

import (
	"math"
	"testing"
	"time"
)

// A link of 1e6 bytes per second and 1 ms latency: a frame of 1,000 bytes
// (976 of payload and the 24-byte header) takes 1 ms on each interface.
var testLink = Link{Bandwidth: 1e6, Latency: time.Millisecond}

const testPayload = 1000 - HeaderSize

func wantClock(t *testing.T, s *SimNet, r int, want float64, what string) {
	t.Helper()
	if got := s.Clock(r); math.Abs(got-want) > 1e-12 {
		t.Errorf("%s: rank %d's clock %.9f s, want %.9f", what, r, got, want)
	}
}

// TestSimLinkOneSender: one frame alone takes L + n/B = 1 + 1 ms; the
// sender's clock does not move; a sender that computed 0.5 s first adds it;
// a frame that arrived while the receiver computed adds nothing.
func TestSimLinkOneSender(t *testing.T) {
	s := NewSimNet(2, testLink, time.Second)
	c := s.Comms()
	if err := c[1].Send(0, TagGather, make([]byte, testPayload)); err != nil {
		t.Fatal(err)
	}
	if _, err := c[0].Recv(1, TagGather); err != nil {
		t.Fatal(err)
	}
	wantClock(t, s, 0, 0.002, "one frame")
	wantClock(t, s, 1, 0, "the sender")
	c[1].(SimClock).Advance(0.5)
	if err := c[1].Send(0, TagGather, make([]byte, testPayload)); err != nil {
		t.Fatal(err)
	}
	if err := c[0].RecvInto(1, TagGather, make([]byte, testPayload)); err != nil {
		t.Fatal(err)
	}
	wantClock(t, s, 0, 0.502, "a frame sent at 0.5 s")
	// A frame that arrived while the receiver computed costs it nothing.
	if err := c[1].Send(0, TagGather, make([]byte, testPayload)); err != nil {
		t.Fatal(err)
	}
	c[0].(SimClock).Advance(1)
	if _, err := c[0].Recv(1, TagGather); err != nil {
		t.Fatal(err)
	}
	wantClock(t, s, 0, 1.502, "a frame that arrived during compute")
}

// TestSimLinkManySenders: k = 4 ranks send one frame each to rank 0 at
// once: its receive queue takes them one after another, 1 ms each, after
// the latency: L + k n/B = 5 ms, whatever order the senders ran in. Rank 0
// then sends a frame to each (its send queue): rank i gets its frame at
// 5 + i + 1 ms.
func TestSimLinkManySenders(t *testing.T) {
	const k = 4
	s := NewSimNet(k+1, testLink, time.Second)
	c := s.Comms()
	done := make(chan error, k)
	for r := k; r >= 1; r-- {
		go func() { done <- c[r].Send(0, TagVote, make([]byte, testPayload)) }()
	}
	for range k {
		if err := <-done; err != nil {
			t.Fatal(err)
		}
	}
	for r := 1; r <= k; r++ {
		if _, err := c[0].Recv(r, TagVote); err != nil {
			t.Fatal(err)
		}
		wantClock(t, s, 0, 0.001+float64(r)*0.001, "receive queue")
	}
	for r := 1; r <= k; r++ {
		if err := c[0].Send(r, TagVoteResult, make([]byte, testPayload)); err != nil {
			t.Fatal(err)
		}
	}
	for r := 1; r <= k; r++ {
		if _, err := c[r].Recv(0, TagVoteResult); err != nil {
			t.Fatal(err)
		}
		wantClock(t, s, r, 0.005+0.001+float64(r)*0.001, "send queue")
	}
}

// TestSimLinkLatency: empty payloads on a link of 1 TB/s cost the latency
// alone, and it adds up along a chain 0 -> 1 -> 2 -> 3: rank 3 at 3 L.
func TestSimLinkLatency(t *testing.T) {
	link := Link{Bandwidth: 1e12, Latency: 5 * time.Microsecond}
	s := NewSimNet(4, link, time.Second)
	c := s.Comms()
	for r := 0; r < 3; r++ {
		if r > 0 {
			if _, err := c[r].Recv(r-1, TagBroadcast); err != nil {
				t.Fatal(err)
			}
		}
		if err := c[r].Send(r+1, TagBroadcast, nil); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := c[3].Recv(2, TagBroadcast); err != nil {
		t.Fatal(err)
	}
	if got, want := s.Clock(3), 3*(5e-6+HeaderSize/1e12); math.Abs(got-want) > 1e-15 {
		t.Errorf("rank 3's clock %g s, want %g", got, want)
	}
}

func TestParseLink(t *testing.T) {
	for _, c := range []struct {
		in   string
		want Link
	}{
		{"10gbit,5us", Link{1.25e9, 5 * time.Microsecond}},
		{"100mbit,0", Link{12.5e6, 0}},
		{"1.5Gbit, 1ms", Link{1.5e9 / 8, time.Millisecond}},
		{"800kbit,20µs", Link{1e5, 20 * time.Microsecond}},
	} {
		got, err := ParseLink(c.in)
		if err != nil || got != c.want {
			t.Errorf("ParseLink(%q) = %+v, %v; want %+v", c.in, got, err, c.want)
		}
	}
	for _, bad := range []string{"10gbit", "10gb,5us", "0gbit,5us", "-1mbit,1ms", "10gbit,-5us", "gbit,1ms", "10gbit,fast"} {
		if _, err := ParseLink(bad); err == nil {
			t.Errorf("ParseLink(%q) accepted", bad)
		}
	}
	if s := (Link{1.25e9, 5 * time.Microsecond}).String(); s != "10gbit,5µs" {
		t.Errorf("String() = %q", s)
	}
}
