package collective

import (
	"errors"
	"fmt"
)

// ErrAborted is wrapped by the error of every receive from a rank that
// aborted the job (see Abort).
var ErrAborted = errors.New("job aborted")

// maxAbortReason bounds the reason an abort notice carries.
const maxAbortReason = 4096

// Abort tells every other rank, as far as it can, that this rank is ending
// the job and why: their pending and later receives from this rank fail
// at once with ErrAborted and the reason (so a rank waiting on rank 0
// learns which rank was lost, not only that rank 0 left). Best effort: a
// link that is already gone is skipped.
func Abort(c Comm, reason error) {
	msg := reason.Error()
	if len(msg) > maxAbortReason {
		msg = msg[:maxAbortReason]
	}
	for r := 0; r < c.Size(); r++ {
		if r != c.Rank() {
			c.Send(r, TagControl, []byte(msg))
		}
	}
}

// abortError is what an abort notice from peer turns into.
func abortError(peer int, payload []byte) error {
	return fmt.Errorf("%w by rank %d: %s", ErrAborted, peer, payload)
}
