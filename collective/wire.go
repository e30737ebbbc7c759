package collective

import (
	"encoding/binary"
	"fmt"
	"math/bits"
	"slices"
	"sync"
	"unsafe"

	"github.com/klauspost/compress/zstd"

	"signsgd/kernels"
)

// The wire form of a ternary sign vector of d coordinates, as every vote
// topology sends it (a voter's signs and the vote's result alike):
//
//	offset  size  field
//	0       1     format (1)
//	1       1     non-zero plane: 0 raw, 1 one zstd frame, 2 all ones (n = 0)
//	2       1     sign plane: 0 raw, 1 one zstd frame
//	3       4     n, the stored length of the non-zero plane, little-endian
//	7       n     the non-zero plane
//	7+n     rest  the sign plane
//
// The non-zero plane is the NZ mask, ceil(d/8) bytes: bit i%8 of byte i/8
// is coordinate i (kernels.Signs' words, little-endian, cut to whole bytes).
// The sign plane holds one bit per non-zero coordinate, in order of
// coordinates (1 = negative): ceil(nnz/8) bytes for nnz non-zero signs. So a
// dense float gradient costs d bits plus an all-ones mask that compresses to
// almost nothing, and a ReLU network's gradient pays a sign bit only where
// it is not zero. An all-ones mask (no zero sign) is not stored at all; any
// other mask is stored compressed only when that is shorter than raw. The
// sign plane is stored raw: the signs of a gradient are as good as random
// bits, and trying to compress 1 bit per coordinate only costs time. The
// payload is never longer than MaxSignsWireLen(d).
//
// Why zstd (its fastest level) and not s2 for the mask: on the sign planes of real
// gradients zstd's entropy coding wins where s2 only finds repeats (on
// MNIST's mlp and cnn gradients s2 stores a ReLU network's mask in more
// bytes than zstd, on the cnn more than raw); BenchmarkSignsWirePlanes
// measures both, sizes and speeds.

// signsWireFormat is the format byte of the wire form.
const signsWireFormat = 1

// SignsWireHeaderSize is the size of the wire form's own header.
const SignsWireHeaderSize = 7

// How a plane is stored.
const (
	planeRaw  = 0
	planeZstd = 1
	planeOnes = 2 // every coordinate non-zero: nothing stored
)

// minCompress is the shortest plane worth handing to zstd: a zstd frame
// costs about a dozen bytes of its own.
const minCompress = 32

// MaxSignsWireLen is the longest wire form of d signs: both planes raw,
// a non-zero sign everywhere.
func MaxSignsWireLen(d int) int { return SignsWireHeaderSize + 2*((d+7)/8) }

// Compression says whether EncodeSignsWire may compress the planes.
type Compression uint8

const (
	// CompressAuto stores each plane as zstd when that is shorter.
	CompressAuto Compression = iota
	// CompressNone stores both planes raw (exact, predictable lengths).
	CompressNone
)

// voteCompression is the compression of every vote payload the topologies
// send; tests set CompressNone to compare traffic with the formulas exactly.
var voteCompression = CompressAuto

// zstdCodec is the shared zstd encoder and decoder; both are safe for
// concurrent use (EncodeAll and DecodeAll). The decoder never writes past
// the capacity of the buffer it is given (WithDecodeAllCapLimit), which
// DecodeSignsWire sets to the plane's known size.
var zstdCodec = sync.OnceValues(func() (*zstd.Encoder, *zstd.Decoder) {
	enc, err := zstd.NewWriter(nil, zstd.WithEncoderLevel(zstd.SpeedFastest), zstd.WithEncoderCRC(false),
		zstd.WithSingleSegment(true)) // single segment: the frame always announces its size
	if err != nil {
		panic("collective: zstd encoder: " + err.Error())
	}
	dec, err := zstd.NewReader(nil, zstd.WithDecoderConcurrency(0), zstd.WithDecodeAllCapLimit(true),
		zstd.WithDecoderMaxMemory(DefaultMaxFrame))
	if err != nil {
		panic("collective: zstd decoder: " + err.Error())
	}
	return enc, dec
})

// EncodeSignsWire appends the wire form of s to b (see the layout above).
// Bits past s.N and Neg bits without their NZ bit are not sent.
func EncodeSignsWire(b []byte, s kernels.Signs, c Compression) []byte {
	nnz := countNZ(s)
	b = slices.Grow(b, MaxSignsWireLen(s.N))
	start := len(b)
	b = append(b, signsWireFormat, planeOnes, planeRaw, 0, 0, 0, 0)
	if c == CompressNone || nnz != s.N {
		var nzPlane []byte
		if littleEndian && s.N%64 == 0 {
			nzPlane = wordBytes(s.NZ) // no bits past N: the words are the plane
		} else {
			nzPlane = appendWords(getBytes(8 * len(s.NZ))[:0], s.NZ, s.N)
			defer putBytes(nzPlane)
		}
		var how byte
		var n int
		b, how, n = appendPlane(b, nzPlane, c)
		b[start+1] = how
		binary.LittleEndian.PutUint32(b[start+3:], uint32(n))
	}
	if nnz == s.N {
		// Every coordinate non-zero: the sign plane is Neg itself.
		return appendWords(b, s.Neg, s.N)
	}
	signWords := getWords(kernels.Words(nnz))
	clear(signWords)
	gatherSignBits(signWords, s)
	b = appendWords(b, signWords, nnz)
	putWords(signWords)
	return b
}

// littleEndian says whether uint64s are stored least significant byte
// first, as on the wire: then planes are copied to and from words whole.
var littleEndian = binary.NativeEndian.Uint16([]byte{1, 0}) == 1

// wordBytes is the memory of w as bytes.
func wordBytes(w []uint64) []byte {
	return unsafe.Slice((*byte)(unsafe.Pointer(unsafe.SliceData(w))), 8*len(w))
}

// ones is a block of all-ones words for fillOnes to copy from: copy (the
// runtime's memmove, wide stores) fills twice as fast as a loop storing a
// word at a time.
var ones = func() []uint64 {
	w := make([]uint64, 512)
	for i := range w {
		w[i] = ^uint64(0)
	}
	return w
}()

// fillOnes sets every bit of w.
func fillOnes(w []uint64) {
	for len(w) > 0 {
		w = w[copy(w, ones):]
	}
}

// countNZ is the number of non-zero signs of s, bits past s.N ignored.
func countNZ(s kernels.Signs) int {
	if len(s.NZ) == 0 {
		return 0
	}
	last := len(s.NZ) - 1
	return onesCount(s.NZ[:last]) + bits.OnesCount64(s.NZ[last]&tailMask(s, last))
}

// onesCountGo is the number of set bits in w, a word at a time.
func onesCountGo(w []uint64) int {
	n := 0
	for _, x := range w {
		n += bits.OnesCount64(x)
	}
	return n
}

// tailMask is the mask of the bits of word w of s that are coordinates.
func tailMask(s kernels.Signs, w int) uint64 {
	if w == len(s.NZ)-1 && s.N%64 != 0 {
		return 1<<uint(s.N%64) - 1
	}
	return ^uint64(0)
}

// appendWords appends the first n bits of words, little-endian, as
// ceil(n/8) bytes.
func appendWords(b []byte, words []uint64, n int) []byte {
	full := n / 64
	start := len(b)
	b = slices.Grow(b, 8*full+8)[:start+8*full]
	dst := b[start:]
	if littleEndian { // the words' memory already is the wire's bytes
		copy(dst, wordBytes(words[:full]))
	} else {
		for i, x := range words[:full] {
			binary.LittleEndian.PutUint64(dst[8*i:], x)
		}
	}
	if rest := n % 64; rest != 0 {
		x := words[full] & (1<<uint(rest) - 1)
		for i := 0; i < (rest+7)/8; i++ {
			b = append(b, byte(x>>(8*uint(i))))
		}
	}
	return b
}

// wordsFrom fills words from the little-endian bytes of src (the rest
// zero).
func wordsFrom(words []uint64, src []byte) {
	full := len(src) / 8
	if littleEndian {
		copy(wordBytes(words[:full]), src[:8*full])
	} else {
		for i := range full {
			words[i] = binary.LittleEndian.Uint64(src[8*i:])
		}
	}
	clear(words[full:])
	for i, c := range src[8*full:] {
		words[full] |= uint64(c) << (8 * uint(i))
	}
}

// compressSample is how much of a large plane samplePays compresses.
const compressSample = 16 << 10

// samplePays says whether zstd is worth trying on plane: a plane larger than
// a few samples is tried only if its first compressSample bytes shrink by at
// least a tenth. A vote result with ties at random coordinates (even M) has
// a non-zero plane that does not compress, and trying it whole costs a
// whole zstd pass (BenchmarkSignsWire's tied cases).
func samplePays(plane []byte) bool {
	if len(plane) < 4*compressSample {
		return true
	}
	enc, _ := zstdCodec()
	out := enc.EncodeAll(plane[:compressSample], getBytes(2 * compressSample)[:0])
	pays := len(out) < compressSample*9/10
	putBytes(out)
	return pays
}

// appendPlane appends plane to b, as zstd when c allows and that is
// shorter, and returns how it stored it and how many bytes.
func appendPlane(b, plane []byte, c Compression) ([]byte, byte, int) {
	start := len(b)
	if c == CompressAuto && len(plane) >= minCompress && samplePays(plane) {
		enc, _ := zstdCodec()
		b = enc.EncodeAll(plane, b)
		if len(b)-start < len(plane) {
			return b, planeZstd, len(b) - start
		}
		b = b[:start]
	}
	return append(b, plane...), planeRaw, len(plane)
}

// DecodeSignsWire reads the wire form written by EncodeSignsWire into s,
// whose N fixes the expected number of coordinates. The input is untrusted:
// each plane must decode to exactly its known size (a compressed plane
// never expands past it), and every error wraps ErrBadFrame. The decoded
// signs are canonical; after an error s holds no meaningful value.
func DecodeSignsWire(s kernels.Signs, b []byte) error {
	if len(b) < SignsWireHeaderSize {
		return fmt.Errorf("%w: signs of %d bytes, shorter than their %d-byte header", ErrBadFrame, len(b), SignsWireHeaderSize)
	}
	if b[0] != signsWireFormat {
		return fmt.Errorf("%w: signs in format %d, want %d", ErrBadFrame, b[0], signsWireFormat)
	}
	n := binary.LittleEndian.Uint32(b[3:])
	rest := b[SignsWireHeaderSize:]
	if uint64(n) > uint64(len(rest)) {
		return fmt.Errorf("%w: signs: non-zero plane of %d bytes in a payload of %d", ErrBadFrame, n, len(b))
	}
	nnz := 0
	if b[1] == planeOnes {
		if n != 0 {
			return fmt.Errorf("%w: signs: an all-ones non-zero plane with %d stored bytes", ErrBadFrame, n)
		}
		fillOnes(s.NZ)
		if len(s.NZ) > 0 {
			s.NZ[len(s.NZ)-1] = tailMask(s, len(s.NZ)-1)
		}
		nnz = s.N
	} else {
		nzPlane := rest[:n]
		if b[1] == planeRaw && b[2] == planeRaw && useBMI2 && s.N == 64*len(s.NZ) && int(n) == 8*len(s.NZ) {
			// Whole words, both planes raw, as a result chunk arrives: when
			// both planes lie aligned in b, one pass copies the non-zero
			// plane, counts it and scatters the signs.
			nzIn := planeWords(nzPlane, len(s.NZ))
			signPlane := rest[n:]
			in := planeWords(signPlane, (len(signPlane)+7)/8)
			if nzIn != nil && in != nil {
				nnz := scatterCopyBMI2(s.Neg, s.NZ, nzIn, in, useScatter512)
				if len(signPlane) != (nnz+7)/8 {
					return fmt.Errorf("%w: signs: raw sign plane of %d bytes, want %d", ErrBadFrame, len(signPlane), (nnz+7)/8)
				}
				return nil
			}
		}
		if b[1] != planeRaw || int(n) != (s.N+7)/8 { // (a raw plane is read in place)
			nzPlane = getBytes((s.N + 7) / 8)
			defer putBytes(nzPlane)
			if err := decodePlane(nzPlane, b[1], rest[:n], "non-zero plane"); err != nil {
				return err
			}
		}
		wordsFrom(s.NZ, nzPlane)
		if len(s.NZ) > 0 {
			s.NZ[len(s.NZ)-1] &= tailMask(s, len(s.NZ)-1)
		}
		nnz = onesCount(s.NZ)
	}
	signPlane := rest[n:]
	if b[2] != planeRaw {
		signPlane = getBytes((nnz + 7) / 8)
		defer putBytes(signPlane)
		if err := decodePlane(signPlane, b[2], rest[n:], "sign plane"); err != nil {
			return err
		}
	} else if len(signPlane) != (nnz+7)/8 {
		return fmt.Errorf("%w: signs: raw sign plane of %d bytes, want %d", ErrBadFrame, len(signPlane), (nnz+7)/8)
	}
	if nnz == s.N {
		wordsFrom(s.Neg, signPlane)
		if len(s.Neg) > 0 {
			s.Neg[len(s.Neg)-1] &= tailMask(s, len(s.Neg)-1)
		}
		return nil
	}
	if w := planeWords(signPlane, kernels.Words(nnz)); w != nil {
		scatterSignBits(s, w) // straight from the received bytes
		return nil
	}
	signWords := getWords(kernels.Words(nnz))
	wordsFrom(signWords, signPlane)
	scatterSignBits(s, signWords)
	putWords(signWords)
	return nil
}

// planeWords is plane read in place as n words, when it lies 8-byte
// aligned and its memory runs on to n whole words (the bytes past the
// plane, within its capacity, are never used: scatterSignBits takes only
// the bits the non-zero mask counts, and the plane holds all of those);
// else nil. A raw sign plane is so when its payload was received one byte
// into a buffer with a word to spare (postVote with room).
func planeWords(plane []byte, n int) []uint64 {
	if !littleEndian || n == 0 || cap(plane) < 8*n || len(plane) > 8*n ||
		uintptr(unsafe.Pointer(unsafe.SliceData(plane)))%8 != 0 {
		return nil
	}
	return unsafe.Slice((*uint64)(unsafe.Pointer(unsafe.SliceData(plane))), n)
}

// viewSignsWire is DecodeSignsWire without its copies where the wire form
// allows: a dense vote (no zero sign, so no non-zero plane stored, and its
// sign plane raw) is returned as a view: its NZ words are
// ones[:Words(s.N)] (read only: all bits set but the last word's past N,
// which the caller's ones must already have clear, see onesFor), its Neg
// words b's own memory where the sign plane lies 8-byte aligned with room
// behind it (cap) for its last word, else s.Neg with the plane copied in;
// the last word's bits past N are cleared.
// Any other b is decoded into s, whose N is the number of coordinates, and
// s is returned. The view is valid while b is. Reference: DecodeSignsWire
// (the same signs, the same errors; TestViewSignsWire, FuzzDecodeSignsWire).
func viewSignsWire(s kernels.Signs, b []byte, ones []uint64) (kernels.Signs, error) {
	const h = SignsWireHeaderSize
	w := len(s.NZ)
	if w > 0 && s.N > 64*(w-1) && s.N <= 64*w && len(b) == h+(s.N+7)/8 &&
		len(ones) >= w && ones[w-1] == tailMask(s, w-1) &&
		b[0] == signsWireFormat && b[1] == planeOnes && b[2] == planeRaw &&
		binary.LittleEndian.Uint32(b[3:]) == 0 {
		neg := s.Neg
		if littleEndian && cap(b) >= h+8*w && uintptr(unsafe.Pointer(&b[h]))%8 == 0 {
			neg = unsafe.Slice((*uint64)(unsafe.Pointer(&b[h])), w)
		} else {
			// Not where a posted receive puts it (a vote that came before
			// its receive was posted is lent from the queue): the sign
			// plane is copied, the NZ plane is still the ones.
			wordsFrom(neg, b[h:])
		}
		neg[w-1] &= ones[w-1] // no sign past N: the plane's last bits, the buffer's spare bytes
		return kernels.Signs{N: s.N, NZ: ones[:w:w], Neg: neg}, nil
	}
	return s, DecodeSignsWire(s, b)
}

// decodePlane fills dst, whose length is the plane's known size, from src
// stored as method.
func decodePlane(dst []byte, method byte, src []byte, what string) error {
	switch method {
	case planeRaw:
		if len(src) != len(dst) {
			return fmt.Errorf("%w: signs: raw %s of %d bytes, want %d", ErrBadFrame, what, len(src), len(dst))
		}
		copy(dst, src)
		return nil
	case planeZstd:
		// Refuse a frame that does not announce exactly the size expected
		// before decoding anything; the decoder is then bounded by dst's
		// capacity, so a lying frame cannot expand further.
		var h zstd.Header
		if err := h.Decode(src); err != nil {
			return fmt.Errorf("%w: signs: zstd %s: %v", ErrBadFrame, what, err)
		}
		if h.Skippable || !h.HasFCS || h.FrameContentSize != uint64(len(dst)) {
			return fmt.Errorf("%w: signs: zstd %s announces %d bytes (size given: %v), want %d", ErrBadFrame, what, h.FrameContentSize, h.HasFCS, len(dst))
		}
		_, dec := zstdCodec()
		out, err := dec.DecodeAll(src, dst[:0:len(dst)])
		if err != nil {
			return fmt.Errorf("%w: signs: zstd %s: %v", ErrBadFrame, what, err)
		}
		if len(out) != len(dst) {
			return fmt.Errorf("%w: signs: zstd %s of %d bytes, want %d", ErrBadFrame, what, len(out), len(dst))
		}
		copy(dst, out)
		return nil
	}
	return fmt.Errorf("%w: signs: %s stored as %d, want 0 (raw) or 1 (zstd)", ErrBadFrame, what, method)
}

// gatherSignBits writes into out (Words(nnz) zeroed words) the Neg bit of
// every coordinate of s whose NZ bit is set, in order, ignoring bits past
// s.N. Reference: gatherSignBitsNaive.
func gatherSignBits(out []uint64, s kernels.Signs) {
	if useBMI2 && len(s.NZ) > 0 {
		gatherBMI2(out, s.NZ, s.Neg, tailMask(s, len(s.NZ)-1))
		return
	}
	gatherSignBitsGo(out, s)
}

// gatherSignBitsGo is gatherSignBits without BMI2's loop (a call per word
// to extractBits); out must be zeroed.
func gatherSignBitsGo(out []uint64, s kernels.Signs) {
	k := 0
	for w, m := range s.NZ {
		if w == len(s.NZ)-1 && s.N%64 != 0 {
			m &= 1<<uint(s.N%64) - 1
		}
		var v uint64
		n := 64
		switch m {
		case 0:
			continue
		case ^uint64(0):
			v = s.Neg[w] // a dense word: its sign bits as they are
		default:
			v, n = extractBits(s.Neg[w], m), bits.OnesCount64(m)
		}
		i, o := k>>6, uint(k&63)
		out[i] |= v << o
		if o != 0 && int(o)+n > 64 {
			out[i+1] |= v >> (64 - o)
		}
		k += n
	}
}

// scatterSignBits sets s.Neg from in: the j-th bit of in is the sign of the
// j-th coordinate whose NZ bit is set. Reference: scatterSignBitsNaive.
func scatterSignBits(s kernels.Signs, in []uint64) {
	if useBMI2 && len(in) > 0 {
		scatterCopyBMI2(s.Neg, s.NZ, s.NZ, in, useScatter512)
		return
	}
	scatterSignBitsGo(s, in)
}

// scatterSignBitsGo is scatterSignBits without BMI2's loop.
func scatterSignBitsGo(s kernels.Signs, in []uint64) {
	k := 0
	for w, m := range s.NZ {
		if m == 0 {
			s.Neg[w] = 0
			continue
		}
		n := bits.OnesCount64(m)
		i, o := k>>6, uint(k&63)
		v := in[i] >> o
		if o != 0 && int(o)+n > 64 {
			v |= in[i+1] << (64 - o)
		}
		if m == ^uint64(0) {
			s.Neg[w] = v
		} else {
			s.Neg[w] = depositBits(v, m)
		}
		k += n
	}
}

// extractBits packs the bits of v selected by mask m into the low bits of
// the result, in order: x86's PEXT where the CPU has BMI2, else a byte at a
// time through a table. Reference: extractBitsNaive.
func extractBits(v, m uint64) uint64 {
	if useBMI2 {
		return pext64(v, m)
	}
	t := bitTables()
	var r uint64
	k := 0
	for i := 0; i < 64; i += 8 {
		mb := uint8(m >> uint(i))
		if mb == 0 {
			continue
		}
		r |= uint64(t.extract[int(mb)<<8|int(uint8(v>>uint(i)))]) << uint(k)
		k += bits.OnesCount8(mb)
	}
	return r
}

// depositBits spreads the low bits of v, in order, onto the set bits of
// mask m: x86's PDEP where the CPU has BMI2, else a byte at a time through
// a table. Reference: depositBitsNaive.
func depositBits(v, m uint64) uint64 {
	if useBMI2 {
		return pdep64(v, m)
	}
	t := bitTables()
	var r uint64
	for i := 0; i < 64; i += 8 {
		mb := uint8(m >> uint(i))
		if mb == 0 {
			continue
		}
		r |= uint64(t.deposit[int(mb)<<8|int(uint8(v))]) << uint(i)
		v >>= uint(bits.OnesCount8(mb))
	}
	return r
}

// bitTables holds extractBits and depositBits of every byte mask (high
// byte of the index) and byte value (low byte): 128 KiB, built on first use.
var bitTables = sync.OnceValue(func() *struct{ extract, deposit [1 << 16]uint8 } {
	t := new(struct{ extract, deposit [1 << 16]uint8 })
	for m := 0; m < 256; m++ {
		for v := 0; v < 256; v++ {
			t.extract[m<<8|v] = uint8(extractBitsNaive(uint64(v), uint64(m)))
			t.deposit[m<<8|v] = uint8(depositBitsNaive(uint64(v), uint64(m)))
		}
	}
	return t
})

// extractBitsNaive is extractBits one set bit of the mask at a time.
func extractBitsNaive(v, m uint64) uint64 {
	var r uint64
	for k := uint(0); m != 0; k++ {
		low := m & -m
		if v&low != 0 {
			r |= 1 << k
		}
		m ^= low
	}
	return r
}

// depositBitsNaive is depositBits one set bit of the mask at a time.
func depositBitsNaive(v, m uint64) uint64 {
	var r uint64
	for ; m != 0; v >>= 1 {
		low := m & -m
		if v&1 != 0 {
			r |= low
		}
		m ^= low
	}
	return r
}
