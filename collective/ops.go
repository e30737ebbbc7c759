package collective

import (
	"fmt"

	"signsgd/kernels"
)

// The collectives below use the server topology: rank 0 gathers, computes
// and sends the result back. Every rank must call them in the same order.

// opError names the collective around a transport error.
func opError(op string, err error) error {
	return fmt.Errorf("%s: %w", op, err)
}

// Barrier returns once every rank has entered it.
func Barrier(c Comm) error {
	if c.Rank() != 0 {
		if err := c.Send(0, TagBarrier, nil); err != nil {
			return opError("barrier", err)
		}
		_, err := c.Recv(0, TagBarrier)
		if err != nil {
			return opError("barrier", err)
		}
		return nil
	}
	for r := 1; r < c.Size(); r++ {
		if _, err := c.Recv(r, TagBarrier); err != nil {
			return opError("barrier", err)
		}
	}
	for r := 1; r < c.Size(); r++ {
		if err := c.Send(r, TagBarrier, nil); err != nil {
			return opError("barrier", err)
		}
	}
	return nil
}

// Broadcast returns root's data on every rank (data is ignored elsewhere).
func Broadcast(c Comm, root int, data []byte) ([]byte, error) {
	if err := checkPeer(c, root, "broadcast"); err != nil {
		return nil, err
	}
	if c.Rank() != root {
		p, err := c.Recv(root, TagBroadcast)
		if err != nil {
			return nil, opError("broadcast", err)
		}
		return p, nil
	}
	for r := 0; r < c.Size(); r++ {
		if r != root {
			if err := c.Send(r, TagBroadcast, data); err != nil {
				return nil, opError("broadcast", err)
			}
		}
	}
	return data, nil
}

// Gather returns, on root, every rank's data indexed by rank; other ranks
// get nil.
func Gather(c Comm, root int, data []byte) ([][]byte, error) {
	if err := checkPeer(c, root, "gather"); err != nil {
		return nil, err
	}
	if c.Rank() != root {
		if err := c.Send(root, TagGather, data); err != nil {
			return nil, opError("gather", err)
		}
		return nil, nil
	}
	out := make([][]byte, c.Size())
	for r := range out {
		if r == root {
			out[r] = data
			continue
		}
		p, err := c.Recv(r, TagGather)
		if err != nil {
			return nil, opError("gather", err)
		}
		out[r] = p
	}
	return out, nil
}

// VoteServer runs the paper's majority vote: every rank sends its packed
// signs to rank 0, which decodes them (canonicalizing untrusted bits),
// counts the vote with kernels.Vote and sends the ternary result back.
// result receives sign(sum of votes) on every rank. It is the strict form
// of Quorum.Vote: every rank must vote. local must be canonical
// (kernels.Signs.Canonicalize: no Neg bit without its NZ bit, none past
// N), as the packing kernels write it: rank 0 counts its own signs as
// they are.
func VoteServer(c Comm, local, result kernels.Signs, opt kernels.VoteOptions) error {
	var strict *Quorum
	return strict.Vote(c, local, result, opt)
}

// firstError returns the first non-nil error of errs.
func firstError(errs []error) error {
	for _, err := range errs {
		if err != nil {
			return err
		}
	}
	return nil
}
