package job

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"os"

	"signsgd/job/cli"
)

// Record is one epoch's line in DIR/metrics.jsonl.
type Record struct {
	Epoch     int      `json:"epoch"` // 1-based, the epoch just finished
	LR        float64  `json:"lr"`
	TrainLoss Float    `json:"train_loss"`          // mean over the honest ranks' batches
	TestLoss  Float    `json:"test_loss"`           // full test set, after the epoch
	TestAcc   *float64 `json:"test_acc,omitempty"`  // classification only, in [0, 1]
	TestAcc5  *float64 `json:"test_acc5,omitempty"` // top-5, for more than 10 classes
	// Bytes per step of the algorithm's own traffic (vote or mean), frame
	// headers included: per worker (the mean over ranks 1..M-1), rank 0's,
	// and what the encoding's formula says a worker moves each way.
	BytesSentPerStep       float64 `json:"bytes_sent_per_step"`
	BytesRecvPerStep       float64 `json:"bytes_recv_per_step"`
	ServerBytesSentPerStep float64 `json:"server_bytes_sent_per_step"`
	ServerBytesRecvPerStep float64 `json:"server_bytes_recv_per_step"`
	FormulaBytesPerStep    int     `json:"formula_bytes_per_step"`
	// Bytes per step of the Byzantines' extra round, summed over all ranks.
	AttackBytesPerStep float64 `json:"attack_bytes_per_step"`
	// With Byzantine signs: the fraction of coordinates (over the epoch's
	// steps) where every other rank's sign agreed, and where the
	// Byzantines' votes flipped or zeroed the others' nonzero sum.
	AttackUnanimous *float64 `json:"attack_unanimous,omitempty"`
	AttackFlipped   *float64 `json:"attack_flipped,omitempty"`
	AttackZeroed    *float64 `json:"attack_zeroed,omitempty"`
	// The aggregator (sgd), the attack and its parameters (with
	// Byzantines), and how far the applied update lay from the honest
	// ranks' own: for sgd on the server, the mean over the epoch's steps of
	// the cosine similarity and the relative L2 distance between the
	// aggregate and the honest ranks' mean gradient; for the signs, the
	// fraction of coordinates where the vote's result differs from the sign
	// of the honest ranks' sum (counted by the Byzantine leader).
	Aggregator    string             `json:"aggregator,omitempty"`
	Attack        string             `json:"attack,omitempty"`
	AttackParams  map[string]float64 `json:"attack_params,omitempty"`
	UpdateCosine  *float64           `json:"update_cosine,omitempty"`
	UpdateRelDist *float64           `json:"update_rel_dist,omitempty"`
	SignDisagree  *float64           `json:"sign_disagree,omitempty"`
	// With --code: gradients a rank computes per step, the mean over the
	// ranks and the most any rank computed (1 without coding).
	GradsPerStep    float64 `json:"grads_per_step,omitempty"`
	GradsPerStepMax float64 `json:"grads_per_step_max,omitempty"`
	StepSeconds     float64 `json:"step_seconds"`  // rank 0's wall time per step
	EpochSeconds    float64 `json:"epoch_seconds"` // rank 0's training time this epoch
	EvalSeconds     float64 `json:"eval_seconds"`  // rank 0's test-set evaluation
	// --sim-link: simulated seconds per step, the slowest rank's (its clock
	// over the epoch), and of it the slowest rank's compute; the rest is
	// the exchange as the link model has it.
	SimStepSeconds    *float64 `json:"sim_step_seconds,omitempty"`
	SimComputeSeconds *float64 `json:"sim_compute_seconds,omitempty"`
	SimCommSeconds    *float64 `json:"sim_comm_seconds,omitempty"`
	Steps             int      `json:"steps"`
	// With --vote-deadline: how many votes each rank missed this epoch (by
	// rank), the ranks dropped so far, and the late votes rank 0 skipped.
	Abstentions  map[string]int `json:"abstentions,omitempty"`
	DroppedRanks []int          `json:"dropped_ranks,omitempty"`
	StaleVotes   int64          `json:"stale_votes,omitempty"`
}

// Summary is DIR/summary.json, written once the run has finished.
type Summary struct {
	Final         Record  `json:"final"`
	ModelSHA256   string  `json:"model_sha256"` // the same on every rank (checked)
	Parameters    int     `json:"parameters"`
	Ranks         int     `json:"ranks"`
	WallSeconds   float64 `json:"wall_seconds"`
	TrainRowsUsed int     `json:"train_rows_per_rank"`
}

// writeJSONAtomic writes v to path as indented JSON, whole or not at all.
func writeJSONAtomic(path string, v any) error {
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return err
	}
	return cli.WriteFileAtomic(path, func(w io.Writer) error {
		_, err := w.Write(append(b, '\n'))
		return err
	})
}

// metricsWriter appends one whole JSON line per epoch and syncs it, so a
// run that dies keeps every finished epoch: a line is written whole or not
// at all (a write that fails partway is cut back off the file).
type metricsWriter struct {
	f    appendFile
	size int64 // bytes of the whole lines in the file
}

// appendFile is what metricsWriter needs of its *os.File (opened to
// append).
type appendFile interface {
	io.WriteCloser
	Truncate(size int64) error
	Sync() error
	Name() string
}

// createMetrics starts path afresh with the records of the epochs already
// done (a resumed run's), written atomically, and opens it to append.
func createMetrics(path string, done []Record) (*metricsWriter, error) {
	if err := cli.WriteFileAtomic(path, func(w io.Writer) error {
		for _, r := range done {
			b, err := json.Marshal(r)
			if err != nil {
				return err
			}
			if _, err := w.Write(append(b, '\n')); err != nil {
				return err
			}
		}
		return nil
	}); err != nil {
		return nil, err
	}
	f, err := os.OpenFile(path, os.O_APPEND|os.O_WRONLY, 0o644)
	if err != nil {
		return nil, err
	}
	st, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, err
	}
	return &metricsWriter{f: f, size: st.Size()}, nil
}

// checkMetricsTail reports what a resumed run drops of the metrics.jsonl a
// previous start left at path: a partial last line (from a write cut
// short) and the epochs recorded after the checkpoint resumed from.
func checkMetricsTail(path string, resumedEpochs int, warn func(string)) {
	b, err := os.ReadFile(path)
	if err != nil || len(b) == 0 {
		return
	}
	if i := bytes.LastIndexByte(b, '\n'); i < len(b)-1 {
		warn(fmt.Sprintf("%s ended with a partial line (%d bytes, from an interrupted write); dropped", path, len(b)-1-i))
		b = b[:i+1]
	}
	if n := bytes.Count(b, []byte{'\n'}); n > resumedEpochs {
		warn(fmt.Sprintf("%s: epochs %d-%d, recorded after the checkpoint of epoch %d, are trained again", path, resumedEpochs+1, n, resumedEpochs))
	}
}

func (w *metricsWriter) write(r Record) error {
	b, err := json.Marshal(r)
	if err != nil {
		return err
	}
	b = append(b, '\n')
	n, err := w.f.Write(b)
	if err == nil && n < len(b) {
		err = io.ErrShortWrite
	}
	if err != nil {
		if n > 0 {
			if terr := w.f.Truncate(w.size); terr != nil {
				return fmt.Errorf("write %s: %w; removing the partial line: %v", w.f.Name(), err, terr)
			}
		}
		return fmt.Errorf("write %s: %w", w.f.Name(), err)
	}
	w.size += int64(n)
	return w.f.Sync()
}

func (w *metricsWriter) close() error { return w.f.Close() }

// progressLine is the terminal line of one epoch.
func progressLine(cfg *Config, r Record) string {
	acc := ""
	if r.TestAcc != nil {
		acc = fmt.Sprintf("  test_acc %.4f", *r.TestAcc)
	}
	if r.TestAcc5 != nil {
		acc += fmt.Sprintf("  top5 %.4f", *r.TestAcc5)
	}
	faults := ""
	if len(r.Abstentions) > 0 {
		faults = fmt.Sprintf("  abstentions %v", r.Abstentions)
	}
	if len(r.DroppedRanks) > 0 {
		faults += fmt.Sprintf("  dropped ranks %v", r.DroppedRanks)
	}
	if r.AttackFlipped != nil { // set with AttackZeroed and AttackUnanimous
		faults += fmt.Sprintf("  attack flips %.1f%% zeroes %.1f%%", 100**r.AttackFlipped, 100**r.AttackZeroed)
	}
	return fmt.Sprintf("epoch %3d/%d  lr %.1e  train_loss %.4f  test_loss %.4f%s  bytes/step/worker up %.0f down %.0f  step %s  epoch %s%s",
		r.Epoch, cfg.Epochs, r.LR, r.TrainLoss, r.TestLoss, acc, r.BytesSentPerStep, r.BytesRecvPerStep, fmtSeconds(r.StepSeconds), fmtSeconds(r.EpochSeconds), faults)
}

func fmtSeconds(s float64) string {
	switch {
	case s < 1e-3:
		return fmt.Sprintf("%.0fµs", s*1e6)
	case s < 1:
		return fmt.Sprintf("%.2fms", s*1e3)
	}
	return fmt.Sprintf("%.2fs", s)
}

// Float is a float64 that marshals NaN and infinities (a diverged run) as
// JSON null instead of failing.
type Float float64

func (f Float) MarshalJSON() ([]byte, error) {
	x := float64(f)
	if math.IsNaN(x) || math.IsInf(x, 0) {
		return []byte("null"), nil
	}
	return json.Marshal(x)
}

func (f *Float) UnmarshalJSON(b []byte) error {
	if string(b) == "null" {
		*f = Float(math.NaN())
		return nil
	}
	return json.Unmarshal(b, (*float64)(f))
}
