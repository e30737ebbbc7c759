package data

import (
	"bufio"
	"compress/gzip"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
)

// Errors of ReadIDX and OpenIDX; the returned errors wrap one of them (test
// with errors.Is) and read "<file>: offset <n>: ...", one line. Offsets
// count bytes of the IDX stream, i.e. after decompression for gzipped files.
var (
	ErrIDXMagic     = errors.New("bad IDX magic")
	ErrIDXType      = errors.New("unsupported IDX type")
	ErrIDXDims      = errors.New("bad IDX dimensions")
	ErrIDXTooLarge  = errors.New("IDX too large")
	ErrIDXTruncated = errors.New("truncated IDX")
	ErrIDXTrailing  = errors.New("trailing bytes after IDX data")
)

// IDX header constants.
const (
	idxTypeUbyte = 0x08 // the only element type ReadIDX accepts
	idxMaxDims   = 4
)

// ReadIDX reads from r one complete IDX stream of unsigned bytes: the magic
// (two zero bytes, type 0x08, a dimension count of 1 to 4), one big-endian
// uint32 per dimension, then the elements, and nothing after them. It
// returns the dimensions and the elements, row-major. Only the first
// dimension may be 0; a header asking for more than maxElems elements is
// rejected before anything is allocated, and the data is allocated once.
// name labels the errors.
func ReadIDX(r io.Reader, name string, maxElems int) (dims []int, data []byte, err error) {
	return readIDX(r, name, maxElems, -1)
}

// readIDX is ReadIDX knowing, if size >= 0, that the stream is size bytes
// long, so a header promising more data than that fails before allocating.
func readIDX(r io.Reader, name string, maxElems int, size int64) (dims []int, data []byte, err error) {
	var hdr [4 + 4*idxMaxDims]byte
	if n, err := io.ReadFull(r, hdr[:4]); err != nil {
		return nil, nil, readErr(name, n, err, fmt.Sprintf("header ended after %d of 4 magic bytes", n))
	}
	if hdr[0] != 0 || hdr[1] != 0 {
		hint := ""
		if hdr[0] == 0x1f && hdr[1] == 0x8b {
			hint = " (gzip data: use OpenIDX or decompress first)"
		}
		return nil, nil, fmt.Errorf("%s: offset 0: %w 0x%02x%02x, want 0x0000%s", name, ErrIDXMagic, hdr[0], hdr[1], hint)
	}
	if hdr[2] != idxTypeUbyte {
		return nil, nil, fmt.Errorf("%s: offset 2: %w 0x%02x, want 0x%02x (unsigned byte)", name, ErrIDXType, hdr[2], idxTypeUbyte)
	}
	nd := int(hdr[3])
	if nd < 1 || nd > idxMaxDims {
		return nil, nil, fmt.Errorf("%s: offset 3: %w: count %d, want 1 to %d", name, ErrIDXDims, nd, idxMaxDims)
	}
	hlen := 4 + 4*nd
	if n, err := io.ReadFull(r, hdr[4:hlen]); err != nil {
		return nil, nil, readErr(name, 4+n, err, fmt.Sprintf("header ended after %d of %d bytes", 4+n, hlen))
	}
	dims = make([]int, nd)
	for i := range dims {
		dims[i] = int(binary.BigEndian.Uint32(hdr[4+4*i:]))
	}
	// Dimensions are < 2^32 and the product is kept <= maxElems, so nothing
	// overflows even with a 32-bit int (where a dimension may be negative).
	total := 1
	for i, d := range dims {
		off := 4 + 4*i
		switch {
		case d < 0:
			return nil, nil, fmt.Errorf("%s: offset %d: %w: dimensions %s exceed the limit of %d elements", name, off, ErrIDXTooLarge, dimString(dims), maxElems)
		case d == 0 && i > 0:
			return nil, nil, fmt.Errorf("%s: offset %d: %w: dimension %d of %s is 0 (only the first may be)", name, off, ErrIDXDims, i, dimString(dims))
		case total != 0 && d > maxElems/total:
			return nil, nil, fmt.Errorf("%s: offset %d: %w: dimensions %s exceed the limit of %d elements", name, off, ErrIDXTooLarge, dimString(dims), maxElems)
		}
		total *= d
	}
	if size >= 0 && int64(hlen)+int64(total) > size {
		return nil, nil, fmt.Errorf("%s: offset %d: %w: data ended after %d of %d bytes (%s)", name, size, ErrIDXTruncated, size-int64(hlen), total, dimString(dims))
	}
	data = make([]byte, total)
	if n, err := io.ReadFull(r, data); err != nil {
		return nil, nil, readErr(name, hlen+n, err, fmt.Sprintf("data ended after %d of %d bytes (%s)", n, total, dimString(dims)))
	}
	end := hlen + total
	var one [1]byte
	if n, err := io.ReadFull(r, one[:]); n > 0 {
		return nil, nil, fmt.Errorf("%s: offset %d: %w: want end of file after %s = %d bytes of data", name, end, ErrIDXTrailing, dimString(dims), total)
	} else if err != io.EOF {
		return nil, nil, readErr(name, end, err, "")
	}
	return dims, data, nil
}

// readErr describes a failed read at offset: running out of input is
// ErrIDXTruncated (with why), anything else is the reader's error.
func readErr(name string, offset int, err error, why string) error {
	if err == io.EOF || err == io.ErrUnexpectedEOF {
		if why == "" {
			why = "compressed stream ended early"
		}
		return fmt.Errorf("%s: offset %d: %w: %s", name, offset, ErrIDXTruncated, why)
	}
	return fmt.Errorf("%s: offset %d: reading IDX: %w", name, offset, err)
}

// dimString formats dims as "60000x28x28".
func dimString(dims []int) string {
	s := make([]string, len(dims))
	for i, d := range dims {
		s[i] = strconv.Itoa(d)
	}
	return strings.Join(s, "x")
}

// OpenIDX reads the IDX file at path with ReadIDX, decompressing it first if
// it starts with the gzip magic 0x1f 0x8b (whatever its name). Errors name
// path; their offsets count decompressed bytes.
func OpenIDX(path string, maxElems int) (dims []int, data []byte, err error) {
	f, err := OpenRegular(path)
	if err != nil {
		return nil, nil, err // names path
	}
	defer f.Close()
	br := bufio.NewReaderSize(f, 1<<16)
	magic, _ := br.Peek(2) // short or failed: ReadIDX reports it
	if len(magic) == 2 && magic[0] == 0x1f && magic[1] == 0x8b {
		zr, err := gzip.NewReader(br)
		if err != nil {
			return nil, nil, readErr(path, 0, err, "gzip header ended early")
		}
		defer zr.Close()
		return readIDX(zr, path, maxElems, -1)
	}
	size := int64(-1)
	if st, err := f.Stat(); err == nil && st.Mode().IsRegular() {
		size = st.Size()
	}
	return readIDX(br, path, maxElems, size)
}
