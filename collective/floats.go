package collective

import (
	"encoding/binary"
	"fmt"
	"math"
	"unsafe"
)

// float32 vectors on the wire are little-endian IEEE 754 binary32, 4 bytes
// a value. On a little-endian host (checked once, at start: littleEndian)
// that is the vector's memory: the fast collectives send a byte view of
// the caller's slice and receive straight into it (or into a buffer they
// own), without a per-value encode or decode. Elsewhere the values are
// byte-swapped through a buffer, by the plain forms of the collectives;
// floatsLE lets the tests force that path on a little-endian host.

// floatsLE says whether a []float32's memory is its wire form.
var floatsLE = littleEndian

// floatBytes is the memory of x as bytes (4 a value, host order).
func floatBytes(x []float32) []byte {
	if len(x) == 0 {
		return nil
	}
	return unsafe.Slice((*byte)(unsafe.Pointer(unsafe.SliceData(x))), 4*len(x))
}

// bytesFloats is the memory of b as float32s; b's length must be a
// multiple of 4 and its start 4-byte aligned (the byte pool's buffers are).
func bytesFloats(b []byte) []float32 {
	if len(b) == 0 {
		return nil
	}
	if len(b)%4 != 0 || uintptr(unsafe.Pointer(unsafe.SliceData(b)))%4 != 0 {
		panic(fmt.Sprintf("collective: %d bytes at %p are not float32s", len(b), unsafe.SliceData(b)))
	}
	return unsafe.Slice((*float32)(unsafe.Pointer(unsafe.SliceData(b))), len(b)/4)
}

// EncodeFloat32s appends x as little-endian float32s: a copy of x's memory
// on a little-endian host, a byte swap per value elsewhere.
func EncodeFloat32s(b []byte, x []float32) []byte {
	n := len(b)
	if cap(b)-n < 4*len(x) {
		nb := make([]byte, n, n+4*len(x))
		copy(nb, b)
		b = nb
	}
	b = b[:n+4*len(x)]
	putFloat32s(b[n:], x)
	return b
}

// putFloat32s writes x into dst (4 len(x) bytes) as little-endian float32s.
func putFloat32s(dst []byte, x []float32) {
	if floatsLE {
		copy(dst, floatBytes(x))
		return
	}
	for i, v := range x {
		binary.LittleEndian.PutUint32(dst[4*i:], math.Float32bits(v))
	}
}

// DecodeFloat32s reads len(x) little-endian float32s from b: a copy into
// x's memory on a little-endian host, a byte swap per value elsewhere.
func DecodeFloat32s(x []float32, b []byte) error {
	if len(b) != 4*len(x) {
		return fmt.Errorf("%w: %d bytes for %d float32s", ErrBadFrame, len(b), len(x))
	}
	if floatsLE {
		copy(floatBytes(x), b)
		return nil
	}
	for i := range x {
		x[i] = math.Float32frombits(binary.LittleEndian.Uint32(b[4*i:]))
	}
	return nil
}

// SendFloat32s sends x to peer under tag as one frame of 4 len(x) bytes
// (what EncodeFloat32s makes), from x's own memory where that is the wire
// form: nothing is encoded or allocated.
func SendFloat32s(c Comm, peer int, tag Tag, x []float32) error {
	if floatsLE {
		return c.Send(peer, tag, floatBytes(x))
	}
	b := EncodeFloat32s(getBytes(4 * len(x))[:0], x)
	err := c.Send(peer, tag, b)
	putBytes(b)
	return err
}

// RecvFloat32s receives a frame of exactly len(x) float32s from peer under
// tag into x (straight into its memory where that is the wire form); a
// frame of another length is an error wrapping ErrBadFrame.
func RecvFloat32s(c Comm, peer int, tag Tag, x []float32) error {
	if floatsLE {
		return c.RecvInto(peer, tag, floatBytes(x))
	}
	b := getBytes(4 * len(x))
	defer putBytes(b)
	if err := c.RecvInto(peer, tag, b); err != nil {
		return err
	}
	return DecodeFloat32s(x, b)
}

// floatSegmentBytes bounds the payload of one frame of the fp32
// collectives: vectors travel in segments of at most this many bytes, so
// that a receiver sums (or forwards) segment k while segment k+1 arrives,
// and a segment stays in the caches between its arrival and its sum. 1 MiB
// is gloo's maxSegmentSize and NCCL's slice (see doc.go). Tests lower it.
var floatSegmentBytes = 1 << 20

// segFloats is the number of float32s in a full segment.
func segFloats() int { return max(1, floatSegmentBytes/4) }

// floatSegs is the number of frames that carry n float32s: one per
// segment, and one (empty) frame for an empty vector, so that every rank
// always sends and receives the same frames.
func floatSegs(n int) int { return max(1, (n+segFloats()-1)/segFloats()) }

// floatSeg returns the bounds [a, b) of segment j of the values [lo, hi).
func floatSeg(lo, hi, j int) (a, b int) {
	a = min(lo+j*segFloats(), hi)
	return a, min(a+segFloats(), hi)
}

// floatFramesLen is what the frames carrying n float32s weigh, headers
// included.
func floatFramesLen(n int) int { return floatSegs(n)*HeaderSize + 4*n }
