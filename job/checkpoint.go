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
// folder), so a crash leaves the previous checkpoint intact.
const ckptMagic = "SGCKPT1\n"

// keepCheckpoints is how many epochs of checkpoints a rank keeps.
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
	Fingerprint string `json:"fingerprint"` // of the configuration
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

// writeCheckpoint writes one rank's checkpoint and removes its files of
// epochs older than the newest keepCheckpoints.
func writeCheckpoint(out string, ck *checkpoint) error {
	raw, err := encodeCheckpoint(ck)
	if err != nil {
		return err
	}
	path := ckptPath(out, ck.Epoch, ck.Rank)
	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("checkpoint %s: %w", path, err)
	}
	enc, err := zstd.NewWriter(nil, zstd.WithEncoderLevel(zstd.SpeedFastest), zstd.WithEncoderConcurrency(1))
	if err != nil {
		return err
	}
	comp := enc.EncodeAll(raw, nil)
	enc.Close()
	if err := WriteFileAtomic(path, func(w io.Writer) error { _, err := w.Write(comp); return err }); err != nil {
		return fmt.Errorf("checkpoint: %w", err)
	}
	syncDir(dir)
	epochs, _ := checkpointEpochs(out)
	for i := 0; i < len(epochs)-keepCheckpoints; i++ {
		os.Remove(ckptPath(out, epochs[i], ck.Rank))
		os.Remove(filepath.Dir(ckptPath(out, epochs[i], ck.Rank))) // once every rank's file is gone
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

// loadCheckpoint reads and checks one rank's checkpoint against the run.
func loadCheckpoint(path string, cfg *Config, rank int, params, momentum int, state [][]float32) (*checkpoint, error) {
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

// validCheckpoints returns the epochs whose checkpoint of this rank loads
// and checks, newest first, and the newest of them as loaded (so the usual
// resume, from the newest, reads it once), reporting every bad one to warn.
func validCheckpoints(cfg *Config, rank int, params, momentum int, state [][]float32, warn func(string)) ([]int, *checkpoint) {
	epochs, err := checkpointEpochs(cfg.Out)
	if err != nil {
		warn(fmt.Sprintf("checkpoints in %s: %v", ckptDir(cfg.Out), err))
		return nil, nil
	}
	var ok []int
	var newest *checkpoint
	for _, e := range slices.Backward(epochs) {
		path := ckptPath(cfg.Out, e, rank)
		if _, err := os.Stat(path); errors.Is(err, os.ErrNotExist) {
			continue
		}
		ck, err := loadCheckpoint(path, cfg, rank, params, momentum, state)
		if err != nil {
			warn(fmt.Sprintf("checkpoint %s: %v; not used", path, err))
			continue
		}
		if newest == nil {
			newest = ck
		}
		ok = append(ok, e)
	}
	return ok, newest
}
