package runs

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"signsgd/job"
)

// ErrNotRunFolder is what Load returns (wrapped, naming the folder) for a
// path that is not a run folder.
var ErrNotRunFolder = errors.New("not a run folder")

// Status says how far a run got.
type Status string

const (
	Finished   Status = "finished"   // summary.json is there
	Incomplete Status = "incomplete" // epochs but no summary.json: still running, or stopped
	Failed     Status = "failed"     // no epoch in metrics.jsonl
)

// Run is one run folder as read.
type Run struct {
	Dir     string         // as given
	Config  map[string]any // config.json, numbers as json.Number
	Records []job.Record   // metrics.jsonl's whole lines, in order
	Summary *job.Summary   // nil until the run finished
	// Skipped is the line number (1-based) of a partial or corrupt last
	// line of metrics.jsonl that was left out, 0 when there was none.
	Skipped int
}

// Status is finished, incomplete or failed.
func (r *Run) Status() Status {
	switch {
	case r.Summary != nil:
		return Finished
	case len(r.Records) == 0:
		return Failed
	}
	return Incomplete
}

// PlannedEpochs is config.json's "epochs", 0 when it has none.
func (r *Run) PlannedEpochs() int {
	if n, ok := r.Config["epochs"].(json.Number); ok {
		if v, err := strconv.Atoi(n.String()); err == nil && v > 0 {
			return v
		}
	}
	return 0
}

// Load reads the run folder dir. A path that is not a folder with
// config.json gives an error wrapping ErrNotRunFolder; a file that does not
// parse gives one naming it (and the line, in metrics.jsonl).
func Load(dir string) (*Run, error) {
	st, err := os.Stat(dir)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return nil, fmt.Errorf("%s: %w (no such folder)", dir, ErrNotRunFolder)
	case err != nil:
		return nil, err
	case !st.IsDir():
		return nil, fmt.Errorf("%s: %w (not a folder)", dir, ErrNotRunFolder)
	}
	r := &Run{Dir: dir}
	path := filepath.Join(dir, "config.json")
	b, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("%s: %w (no config.json)", dir, ErrNotRunFolder)
	}
	if err != nil {
		return nil, err
	}
	if r.Config, err = decodeObject(b); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	if r.Records, r.Skipped, err = readRecords(filepath.Join(dir, "metrics.jsonl")); err != nil {
		return nil, err
	}
	path = filepath.Join(dir, "summary.json")
	b, err = os.ReadFile(path)
	switch {
	case errors.Is(err, fs.ErrNotExist):
	case err != nil:
		return nil, err
	default:
		r.Summary = new(job.Summary)
		if err := json.Unmarshal(b, r.Summary); err != nil {
			return nil, fmt.Errorf("%s: %w", path, err)
		}
	}
	return r, nil
}

// decodeObject decodes one JSON object, keeping numbers as written.
func decodeObject(b []byte) (map[string]any, error) {
	d := json.NewDecoder(bytes.NewReader(b))
	d.UseNumber()
	var m map[string]any
	if err := d.Decode(&m); err != nil {
		return nil, err
	}
	if m == nil {
		return nil, errors.New("not a JSON object")
	}
	if _, err := d.Token(); err == nil {
		return nil, errors.New("more than one JSON value")
	}
	return m, nil
}

// readRecords reads metrics.jsonl (none yet is no error). The last line may
// be partial or corrupt (a run still writing, or killed while it did): it is
// left out and its number returned. A bad line before it is an error.
func readRecords(path string) (recs []job.Record, skipped int, err error) {
	b, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, 0, nil
	}
	if err != nil {
		return nil, 0, err
	}
	lines := bytes.Split(b, []byte("\n"))
	if len(lines[len(lines)-1]) == 0 {
		lines = lines[:len(lines)-1] // the newline ending the last line
	}
	for i, line := range lines {
		var r job.Record
		err := json.Unmarshal(line, &r)
		switch {
		case err != nil:
		case r.Epoch < 1:
			err = fmt.Errorf("epoch %d", r.Epoch)
		case len(recs) > 0 && r.Epoch <= recs[len(recs)-1].Epoch:
			err = fmt.Errorf("epoch %d after epoch %d", r.Epoch, recs[len(recs)-1].Epoch)
		}
		if err != nil {
			if i == len(lines)-1 {
				return recs, i + 1, nil
			}
			return nil, 0, fmt.Errorf("%s line %d: %v", path, i+1, err)
		}
		recs = append(recs, r)
	}
	return recs, 0, nil
}

// Expand turns the command line's folders into paths: globs are expanded
// (for when no shell did), repeats dropped, order kept. A glob that matches
// nothing is an error naming it.
func Expand(args []string) ([]string, error) {
	var out []string
	seen := map[string]bool{}
	for _, a := range args {
		paths := []string{a}
		if hasMeta(a) {
			m, err := filepath.Glob(a)
			if err != nil {
				return nil, fmt.Errorf("%s: %w", a, err)
			}
			if len(m) == 0 {
				return nil, fmt.Errorf("%s: matches nothing", a)
			}
			paths = m
		}
		for _, p := range paths {
			if key := filepath.Clean(p); !seen[key] {
				seen[key] = true
				out = append(out, p)
			}
		}
	}
	return out, nil
}

func hasMeta(s string) bool { return strings.ContainsAny(s, `*?[\`) }

// LoadAll expands args and loads every run folder, stopping at the first
// that is refused or does not read.
func LoadAll(args []string) ([]*Run, error) {
	dirs, err := Expand(args)
	if err != nil {
		return nil, err
	}
	runs := make([]*Run, 0, len(dirs))
	for _, d := range dirs {
		r, err := Load(d)
		if err != nil {
			return nil, err
		}
		runs = append(runs, r)
	}
	return runs, nil
}
