package job

import (
	"strings"
	"testing"
	"time"
)

// TestMissingPeer: ranks 0 and 1 of a job of 3 whose rank 2 never starts
// give up after --timeout (2 s here), and both name rank 2: rank 0 waited
// for it, rank 1 hears why from rank 0 (not a guess at a wrong secret).
func TestMissingPeer(t *testing.T) {
	start := time.Now()
	cmds, errs := startRanksWith(t, 3, t.TempDir(), func(r int) []string {
		if r == 2 {
			return nil
		}
		return []string{"--epochs", "1", "--timeout", "2s"}
	})
	for r, err := range waitAll(t, cmds, 2, 30*time.Second) {
		if r == 2 {
			continue
		}
		msg := errs[r].String()
		if err == nil || !strings.Contains(msg, "no answer from rank 2 within 2s") || strings.Contains(msg, "secret") || strings.Count(msg, "\n") != 1 {
			t.Errorf("rank %d: exit %v, said %q; want one line naming rank 2", r, err, msg)
		}
	}
	if d := time.Since(start); d > 10*time.Second {
		t.Errorf("the ranks gave up after %v, not after --timeout 2s", d)
	}
	t.Logf("%v: rank 1 said %s", time.Since(start).Round(time.Millisecond), strings.TrimSpace(errs[1].String()))
}
