package collective

import (
	"errors"
	"fmt"
	"net"
	"time"
)

// MissingRanksError ends a rendezvous that waited for ranks that never
// came: it names them, where they were awaited and for how long.
type MissingRanksError struct {
	Rank    int   // the rank that waited
	Missing []int // the ranks that never connected
	Addr    string
	Within  time.Duration
	Err     error // what the wait ended with
}

func (e *MissingRanksError) Error() string {
	who := fmt.Sprintf("rank %d", e.Missing[0])
	if len(e.Missing) > 1 {
		who = fmt.Sprintf("ranks %v", e.Missing)
	}
	return fmt.Sprintf("rank %d: no answer from %s within %v (never connected to %s: %v)", e.Rank, who, e.Within, e.Addr, e.Err)
}

func (e *MissingRanksError) Unwrap() error { return e.Err }

// noticeTimeout bounds the notice rank 0 sends a registered rank when it
// gives up the rendezvous.
const noticeTimeout = time.Second

// noticeSetupFailure tells the ranks that registered with rank 0 why it
// gives up the rendezvous (a rank that never came), as an abort notice
// (TagControl) in place of the table, so they name the missing rank rather
// than guess at a refused registration. Best effort; the notice carries no
// MAC (whoever could forge it could as well cut the connection).
func (c *tcpComm) noticeSetupFailure(got map[int]peerConn, err error) {
	msg := []byte(err.Error())
	if len(msg) > maxAbortReason {
		msg = msg[:maxAbortReason]
	}
	for _, pc := range got {
		pc.conn.SetWriteDeadline(time.Now().Add(noticeTimeout))
		c.writeSetupFrame(pc.conn, TagControl, msg)
	}
}

// noticeGrace is how long past its own setup deadline a rank waits for
// rank 0's table: rank 0, which started at about the same time, may be
// giving up at that very moment, and its notice says why.
const noticeGrace = 2 * time.Second

// readTable reads rank 0's table of addresses, or its notice that it gave
// up the rendezvous (noticeSetupFailure), until noticeGrace past deadline.
func (c *tcpComm) readTable(conn net.Conn, deadline time.Time) ([]byte, error) {
	conn.SetReadDeadline(deadline.Add(noticeGrace))
	var hdr [HeaderSize]byte
	h, p, err := readFrame(conn, hdr[:], c.job, 0, setupMaxFrame)
	var ne net.Error
	switch {
	case errors.As(err, &ne) && ne.Timeout():
		return nil, fmt.Errorf("%w: no table from rank 0 (it waits for ranks that have not connected?): %v", ErrTimeout, err)
	case err != nil:
		return nil, err
	case h.tag == TagControl:
		return nil, fmt.Errorf("%w by rank 0 before the job started: %s", ErrAborted, p)
	case h.tag != TagTable:
		return nil, fmt.Errorf("%w: %s frame, want %s", ErrBadFrame, h.tag, TagTable)
	}
	return p, nil
}
