package collective

import "io"

// linkReader buffers one link's reads the way its frames need: a frame's
// header is read with whatever follows it, but a large payload must not
// be read into the buffer and then copied out (bufio with a 64 KiB buffer
// copied up to 64 KiB of every vote chunk a second time, about a third of
// its bytes). So the reader asks the connection for a full buffer only
// while frames are small (batching many small frames into one read), and
// for a short one after a large payload, whose successor is likely large
// too; a read at least as long as that request goes straight from the
// connection into the caller's buffer.
type linkReader struct {
	conn io.Reader
	buf  []byte
	r, w int // buf[r:w] is buffered
	ask  int // bytes the next fill asks for
}

const (
	// linkBufSize is the buffer: many small frames per read.
	linkBufSize = 1 << 16
	// linkShortFill is a fill after a large payload: a header and a small
	// frame, or the first bytes of a large one (copied once more).
	linkShortFill = 4 << 10
)

func newLinkReader(conn io.Reader) *linkReader {
	return &linkReader{conn: conn, buf: make([]byte, linkBufSize), ask: linkBufSize}
}

// Read implements io.Reader.
func (l *linkReader) Read(p []byte) (int, error) {
	if len(p) == 0 {
		return 0, nil
	}
	if l.r == l.w {
		if len(p) >= l.ask {
			return l.conn.Read(p)
		}
		n, err := l.conn.Read(l.buf[:l.ask])
		if n <= 0 {
			return 0, err
		}
		l.r, l.w = 0, n
	}
	n := copy(p, l.buf[l.r:l.w])
	l.r += n
	return n, nil
}

// framed tells the reader the payload length of the frame just read: a
// payload longer than the short fill makes the next fill short.
func (l *linkReader) framed(payload int) {
	if payload > linkShortFill {
		l.ask = linkShortFill
	} else {
		l.ask = linkBufSize
	}
}
