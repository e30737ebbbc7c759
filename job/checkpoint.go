package job

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"

	"github.com/klauspost/compress/zstd"

	"signsgd/job/cli"
)

// A checkpoint is one rank's whole training state after an epoch, in
// OUT/checkpoints/epoch-NNNN/rank-NNNN.ckpt.zst: the model's parameters,
// the batch-norm running statistics, the rank's momentum, the step and
// epoch counters (every random generator in a run is derived from the seed,
// the rank, the epoch and the step, so those counters are the generators'
// whole state) and, on rank 0, the metrics so far.
//
// The file is zstd-compressed; inside:
//
//	"SGCKPT1\n"  uint32 n  n bytes of JSON ckptHeader
//	params, state, momentum as little-endian float32s
//	metrics: the records as JSON lines (rank 0; empty elsewhere)
//	SHA-256 of everything above
//
// It is written atomically (temporary file, fsync, rename, fsync of the
// folder), so a crash leaves the previous checkpoint intact; a temporary
// file left by a crash is removed at the next start (removeTemporaries).
//
// A checkpoint belongs to its run: its header names the run (made at the
// run's first start and kept across resumes) and the start that wrote it.
// What a rank keeps and what --resume reads are decided by that, not by
// the folders' numbers (see ckptKeeper and resume), so checkpoints another
// run left in --out are neither deleted nor resumed from.
const ckptMagic = "SGCKPT1\n"

// keepCheckpoints is how many epochs of its own checkpoints a run keeps.
const keepCheckpoints = 3

type ckptHeader struct {
	Epoch       int    `json:"epoch"` // epochs finished
	Step        int    `json:"step"`  // steps finished
	Rank        int    `json:"rank"`
	Workers     int    `json:"workers"`
	Params      int    `json:"params"`
	State       []int  `json:"state"`
	Momentum    int    `json:"momentum"`
	MetricsLen  int    `json:"metrics_len"`
	Fingerprint string `json:"fingerprint"`     // of the configuration
	Run         string `json:"run,omitempty"`   // the run (newRunID at its first start)
	Start       string `json:"start,omitempty"` // the start of the run that wrote it
}

// checkpoint is the state a checkpoint holds.
type checkpoint struct {
	ckptHeader
	params, momentum []float32
	state            [][]float32
	records          []Record
}

// fingerprint identifies the configuration a checkpoint belongs to: the
// whole experiment except the number of epochs (a run may be extended),
// where its results go, and how it checks and tolerates faults.
func fingerprint(cfg *Config) string {
	c := *cfg
	c.Epochs, c.Out, c.CheckpointEvery, c.DigestEvery = 0, "", 0, 0
	c.Timeout, c.VoteDeadline, c.DropAfter = "", "", 0
	b, _ := json.Marshal(c)
	h := sha256.Sum256(b)
	return fmt.Sprintf("%x", h[:8])
}

func ckptDir(out string) string { return filepath.Join(out, "checkpoints") }

func ckptPath(out string, epoch, rank int) string {
	return filepath.Join(ckptDir(out), fmt.Sprintf("epoch-%04d", epoch), fmt.Sprintf("rank-%04d.ckpt.zst", rank))
}

func appendFloats(b []byte, x []float32) []byte {
	for _, v := range x {
		b = binary.LittleEndian.AppendUint32(b, math.Float32bits(v))
	}
	return b
}

// encodeCheckpoint is the uncompressed content of a checkpoint file.
func encodeCheckpoint(ck *checkpoint) ([]byte, error) {
	var metrics []byte
	for _, r := range ck.records {
		line, err := json.Marshal(r)
		if err != nil {
			return nil, err
		}
		metrics = append(append(metrics, line...), '\n')
	}
	h := ck.ckptHeader
	h.Params, h.Momentum, h.MetricsLen = len(ck.params), len(ck.momentum), len(metrics)
	h.State = h.State[:0]
	for _, s := range ck.state {
		h.State = append(h.State, len(s))
	}
	hj, err := json.Marshal(h)
	if err != nil {
		return nil, err
	}
	n := len(ckptMagic) + 4 + len(hj) + 4*(len(ck.params)+len(ck.momentum)) + len(metrics) + sha256.Size
	for _, s := range ck.state {
		n += 4 * len(s)
	}
	b := make([]byte, 0, n)
	b = append(b, ckptMagic...)
	b = binary.LittleEndian.AppendUint32(b, uint32(len(hj)))
	b = append(b, hj...)
	b = appendFloats(b, ck.params)
	for _, s := range ck.state {
		b = appendFloats(b, s)
	}
	b = appendFloats(b, ck.momentum)
	b = append(b, metrics...)
	sum := sha256.Sum256(b)
	return append(b, sum[:]...), nil
}

// decodeCheckpoint checks and parses the uncompressed content of a
// checkpoint; errors say what is wrong and at which offset.
func decodeCheckpoint(b []byte) (*checkpoint, error) {
	if len(b) < len(ckptMagic)+4+sha256.Size || string(b[:len(ckptMagic)]) != ckptMagic {
		return nil, errors.New("not a signsgd checkpoint (bad magic at offset 0)")
	}
	body, sum := b[:len(b)-sha256.Size], b[len(b)-sha256.Size:]
	if got := sha256.Sum256(body); !bytes.Equal(got[:], sum) {
		return nil, fmt.Errorf("checksum mismatch over %d bytes (corrupted)", len(body))
	}
	off := len(ckptMagic)
	hn := int(binary.LittleEndian.Uint32(body[off:]))
	off += 4
	if hn > len(body)-off {
		return nil, fmt.Errorf("header of %d bytes at offset %d runs past the end", hn, off)
	}
	ck := &checkpoint{}
	if err := json.Unmarshal(body[off:off+hn], &ck.ckptHeader); err != nil {
		return nil, fmt.Errorf("header at offset %d: %v", off, err)
	}
	off += hn
	floats := func(n int, what string) ([]float32, error) {
		if n < 0 || n > (len(body)-off)/4 {
			return nil, fmt.Errorf("%s: %d values at offset %d run past the end", what, n, off)
		}
		x := make([]float32, n)
		for i := range x {
			x[i] = math.Float32frombits(binary.LittleEndian.Uint32(body[off+4*i:]))
		}
		off += 4 * n
		return x, nil
	}
	var err error
	if ck.params, err = floats(ck.Params, "parameters"); err != nil {
		return nil, err
	}
	for i, n := range ck.State {
		s, err := floats(n, "state "+strconv.Itoa(i))
		if err != nil {
			return nil, err
		}
		ck.state = append(ck.state, s)
	}
	if ck.momentum, err = floats(ck.Momentum, "momentum"); err != nil {
		return nil, err
	}
	if ck.MetricsLen != len(body)-off {
		return nil, fmt.Errorf("metrics of %d bytes at offset %d, but %d bytes remain", ck.MetricsLen, off, len(body)-off)
	}
	for i, line := range strings.Split(strings.TrimSuffix(string(body[off:]), "\n"), "\n") {
		if line == "" {
			continue
		}
		var r Record
		if err := json.Unmarshal([]byte(line), &r); err != nil {
			return nil, fmt.Errorf("metrics line %d: %v", i+1, err)
		}
		ck.records = append(ck.records, r)
	}
	return ck, nil
}

// writeCheckpoint writes one rank's checkpoint, whole or not at all.
func writeCheckpoint(out string, ck *checkpoint) error {
	raw, err := encodeCheckpoint(ck)
	if err != nil {
		return err
	}
	path := ckptPath(out, ck.Epoch, ck.Rank)
	dir := filepath.Dir(path)
	enc, err := zstd.NewWriter(nil, zstd.WithEncoderLevel(zstd.SpeedFastest), zstd.WithEncoderConcurrency(1))
	if err != nil {
		return err
	}
	comp := enc.EncodeAll(raw, nil)
	enc.Close()
	// Another rank may remove the folder, empty for an instant, between
	// our MkdirAll and our file (see ckptKeeper.write): then make it again.
	for try := 0; ; try++ {
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return fmt.Errorf("checkpoint %s: %w", path, err)
		}
		if ckptDirMade != nil {
			ckptDirMade(dir)
		}
		err = cli.WriteFileAtomic(path, func(w io.Writer) error { _, err := w.Write(comp); return err })
		if err == nil || !errors.Is(err, os.ErrNotExist) || try == 3 {
			break
		}
	}
	if err != nil {
		return fmt.Errorf("checkpoint: %w", err)
	}
	syncDir(dir)
	return nil
}

// ckptDirMade, when set (by tests), runs between writeCheckpoint's MkdirAll
// and its file: where another rank's removal of the folder can fall.
var ckptDirMade func(dir string)

// ckptKeeper writes one rank's checkpoints of one run and keeps the newest
// keepCheckpoints of them: it removes only files this run wrote (mine),
// never another run's, whatever their epochs.
type ckptKeeper struct {
	out  string
	rank int
	mine []int // epochs of this run's checkpoints on this rank, oldest first
}

// write writes ck (its Run must be this run's) and removes this run's
// oldest checkpoints beyond keepCheckpoints, and their folders once empty.
func (k *ckptKeeper) write(ck *checkpoint) error {
	if err := writeCheckpoint(k.out, ck); err != nil {
		return err
	}
	k.mine = append(slices.DeleteFunc(k.mine, func(e int) bool { return e == ck.Epoch }), ck.Epoch)
	for len(k.mine) > keepCheckpoints {
		e := k.mine[0]
		k.mine = k.mine[1:]
		path := ckptPath(k.out, e, k.rank)
		os.Remove(path)
		os.Remove(filepath.Dir(path)) // fails unless every rank's file is gone
	}
	return nil
}

// syncDir makes a rename in dir durable.
func syncDir(dir string) {
	if d, err := os.Open(dir); err == nil {
		d.Sync()
		d.Close()
	}
}

// checkpointEpochs lists the epochs that have a checkpoint folder, oldest
// first.
func checkpointEpochs(out string) ([]int, error) {
	ents, err := os.ReadDir(ckptDir(out))
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return nil, nil
		}
		return nil, err
	}
	var epochs []int
	for _, e := range ents {
		if n, ok := strings.CutPrefix(e.Name(), "epoch-"); ok && e.IsDir() {
			if v, err := strconv.Atoi(n); err == nil && v > 0 {
				epochs = append(epochs, v)
			}
		}
	}
	sort.Ints(epochs)
	return epochs, nil
}

// maxCheckpointBytes bounds a checkpoint's uncompressed size (a bad file
// cannot make the loader allocate more).
func maxCheckpointBytes(params, momentum, state int) uint64 {
	return uint64(4*(params+momentum+state)) + 1<<26
}

// loadCheckpoint reads and checks one rank's checkpoint against the run: a
// checkpoint of epoch epoch (its folder's), which ends at step
// epoch x stepsPerEpoch.
func loadCheckpoint(path string, cfg *Config, rank, epoch, stepsPerEpoch int, params, momentum int, state [][]float32) (*checkpoint, error) {
	comp, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	nState := 0
	for _, s := range state {
		nState += len(s)
	}
	dec, err := zstd.NewReader(nil, zstd.WithDecoderMaxMemory(maxCheckpointBytes(params, momentum, nState)), zstd.WithDecoderConcurrency(1))
	if err != nil {
		return nil, err
	}
	defer dec.Close()
	raw, err := dec.DecodeAll(comp, nil)
	if err != nil {
		return nil, fmt.Errorf("zstd: %v (corrupted)", err)
	}
	ck, err := decodeCheckpoint(raw)
	if err != nil {
		return nil, err
	}
	switch {
	case ck.Epoch != epoch:
		return nil, fmt.Errorf("records epoch %d but lies in the folder of epoch %d (corrupted)", ck.Epoch, epoch)
	case ck.Step != epoch*stepsPerEpoch:
		return nil, fmt.Errorf("records step %d, but epoch %d ends at step %d (corrupted)", ck.Step, epoch, epoch*stepsPerEpoch)
	case ck.Fingerprint != fingerprint(cfg):
		return nil, fmt.Errorf("written by another configuration (fingerprint %s, this run %s)", ck.Fingerprint, fingerprint(cfg))
	case ck.Rank != rank || ck.Workers != cfg.Workers:
		return nil, fmt.Errorf("belongs to rank %d of %d, not rank %d of %d", ck.Rank, ck.Workers, rank, cfg.Workers)
	case len(ck.params) != params || len(ck.momentum) != momentum || len(ck.state) != len(state):
		return nil, fmt.Errorf("holds %d parameters and %d momentum values, the model has %d and %d", len(ck.params), len(ck.momentum), params, momentum)
	}
	for i, s := range state {
		if len(ck.state[i]) != len(s) {
			return nil, fmt.Errorf("state buffer %d has %d values, the model's %d", i, len(ck.state[i]), len(s))
		}
	}
	return ck, nil
}
