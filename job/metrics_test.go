package job

import (
	"io"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"signsgd/job/cli"
)

// shortFile writes only the first half of what it is given, then fails as
// a full disk does.
type shortFile struct{ *os.File }

func (f shortFile) Write(b []byte) (int, error) {
	n, _ := f.File.Write(b[:len(b)/2])
	return n, syscall.ENOSPC
}

// TestMetricsLineWholeOrNot: a metrics line whose write fails partway is
// cut back off the file, so metrics.jsonl only ever holds whole lines, and
// the next line lands right after the last whole one.
func TestMetricsLineWholeOrNot(t *testing.T) {
	path := filepath.Join(t.TempDir(), "metrics.jsonl")
	w, err := createMetrics(path, []Record{{Epoch: 1}})
	if err != nil {
		t.Fatal(err)
	}
	defer w.close()
	real := w.f.(*os.File)
	w.f = shortFile{real}
	if err := w.write(Record{Epoch: 2}); err == nil || !strings.Contains(err.Error(), "no space left") {
		t.Fatalf("a failed write: %v", err)
	}
	w.f = real
	if err := w.write(Record{Epoch: 3}); err != nil {
		t.Fatal(err)
	}
	b, _ := os.ReadFile(path)
	lines := strings.Split(strings.TrimSuffix(string(b), "\n"), "\n")
	if len(lines) != 2 || !strings.HasPrefix(lines[0], `{"epoch":1,`) || !strings.HasPrefix(lines[1], `{"epoch":3,`) || !strings.HasSuffix(string(b), "\n") {
		t.Fatalf("metrics.jsonl after a failed write:\n%s", b)
	}
}

// TestResumeDropsPartialMetricsLine: a resumed run drops a partial last
// line of metrics.jsonl, and the epochs recorded after its checkpoint, and
// says so.
func TestResumeDropsPartialMetricsLine(t *testing.T) {
	out := t.TempDir()
	mustFail(t, crashAt(25), append(resumeArgs, "--out", out)...) // epochs 1 and 2
	path := filepath.Join(out, "metrics.jsonl")
	f, err := os.OpenFile(path, os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	f.WriteString(`{"epoch":3,"lr":1e-4}` + "\n" + `{"epoch":4,"lr`)
	f.Close()
	os.RemoveAll(filepath.Dir(ckptPath(out, 2, 0))) // resume from epoch 1
	log := mustTrain(t, noFault, append(resumeArgs, "--out", out, "--resume")...)
	for _, want := range []string{"metrics.jsonl ended with a partial line (14 bytes, from an interrupted write); dropped",
		"metrics.jsonl: epochs 2-3, recorded after the checkpoint of epoch 1, are trained again", "resume: from epoch 1"} {
		if !strings.Contains(log, want) {
			t.Errorf("resume did not say %q:\n%s", want, log)
		}
	}
	if recs := readMetrics(t, out); len(recs) != 4 {
		t.Fatalf("%d epochs in metrics, want 4", len(recs))
	}
}

// TestWriteFileAtomic: what summary.json, config.json and checkpoints are
// written with. A write that fails partway leaves the previous file as it
// was and no temporary file; one that succeeds replaces it whole.
func TestWriteFileAtomic(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "summary.json")
	if err := os.WriteFile(path, []byte(`{"old":true}`+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	err := cli.WriteFileAtomic(path, func(w io.Writer) error {
		w.Write([]byte(`{"new":`))
		return syscall.ENOSPC
	})
	if err == nil || !strings.Contains(err.Error(), "summary.json") {
		t.Fatalf("a failed write: %v", err)
	}
	if b, _ := os.ReadFile(path); string(b) != `{"old":true}`+"\n" {
		t.Fatalf("after a failed write the file holds %q, want the old one", b)
	}
	if ents, _ := os.ReadDir(dir); len(ents) != 1 {
		t.Fatalf("%d files in the folder after a failed write, want the file alone", len(ents))
	}
	if err := writeJSONAtomic(path, map[string]bool{"new": true}); err != nil {
		t.Fatal(err)
	}
	if b, _ := os.ReadFile(path); !strings.Contains(string(b), `"new": true`) {
		t.Fatalf("after a write: %q", b)
	}
}
