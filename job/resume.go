package job

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"signsgd/collective"
)

// ckptEntry is one intact checkpoint a rank holds: which run wrote it, at
// which start, and its epoch.
type ckptEntry struct {
	Epoch int    `json:"e"`
	Run   string `json:"r"`
	Start string `json:"s"`
}

// resumeChoice is rank 0's answer: the set to resume from (Epoch 0: from
// scratch), or why the job cannot resume.
type resumeChoice struct {
	ckptEntry
	Refused string `json:"refused,omitempty"`
}

// scanCheckpoints returns the checkpoints of this rank in --out that load
// and check against this run (configuration, rank, sizes, and the epoch
// and step of their folder), newest first, with the newest loaded.
// Every bad one is named on stderr.
func (r *run) scanCheckpoints() ([]ckptEntry, *checkpoint) {
	cfg := r.cfg
	warn := func(msg string) { fmt.Fprintf(os.Stderr, "rank %d: %s\n", r.rank, msg) }
	epochs, err := checkpointEpochs(cfg.Out)
	if err != nil {
		warn(fmt.Sprintf("checkpoints in %s: %v", ckptDir(cfg.Out), err))
		return nil, nil
	}
	params, momentum, state := len(r.model.Params()), len(r.opt.state()), modelState(r.model)
	var found []ckptEntry
	var newest *checkpoint
	for _, e := range slices.Backward(epochs) {
		path := ckptPath(cfg.Out, e, r.rank)
		if _, err := os.Stat(path); errors.Is(err, os.ErrNotExist) {
			continue
		}
		ck, err := loadCheckpoint(path, cfg, r.rank, e, r.steps, params, momentum, state)
		if err != nil {
			warn(fmt.Sprintf("checkpoint %s: %v; not used", path, err))
			continue
		}
		found = append(found, ckptEntry{ck.Epoch, ck.Run, ck.Start})
		if newest == nil || ck.Run > newest.Run {
			newest = ck
		}
	}
	return found, newest
}

// chooseResume is rank 0's choice from every rank's intact checkpoints:
// the latest run (runs sort by when they first started), then its newest
// epoch whose checkpoints every rank holds, all written by the same start
// (so a set is never mixed from two attempts that may differ). ok is false
// if there is no such set.
func chooseResume(all [][]ckptEntry) (best ckptEntry, ok bool) {
	count := map[ckptEntry]int{}
	for _, entries := range all {
		for _, e := range entries {
			count[e]++
		}
	}
	for e, n := range count {
		if n == len(all) && (!ok || e.Run > best.Run || (e.Run == best.Run && e.Epoch > best.Epoch)) {
			best, ok = e, true
		}
	}
	return best, ok
}

// resume finds the checkpoint set to continue from (chooseResume), loads
// this rank's into the model and momentum, and returns it; nil: there is
// none, and the run starts from scratch (and says so). The run goes on as
// the run that wrote it, keeping its checkpoints. A set past --epochs is
// refused, naming both.
func (r *run) resume() (*checkpoint, error) {
	cfg, c := r.cfg, r.c
	found, newest := r.scanCheckpoints()
	b, _ := json.Marshal(found)
	all, err := collective.Gather(c, 0, b)
	if err != nil {
		return nil, fmt.Errorf("resume: %w", err)
	}
	var verdict []byte
	if r.rank == 0 {
		lists := make([][]ckptEntry, len(all))
		for k, b := range all {
			if err := json.Unmarshal(b, &lists[k]); err != nil {
				return nil, fmt.Errorf("resume: checkpoint list from rank %d: %v", k, err)
			}
		}
		var choice resumeChoice
		if best, ok := chooseResume(lists); ok {
			choice.ckptEntry = best
			if best.Epoch > cfg.Epochs {
				choice.Refused = fmt.Sprintf("--resume: the checkpoints to resume from, in %s, are at epoch %d, past --epochs %d (give --epochs %d or more, or another --out)",
					filepath.Dir(ckptPath(cfg.Out, best.Epoch, 0)), best.Epoch, cfg.Epochs, best.Epoch)
			}
		}
		verdict, _ = json.Marshal(choice)
	}
	verdict, err = collective.Broadcast(c, 0, verdict)
	if err != nil {
		return nil, fmt.Errorf("resume: %w", err)
	}
	var choice resumeChoice
	if err := json.Unmarshal(verdict, &choice); err != nil {
		return nil, fmt.Errorf("resume: rank 0's choice %q: %v", verdict, err)
	}
	if choice.Refused != "" {
		return nil, &usageError{choice.Refused}
	}
	if choice.Epoch == 0 {
		if r.rank == 0 {
			fmt.Fprintf(r.out, "resume: no checkpoint of this configuration that every rank holds intact in %s; starting from scratch\n", ckptDir(cfg.Out))
		}
		return nil, nil
	}
	path := ckptPath(cfg.Out, choice.Epoch, r.rank)
	ck := newest
	if ck == nil || ck.ckptHeader.Epoch != choice.Epoch || ck.Run != choice.Run || ck.Start != choice.Start {
		params, momentum, state := len(r.model.Params()), len(r.opt.state()), modelState(r.model)
		if ck, err = loadCheckpoint(path, cfg, r.rank, choice.Epoch, r.steps, params, momentum, state); err != nil {
			return nil, fmt.Errorf("resume: checkpoint %s: %w", path, err)
		}
	}
	copy(r.model.Params(), ck.params)
	copy(r.opt.state(), ck.momentum)
	for i, s := range modelState(r.model) {
		copy(s, ck.state[i])
	}
	// This run's checkpoints on this rank, up to the one resumed from,
	// are its own to keep or remove.
	r.runID = ck.Run
	for _, e := range slices.Backward(found) {
		if e.Run == ck.Run && e.Epoch <= ck.ckptHeader.Epoch {
			r.ckpts.mine = append(r.ckpts.mine, e.Epoch)
		}
	}
	if r.rank == 0 {
		fmt.Fprintf(r.out, "resume: from epoch %d (step %d), %s\n", ck.ckptHeader.Epoch, ck.Step, filepath.Dir(path))
	}
	return ck, nil
}

// removeTemporaries removes the temporary files a write interrupted by a
// crash left in --out: this rank's checkpoint files and, on rank 0, the
// output files'. No other run writes there meanwhile (rank 0 holds the
// lock), and each rank removes only its own.
func (r *run) removeTemporaries() {
	out := r.cfg.Out
	var paths []string
	if r.rank == 0 {
		for _, pat := range []string{".*.tmp-*", ".probe-*"} {
			m, _ := filepath.Glob(filepath.Join(out, pat))
			paths = append(paths, m...)
		}
	}
	mine := filepath.Base(ckptPath(out, 1, r.rank))
	m, _ := filepath.Glob(filepath.Join(ckptDir(out), "epoch-*", "."+mine+".tmp-*"))
	paths = append(paths, m...)
	var removed []string
	for _, p := range paths {
		if os.Remove(p) == nil {
			removed = append(removed, p)
		}
	}
	if len(removed) > 0 {
		fmt.Fprintf(os.Stderr, "rank %d: removed %d temporary %s left by an interrupted write: %s\n",
			r.rank, len(removed), plural(len(removed), "file", "files"), strings.Join(removed, ", "))
	}
}

func plural(n int, one, many string) string {
	if n == 1 {
		return one
	}
	return many
}

// keepRun sets up the checkpoints of a run started from scratch.
func (r *run) keepRun() {
	r.runID = r.startID
	r.ckpts = ckptKeeper{out: r.cfg.Out, rank: r.rank}
}
