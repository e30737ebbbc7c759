package comm

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestBestTopology: the best row per rate, M and family is the least step,
// SIGNSGD and SIGNUM in one family, SGD in its own.
func TestBestTopology(t *testing.T) {
	rows := []gridRow{
		{rate: "1gbit", m: 4, opt: "sgd", topo: "server", step: 3},
		{rate: "1gbit", m: 4, opt: "sgd", topo: "ring", step: 2},
		{rate: "1gbit", m: 4, opt: "signum", topo: "server", step: 1.5},
		{rate: "1gbit", m: 4, opt: "signsgd", topo: "shard", step: 1.2},
		{rate: "1gbit", m: 8, opt: "signum", topo: "allgather", step: 9},
	}
	b := bestTopology(rows)
	if r := b["1gbit,4,sgd"]; r.topo != "ring" {
		t.Errorf("SGD best %q, want ring", r.topo)
	}
	if r := b["1gbit,4,signs"]; r.topo != "shard" {
		t.Errorf("signs best %q, want shard", r.topo)
	}
	if r := b["1gbit,8,signs"]; r.topo != "allgather" || len(b) != 3 {
		t.Errorf("got %v", b)
	}
}

// TestSimGridCommand: a small grid writes its CSV, table and figure; at
// M = 8 on a slow link the shard vote beats the server vote and the ring
// beats the server mean, so the headline names them.
func TestSimGridCommand(t *testing.T) {
	out := t.TempDir()
	code, stdout, stderr := runBench(t, "scale", "--sim", "--dim", "100000", "--workers", "2,8", "--rates", "100mbit",
		"--compute", "10ms", "--costs=false", "--out", out)
	if code != 0 {
		t.Fatalf("exit %d: %s %s", code, stdout, stderr)
	}
	rows := readCSV(t, filepath.Join(out, "simgrid.csv"), []string{"rate", "workers", "optimizer", "topology", "exchange_seconds", "step_seconds"})
	if len(rows) != 2*5 {
		t.Errorf("%d rows, want 10", len(rows))
	}
	md, err := os.ReadFile(filepath.Join(out, "simgrid.md"))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(md), "| 100mbit | 8 | ring |") || !strings.Contains(string(md), "| shard |") {
		t.Errorf("headline does not name ring and shard at M = 8:\n%s", md)
	}
	if _, err := os.Stat(filepath.Join(out, "simgrid.png")); err != nil {
		t.Error(err)
	}
}
