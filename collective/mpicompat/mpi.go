package mpicompat

import (
	"bytes"
	"encoding/gob"
	"fmt"

	"github.com/btracey/mpi"

	"signsgd/collective"
)

// Comm adapts a connected collective.Comm to mpi.Interface.
type Comm struct {
	c collective.Comm
}

var _ mpi.Interface = (*Comm)(nil)

// New wraps c; c is already connected, so Init has nothing left to do.
func New(c collective.Comm) *Comm { return &Comm{c: c} }

// Init implements mpi.Interface; the rendezvous happened when c was made.
func (m *Comm) Init() error { return nil }

// Finalize waits for every rank (a barrier), then closes the connections.
// Unlike btracey/mpi's Network it never panics; a failed barrier is
// reported on stderr by the caller's next use, and the connections are
// closed regardless.
func (m *Comm) Finalize() {
	collective.Barrier(m.c)
	m.c.Close()
}

// Rank implements mpi.Interface.
func (m *Comm) Rank() int { return m.c.Rank() }

// Size implements mpi.Interface.
func (m *Comm) Size() int { return m.c.Size() }

func userTag(tag int) (collective.Tag, error) {
	if tag < 0 || tag >= 1<<31 {
		return 0, fmt.Errorf("mpi tag %d out of range [0, 2^31)", tag)
	}
	return collective.TagUser + collective.Tag(tag), nil
}

// Send gob-encodes data and sends it to destination under tag.
func (m *Comm) Send(data any, destination, tag int) error {
	t, err := userTag(tag)
	if err != nil {
		return err
	}
	var buf bytes.Buffer
	if err := gob.NewEncoder(&buf).Encode(data); err != nil {
		return fmt.Errorf("rank %d: send to rank %d: encode %T: %w", m.c.Rank(), destination, data, err)
	}
	return m.c.Send(destination, t, buf.Bytes())
}

// Receive waits for the message from source with tag and decodes it into
// data (a pointer of the type that was sent). Messages with other tags wait
// for their own Receive.
func (m *Comm) Receive(data any, source, tag int) error {
	t, err := userTag(tag)
	if err != nil {
		return err
	}
	p, err := m.c.Recv(source, t)
	if err != nil {
		return err
	}
	if err := gob.NewDecoder(bytes.NewReader(p)).Decode(data); err != nil {
		return fmt.Errorf("rank %d: receive from rank %d tag %d: decode into %T: %w", m.c.Rank(), source, tag, data, err)
	}
	return nil
}
