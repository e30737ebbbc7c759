package collective

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
)

const (
	magic0, magic1 = 'S', 'G'
	frameVersion   = 2
)

// ErrBadFrame is wrapped by every error about a malformed frame header.
var ErrBadFrame = errors.New("bad frame")

// header is a frame header. On the wire (HeaderSize bytes, little endian):
//
//	[0:2] magic "SG"   [2] version   [3] flags (0)
//	[4:8] tag          [8:12] sequence number on this link
//	[12:16] payload length
//	[16:20] job: JobHash of the job id   [20:24] step of the sender
type header struct {
	tag    Tag
	seq    uint32
	length int
	job    uint32
	step   uint32
}

// JobHash is the 32-bit FNV-1a hash of a job id that every frame carries.
func JobHash(id string) uint32 {
	h := uint32(2166136261)
	for i := 0; i < len(id); i++ {
		h ^= uint32(id[i])
		h *= 16777619
	}
	return h
}

func putHeader(b []byte, h header) {
	b[0], b[1], b[2], b[3] = magic0, magic1, frameVersion, 0
	binary.LittleEndian.PutUint32(b[4:], uint32(h.tag))
	binary.LittleEndian.PutUint32(b[8:], h.seq)
	binary.LittleEndian.PutUint32(b[12:], uint32(h.length))
	binary.LittleEndian.PutUint32(b[16:], h.job)
	binary.LittleEndian.PutUint32(b[20:], h.step)
}

// parseHeader checks a header's magic, version and length bound.
func parseHeader(b []byte, maxFrame int) (header, error) {
	if b[0] != magic0 || b[1] != magic1 {
		return header{}, fmt.Errorf("%w: magic %#02x%02x, want \"SG\"", ErrBadFrame, b[0], b[1])
	}
	if b[2] != frameVersion {
		return header{}, fmt.Errorf("%w: version %d, want %d", ErrBadFrame, b[2], frameVersion)
	}
	if b[3] != 0 {
		return header{}, fmt.Errorf("%w: flags %#x, want 0", ErrBadFrame, b[3])
	}
	h := header{
		tag:    Tag(binary.LittleEndian.Uint32(b[4:])),
		seq:    binary.LittleEndian.Uint32(b[8:]),
		length: int(binary.LittleEndian.Uint32(b[12:])),
		job:    binary.LittleEndian.Uint32(b[16:]),
		step:   binary.LittleEndian.Uint32(b[20:]),
	}
	if h.length > maxFrame {
		return header{}, fmt.Errorf("%w: payload of %d bytes exceeds the bound of %d", ErrBadFrame, h.length, maxFrame)
	}
	return h, nil
}

// readHeader reads and checks one frame header from r: magic, version,
// length bound, the job and the expected sequence number.
func readHeader(r io.Reader, hdr []byte, job, wantSeq uint32, maxFrame int) (header, error) {
	if _, err := io.ReadFull(r, hdr[:HeaderSize]); err != nil {
		return header{}, err
	}
	h, err := parseHeader(hdr, maxFrame)
	if err != nil {
		return header{}, err
	}
	if h.job != job {
		return header{}, fmt.Errorf("%w: frame for job %08x, this job is %08x", ErrBadFrame, h.job, job)
	}
	if h.seq != wantSeq {
		return header{}, fmt.Errorf("%w: sequence %d, want %d (a frame was lost or repeated)", ErrBadFrame, h.seq, wantSeq)
	}
	return h, nil
}

// readPayload reads the n bytes of a frame's payload into dst.
func readPayload(r io.Reader, h header, dst []byte) error {
	if _, err := io.ReadFull(r, dst); err != nil {
		if errors.Is(err, io.EOF) {
			err = io.ErrUnexpectedEOF
		}
		return fmt.Errorf("payload of %s frame (%d bytes): %w", h.tag, h.length, err)
	}
	return nil
}

// readFrame reads one whole frame from r into a fresh buffer from the byte
// pool (the handshake's frames, and the fuzz target's).
func readFrame(r io.Reader, hdr []byte, job, wantSeq uint32, maxFrame int) (header, []byte, error) {
	h, err := readHeader(r, hdr, job, wantSeq, maxFrame)
	if err != nil {
		return header{}, nil, err
	}
	p := getBytes(h.length)
	if err := readPayload(r, h, p); err != nil {
		return header{}, nil, err
	}
	return h, p, nil
}
