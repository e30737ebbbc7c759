package collective

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/hkdf"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/binary"
	"errors"
	"fmt"

	"golang.org/x/sys/cpu"
)

// Security is what protects a TCP link's frames after the handshake (see
// "Sealed frames" in doc.go).
type Security uint8

const (
	// SecuritySeal encrypts and authenticates every frame (AES-256-GCM,
	// or ChaCha20-Poly1305 without AES instructions): the zero value.
	SecuritySeal Security = iota
	// SecurityAuth authenticates every frame (GMAC: AES-GCM over no
	// plaintext) and sends the payload in the clear.
	SecurityAuth
	// SecurityOff sends frames as they are: plaintext, unauthenticated.
	SecurityOff
)

func (s Security) String() string {
	switch s {
	case SecuritySeal:
		return "seal"
	case SecurityAuth:
		return "auth"
	case SecurityOff:
		return "off"
	}
	return fmt.Sprintf("Security(%d)", uint8(s))
}

// ParseSecurity is the inverse of String.
func ParseSecurity(s string) (Security, error) {
	for _, v := range []Security{SecuritySeal, SecurityAuth, SecurityOff} {
		if v.String() == s {
			return v, nil
		}
	}
	return 0, fmt.Errorf("transport security %q: want seal, auth or off", s)
}

// ErrAuth is wrapped by every error about a frame that failed its
// authentication: altered, replayed, reordered, dropped and resent, or
// forged by someone without the keys.
var ErrAuth = errors.New("failed authentication (tampered or replayed)")

// SealOverhead is what sealing adds to a frame's payload on the wire: the
// AEAD's 16-byte tag, appended.
const SealOverhead = 16

// hasAESGCM says whether AES-GCM runs in hardware here (AES-NI with
// PCLMULQDQ, or the ARMv8 crypto extensions); else ChaCha20-Poly1305 is
// faster in software. Both ends of a link must choose the same, so the
// choice is part of the handshake (Hello.Security).
var hasAESGCM = cpu.X86.HasAES && cpu.X86.HasPCLMULQDQ || cpu.ARM64.HasAES && cpu.ARM64.HasPMULL

// linkKey is one direction's key and nonce prefix.
type linkKey struct {
	key    [32]byte
	prefix [4]byte
}

// deriveLinkKey derives the key of frames from rank `from` to rank `to` on
// the connection whose handshake used the acceptor's challenge and the
// connecting rank's nonce: HKDF-SHA256 with the job's secret as input key,
// both nonces as salt, and the direction and mode as info, so every
// connection, direction and mode has keys of its own.
func deriveLinkKey(secret, challenge, nonce []byte, from, to int, mode Security) (linkKey, error) {
	salt := make([]byte, 0, len(challenge)+len(nonce))
	salt = append(append(salt, challenge...), nonce...)
	info := fmt.Sprintf("signsgd frames %s: rank %d to rank %d", mode, from, to)
	b, err := hkdf.Key(sha256.New, secret, salt, info, 36)
	if err != nil {
		return linkKey{}, err
	}
	var k linkKey
	copy(k.key[:], b)
	copy(k.prefix[:], b[32:])
	return k, nil
}

// sealer seals or opens the frames of one direction of one link. The
// nonce is the direction's 4-byte prefix and the frame's 64-bit sequence
// number, counted here (never read from the wire): a frame replayed,
// reordered, or dropped and followed by the next fails to open. Not safe
// for concurrent use: the send side runs under its link's lock, the
// receive side in the link's reader.
type sealer struct {
	mode   Security
	aead   cipher.AEAD
	prefix [4]byte
	seq    uint64
	nonce  [12]byte
	buf    []byte // seal: the sealed payload; open: the sealed payload read
	tag    [SealOverhead]byte
	scr    [HeaderSize + SealOverhead]byte // auth: GCM's output over the header
}

func newSealer(k linkKey, mode Security, aesgcm bool) (*sealer, error) {
	var aead cipher.AEAD
	var err error
	if aesgcm || mode == SecurityAuth { // GMAC needs GCM; it is cheap everywhere GHASH is
		var b cipher.Block
		if b, err = aes.NewCipher(k.key[:]); err == nil {
			aead, err = cipher.NewGCM(b)
		}
	} else {
		aead, err = newChaCha(k.key[:])
	}
	if err != nil {
		return nil, err
	}
	return &sealer{mode: mode, aead: aead, prefix: k.prefix}, nil
}

// next returns the nonce of the next frame and counts it.
func (s *sealer) next() []byte {
	copy(s.nonce[:4], s.prefix[:])
	binary.LittleEndian.PutUint64(s.nonce[4:], s.seq)
	s.seq++
	return s.nonce[:]
}

// seal returns what follows hdr (already holding the wire length,
// len(payload)+SealOverhead) on the wire: in seal mode the payload
// encrypted with the tag appended, written into the sealer's own buffer
// (payload is the caller's and is only read); in auth mode the tag alone,
// the payload going out as it is. Allocates only when a frame is longer
// than every one before.
func (s *sealer) seal(hdr, payload []byte) []byte {
	nonce := s.next()
	if s.mode == SecurityAuth {
		// GCM with the payload as associated data and the header as the
		// (discarded) plaintext: its tag covers both.
		out := s.aead.Seal(s.scr[:0], nonce, hdr, payload)
		copy(s.tag[:], out[HeaderSize:])
		return s.tag[:]
	}
	if n := len(payload) + SealOverhead; cap(s.buf) < n {
		s.buf = make([]byte, n)
	}
	return s.aead.Seal(s.buf[:0], nonce, payload, hdr)
}

// open checks (auth) or opens (seal) the frame with header hdr whose
// payload, len(dst) bytes, is dst (auth: the payload as it came, its tag
// in s.tag) or sealed (seal: ciphertext and tag, opened into dst). On
// failure dst holds no usable data.
func (s *sealer) open(hdr, sealed, dst []byte) error {
	nonce := s.next()
	if s.mode == SecurityAuth {
		out := s.aead.Seal(s.scr[:0], nonce, hdr, dst)
		if subtle.ConstantTimeCompare(out[HeaderSize:], s.tag[:]) != 1 {
			return ErrAuth
		}
		return nil
	}
	if len(sealed) != len(dst)+SealOverhead {
		return ErrAuth
	}
	if _, err := s.aead.Open(dst[:0], nonce, sealed, hdr); err != nil {
		return ErrAuth
	}
	return nil
}

// sealBuf returns the sealer's buffer of n bytes for a sealed payload to
// be read into.
func (s *sealer) sealBuf(n int) []byte {
	if cap(s.buf) < n {
		s.buf = make([]byte, n)
	}
	return s.buf[:n]
}
