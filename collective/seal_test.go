package collective

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math"
	"net"
	"strings"
	"sync"
	"testing"
	"time"
)

// tamper decides what an intercepting proxy forwards in place of the i-th
// frame (from 0, after the handshake) from rank 1 to rank 0: the frames
// returned, each a whole frame (header and payload).
type tamper func(i int, frame []byte) [][]byte

// proxyWorld connects two ranks over TCP with a proxy on the path from
// rank 1 to rank 0 that forwards the handshake untouched and hands every
// later frame of that direction to f.
func proxyWorld(t *testing.T, sec Security, f tamper) [2]Comm {
	t.Helper()
	l0, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	lp, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { lp.Close() })
	go func() {
		in, err := lp.Accept()
		if err != nil {
			return
		}
		out, err := net.Dial("tcp", l0.Addr().String())
		if err != nil {
			in.Close()
			return
		}
		t.Cleanup(func() { in.Close(); out.Close() })
		go io.Copy(in, out)  // rank 0 to rank 1: untouched
		for i := -1; ; i++ { // frame -1: the hello
			frame := make([]byte, HeaderSize)
			if _, err := io.ReadFull(in, frame); err != nil {
				return
			}
			frame = append(frame, make([]byte, binary.LittleEndian.Uint32(frame[12:]))...)
			if _, err := io.ReadFull(in, frame[HeaderSize:]); err != nil {
				return
			}
			frames := [][]byte{frame}
			if i >= 0 {
				frames = f(i, frame)
			}
			for _, fr := range frames {
				if _, err := out.Write(fr); err != nil {
					return
				}
			}
		}
	}()
	var comms [2]Comm
	var errs [2]error
	var wg sync.WaitGroup
	for r := range 2 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			opt := TCPOptions{Rank: r, Size: 2, Coordinator: lp.Addr().String(), JobID: "test", Secret: testSecret,
				SetupTimeout: 20 * time.Second, Timeout: 5 * time.Second, Security: sec}
			if r == 0 {
				opt.Listener = l0
			}
			comms[r], errs[r] = DialTCP(opt)
		}()
	}
	wg.Wait()
	for r, err := range errs {
		if err != nil {
			t.Fatalf("rank %d: %v", r, err)
		}
		t.Cleanup(func() { comms[r].Close() })
	}
	return comms
}

// exchange sends three vectors from rank 1 to rank 0 (frames 0, 1, 2) and
// returns what rank 0 received of them, and its first error.
func exchange(comms [2]Comm) ([][]float32, error) {
	vecs := [][]float32{{1, 2, 3, 4}, {5, 6, 7, 8}, {9, 10, 11, 12}}
	go func() {
		for _, v := range vecs {
			if SendFloat32s(comms[1], 0, TagUser, v) != nil {
				return
			}
		}
	}()
	var got [][]float32
	for range vecs {
		v := make([]float32, 4)
		if err := RecvFloat32s(comms[0], 1, TagUser, v); err != nil {
			return got, err
		}
		got = append(got, v)
	}
	return got, nil
}

func flipBit(frame []byte) []byte {
	b := bytes.Clone(frame)
	b[HeaderSize+3] ^= 0x80 // the sign of the first value, where it is plaintext
	return b
}

func setSeq(frame []byte, seq uint32) []byte {
	b := bytes.Clone(frame)
	binary.LittleEndian.PutUint32(b[8:], seq)
	return b
}

// TestSealedLinkDetectsTampering: a proxy on the path that flips a bit,
// replays a frame (as it was, or with its sequence number rewritten to
// the one expected), or drops one (and renumbers the next to cover the
// gap) makes rank 0 fail the link with an error naming rank 1, under seal
// and under auth; the frames before the tampering are delivered intact.
func TestSealedLinkDetectsTampering(t *testing.T) {
	cases := []struct {
		name   string
		f      tamper
		intact int // frames delivered before the failure
	}{
		{"flip", func(i int, fr []byte) [][]byte {
			if i == 1 {
				return [][]byte{flipBit(fr)}
			}
			return [][]byte{fr}
		}, 1},
		{"flip-tag", func(i int, fr []byte) [][]byte {
			if i == 0 {
				b := bytes.Clone(fr)
				b[len(b)-1] ^= 1
				return [][]byte{b}
			}
			return [][]byte{fr}
		}, 0},
		{"flip-header-step", func(i int, fr []byte) [][]byte {
			if i == 0 {
				b := bytes.Clone(fr)
				b[20] ^= 1
				return [][]byte{b}
			}
			return [][]byte{fr}
		}, 0},
		{"replay", func(i int, fr []byte) [][]byte {
			if i == 0 {
				return [][]byte{fr, fr}
			}
			return [][]byte{fr}
		}, 1},
		{"replay-renumbered", func(i int, fr []byte) [][]byte {
			if i == 0 {
				return [][]byte{fr, setSeq(fr, 1)}
			}
			return [][]byte{fr}
		}, 1},
		{"drop", func(i int, fr []byte) [][]byte {
			if i == 1 {
				return nil
			}
			return [][]byte{fr}
		}, 1},
		{"drop-renumbered", func(i int, fr []byte) [][]byte {
			switch i {
			case 1:
				return nil
			case 2:
				return [][]byte{setSeq(fr, 1)}
			}
			return [][]byte{fr}
		}, 1},
		{"reorder", func(i int, fr []byte) [][]byte {
			switch i {
			case 0:
				held = fr
				return nil
			case 1:
				return [][]byte{setSeq(fr, 0), setSeq(held, 1)}
			}
			return [][]byte{fr}
		}, 0},
	}
	for _, sec := range []Security{SecuritySeal, SecurityAuth} {
		for _, tc := range cases {
			t.Run(sec.String()+"/"+tc.name, func(t *testing.T) {
				got, err := exchange(proxyWorld(t, sec, tc.f))
				const want = "frame from rank 1 failed authentication (tampered or replayed)"
				if !errors.Is(err, ErrAuth) || !strings.Contains(err.Error(), want) || !strings.HasPrefix(err.Error(), "rank 0: ") {
					t.Fatalf("got %v, want an error with %q", err, want)
				}
				if len(got) != tc.intact {
					t.Fatalf("%d frames delivered before the failure, want %d", len(got), tc.intact)
				}
				for k, v := range got {
					if v[0] != float32(4*k+1) {
						t.Fatalf("frame %d delivered as %v", k, v)
					}
				}
			})
		}
	}
}

// held is the frame the reorder case holds back.
var held []byte

// TestPlaintextLinkTampering shows why sealing exists: with SecurityOff
// the same flipped bit changes what rank 0 receives, and nobody notices.
func TestPlaintextLinkTampering(t *testing.T) {
	got, err := exchange(proxyWorld(t, SecurityOff, func(i int, fr []byte) [][]byte {
		if i == 1 {
			return [][]byte{flipBit(fr)}
		}
		return [][]byte{fr}
	}))
	if err != nil {
		t.Fatalf("plaintext link: %v", err)
	}
	if got[1][0] != -5 || math.Signbit(float64(got[0][0])) {
		t.Fatalf("got %v, want the first value of frame 1 silently negated", got)
	}
}

// TestSealerKeystreamNeverRepeats: the same payload sealed twice under
// the same header comes out different (the nonce counts frames), and the
// opener's counter must follow: the second frame does not open as the
// first. Both directions of a link have keys of their own.
func TestSealerKeystreamNeverRepeats(t *testing.T) {
	ch, nonce := newNonce(), newNonce()
	for _, aesgcm := range []bool{true, false} {
		k01, _ := deriveLinkKey(testSecret, ch[:], nonce[:], 0, 1, SecuritySeal)
		k10, _ := deriveLinkKey(testSecret, ch[:], nonce[:], 1, 0, SecuritySeal)
		if k01 == k10 {
			t.Fatal("both directions have the same key")
		}
		s, _ := newSealer(k01, SecuritySeal, aesgcm)
		o, _ := newSealer(k01, SecuritySeal, aesgcm)
		var hdr [HeaderSize]byte
		putHeader(hdr[:], header{tag: TagUser, length: 8 + SealOverhead})
		p := []byte("8 bytes!")
		a := bytes.Clone(s.seal(hdr[:], p))
		b := bytes.Clone(s.seal(hdr[:], p))
		if bytes.Equal(a[:8], b[:8]) {
			t.Fatalf("aesgcm=%v: the same keystream sealed two frames", aesgcm)
		}
		dst := make([]byte, 8)
		if err := o.open(hdr[:], b, dst); !errors.Is(err, ErrAuth) {
			t.Fatalf("aesgcm=%v: frame 1 opened as frame 0: %v", aesgcm, err)
		}
		if err := o.open(hdr[:], b, dst); err != nil || !bytes.Equal(dst, p) {
			t.Fatalf("aesgcm=%v: frame 1: %q, %v", aesgcm, dst, err)
		}
	}
}

// FuzzOpenSealedFrame feeds the reader of a sealed link arbitrary bytes
// after its handshake: they never panic and deliver nothing but the one
// frame sealed with the link's key; anything else fails the link, as
// authentication or as a broken connection.
func FuzzOpenSealedFrame(f *testing.F) {
	ch, nonce := newNonce(), newNonce()
	k, _ := deriveLinkKey(testSecret, ch[:], nonce[:], 1, 0, SecuritySeal)
	s, _ := newSealer(k, SecuritySeal, true)
	var hdr [HeaderSize]byte
	putHeader(hdr[:], header{tag: TagUser, length: 4 + SealOverhead, job: JobHash("test")})
	good := append(bytes.Clone(hdr[:]), s.seal(hdr[:], []byte{1, 2, 3, 4})...)
	f.Add(good, false)
	f.Add(good[:HeaderSize+3], true)
	f.Add(flipBit(good), false)
	f.Fuzz(func(t *testing.T, b []byte, auth bool) {
		mode := SecuritySeal
		if auth {
			mode = SecurityAuth
		}
		a, z := net.Pipe()
		c := &tcpComm{job: JobHash("test"), maxFrame: 1 << 12, security: mode, overhead: SealOverhead,
			conns: make([]net.Conn, 2), recvSeal: make([]*sealer, 2)}
		c.init(0, 2, time.Second)
		c.recvSeal[1], _ = newSealer(k, mode, true)
		c.conns[1] = a
		c.wg.Add(1)
		go c.read(1, a)
		go func() { z.Write(b); z.Close() }()
		p, err := c.Recv(1, TagUser)
		c.Close()
		if err == nil { // only the frame sealed with the key opens
			if !bytes.HasPrefix(b, good) || !bytes.Equal(p, []byte{1, 2, 3, 4}) {
				t.Fatalf("%x delivered as %x", b, p)
			}
			return
		}
		if !errors.Is(err, ErrAuth) && !errors.Is(err, ErrPeerLost) {
			t.Fatalf("%x: %v", b, err)
		}
	})
}

// BenchmarkSealer is one direction of a link's work per frame, at the
// server vote's frame (two 128 KiB planes) and the fp32 mean's segment:
// seal and open under SecuritySeal (AES-256-GCM, or ChaCha20-Poly1305 for
// aesgcm=false), and the tag's computation under SecurityAuth (GMAC).
// Bytes are the payload's.
func BenchmarkSealer(b *testing.B) {
	ch, nonce := newNonce(), newNonce()
	k, _ := deriveLinkKey(testSecret, ch[:], nonce[:], 0, 1, SecuritySeal)
	for _, n := range []int{2 << 17, 1 << 20} {
		for _, c := range []struct {
			name   string
			mode   Security
			aesgcm bool
		}{{"seal", SecuritySeal, true}, {"seal-chacha", SecuritySeal, false}, {"auth", SecurityAuth, true}} {
			if c.name == "seal-chacha" && n > 2<<17 {
				continue
			}
			s, _ := newSealer(k, c.mode, c.aesgcm)
			o, _ := newSealer(k, c.mode, c.aesgcm)
			p := make([]byte, n)
			dst := make([]byte, n)
			var hdr [HeaderSize]byte
			putHeader(hdr[:], header{tag: TagUser, length: n + SealOverhead})
			b.Run(fmt.Sprintf("%s/seal/bytes=%d", c.name, n), func(b *testing.B) {
				b.SetBytes(int64(n))
				b.ReportAllocs()
				for range b.N {
					s.seal(hdr[:], p)
				}
			})
			sealed := bytes.Clone(s.seal(hdr[:], p))
			b.Run(fmt.Sprintf("%s/open/bytes=%d", c.name, n), func(b *testing.B) {
				b.SetBytes(int64(n))
				b.ReportAllocs()
				for range b.N {
					o.seq = s.seq - 1 // the same frame again, as if new
					if c.mode == SecurityAuth {
						copy(o.tag[:], sealed)
					}
					o.open(hdr[:], sealed, dst)
				}
			})
		}
	}
}
