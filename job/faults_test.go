package job

import (
	"bytes"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"signsgd/collective"
)

// waitFirstEpoch waits until rank 0 has written an epoch's metrics.
func waitFirstEpoch(t *testing.T, out string) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		if b, _ := os.ReadFile(filepath.Join(out, "metrics.jsonl")); len(b) > 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatal("no epoch finished")
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// waitAll waits for every command, failing the test after limit.
func waitAll(t *testing.T, cmds []*exec.Cmd, skip int, limit time.Duration) []error {
	t.Helper()
	errs := make([]error, len(cmds))
	for r, c := range cmds {
		if r == skip {
			continue
		}
		done := make(chan error, 1)
		go func() { done <- c.Wait() }()
		select {
		case errs[r] = <-done:
		case <-time.After(limit):
			t.Fatalf("rank %d still running after %v", r, limit)
		}
	}
	return errs
}

// TestVoteDeadlineSurvivesKill: with --vote-deadline a worker killed
// mid-run (SIGKILL) abstains from then on; the others finish, rank 0's
// metrics show the abstentions and the drop, and every rank ends with the
// same model.
func TestVoteDeadlineSurvivesKill(t *testing.T) {
	out := t.TempDir()
	cmds, errs := startRanks(t, 4, out, "--epochs", "25", "--vote-deadline", "2s", "--drop-after", "2")
	waitFirstEpoch(t, out)
	cmds[2].Process.Kill()
	cmds[2].Wait()
	for r, err := range waitAll(t, cmds, 2, 60*time.Second) {
		if r != 2 && err != nil {
			t.Fatalf("rank %d: %v\n%s", r, err, errs[r])
		}
	}
	recs := readMetrics(t, out)
	lastRec := recs[len(recs)-1]
	if len(recs) != 25 {
		t.Fatalf("%d epochs recorded, want 25", len(recs))
	}
	ab, _ := lastRec["abstentions"].(map[string]any)
	if ab["2"] == nil || ab["2"].(float64) != lastRec["steps"].(float64) {
		t.Fatalf("last epoch's abstentions %v, want rank 2 on all %v steps", ab, lastRec["steps"])
	}
	if fmt.Sprint(lastRec["dropped_ranks"]) != "[2]" {
		t.Fatalf("dropped ranks %v, want [2]", lastRec["dropped_ranks"])
	}
	if acc := lastRec["test_acc"].(float64); acc < 0.85 {
		t.Errorf("final accuracy %.4f with one of 4 ranks lost", acc)
	}
	t.Logf("rank 2 killed; %d epochs done, last: abstentions %v, dropped %v, test_acc %.4f", len(recs), ab, lastRec["dropped_ranks"], lastRec["test_acc"])
}

// TestVoteDeadlineLauncher: the local launcher with --vote-deadline goes on
// when a worker dies (here it SIGKILLs itself) and when one stalls, also
// when it is the Byzantines' leader (rank 3 of 4 with --byzantine 1); the
// launcher exits 0, says the job went on without it, and leaves no process
// behind.
func TestVoteDeadlineLauncher(t *testing.T) {
	for _, tc := range []struct {
		kind string
		rank int
		byz  string
	}{{"kill", 1, "0"}, {"stall", 1, "0"}, {"kill", 3, "1"}} {
		t.Run(fmt.Sprintf("%s/rank=%d/byzantine=%s", tc.kind, tc.rank, tc.byz), func(t *testing.T) {
			out := t.TempDir()
			cmd := exec.Command(signsgdBin, "run", "--workers", "4", "--byzantine", tc.byz, "--epochs", "3", "--vote-deadline", "1s", "--drop-after", "2",
				"--fault-rank", fmt.Sprint(tc.rank), "--fault-step", "70", "--fault-kind", tc.kind, "--out", out, "--quiet")
			var stderr bytes.Buffer
			cmd.Stderr = &stderr
			if err := cmd.Run(); err != nil {
				t.Fatalf("%v\n%s", err, stderr.String())
			}
			for _, want := range []string{fmt.Sprintf("launcher: rank %d ended early", tc.rank), fmt.Sprintf("launcher: the job went on without rank %d (--vote-deadline)", tc.rank)} {
				if !strings.Contains(stderr.String(), want) {
					t.Errorf("launcher did not say %q: %q", want, stderr.String())
				}
			}
			recs := readMetrics(t, out)
			if fmt.Sprint(recs[len(recs)-1]["dropped_ranks"]) != fmt.Sprintf("[%d]", tc.rank) {
				t.Fatalf("dropped ranks %v", recs[len(recs)-1]["dropped_ranks"])
			}
			if left := processesMentioning(out); len(left) > 0 {
				t.Fatalf("processes left behind: %v", left)
			}
		})
	}
}

// TestVoteDeadlineNoWorkerLeft: a job of 2 ranks whose worker dies ends
// with status 1, a failed run (rank 0 does not train alone), and the launcher does not claim
// the job went on.
func TestVoteDeadlineNoWorkerLeft(t *testing.T) {
	out := t.TempDir()
	b, err := exec.Command(signsgdBin, "run", "--workers", "2", "--epochs", "3", "--vote-deadline", "1s", "--drop-after", "2",
		"--fault-rank", "1", "--fault-step", "70", "--fault-kind", "kill", "--out", out, "--quiet").CombinedOutput()
	var ee *exec.ExitError
	if !errors.As(err, &ee) || ee.ExitCode() != 1 || !strings.Contains(string(b), "no worker left") || strings.Contains(string(b), "went on without") {
		t.Fatalf("exit %v, want status 1:\n%s", err, b)
	}
	if _, err := os.Stat(filepath.Join(out, "summary.json")); err == nil {
		t.Fatal("a summary.json for a job that failed")
	}
}

// processesMentioning lists the PIDs whose command line contains s.
func processesMentioning(s string) []string {
	var pids []string
	ents, _ := os.ReadDir("/proc")
	for _, e := range ents {
		b, err := os.ReadFile(filepath.Join("/proc", e.Name(), "cmdline"))
		if err == nil && bytes.Contains(b, []byte(s)) {
			pids = append(pids, e.Name())
		}
	}
	return pids
}

// TestIntruders connects to rank 0's port while the job sets up, with
// random bytes, a well-formed hello signed with a wrong secret, and a frame
// announcing an oversized payload: each is refused and logged with its
// address, and the run ends with the same model as one without intruders.
func TestIntruders(t *testing.T) {
	flags := []string{"--epochs", "2"}
	clean := t.TempDir()
	cmds, errs := startRanks(t, 3, clean, flags...)
	for r, err := range waitAll(t, cmds, -1, 60*time.Second) {
		if err != nil {
			t.Fatalf("rank %d: %v\n%s", r, err, errs[r])
		}
	}

	out := t.TempDir()
	jobHash := collective.JobHash("signsgd")
	header := func(tag collective.Tag, n int) []byte {
		h := []byte{'S', 'G', 2, 0}
		for _, v := range []uint32{uint32(tag), 0, uint32(n), jobHash, 0} {
			h = binary.LittleEndian.AppendUint32(h, v)
		}
		return h
	}
	intruders := []func(conn net.Conn){
		func(conn net.Conn) { // random bytes
			b := make([]byte, 4096)
			rand.Read(b)
			conn.Write(b)
		},
		func(conn net.Conn) { // a hello for rank 1, signed with a wrong secret
			hdr := make([]byte, collective.HeaderSize)
			if _, err := conn.Read(hdr); err != nil {
				return
			}
			challenge := make([]byte, 32)
			conn.Read(challenge)
			body := binary.LittleEndian.AppendUint32(nil, 1)
			body = binary.LittleEndian.AppendUint32(body, 3)
			for _, s := range []string{"signsgd", "127.0.0.1:9"} {
				body = binary.LittleEndian.AppendUint16(body, uint16(len(s)))
				body = append(body, s...)
			}
			body = append(body, byte(collective.SecurityOff), 1) // transport security, AES-GCM
			nonce := make([]byte, 32)
			rand.Read(nonce)
			body = append(body, nonce...)
			m := hmac.New(sha256.New, []byte("a-wrong-secret-of-some-length"))
			m.Write([]byte("signsgd hello\x00"))
			m.Write(challenge)
			m.Write(body)
			body = m.Sum(body)
			conn.Write(append(header(collective.TagHello, len(body)), body...))
		},
		func(conn net.Conn) { // a frame announcing 1 GiB
			conn.Write(header(collective.TagHello, 1<<30))
		},
	}
	// The intruders connect before the ranks start, so rank 0 meets them
	// first, during the rendezvous.
	cmds, errs = startRanksAfter(t, 3, out, func(addr string) {
		for _, in := range intruders {
			conn, err := net.Dial("tcp", addr)
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { conn.Close() })
			go in(conn)
		}
	}, flags...)
	for r, err := range waitAll(t, cmds, -1, 60*time.Second) {
		if err != nil {
			t.Fatalf("rank %d: %v\n%s", r, err, errs[r])
		}
	}
	log := errs[0].String()
	for _, want := range []string{"bad frame: magic", "authentication failed (wrong secret)", "exceeds the bound"} {
		if !strings.Contains(log, want) || !strings.Contains(log, "refused connection from 127.0.0.1:") {
			t.Errorf("rank 0 logged no refusal with %q and an address: %q", want, log)
		}
	}
	if a, b := readSummary(t, clean).ModelSHA256, readSummary(t, out).ModelSHA256; a != b {
		t.Fatalf("model %s with intruders, %s without", b, a)
	}
}

// TestResume: a run that fails in epoch 3 and is resumed ends with the
// model of an uninterrupted run; a corrupted newest checkpoint is named
// and the previous one used.
func TestResume(t *testing.T) {
	flags := []string{"run", "--workers", "3", "--epochs", "4", "--checkpoint-every", "1"}
	run := func(out string, extra ...string) (string, error) {
		cmd := exec.Command(signsgdBin, append(append(append([]string{}, flags...), "--out", out), extra...)...)
		b, err := cmd.CombinedOutput()
		return string(b), err
	}
	ref := t.TempDir()
	if log, err := run(ref); err != nil {
		t.Fatalf("%v\n%s", err, log)
	}
	steps := int(readMetrics(t, ref)[0]["steps"].(float64))

	out := t.TempDir()
	if log, err := run(out, "--fault-rank", "1", "--fault-step", fmt.Sprint(2*steps+steps/2)); err == nil {
		t.Fatalf("the faulty run succeeded:\n%s", log)
	}
	if n := len(readMetrics(t, out)); n != 2 {
		t.Fatalf("%d epochs recorded before the fault, want 2", n)
	}
	// Flip a byte in the middle of rank 1's newest checkpoint.
	bad := ckptPath(out, 2, 1)
	b, err := os.ReadFile(bad)
	if err != nil {
		t.Fatal(err)
	}
	b[len(b)/2] ^= 0x40
	if err := os.WriteFile(bad, b, 0o644); err != nil {
		t.Fatal(err)
	}
	log, err := run(out, "--resume")
	if err != nil {
		t.Fatalf("resume: %v\n%s", err, log)
	}
	if !strings.Contains(log, "checkpoint "+bad+": ") || !strings.Contains(log, "not used") {
		t.Errorf("the corrupted checkpoint was not named: %q", log)
	}
	if !strings.Contains(log, "resume: from epoch 1") {
		t.Errorf("did not resume from epoch 1: %q", log)
	}
	if a, b := readSummary(t, ref).ModelSHA256, readSummary(t, out).ModelSHA256; a != b {
		t.Fatalf("resumed run ended with model %s, the uninterrupted one with %s", b, a)
	}
	recs := readMetrics(t, out)
	for i, r := range recs {
		if int(r["epoch"].(float64)) != i+1 {
			t.Fatalf("metrics after resume: epochs %v", recs)
		}
	}
	if len(recs) != 4 {
		t.Fatalf("%d epochs in metrics after resume, want 4", len(recs))
	}
}

// TestDigestNamesDivergentRank: a rank whose model silently changes is
// named at the next model comparison.
func TestDigestNamesDivergentRank(t *testing.T) {
	out := t.TempDir()
	b, err := exec.Command(signsgdBin, "run", "--workers", "4", "--epochs", "2", "--digest-every", "10",
		"--fault-rank", "2", "--fault-step", "25", "--fault-kind", "diverge", "--out", out, "--quiet").CombinedOutput()
	if err == nil {
		t.Fatalf("divergence not detected:\n%s", b)
	}
	if !strings.Contains(string(b), "models diverged after step 30: ranks [2] differ from ranks [0 1 3]") {
		t.Fatalf("got %s", b)
	}
}

// TestStalledRankWithoutDeadline: a rank that stops answering, without
// --vote-deadline, ends the job after --timeout (3 s here) with an error naming it,
// and the launcher leaves no process behind.
func TestStalledRankWithoutDeadline(t *testing.T) {
	out := t.TempDir()
	start := time.Now()
	b, err := exec.Command(signsgdBin, "run", "--workers", "3", "--epochs", "5", "--timeout", "3s",
		"--fault-rank", "2", "--fault-step", "70", "--fault-kind", "stall", "--out", out, "--quiet").CombinedOutput()
	if err == nil {
		t.Fatalf("a stalled rank went unnoticed:\n%s", b)
	}
	if !strings.Contains(string(b), "rank 0: recv vote from rank 2: timed out") {
		t.Fatalf("the error does not name the stalled rank:\n%s", b)
	}
	if left := processesMentioning(out); len(left) > 0 {
		t.Fatalf("processes left behind: %v", left)
	}
	t.Logf("job ended %v after it started: %s", time.Since(start).Round(time.Millisecond), strings.SplitN(string(b), "\n", 2)[0])
}
