package chaos

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"signsgd/job"
	"signsgd/job/cli"
)

// kinds are the rounds' faults, drawn in turn from a shuffled list.
var kinds = []string{"kill", "kill-twice", "stall", "signal", "deadline-kill", "deadline-stall"}

// options are the command's flags.
type options struct {
	rounds, workers, epochs int
	seed                    uint64
	out                     string
	limit                   time.Duration
	bin                     string
}

// Command is `signsgd chaos`.
func Command(args []string, stdout, stderr io.Writer) error {
	var o options
	fs := flag.NewFlagSet("chaos", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	fs.IntVar(&o.rounds, "rounds", 20, "fault rounds")
	fs.Uint64Var(&o.seed, "seed", 1, "seed of the rounds' draws (faults, ranks, moments)")
	fs.IntVar(&o.workers, "workers", 4, "ranks of each job")
	fs.IntVar(&o.epochs, "epochs", 30, "epochs of each job (about 30 ms each)")
	fs.StringVar(&o.out, "out", "results/chaos", "folder for the rounds' runs and chaos.md")
	fs.DurationVar(&o.limit, "limit", 60*time.Second, "time limit of one round")
	if ok, err := cli.ParseFlags(fs, args, stdout, ""); !ok {
		return err
	}
	if o.rounds < 1 || o.workers < 3 || o.epochs < 4 {
		return cli.UsageError("chaos: --rounds %d, --workers %d, --epochs %d: need at least 1, 3 and 4", o.rounds, o.workers, o.epochs)
	}
	var err error
	if o.bin, err = os.Executable(); err != nil {
		return err
	}
	if err := os.RemoveAll(o.out); err != nil {
		return err
	}
	if err := os.MkdirAll(o.out, 0o755); err != nil {
		return err
	}
	return o.run(stdout)
}

// result is one round's outcome.
type result struct {
	Round  int    `json:"round"`
	Kind   string `json:"kind"`
	Byz    int    `json:"byzantine"`
	Rank   int    `json:"rank"`            // the rank hurt (-1: the launcher)
	Cause  string `json:"cause,omitempty"` // the line that named the failure
	OK     bool   `json:"ok"`              // survived with nothing lost
	Why    string `json:"why,omitempty"`   // why not
	Missed bool   `json:"missed,omitempty"`
	Secs   float64
}

func (o *options) run(stdout io.Writer) error {
	start := time.Now()
	rng := rand.New(rand.NewPCG(o.seed, 0xc4a05))
	// The uninterrupted runs a resumed one must equal, by Byzantine count.
	ref := map[int]string{}
	for _, byz := range []int{0, 1} {
		dir := filepath.Join(o.out, fmt.Sprintf("reference-byzantine%d", byz))
		r := o.start(dir, byz, false)
		if err := r.wait(o.limit); err != nil {
			return fmt.Errorf("chaos: the reference run failed: %v\n%s", err, r.stderr.String())
		}
		sum, err := readSummary(dir)
		if err != nil {
			return fmt.Errorf("chaos: the reference run: %v", err)
		}
		ref[byz] = sum
	}
	var results []result
	var order []string
	for i := range o.rounds {
		if len(order) == 0 {
			order = slices.Clone(kinds)
			rng.Shuffle(len(order), func(a, b int) { order[a], order[b] = order[b], order[a] })
		}
		res := result{Round: i + 1, Kind: order[0], Byz: rng.IntN(2)}
		order = order[1:]
		t0 := time.Now()
		o.round(&res, rng, ref[res.Byz])
		res.Secs = time.Since(t0).Seconds()
		results = append(results, res)
		status := "survived, nothing lost"
		if !res.OK {
			status = "FAILED: " + res.Why
		}
		fmt.Fprintf(stdout, "chaos round %2d: %-14s byzantine %d, rank %2d: %s (%.1fs)", res.Round, res.Kind, res.Byz, res.Rank, status, res.Secs)
		if res.Cause != "" {
			fmt.Fprintf(stdout, "; cause named: %s", res.Cause)
		}
		fmt.Fprintln(stdout)
	}
	ok := 0
	for _, r := range results {
		if r.OK {
			ok++
		}
	}
	summary := fmt.Sprintf("chaos: %d rounds run, %d survived with nothing lost, %d failed (%s)", len(results), ok, len(results)-ok, time.Since(start).Round(time.Second))
	fmt.Fprintln(stdout, summary)
	if err := o.report(results, summary); err != nil {
		return err
	}
	if ok < len(results) {
		return fmt.Errorf("chaos: %d of %d rounds lost something (see %s)", len(results)-ok, len(results), filepath.Join(o.out, "chaos.md"))
	}
	return nil
}

// round runs one round into res.
func (o *options) round(res *result, rng *rand.Rand, refSum string) {
	dir := filepath.Join(o.out, fmt.Sprintf("round-%02d-%s", res.Round, res.Kind))
	deadline := strings.HasPrefix(res.Kind, "deadline")
	defer func() {
		if left := processesOf(dir); len(left) > 0 {
			res.OK, res.Why = false, fmt.Sprintf("processes left behind: %v", left)
			for _, pid := range left {
				syscall.Kill(pid, syscall.SIGKILL)
			}
		}
		if err := checkFiles(dir); err != nil && res.Why == "" {
			res.OK, res.Why = false, err.Error()
		}
	}()
	r := o.start(dir, res.Byz, deadline)
	res.Rank = 1 + rng.IntN(o.workers-1)
	if !deadline && rng.IntN(3) == 0 {
		res.Rank = 0
	}
	at := 1 + rng.IntN(o.epochs*2/3)
	sig := syscall.SIGKILL
	switch res.Kind {
	case "stall", "deadline-stall":
		sig = syscall.SIGSTOP
	case "signal":
		res.Rank, sig = -1, []syscall.Signal{syscall.SIGINT, syscall.SIGTERM}[rng.IntN(2)]
	}
	res.Missed = !r.inject(dir, at, res.Rank, sig)
	err := r.wait(o.limit)
	log := r.stderr.String()
	if deadline {
		o.checkDeadline(res, dir, err, log)
		return
	}
	if res.Missed { // the job was done before the fault: it must be whole
		sum, serr := readSummary(dir)
		res.OK = err == nil && serr == nil && sum == refSum
		if !res.OK {
			res.Why = fmt.Sprintf("the job ended before the fault (%v), model %.16s, uninterrupted %.16s", err, sum, refSum)
		}
		return
	}
	if err == nil {
		res.Why = "the job survived a fault it cannot survive"
		return
	}
	if res.Cause = namedCause(log, res.Rank); res.Cause == "" {
		res.Why = fmt.Sprintf("ended (%v) without naming a cause: %q", err, lastLine(log))
		return
	}
	if res.Kind == "kill-twice" {
		r := o.start(dir, res.Byz, false, "--resume")
		r.inject(dir, at+1+rng.IntN(o.epochs-at-1), 1+rng.IntN(o.workers-1), syscall.SIGKILL)
		r.wait(o.limit)
	}
	r = o.start(dir, res.Byz, false, "--resume")
	if err := r.wait(o.limit); err != nil {
		res.Why = fmt.Sprintf("the resumed run failed: %v: %q", err, lastLine(r.stderr.String()))
		return
	}
	sum, err := readSummary(dir)
	switch {
	case err != nil:
		res.Why = err.Error()
	case sum != refSum:
		res.Why = fmt.Sprintf("resumed model %.16s, uninterrupted %.16s", sum, refSum)
	default:
		res.OK = true
	}
}

// checkDeadline judges a --vote-deadline round: the job finishes every
// epoch without the rank hurt and records its drop.
func (o *options) checkDeadline(res *result, dir string, err error, log string) {
	if err != nil {
		res.Cause = namedCause(log, res.Rank)
		res.Why = fmt.Sprintf("the job did not go on without rank %d: %v: %q", res.Rank, err, lastLine(log))
		return
	}
	recs, rerr := readMetrics(dir)
	if rerr != nil || len(recs) != o.epochs {
		res.Why = fmt.Sprintf("%d epochs recorded (%v), want %d", len(recs), rerr, o.epochs)
		return
	}
	if _, err := readSummary(dir); err != nil {
		res.Why = err.Error()
		return
	}
	if res.Missed {
		res.OK = true
		return
	}
	dropped := fmt.Sprint(recs[len(recs)-1]["dropped_ranks"])
	if !strings.Contains(dropped, strconv.Itoa(res.Rank)) {
		res.Why = fmt.Sprintf("rank %d not recorded as dropped (%s)", res.Rank, dropped)
		return
	}
	res.Cause = fmt.Sprintf("dropped ranks %s", dropped)
	res.OK = true
}

// proc is one `signsgd run` launcher and its ranks.
type proc struct {
	cmd    *exec.Cmd
	stderr bytes.Buffer
	done   chan error
}

// start launches a job into dir.
func (o *options) start(dir string, byz int, deadline bool, extra ...string) *proc {
	args := []string{"run", "--dataset", "logreg", "--workers", strconv.Itoa(o.workers), "--byzantine", strconv.Itoa(byz),
		"--epochs", strconv.Itoa(o.epochs), "--checkpoint-every", "1", "--timeout", "5s", "--out", dir, "--quiet"}
	if deadline {
		args = append(args, "--vote-deadline", "1s", "--drop-after", "2")
	}
	p := &proc{cmd: exec.Command(o.bin, append(args, extra...)...), done: make(chan error, 1)}
	p.cmd.Stderr = &p.stderr
	if err := p.cmd.Start(); err != nil {
		p.done <- err
		return p
	}
	go func() { p.done <- p.cmd.Wait() }()
	return p
}

// wait waits for the launcher, killing it (and so, by their parent-death
// signal, its ranks) after limit.
func (p *proc) wait(limit time.Duration) error {
	select {
	case err := <-p.done:
		p.done <- err
		return err
	case <-time.After(limit):
		p.cmd.Process.Kill()
		err := <-p.done
		p.done <- err
		return fmt.Errorf("still running after %v: killed", limit)
	}
}

// inject waits until epochs are recorded in dir, then sends sig to rank
// (-1: the launcher). It returns false if the job ended first.
func (p *proc) inject(dir string, epochs, rank int, sig syscall.Signal) bool {
	for {
		select {
		case err := <-p.done:
			p.done <- err
			return false
		case <-time.After(5 * time.Millisecond):
		}
		if recs, _ := readMetrics(dir); len(recs) < epochs {
			continue
		}
		pid := p.cmd.Process.Pid
		if rank >= 0 {
			if pid = rankPID(pid, rank); pid == 0 {
				return false
			}
		}
		syscall.Kill(pid, sig)
		return true
	}
}

// rankPID finds the process of rank among the launcher's children.
func rankPID(launcher, rank int) int {
	want := fmt.Sprintf("\x00--rank\x00%d\x00", rank)
	ents, _ := os.ReadDir("/proc")
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		stat, err := os.ReadFile(filepath.Join("/proc", e.Name(), "stat"))
		if err != nil {
			continue
		}
		// pid (comm) state ppid ...: comm may hold spaces, so split after ')'.
		f := strings.Fields(string(stat[bytes.LastIndexByte(stat, ')')+1:]))
		if len(f) < 2 || f[1] != strconv.Itoa(launcher) {
			continue
		}
		if cmdline, _ := os.ReadFile(filepath.Join("/proc", e.Name(), "cmdline")); bytes.Contains(cmdline, []byte(want)) {
			return pid
		}
	}
	return 0
}

// processesOf lists the processes whose command line names dir.
func processesOf(dir string) []int {
	var pids []int
	ents, _ := os.ReadDir("/proc")
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil || pid == os.Getpid() {
			continue
		}
		if b, err := os.ReadFile(filepath.Join("/proc", e.Name(), "cmdline")); err == nil && bytes.Contains(b, []byte("\x00"+dir+"\x00")) {
			pids = append(pids, pid)
		}
	}
	return pids
}

// namedCause is the last line of log that names what happened to rank
// (-1: the signal the launcher got): the rank and its fate, as the
// launcher or a rank that lost it says it.
func namedCause(log string, rank int) string {
	re := regexp.MustCompile("interrupted by")
	if rank >= 0 {
		r := strconv.Itoa(rank)
		re = regexp.MustCompile(`rank ` + r + ` (failed|refused|closed the connection|crashed)|from rank ` + r + `: (timed out|connection lost)|no answer from rank ` + r + `\b`)
	}
	lines := strings.Split(strings.TrimSpace(log), "\n")
	for _, l := range slices.Backward(lines) {
		if re.MatchString(l) {
			return strings.TrimPrefix(l, "signsgd: ")
		}
	}
	return ""
}

func lastLine(s string) string {
	s = strings.TrimSpace(s)
	return s[strings.LastIndexByte(s, '\n')+1:]
}

// readMetrics parses dir's metrics.jsonl; a line that is not whole JSON is
// an error.
func readMetrics(dir string) ([]map[string]any, error) {
	b, err := os.ReadFile(filepath.Join(dir, "metrics.jsonl"))
	if err != nil {
		return nil, err
	}
	var recs []map[string]any
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		var m map[string]any
		if err := json.Unmarshal(sc.Bytes(), &m); err != nil {
			return recs, fmt.Errorf("metrics.jsonl line %d is not whole: %q", len(recs)+1, sc.Text())
		}
		recs = append(recs, m)
	}
	if len(b) > 0 && b[len(b)-1] != '\n' {
		return recs, errors.New("metrics.jsonl ends with a partial line")
	}
	return recs, nil
}

func readSummary(dir string) (string, error) {
	b, err := os.ReadFile(filepath.Join(dir, "summary.json"))
	if err != nil {
		return "", err
	}
	var s job.Summary
	if err := json.Unmarshal(b, &s); err != nil {
		return "", fmt.Errorf("summary.json is not whole: %v", err)
	}
	return s.ModelSHA256, nil
}

// checkFiles checks that what a round left in dir is whole.
func checkFiles(dir string) error {
	if _, err := readMetrics(dir); err != nil && !errors.Is(err, os.ErrNotExist) {
		return err
	}
	if _, err := readSummary(dir); err != nil && !errors.Is(err, os.ErrNotExist) {
		return err
	}
	return nil
}

// report writes chaos.md (the table, the command and the machine) and
// chaos.jsonl (one result a line).
func (o *options) report(results []result, summary string) error {
	var md, js bytes.Buffer
	host, _ := os.Hostname()
	fmt.Fprintf(&md, "# signsgd chaos\n\n`bin/signsgd chaos --rounds %d --seed %d --workers %d --epochs %d`: logistic regression, %d ranks on loopback, a checkpoint every epoch; %s, %d cores, %s, %s.\n\n%s.\n\n",
		o.rounds, o.seed, o.workers, o.epochs, o.workers, host, runtime.NumCPU(), runtime.Version(), time.Now().UTC().Format(time.DateOnly+" 15:04 MST"), summary)
	fmt.Fprintf(&md, "| round | fault | byzantine | rank | outcome | cause named | seconds |\n| --- | --- | --- | --- | --- | --- | --- |\n")
	for _, r := range results {
		outcome := "nothing lost"
		if !r.OK {
			outcome = "FAILED: " + r.Why
		}
		rank := strconv.Itoa(r.Rank)
		if r.Rank < 0 {
			rank = "launcher"
		}
		fmt.Fprintf(&md, "| %d | %s | %d | %s | %s | %s | %.1f |\n", r.Round, r.Kind, r.Byz, rank, outcome, strings.ReplaceAll(r.Cause, "|", "/"), r.Secs)
		b, _ := json.Marshal(r)
		js.Write(append(b, '\n'))
	}
	if err := cli.WriteFileAtomic(filepath.Join(o.out, "chaos.md"), func(w io.Writer) error { _, err := w.Write(md.Bytes()); return err }); err != nil {
		return err
	}
	return cli.WriteFileAtomic(filepath.Join(o.out, "chaos.jsonl"), func(w io.Writer) error { _, err := w.Write(js.Bytes()); return err })
}
