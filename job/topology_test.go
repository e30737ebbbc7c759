package job

import (
	"bytes"
	"fmt"
	"math"
	"sync"
	"testing"
	"time"

	"signsgd/collective"
)

// trainInMemory runs the job of args on m in-process ranks and returns its
// summary and last metrics record.
func trainInMemory(t *testing.T, m int, args ...string) (Summary, map[string]any) {
	t.Helper()
	out := t.TempDir()
	cfg, err := ParseRun(append([]string{"--workers", fmt.Sprint(m), "--out", out, "--quiet"}, args...))
	if err != nil {
		t.Fatal(err)
	}
	comms := collective.NewMemWorld(m, 30*time.Second)
	errs := make([]error, m)
	var wg sync.WaitGroup
	for r, c := range comms {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[r] = Train(cfg, c, &bytes.Buffer{})
		}()
	}
	wg.Wait()
	for r, err := range errs {
		if err != nil {
			t.Fatalf("%v: rank %d: %v", args, r, err)
		}
	}
	recs := readMetrics(t, out)
	return readSummary(t, out), recs[len(recs)-1]
}

// TestJobTopologies trains a small logistic regression under every
// topology. Train itself fails unless every rank ends with the same model;
// on top of that the vote's topologies must give exactly the server's
// model (they count the same vote, ties and blind ranks included), and every
// topology's measured bytes must stay within its formula.
func TestJobTopologies(t *testing.T) {
	const m = 5
	d := 20*40 + 40 + 40*2 + 2
	for _, opt := range []string{"signum", "sgd"} {
		topologies := optTopologies(opt)
		var serverSum string
		for _, topo := range topologies {
			args := []string{"--opt", opt, "--topology", topo, "--epochs", "1", "--train-limit", "2000", "--blind", "1", "--tie", "random"}
			s, rec := trainInMemory(t, m, args...)
			if _, ok := rec["attack_flipped"]; ok {
				t.Errorf("%s over %s without Byzantines: metrics have attack_flipped: %v", opt, topo, rec)
			}
			formula := rec["formula_bytes_per_step"].(float64)
			sent := rec["bytes_sent_per_step"].(float64)
			if formula <= 0 || sent > formula || sent < formula/4 {
				t.Errorf("%s over %s: %v bytes sent per worker and step, formula %v", opt, topo, sent, formula)
			}
			if opt == "sgd" && math.Abs(sent-formula) >= 1 { // the formula is an integer mean over the workers
				t.Errorf("%s over %s: %v bytes sent per worker and step, formula %v (exact for floats)", opt, topo, sent, formula)
			}
			t.Logf("%s over %s: model %s, %v bytes sent per worker and step (formula %v)", opt, topo, s.ModelSHA256[:16], sent, formula)
			if topo == "server" {
				serverSum = s.ModelSHA256
				if want, _ := collective.VoteBytes(topo, d, m, 1); opt != "sgd" && int(formula) != want {
					t.Errorf("formula %v, want %d", formula, want)
				}
				continue
			}
			if opt != "sgd" && s.ModelSHA256 != serverSum {
				t.Errorf("%s over %s ended with model %s, over server with %s", opt, topo, s.ModelSHA256, serverSum)
			}
		}
	}
}
