package comm

import (
	"bytes"
	"encoding/csv"
	"fmt"
	"io"
	"maps"
	"math"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"gonum.org/v1/plot/plotter"

	"signsgd/bench"
	"signsgd/collective"
	"signsgd/job/cli"
	"signsgd/kernels"
)

// TestMain lets the test binary be the program: the launcher starts
// `<exe> bench rank ...` and os.Executable() is this binary in tests (and
// TestScaleInterrupt starts `<exe> bench scale ...`).
func TestMain(m *testing.M) {
	if len(os.Args) > 1 && os.Args[1] == "bench" {
		os.Exit(cli.Main(os.Args[1:], os.Stdout, os.Stderr, []cli.Command{{Name: "bench", Run: Command}}))
	}
	os.Exit(m.Run())
}

// runBench runs `signsgd bench args...` as the program does and returns its
// exit status and output.
func runBench(t *testing.T, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	var o, e bytes.Buffer
	code = cli.Main(append([]string{"bench"}, args...), &o, &e, []cli.Command{{Name: "bench", Run: Command}})
	return code, o.String(), e.String()
}

// readCSV returns a CSV file's rows as maps from column to cell.
func readCSV(t *testing.T, path string, want []string) []map[string]string {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	recs, err := csv.NewReader(f).ReadAll()
	if err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	for _, c := range want {
		if !contains(recs[0], c) {
			t.Errorf("%s: no column %q in %v", path, c, recs[0])
		}
	}
	var rows []map[string]string
	for _, r := range recs[1:] {
		m := map[string]string{}
		for i, c := range recs[0] {
			m[c] = r[i]
		}
		rows = append(rows, m)
	}
	return rows
}

func num(t *testing.T, row map[string]string, col string) float64 {
	t.Helper()
	v, err := strconv.ParseFloat(row[col], 64)
	if err != nil {
		t.Fatalf("column %s: %q: %v", col, row[col], err)
	}
	return v
}

// TestCommBytes runs bench comm with real ranks for M = 2, 3 and checks
// that the measured bytes equal the formula where it is exact (the fp32
// mean), never exceed it, stay below it for a dense vote (its all-ones
// mask is not sent), and that the CSV has a row per configuration with its
// columns.
func TestCommBytes(t *testing.T) {
	out := t.TempDir()
	code, stdout, stderr := runBench(t, "comm", "--workers", "2,3", "--dims", "200,3001", "--steps", "2", "--warmup", "1", "--gloo", "off", "--out", out)
	if code != 0 {
		t.Fatalf("exit %d: %s%s", code, stdout, stderr)
	}
	rows := readCSV(t, filepath.Join(out, "comm.csv"), []string{"optimizer", "topology", "workers", "dim",
		"bytes_sent_per_step", "bytes_recv_per_step", "formula_bytes_per_step", "seconds_per_step",
		"pack_seconds", "exchange_vote_seconds", "update_seconds", "bytes_match", "gloo_allreduce_seconds", "wire_floor_seconds", "exchange_over_floor",
		"exchange_cpu_seconds", "wire_floor_cpu_seconds", "exchange_cpu_over_floor"})
	pairs := len(meanTopologies) + 2*len(signTopologies)
	if want := pairs * 2 * 2; len(rows) != want {
		t.Fatalf("%d rows, want %d (%d optimizer-topology pairs x 2 M x 2 d)", len(rows), want, pairs)
	}
	seen := map[string]bool{}
	for _, r := range rows {
		key := fmt.Sprint(r["optimizer"], r["topology"], r["workers"], r["dim"])
		if seen[key] {
			t.Errorf("row %s twice", key)
		}
		seen[key] = true
		exact := r["optimizer"] == "sgd"
		sent, formula := num(t, r, "bytes_sent_per_step"), num(t, r, "formula_bytes_per_step")
		if exact && (r["bytes_match"] != "true" || sent != formula) {
			t.Errorf("%s: sent %v bytes/step, formula %v, match %s: want exactly the formula", key, sent, formula, r["bytes_match"])
		}
		// A dense vote (no zero sign in, none out for odd M) leaves its
		// all-ones mask off the wire: below the formula, which counts it.
		if r["optimizer"] != "sgd" && r["workers"] == "3" && sent >= formula {
			t.Errorf("%s: sent %v bytes/step, formula %v: the all-ones mask was sent", key, sent, formula)
		}
		if sent <= 0 || sent > formula {
			t.Errorf("%s: sent %v bytes/step, formula %v: want 0 < sent <= formula", key, sent, formula)
		}
		if num(t, r, "seconds_per_step") <= 0 || num(t, r, "exchange_vote_seconds") <= 0 {
			t.Errorf("%s: no time measured", key)
		}
		// Every exchange has its wire floor (the floor's own test checks
		// the bytes it moves), and the ratio of the two.
		if num(t, r, "wire_floor_seconds") <= 0 || num(t, r, "exchange_over_floor") <= 0 {
			t.Errorf("%s: wire floor %q, exchange / floor %q", key, r["wire_floor_seconds"], r["exchange_over_floor"])
		}
		// Both cost CPU: every rank's process makes system calls at least.
		if runtime.GOOS == "linux" && (num(t, r, "exchange_cpu_seconds") <= 0 || num(t, r, "wire_floor_cpu_seconds") <= 0) {
			t.Errorf("%s: CPU of the exchange %q, of the floor %q", key, r["exchange_cpu_seconds"], r["wire_floor_cpu_seconds"])
		}
	}
	for _, f := range []string{"comm.md", "comm-bytes.png", "comm-seconds.png"} {
		if st, err := os.Stat(filepath.Join(out, f)); err != nil || st.Size() == 0 {
			t.Errorf("%s: missing or empty (%v)", f, err)
		}
	}
	md, _ := os.ReadFile(filepath.Join(out, "comm.md"))
	if !strings.Contains(string(md), "bin/signsgd bench comm --workers 2,3") || !strings.Contains(string(md), "oversubscribed") ||
		!strings.Contains(string(md), bench.CPUModel()) {
		t.Errorf("comm.md lacks the command line, the CPU model or the note on shared cores:\n%s", md)
	}
}

// TestUsage: bad command lines exit 2 with one line and write nothing.
func TestUsage(t *testing.T) {
	out := filepath.Join(t.TempDir(), "never")
	for _, args := range [][]string{
		{},
		{"nosuch"},
		{"comm", "--opt", "adam", "--out", out},
		{"comm", "--workers", "0", "--out", out},
		{"comm", "--workers", "1,4", "--out", out},
		{"comm", "--topology", "mesh", "--out", out},
		{"comm", "--zeros", "1", "--out", out},
		{"comm", "--repeat", "0", "--out", out},
		{"comm", "--bogus"},
		{"scale", "--rates", "fast", "--out", out},
		{"scale", "--netns", "maybe", "--out", out},
		{"step", "--model", "vgg", "--out", out},
		{"step", "--batch", "0", "--out", out},
		{"step", "--security", "tls", "--out", out},
		{"comm", "--security", "seal,", "--out", out},
		{"comm", "extra"},
		{"kernels", "--kernels", "stem,nosuch"},
		{"kernels", "--kernels", "stem"},
		{"kernels", "--kernels", "stem,stem,stem,stem,stem"},
		{"kernels", "--calibrate", "--kernels", "stem", "--out", out},
		{"kernels", "--calibrate", "--record", out},
	} {
		code, _, stderr := runBench(t, args...)
		if code != 2 || strings.Count(stderr, "signsgd:") != 1 {
			t.Errorf("bench %v: exit %d, stderr %q: want 2 and one error line", args, code, stderr)
		}
	}
	if _, err := os.Stat(out); err == nil {
		t.Errorf("a bad command line created %s", out)
	}
}

// TestDrawSinglePoint: log axes with one value (one M, one line) or
// none at all still draw (gonum widens a one-value range by +-1, which a
// log scale refuses).
func TestDrawSinglePoint(t *testing.T) {
	dir := t.TempDir()
	for i, lines := range [][]series{
		{{name: "one", xy: plotter.XYs{{X: 4, Y: 0.0005}}}},
		{{name: "two", xy: plotter.XYs{{X: 4, Y: 0.0005}}}, {name: "same", xy: plotter.XYs{{X: 4, Y: 0.0005}}}},
		{{name: "x=1", xy: plotter.XYs{{X: 1, Y: 3}}}},
	} {
		path := filepath.Join(dir, fmt.Sprintf("p%d.png", i))
		pn := panel{title: "t", logX: true, logY: true, xTicks: []float64{lines[0].xy[0].X}, lines: lines}
		if err := drawPNG(path, "title", []panel{pn}); err != nil {
			t.Fatalf("case %d: %v", i, err)
		}
		if st, err := os.Stat(path); err != nil || st.Size() == 0 {
			t.Fatalf("case %d: no PNG (%v)", i, err)
		}
	}
}

// TestFitRecovers fits the exchange model to points made from known
// parameters: exactly, then with 2% noise.
func TestFitRecovers(t *testing.T) {
	want := exchangeModel{A: 2e-3, B: 1.1, C: 0.4e-9}
	var pts []fitPoint
	for _, bw := range []float64{10e9 / 8, 1e9 / 8, 100e6 / 8} {
		for _, m := range []int{2, 4, 8} {
			for _, per := range []float64{5.8e6, 93e6} {
				s := 2 * float64(m-1) * per
				pts = append(pts, fitPoint{Bytes: s, Bandwidth: bw, Seconds: want.predict(s, bw)})
			}
		}
	}
	got, fe, err := fitExchange(pts, 0)
	if err != nil {
		t.Fatal(err)
	}
	close := func(a, b float64) bool { return math.Abs(a-b) <= 1e-6*math.Abs(b) }
	if !close(got.A, want.A) || !close(got.B, want.B) || !close(got.C, want.C) || fe.MaxRel > 1e-9 {
		t.Errorf("exact points: fitted %+v (max rel. error %g), want %+v", got, fe.MaxRel, want)
	}
	rng := rand.New(rand.NewPCG(1, 2))
	noisy := make([]fitPoint, len(pts))
	for i, p := range pts {
		p.Seconds *= 1 + 0.02*(2*rng.Float64()-1)
		noisy[i] = p
	}
	got, fe, err = fitExchange(noisy, 0)
	if err != nil {
		t.Fatal(err)
	}
	if math.Abs(got.B-want.B) > 0.05*want.B || fe.MaxRel > 0.05 || fe.MedianRel > 0.02 || fe.N != len(pts) {
		t.Errorf("2%% noise: fitted %+v, error %+v; want B within 5%% of %g and errors of about 2%%", got, fe, want.B)
	}
	// Loopback only: B fixed, A and C fitted.
	var loop []fitPoint
	for _, s := range []float64{1e6, 1e7, 1e8} {
		loop = append(loop, fitPoint{Bytes: s, Bandwidth: math.Inf(1), Seconds: want.predict(s, math.Inf(1))})
	}
	got, _, err = fitExchange(loop, 1)
	if err != nil || !close(got.A, want.A) || !close(got.C, want.C) || got.B != 1 {
		t.Errorf("loopback points, B fixed at 1: fitted %+v (%v), want A %g C %g", got, err, want.A, want.C)
	}
	// A negative fitted term is dropped, not kept.
	neg := []fitPoint{{Bytes: 1e6, Bandwidth: 1e8, Seconds: 0.01}, {Bytes: 2e6, Bandwidth: 1e8, Seconds: 0.019}, {Bytes: 4e6, Bandwidth: 1e8, Seconds: 0.037}}
	if got, _, err := fitExchange(neg, 0); err != nil || got.A < 0 || got.B < 0 || got.C < 0 {
		t.Errorf("fit with a negative intercept: %+v, %v; want every term >= 0", got, err)
	}
}

// TestStep runs a whole step of the small MNIST network with two ranks.
func TestStep(t *testing.T) {
	out := t.TempDir()
	code, stdout, stderr := runBench(t, "step", "--model", "cnn", "--batch", "2", "--steps", "1", "--warmup", "1", "--out", out)
	if code != 0 {
		t.Fatalf("exit %d: %s%s", code, stdout, stderr)
	}
	rows := readCSV(t, filepath.Join(out, "step.csv"), []string{"optimizer", "forward_backward_seconds", "pack_seconds",
		"exchange_seconds", "vote_seconds", "update_seconds", "overhead_over_forward_backward"})
	if len(rows) != 3 {
		t.Fatalf("%d rows, want 3 (sgd, signsgd, signum)", len(rows))
	}
	for _, r := range rows {
		if num(t, r, "forward_backward_seconds") <= 0 || num(t, r, "overhead_over_forward_backward") <= 0 {
			t.Errorf("%s: forward/backward or overhead not measured: %v", r["optimizer"], r)
		}
		if r["dim"] != "1199882" {
			t.Errorf("%s: d = %s, want cnn's 1199882", r["optimizer"], r["dim"])
		}
	}
}

// TestCommSecurity: bench comm --security times each configuration under
// each mode in one run, with a security column, and says what each adds.
func TestCommSecurity(t *testing.T) {
	out := t.TempDir()
	code, stdout, stderr := runBench(t, "comm", "--opt", "signum", "--topology", "server", "--workers", "2", "--dims", "3001",
		"--security", "off,seal,auth", "--steps", "1", "--warmup", "1", "--gloo", "off", "--floor=false", "--out", out)
	if code != 0 {
		t.Fatalf("exit %d: %s%s", code, stdout, stderr)
	}
	rows := readCSV(t, filepath.Join(out, "comm.csv"), []string{"optimizer", "security", "exchange_vote_seconds"})
	if len(rows) != 3 || rows[0]["security"] != "off" || rows[1]["security"] != "seal" || rows[2]["security"] != "auth" {
		t.Fatalf("rows %v, want signum under off, seal, auth", rows)
	}
	md, _ := os.ReadFile(filepath.Join(out, "comm.md"))
	if !strings.Contains(string(md), "| signum | server | seal | 2 |") || !strings.Contains(string(md), "- signum server, M = 2, d = 3001, auth: exchange ") {
		t.Errorf("comm.md lacks the security column or the comparison with off:\n%s", md)
	}
}

// TestCommTimeline: --timeline writes every rank's milestones of every
// timed step: for the server vote a worker's decode of each chunk, for the
// server mean each result segment in place, rank 0's reduce of each; for
// the shard vote every rank's count of its shard and decode of every other
// one; one start and end per rank. comm.md sums them up.
func TestCommTimeline(t *testing.T) {
	out := t.TempDir()
	const m, d, steps = 3, 2_500_000, 2 // three vote chunks and ten mean segments, the last ones short
	code, stdout, stderr := runBench(t, "comm", "--opt", "sgd,signsgd", "--topology", "server,shard", "--workers", itoa(m), "--dims", itoa(d),
		"--steps", itoa(steps), "--warmup", "1", "--gloo", "off", "--floor=false", "--timeline", "--out", out)
	if code != 0 {
		t.Fatalf("exit %d: %s%s", code, stdout, stderr)
	}
	rows := readCSV(t, filepath.Join(out, "timeline.csv"), []string{"optimizer", "topology", "step", "rank", "milestone", "chunk", "ms"})
	count := map[string]int{}
	for _, r := range rows {
		if ms := num(t, r, "ms"); ms < 0 || ms > 60e3 {
			t.Errorf("%v: %v ms from the step's first milestone", r, ms)
		}
		count[r["optimizer"]+" "+r["topology"]+" "+r["rank"]+" "+r["milestone"]]++
	}
	want := map[string]int{}
	md, _ := os.ReadFile(filepath.Join(out, "comm.md"))
	for _, c := range []struct {
		opt, topo string
		chunks    int
	}{{"signsgd", "server", collective.ServerVoteFrames(d)}, {"sgd", "server", collective.MeanFrames(d)}, {"signsgd", "shard", m}} {
		if c.chunks < 3 {
			t.Fatalf("%s %s: %d chunks: the test wants several", c.opt, c.topo, c.chunks)
		}
		for r := range m {
			key := func(ms collective.Milestone) string { return c.opt + " " + c.topo + " " + itoa(r) + " " + ms.String() }
			want[key(collective.MilestoneStart)], want[key(collective.MilestoneEnd)] = steps, steps
			switch {
			case c.topo == "shard": // a rank's own shard, then every other one's result
				for _, ms := range []collective.Milestone{collective.MilestoneSent, collective.MilestoneIn, collective.MilestoneReduced, collective.MilestoneAnswered} {
					want[key(ms)] = steps
				}
				want[key(collective.MilestoneResult)], want[key(collective.MilestoneDecoded)] = steps*(m-1), steps*(m-1)
			case r == 0:
				for _, ms := range []collective.Milestone{collective.MilestoneIn, collective.MilestoneReduced, collective.MilestoneAnswered} {
					want[key(ms)] = steps * c.chunks
				}
			default:
				want[key(collective.MilestoneSent)], want[key(collective.MilestoneResult)] = steps, steps*c.chunks
				if c.opt != "sgd" {
					want[key(collective.MilestoneDecoded)] = steps * c.chunks
				}
			}
		}
		// The shard table follows its heading; a server row goes on with
		// its chunks.
		table, row := string(md), fmt.Sprintf("| %s | off | %d | %d |", c.opt, m, d)
		if c.topo == "shard" {
			_, table, _ = strings.Cut(table, "Shard vote: ")
		} else {
			table, _, _ = strings.Cut(table, "Shard vote: ")
			row += fmt.Sprintf(" %d |", c.chunks)
		}
		if !strings.Contains(table, row) {
			t.Errorf("comm.md lacks the timeline's row %s:\n%s", row, md)
		}
	}
	if !maps.Equal(count, want) {
		t.Errorf("milestones by optimizer, topology and rank %v, want %v", count, want)
	}
	if st, err := os.Stat(filepath.Join(out, "timeline.png")); err != nil || st.Size() == 0 {
		t.Errorf("timeline.png: missing or empty (%v)", err)
	}
	if !strings.Contains(string(md), "## Where an exchange's time goes") || !strings.Contains(string(md), "Shard vote: ") {
		t.Errorf("comm.md lacks the timeline's section or its shard table:\n%s", md)
	}
}

// timelineEvent is a made-up milestone of rank in timed step: ms after 1,000 s past
// the epoch.
func timelineEvent(step, rank int, m collective.Milestone, chunk int, ms float64) rankEvent {
	const base = int64(1000e9)
	return rankEvent{Rank: rank, stepEvent: stepEvent{Step: step, Event: collective.Event{Milestone: m, Chunk: chunk, At: base + int64(ms*1e6)}}}
}

// near compares summary figures in seconds, to a nanosecond.
func near(a, b float64) bool { return math.Abs(a-b) < 1e-9 }

// TestSummarizeTimeline: the summary of a server exchange's events, on
// made-up times (in ms from 1,000 s past the epoch): two steps whose
// medians are known, a step of rank 0 without chunk milestones left out.
func TestSummarizeTimeline(t *testing.T) {
	var evs []rankEvent
	for step, slow := range []float64{1, 2} { // step 1 takes every span twice as long
		at := func(ms float64) float64 { return 100*float64(step) + ms*slow }
		evs = append(evs, timelineEvent(step, 1, collective.MilestoneStart, -1, at(0)), timelineEvent(step, 0, collective.MilestoneStart, -1, at(0.5)))
		for k := range 3 { // chunk k: held at 1+3k, reduced 1 later, answered 0.5 after that
			h := 1 + 3*float64(k)
			evs = append(evs, timelineEvent(step, 0, collective.MilestoneIn, k, at(h)), timelineEvent(step, 0, collective.MilestoneReduced, k, at(h+1)),
				timelineEvent(step, 0, collective.MilestoneAnswered, k, at(h+1.5)), timelineEvent(step, 1, collective.MilestoneResult, k, at(h+2)))
		}
		evs = append(evs, timelineEvent(step, 1, collective.MilestoneEnd, -1, at(9.5)), timelineEvent(step, 0, collective.MilestoneEnd, -1, at(9)))
	}
	evs = append(evs, timelineEvent(2, 1, collective.MilestoneStart, -1, 300)) // a step without rank 0's chunks
	v, ok := summarizeTimeline(evs)
	if !ok {
		t.Fatal("no summary")
	}
	// Medians over the two steps (1x and 2x): 1.5x each span, in seconds.
	want := serverTimeline{Chunks: 3, FirstIn: 1.5e-3, Reduce: 1.5e-3, Answer: 0.75e-3, Between: 2.25e-3,
		Rank0Done: 1.5 * 8.5e-3, LastResult: 1.5 * 9e-3, End: 1.5 * 9.5e-3}
	if v.Chunks != want.Chunks || !near(v.FirstIn, want.FirstIn) || !near(v.Reduce, want.Reduce) || !near(v.Answer, want.Answer) ||
		!near(v.Between, want.Between) || !near(v.Rank0Done, want.Rank0Done) || !near(v.LastResult, want.LastResult) || !near(v.End, want.End) {
		t.Errorf("summary %+v, want %+v", v, want)
	}
	if _, ok := summarizeTimeline(evs[len(evs)-1:]); ok {
		t.Error("a summary of events without rank 0's chunks")
	}
}

// TestSummarizeShard: a shard vote's summary on made-up times (ms from
// 1,000 s past the epoch): three ranks, two steps, the second twice as
// slow, so every median is 1.5x the first step's figure.
func TestSummarizeShard(t *testing.T) {
	var evs []rankEvent
	for step, slow := range []float64{1, 2} {
		at := func(ms float64) float64 { return 100*float64(step) + ms*slow }
		for r := range 3 { // rank r holds its shard at 1+r, counts it in 1, answers it in 0.5, decodes the others by 5+r
			evs = append(evs, timelineEvent(step, r, collective.MilestoneStart, -1, at(float64(r)/10)), timelineEvent(step, r, collective.MilestoneIn, r, at(1+float64(r))),
				timelineEvent(step, r, collective.MilestoneReduced, r, at(2+float64(r))), timelineEvent(step, r, collective.MilestoneAnswered, r, at(2.5+float64(r))),
				timelineEvent(step, r, collective.MilestoneDecoded, (r+1)%3, at(5+float64(r))), timelineEvent(step, r, collective.MilestoneEnd, -1, at(6+float64(r))))
		}
	}
	v, ok := summarizeShard(evs)
	if !ok {
		t.Fatal("no summary")
	}
	// Held: 1, 2, 3 (x1) and 2, 4, 6 (x2): median 2.5 ms.
	want := shardTimeline{Held: 2.5e-3, Count: 1.5e-3, Answer: 0.75e-3, LastResult: 1.5 * 7e-3, End: 1.5 * 8e-3}
	if !near(v.Held, want.Held) || !near(v.Count, want.Count) || !near(v.Answer, want.Answer) || !near(v.LastResult, want.LastResult) || !near(v.End, want.End) {
		t.Errorf("summary %+v, want %+v", v, want)
	}
	if _, ok := summarizeShard(evs[:1]); ok {
		t.Error("a summary of events without a count")
	}
}

// TestCommRepeat: --repeat runs each configuration that many times, each
// run's exchange under every security mode and then its floor; the ratio
// to the floor is the median of the runs' own (each exchange over the
// floor of its run, as the log prints them), with their range.
func TestCommRepeat(t *testing.T) {
	out := t.TempDir()
	code, stdout, stderr := runBench(t, "comm", "--opt", "signsgd", "--topology", "shard", "--workers", "2", "--dims", "3001",
		"--steps", "2", "--warmup", "1", "--gloo", "off", "--repeat", "3", "--security", "off,seal", "--out", out)
	if code != 0 {
		t.Fatalf("exit %d: %s%s", code, stdout, stderr)
	}
	// The log: per run, off's exchange, its floor (with off's ratio to
	// it), then seal's exchange.
	var ratios, offEx, sealEx []float64
	ratioRE, exchangeRE := regexp.MustCompile(`exchange / floor ([0-9.]+)`), regexp.MustCompile(`security (\w+) .* exchange ([0-9.]+) ms`)
	for _, line := range strings.Split(stdout, "\n") {
		if m := ratioRE.FindStringSubmatch(line); m != nil {
			ratios = append(ratios, num(t, map[string]string{"ratio": m[1]}, "ratio"))
		} else if m := exchangeRE.FindStringSubmatch(line); m != nil {
			v := num(t, map[string]string{"exchange": m[2]}, "exchange")
			if m[1] == "seal" {
				sealEx = append(sealEx, v)
			} else {
				offEx = append(offEx, v)
			}
		}
	}
	if len(ratios) != 3 || len(offEx) != 3 || len(sealEx) != 3 {
		t.Fatalf("%d floors, %d off and %d sealed exchanges in the log, want 3 each:\n%s", len(ratios), len(offEx), len(sealEx), stdout)
	}
	rows := readCSV(t, filepath.Join(out, "comm.csv"), []string{"security", "repeats", "exchange_over_floor", "exchange_over_floor_min",
		"exchange_over_floor_max", "wire_floor_seconds"})
	if len(rows) != 2 || rows[0]["security"] != "off" || rows[1]["security"] != "seal" {
		t.Fatalf("rows %v, want off then seal", rows)
	}
	off, seal := rows[0], rows[1]
	near := func(a, b float64) bool { return math.Abs(a-b) <= 0.006*max(1, math.Abs(b)) } // the log prints two decimals
	if off["repeats"] != "3" || !near(num(t, off, "exchange_over_floor"), median(ratios)) ||
		!near(num(t, off, "exchange_over_floor_min"), slices.Min(ratios)) || !near(num(t, off, "exchange_over_floor_max"), slices.Max(ratios)) {
		t.Errorf("off: repeats %s, exchange / floor %s in [%s, %s]; the runs' own ratios are %v: want their median and range",
			off["repeats"], off["exchange_over_floor"], off["exchange_over_floor_min"], off["exchange_over_floor_max"], ratios)
	}
	// Sealed run i is over floor i: floor_i = offEx_i / ratio_i.
	var sealRatios []float64
	for i := range 3 {
		sealRatios = append(sealRatios, sealEx[i]/(offEx[i]/ratios[i]))
	}
	if got := num(t, seal, "exchange_over_floor"); seal["repeats"] != "3" || math.Abs(got-median(sealRatios)) > 0.05*median(sealRatios) {
		t.Errorf("seal: repeats %s, exchange / floor %v; the runs' own, from the log, %v (median %v)", seal["repeats"], got, sealRatios, median(sealRatios))
	}
	md, _ := os.ReadFile(filepath.Join(out, "comm.md"))
	if !strings.Contains(string(md), "each configuration ran 3 times, a run timing it under every mode in turn") {
		t.Errorf("comm.md does not say how the runs went:\n%s", md)
	}
}

// TestCombineRepeats: the runs' times are their medians, a ratio to the
// floor the median of the runs' own, and the bytes match only if every
// run's did.
func TestCombineRepeats(t *testing.T) {
	reps := []summary{
		{Exchange: 3, ExchangeCPU: 6, Step: 9, BytesMatch: true, WorkerSent: 100},
		{Exchange: 1, ExchangeCPU: 2, Step: 7, BytesMatch: false, WorkerSent: 100},
		{Exchange: 2, ExchangeCPU: 4, Step: 8, BytesMatch: true, WorkerSent: 100},
	}
	s := combineRepeats(reps)
	if s.Exchange != 2 || s.ExchangeCPU != 4 || s.Step != 8 || s.BytesMatch || s.WorkerSent != 100 {
		t.Errorf("combined %+v: want exchange 2, CPU 4, step 8 (the medians), bytes 100, no match", s)
	}
	r := commRow{summary: s, Floor: 1, OverFloor: []float64{3, 0.5, 1.5}}
	if got := r.overFloor(); got != 1.5 {
		t.Errorf("over floor %v, want 1.5, the median of the runs' ratios (not exchange / floor = 2)", got)
	}
	if got := ratioCell(r.overFloor(), r.OverFloor); got != "1.50 (0.50-3.00)" {
		t.Errorf("ratio cell %q, want 1.50 (0.50-3.00)", got)
	}
	if got := (commRow{summary: s, Floor: 4}).overFloor(); got != 0.5 {
		t.Errorf("one run's over floor %v, want exchange / floor = 0.5", got)
	}
	if got := ratioCell(0.5, []float64{0.5}); got != "0.50" {
		t.Errorf("one run's ratio cell %q, want 0.50 (no range)", got)
	}
}

// TestTotalMedian: a cost is summed over the ranks step by step before the
// median over steps, and is unknown (NaN) if any rank lacks a step's.
func TestTotalMedian(t *testing.T) {
	all := []rankTimes{
		{Exchange: make([]float64, 3), ExchangeCPU: []float64{1, 10, 4}},
		{Exchange: make([]float64, 3), ExchangeCPU: []float64{2, 0, 5}},
	}
	if got := totalMedian(all, exchangeCPU); got != 9 { // per step 3, 10, 9
		t.Errorf("total median %v, want 9 (the median of the per-step sums 3, 10, 9)", got)
	}
	all[1].ExchangeCPU[2] = math.NaN()
	if got := totalMedian(all, exchangeCPU); !math.IsNaN(got) {
		t.Errorf("total median with a rank's step unmeasured %v, want NaN", got)
	}
	all[1].ExchangeCPU = all[1].ExchangeCPU[:2]
	if got := totalMedian(all, exchangeCPU); !math.IsNaN(got) {
		t.Errorf("total median with a rank short of a step %v, want NaN", got)
	}
}

// TestMedianStep: the figure's step is the one whose last milestone is the
// median of the steps', counted from each step's own first one.
func TestMedianStep(t *testing.T) {
	var evs []rankEvent
	for step, span := range []int64{9e6, 1e6, 5e6, 7e6, 3e6} { // the median span, 5 ms, is step 2's
		at := int64(step) * 1e9
		evs = append(evs, rankEvent{Rank: 1, stepEvent: stepEvent{Step: step, Event: collective.Event{At: at}}}, rankEvent{Rank: 0, stepEvent: stepEvent{Step: step, Event: collective.Event{At: at + span}}})
	}
	if got := medianStep(evs); got != 2 {
		t.Errorf("median step %d, want 2 (spans 9, 1, 5, 7, 3 ms)", got)
	}
	if got := medianStep(evs[:8]); got != 2 {
		t.Errorf("median step of four %d, want 2 (spans 9, 1, 5, 7: the lower middle one)", got)
	}
	if got := medianStep(nil); got != -1 {
		t.Errorf("median step of no events %d, want -1", got)
	}
}

// TestStepSecurity: bench step --security times each optimizer under each
// mode in one run and says what sealing adds against off.
func TestStepSecurity(t *testing.T) {
	out := t.TempDir()
	code, stdout, stderr := runBench(t, "step", "--model", "mlp", "--batch", "2", "--opt", "signum", "--security", "off,seal",
		"--steps", "1", "--warmup", "1", "--out", out)
	if code != 0 {
		t.Fatalf("exit %d: %s%s", code, stdout, stderr)
	}
	rows := readCSV(t, filepath.Join(out, "step.csv"), []string{"optimizer", "security", "seconds_per_step"})
	if len(rows) != 2 || rows[0]["security"] != "off" || rows[1]["security"] != "seal" {
		t.Fatalf("rows %v, want signum under off, then seal", rows)
	}
	md, _ := os.ReadFile(filepath.Join(out, "step.md"))
	if !strings.Contains(string(md), "- signum server, seal: step ") {
		t.Errorf("step.md does not compare seal with off:\n%s", md)
	}
}

// labNamespaces lists this package's namespaces that exist now.
func labNamespaces(t *testing.T) []string {
	out, err := exec.Command("ip", "netns", "list").Output()
	if err != nil {
		t.Fatalf("ip netns list: %v", err)
	}
	var ns []string
	for _, l := range strings.Split(string(out), "\n") {
		if f := strings.Fields(l); len(f) > 0 && strings.HasPrefix(f[0], "sgb") {
			ns = append(ns, f[0])
		}
	}
	return ns
}

// TestScaleNetns runs bench scale with tiny d, in namespaces when this is
// root with ip and tc (skipped otherwise), and checks the rows, the
// projection and that every namespace it made is gone.
func TestScaleNetns(t *testing.T) {
	if why := netnsUsable(); why != "" {
		t.Skipf("namespaces: %s", why)
	}
	before := labNamespaces(t)
	out := t.TempDir()
	code, stdout, stderr := runBench(t, "scale", "--dim", "20000", "--workers", "1,2", "--steps", "2", "--warmup", "0",
		"--netns-workers", "2,3", "--rates", "1gbit,100mbit", "--netns-steps", "1", "--project-workers", "64,1024", "--project-gbit", "10", "--out", out)
	if code != 0 {
		t.Fatalf("exit %d: %s%s", code, stdout, stderr)
	}
	if after := labNamespaces(t); len(after) > len(before) {
		t.Errorf("namespaces left behind: %v (before: %v)", after, before)
	}
	rows := readCSV(t, filepath.Join(out, "scale.csv"), []string{"part", "optimizer", "workers", "rate", "exchange_seconds", "fit_exchange_seconds"})
	var netns int
	for _, r := range rows {
		if r["part"] == "netns" {
			netns++
			if num(t, r, "exchange_seconds") <= 0 || r["fit_exchange_seconds"] == "" {
				t.Errorf("netns row without a time or a fit: %v", r)
			}
		}
	}
	if want := 2 * 2 * 2; netns != want || len(rows) != want+2*2 {
		t.Errorf("%d rows, %d in namespaces; want %d and %d", len(rows), netns, want+4, want)
	}
	proj := readCSV(t, filepath.Join(out, "projection.csv"), []string{"workers", "gbit_per_second", "sgd_exchange_seconds", "signum_exchange_seconds"})
	if len(proj) != 2 {
		t.Errorf("projection: %d rows, want 2", len(proj))
	}
	// At 100 Mbit/s SGD's 80 kB per peer must take visibly longer than
	// SIGNUM's ~2.5 kB.
	for _, r := range rows {
		if r["part"] == "netns" && r["rate"] == "100mbit" && r["workers"] == "3" && r["optimizer"] == "sgd" && num(t, r, "exchange_seconds") < 0.005 {
			t.Errorf("SGD at 100 Mbit/s, M = 3: exchange %s s: the rate limit does not bite", r["exchange_seconds"])
		}
	}
}

// TestLabCleanupOnError: a lab that fails half-way deletes what it made.
func TestLabCleanupOnError(t *testing.T) {
	if why := netnsUsable(); why != "" {
		t.Skipf("namespaces: %s", why)
	}
	before := labNamespaces(t)
	if _, err := newNetLab(t.Context(), 300); err == nil {
		t.Fatal("a lab of 300 ranks was built; want an error")
	}
	lab, err := newNetLab(t.Context(), 2)
	if err != nil {
		t.Fatal(err)
	}
	if err := lab.limit(t.Context(), "fast"); err == nil {
		t.Error("rate \"fast\" accepted")
	}
	if err := lab.close(); err != nil {
		t.Error(err)
	}
	if after := labNamespaces(t); len(after) != len(before) {
		t.Errorf("namespaces left behind: %v (before: %v)", after, before)
	}
}

// TestScaleInterrupt interrupts bench scale while its ranks run in
// namespaces: the ranks must be killed, every namespace deleted, and the
// exit status non-zero.
func TestScaleInterrupt(t *testing.T) {
	if why := netnsUsable(); why != "" {
		t.Skipf("namespaces: %s", why)
	}
	before := labNamespaces(t)
	// 1 Mbit/s and 2 MB per peer: minutes per step unless interrupted.
	cmd := exec.Command(os.Args[0], "bench", "scale", "--dim", "500000", "--workers", "1", "--steps", "1", "--warmup", "0",
		"--netns-workers", "2", "--rates", "1mbit", "--netns-steps", "1", "--out", t.TempDir())
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(30 * time.Second)
	for len(labNamespaces(t)) < len(before)+3 && time.Now().Before(deadline) {
		time.Sleep(50 * time.Millisecond)
	}
	time.Sleep(time.Second) // the ranks are running
	cmd.Process.Signal(os.Interrupt)
	err := cmd.Wait()
	if err == nil {
		t.Errorf("interrupted bench scale exited 0")
	}
	if !strings.Contains(stderr.String(), "interrupted") {
		t.Errorf("stderr %q: want the interruption named", stderr.String())
	}
	if after := labNamespaces(t); len(after) > len(before) {
		t.Errorf("namespaces left behind after an interrupt: %v (before: %v)", after, before)
	}
}

// splitBytes keeps every byte and cuts frames at most one byte apart.
func TestSplitBytes(t *testing.T) {
	for _, c := range [][2]int{{12, 12}, {1461561, 12}, {5, 3}, {2494220, 12}, {100, 1}} {
		parts := splitBytes(c[0], c[1])
		sum := 0
		for _, p := range parts {
			sum += p
			if p < parts[len(parts)-1] || p > parts[0] || parts[0]-parts[len(parts)-1] > 1 {
				t.Errorf("splitBytes(%d, %d) = %v: not within one byte, largest first", c[0], c[1], parts)
				break
			}
		}
		if len(parts) != c[1] || sum != c[0] {
			t.Errorf("splitBytes(%d, %d) = %d parts of %d bytes", c[0], c[1], len(parts), sum)
		}
	}
}

func TestPairList(t *testing.T) {
	got, err := pairList("bench x", "pairs", "sgd:ring, signum:shard,signsgd:server")
	if err != nil {
		t.Fatal(err)
	}
	want := []optPair{{"sgd", "ring"}, {"signum", "shard"}, {"signsgd", "server"}}
	if !slices.Equal(got, want) {
		t.Fatalf("pairList = %v, want %v", got, want)
	}
	if got[0].kind() != "mean" || got[1].kind() != "vote" {
		t.Fatalf("kinds %q %q, want mean vote", got[0].kind(), got[1].kind())
	}
	for _, bad := range []string{"sgd:shard", "signum:ring", "adam:server", "sgd", "", "sgd:server,"} {
		if _, err := pairList("bench x", "pairs", bad); err == nil || !strings.Contains(err.Error(), "--pairs") {
			t.Errorf("pairList(%q) = %v, want an error naming --pairs", bad, err)
		}
	}
}

// A bad rate or latency is refused before any output is written.
func TestLinkListRefusesFirst(t *testing.T) {
	names, links, err := linkList("bench x", "1gbit, 100mbit", "50us")
	if err != nil || len(links) != 2 || names[1] != "100mbit" || !(links[0].Bandwidth > links[1].Bandwidth) {
		t.Fatalf("linkList = %v %v %v", names, links, err)
	}
	for _, cmd := range [][]string{{"simscale", "--rates", "fast"}, {"scale", "--sim", "--latency", "soon"}} {
		out := filepath.Join(t.TempDir(), "never")
		err := Command(append(append([]string{}, cmd...), "--out", out), io.Discard, io.Discard)
		if err == nil || !strings.Contains(err.Error(), "--rates") {
			t.Errorf("%v: %v, want an error naming --rates", cmd, err)
		}
		if _, serr := os.Stat(out); serr == nil {
			t.Errorf("%v: wrote %s before refusing", cmd, out)
		}
	}
}

// A table file that differs from the built-in copy is reported, with its
// path; the same bytes, no file, or no table are not.
func TestStaleTable(t *testing.T) {
	const path = "kernels/calibration/Vendor-1-2.json"
	built := []byte(`{"entries": []}`)
	for _, c := range []struct {
		what        string
		disk, built []byte
		stale       bool
	}{
		{"no file", nil, built, false},
		{"no table", built, nil, false},
		{"the same bytes", []byte(`{"entries": []}`), built, false},
		{"a changed file", []byte(`{"entries": [1]}`), built, true},
	} {
		err := staleTable(path, c.disk, c.built)
		if (err != nil) != c.stale || c.stale && !strings.Contains(err.Error(), path) {
			t.Errorf("%s: %v, want stale %v, naming %s", c.what, err, c.stale, path)
		}
	}
}

// TestKernelsRecord: --record keeps what bench kernels prints in
// chosen-VENDOR-FAMILY-MODEL.txt, the CPU's line first, creating the
// folder.
func TestKernelsRecord(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "results", "kernels")
	code, stdout, stderr := runBench(t, "kernels", "--models", "mlp", "--record", dir)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	path := filepath.Join(dir, "chosen-"+kernels.ThisCPU().Key()+".txt")
	got, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if string(got) != stdout || !strings.HasPrefix(stdout, "kernels: CPU ") || strings.Count(stdout, "\n") < 2 {
		t.Errorf("%s holds %q, stdout %q: want the same, the CPU's line and a choice", path, got, stdout)
	}
}
