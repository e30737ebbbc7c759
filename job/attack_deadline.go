package job

import (
	"errors"
	"fmt"
	"time"

	"signsgd/collective"
)

// attendance is the Byzantines' round under --vote-deadline: like rank 0's
// vote, it must not need every rank, or one crashed or stalled rank would
// stop the job after all.
//
//   - A rank sends its signs to the leader for at most wait; a leader that
//     is lost, or takes longer than that, is not sent to again.
//   - The leader waits until wait after it starts receiving, then plans from
//     the signs that arrived; a rank lost, or silent at dropAfter rounds in a
//     row, is no longer waited for (its signs are still taken if they are
//     there).
//   - The leader sends each Byzantine its vote the same way, and a
//     Byzantine whose vote has not come within 1.5 waits abstains at this
//     step (after dropAfter such rounds in a row it no longer waits).
//
// wait is half the vote's deadline, so the Byzantines' votes still reach
// rank 0 in time when some rank is missing. Frames that come late belong
// to a past step and are skipped (the Comm drops stale frames).
type attendance struct {
	wait      time.Duration
	dropAfter int
	missed    map[int]int  // the leader's: rounds missed in a row, by rank
	gone      map[int]bool // ranks lost for good
}

func newAttendance(cfg *Config) *attendance {
	if cfg.voteDeadline <= 0 {
		return nil
	}
	return &attendance{wait: cfg.voteDeadline / 2, dropAfter: cfg.DropAfter, missed: map[int]int{}, gone: map[int]bool{}}
}

// lostPeer says whether err means the peer is gone or silent.
func lostPeer(err error) bool {
	return errors.Is(err, collective.ErrPeerLost) || errors.Is(err, collective.ErrTimeout)
}

// send sends msg to peer, giving up (for good) on a peer that is lost or
// does not take it within the wait.
func (a *attendance) send(c collective.Comm, peer int, msg []byte) error {
	if a.gone[peer] {
		return nil
	}
	done := make(chan error, 1)
	go func() { done <- c.Send(peer, collective.TagAttack, msg) }()
	t := time.NewTimer(a.wait)
	defer t.Stop()
	select {
	case err := <-done:
		if err != nil && lostPeer(err) {
			a.gone[peer] = true
			return nil
		}
		return err
	case <-t.C:
		// The Send ends at the Comm's timeout; the link is not used again.
		a.gone[peer] = true
		return nil
	}
}

// recv receives peer's frame of this round by deadline; ok is false if it
// is not there. With poll, a peer that missed dropAfter rounds in a row is
// not waited for: its frame is taken only if it is already there.
func (a *attendance) recv(c collective.Comm, peer int, deadline time.Time, poll bool) (p []byte, ok bool, err error) {
	if a.gone[peer] {
		return nil, false, nil
	}
	if poll && a.missed[peer] >= a.dropAfter {
		deadline = time.Now()
	}
	p, err = c.RecvBy(peer, collective.TagAttack, deadline)
	switch {
	case err == nil:
		a.missed[peer] = 0
		return p, true, nil
	case errors.Is(err, collective.ErrPeerLost):
		a.gone[peer] = true
		return nil, false, nil
	case errors.Is(err, collective.ErrTimeout):
		a.missed[peer]++
		return nil, false, nil
	}
	return nil, false, err
}

// sendLeader sends this rank's part of the round to the leader.
func (a *attackRound) sendLeader(c collective.Comm, msg []byte) error {
	return a.sendTo(c, a.leader(), msg)
}

// sendTo sends msg to peer in the round.
func (a *attackRound) sendTo(c collective.Comm, peer int, msg []byte) error {
	if a.att == nil {
		return c.Send(peer, collective.TagAttack, msg)
	}
	return a.att.send(c, peer, msg)
}

// recvOther receives the leader's frame from rank r (ok false: it did not
// come in time and the leader plans without it).
func (a *attackRound) recvOther(c collective.Comm, r int, deadline time.Time) ([]byte, bool, error) {
	if a.att == nil {
		p, err := c.Recv(r, collective.TagAttack)
		return p, err == nil, err
	}
	return a.att.recv(c, r, deadline, true)
}

// recvPlan receives this Byzantine's vote from the leader (ok false: it did
// not come in time, and this Byzantine abstains).
func (a *attackRound) recvPlan(c collective.Comm) ([]byte, bool, error) {
	if a.att == nil {
		p, err := c.Recv(a.leader(), collective.TagAttack)
		return p, err == nil, err
	}
	return a.att.recv(c, a.leader(), time.Now().Add(3*a.att.wait/2), true)
}

// roundDeadline is when the leader stops waiting for the others this round.
func (a *attackRound) roundDeadline() time.Time {
	if a.att == nil {
		return time.Time{}
	}
	return time.Now().Add(a.att.wait)
}

// arrivedOnly returns the entries of vecs at the indices in arrived (vecs
// itself when everything arrived, or when it is nil).
func arrivedOnly[T any](vecs []T, arrived []int) []T {
	if vecs == nil || len(arrived) == len(vecs) {
		return vecs
	}
	out := make([]T, len(arrived))
	for i, k := range arrived {
		out[i] = vecs[k]
	}
	return out
}

// checkWorkers, on rank 0 under --vote-deadline, fails the job once the
// deadline has dropped every other rank: rank 0 training alone is not the
// job that was asked for.
func (r *run) checkWorkers() error {
	if r.q == nil || r.rank != 0 || r.m == 1 {
		return nil
	}
	for k := 1; k < r.m; k++ {
		if r.q.Live(k) {
			return nil
		}
	}
	return fmt.Errorf("no worker left: every other rank was dropped (%v), after missing %d vote deadlines (--vote-deadline %s) in a row or losing its link",
		r.dropped, r.cfg.DropAfter, r.cfg.VoteDeadline)
}
