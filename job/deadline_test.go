package job

import (
	"bytes"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"signsgd/collective"
)

// trainFaulty runs the job of args on m in-process ranks over a
// collective.MemNetwork whose faults fault sets up, and returns each rank's
// error and the output folder (a fresh one unless args give --out). The
// network drops stale frames, as the TCP transport does under
// --vote-deadline.
func trainFaulty(t *testing.T, m int, fault func(n *collective.MemNetwork), args ...string) ([]error, string) {
	t.Helper()
	errs, out, _ := trainNet(t, m, fault, args...)
	return errs, out
}

// trainNet is trainFaulty, also returning what rank 0 printed.
func trainNet(t *testing.T, m int, fault func(n *collective.MemNetwork), args ...string) ([]error, string, string) {
	t.Helper()
	cfg, err := ParseRun(append([]string{"--workers", fmt.Sprint(m), "--out", t.TempDir(), "--quiet", "--timeout", "20s"}, args...))
	if err != nil {
		t.Fatal(err)
	}
	out := cfg.Out
	var log0 bytes.Buffer
	net := collective.NewMemNetwork(m, collective.MemOptions{Timeout: cfg.timeout, DropStale: cfg.voteDeadline > 0, Seed: 1})
	fault(net)
	errs := make([]error, m)
	var wg sync.WaitGroup
	rank0 := make(chan struct{})
	for r, c := range net.Comms() {
		wg.Add(1)
		go func() {
			defer wg.Done()
			w := &bytes.Buffer{}
			if r == 0 {
				w = &log0
			}
			errs[r] = Train(cfg, c, w)
			c.Close() // a rank that ends leaves, as its process would
			if r == 0 {
				close(rank0)
			}
		}()
	}
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	// Once rank 0 is done the others have a moment to leave; a stalled
	// rank is then released (to fail on its closed Comm).
	select {
	case <-rank0:
	case <-time.After(60 * time.Second):
		net.Close()
		<-done
		t.Fatalf("rank 0 did not end within 60 s: %v", errs)
	}
	select {
	case <-done:
	case <-time.After(time.Second):
		net.Close()
		<-done
	}
	return errs, out, log0.String()
}

// deadlineArgs is a short logistic regression under --vote-deadline: 5
// ranks, 16 steps an epoch, ranks 3 and 4 Byzantine (3 leads their round).
var deadlineArgs = []string{"--epochs", "3", "--train-limit", "2000", "--byzantine", "2", "--vote-deadline", "400ms", "--drop-after", "2"}

// TestDeadlineWithByzantines: under --vote-deadline the job goes on when a
// rank crashes or stalls also with Byzantine ranks, whichever rank it is:
// the Byzantines' round waits for nobody past its deadline (the leader
// plans from the signs that arrived; a Byzantine whose leader is gone
// abstains), and only the faulty rank is dropped.
func TestDeadlineWithByzantines(t *testing.T) {
	for _, tc := range []struct {
		name  string
		rank  int
		stall bool
	}{
		{"honest rank crashes", 2, false},
		{"Byzantine leader crashes", 3, false},
		{"other Byzantine crashes", 4, false},
		{"honest rank stalls", 1, true},
		{"Byzantine leader stalls", 3, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			errs, out := trainFaulty(t, 5, func(n *collective.MemNetwork) {
				if tc.stall {
					n.StallAt(tc.rank, 20)
				} else {
					n.CrashAt(tc.rank, 20)
				}
			}, deadlineArgs...)
			for r, err := range errs {
				if r != tc.rank && err != nil {
					t.Fatalf("rank %d failed: %v", r, err)
				}
			}
			recs := readMetrics(t, out)
			last := recs[len(recs)-1]
			if len(recs) != 3 || fmt.Sprint(last["dropped_ranks"]) != fmt.Sprintf("[%d]", tc.rank) {
				t.Fatalf("%d epochs, dropped ranks %v; want 3 and [%d]", len(recs), last["dropped_ranks"], tc.rank)
			}
			if tc.rank != 3 && last["attack_flipped"] == nil {
				t.Fatalf("the Byzantines stopped attacking: %v", last)
			}
		})
	}
}

// TestDeadlineNoWorkerLeft: a job whose deadline drops every worker ends
// with an error on rank 0 rather than training rank 0 alone.
func TestDeadlineNoWorkerLeft(t *testing.T) {
	errs, _ := trainFaulty(t, 3, func(n *collective.MemNetwork) {
		n.CrashAt(1, 5)
		n.StallAt(2, 10)
	}, "--epochs", "3", "--train-limit", "1200", "--vote-deadline", "300ms", "--drop-after", "2")
	if errs[0] == nil || !strings.Contains(errs[0].Error(), "no worker left") {
		t.Fatalf("rank 0: %v; want no worker left", errs[0])
	}
}
