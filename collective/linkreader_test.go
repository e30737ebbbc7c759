package collective

import (
	"bytes"
	"encoding/binary"
	"io"
	"math/rand/v2"
	"testing"
)

// chunkyConn serves data at most max bytes a Read and records how much
// each Read asked for.
type chunkyConn struct {
	data []byte
	max  int
	asks []int
}

func (c *chunkyConn) Read(p []byte) (int, error) {
	c.asks = append(c.asks, len(p))
	if len(c.data) == 0 {
		return 0, io.EOF
	}
	n := min(len(p), c.max, len(c.data))
	copy(p, c.data[:n])
	c.data = c.data[n:]
	return n, nil
}

// framedStream is frames of the given payload lengths, each an 8-byte
// length and then that many random bytes.
func framedStream(rng *rand.Rand, lengths []int) []byte {
	var b bytes.Buffer
	for _, n := range lengths {
		var h [8]byte
		binary.LittleEndian.PutUint64(h[:], uint64(n))
		b.Write(h[:])
		p := make([]byte, n)
		for i := range p {
			p[i] = byte(rng.Uint32())
		}
		b.Write(p)
	}
	return b.Bytes()
}

// readFrames reads the frames of framedStream back through a linkReader,
// as tcpComm.read does: header, payload, framed.
func readFrames(t *testing.T, l *linkReader, frames int) []byte {
	t.Helper()
	var out bytes.Buffer
	for k := range frames {
		var h [8]byte
		if _, err := io.ReadFull(l, h[:]); err != nil {
			t.Fatalf("frame %d header: %v", k, err)
		}
		n := int(binary.LittleEndian.Uint64(h[:]))
		p := make([]byte, n)
		if _, err := io.ReadFull(l, p); err != nil {
			t.Fatalf("frame %d payload of %d: %v", k, n, err)
		}
		l.framed(n)
		out.Write(h[:])
		out.Write(p)
	}
	return out.Bytes()
}

// TestLinkReaderBytes: whatever the frames' sizes and however the
// connection splits them, the reader gives back the stream unchanged, and
// then the connection's end.
func TestLinkReaderBytes(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	for trial := range 200 {
		lengths := make([]int, 1+rng.IntN(20))
		for i := range lengths {
			switch rng.IntN(3) {
			case 0:
				lengths[i] = rng.IntN(64)
			case 1:
				lengths[i] = rng.IntN(3 * linkShortFill)
			default:
				lengths[i] = rng.IntN(3 * linkBufSize)
			}
		}
		stream := framedStream(rng, lengths)
		conn := &chunkyConn{data: stream, max: 1 + rng.IntN(2*linkBufSize)}
		l := newLinkReader(conn)
		if got := readFrames(t, l, len(lengths)); !bytes.Equal(got, stream) {
			t.Fatalf("trial %d (reads of at most %d bytes): the frames came back changed", trial, conn.max)
		}
		if n, err := l.Read(make([]byte, 1)); n != 0 || err != io.EOF {
			t.Fatalf("trial %d: after the last frame Read gave %d, %v; want 0, EOF", trial, n, err)
		}
	}
}

// TestLinkReaderLargePayloads: small frames are batched into full-buffer
// reads, but after a large payload the next fill asks for linkShortFill
// bytes only, so a large frame's payload is copied out of the buffer for
// at most that much and read straight into its destination for the rest.
func TestLinkReaderLargePayloads(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 6))
	big := 200 << 10
	lengths := []int{10, 20, 30, big, big, big, 40}
	conn := &chunkyConn{data: framedStream(rng, lengths), max: 1 << 30}
	l := newLinkReader(conn)
	readFrames(t, l, len(lengths))
	// The reads: a full buffer (the small frames and the first big frame's
	// start), the rest of big frame 1 straight, then for frames 2 and 3 a
	// short fill and the rest straight, a short fill for the last frame.
	want := []int{linkBufSize}
	first := 3*8 + 10 + 20 + 30 + 8 // bytes before the first big payload
	want = append(want, big-(linkBufSize-first))
	for range 2 {
		want = append(want, linkShortFill, big-(linkShortFill-8))
	}
	want = append(want, linkShortFill)
	if len(conn.asks) != len(want) {
		t.Fatalf("reads asked for %v, want %v", conn.asks, want)
	}
	for i := range want {
		if conn.asks[i] != want[i] {
			t.Fatalf("reads asked for %v, want %v", conn.asks, want)
		}
	}
}
