package comm

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"time"

	"signsgd/job/spawn"
)

// launcher starts the ranks of one configuration as processes of exe
// (this program: `exe bench rank ...`) and returns what rank 0 gathered.
type launcher struct {
	exe string
	// limit bounds one configuration, start to end.
	limit time.Duration
}

// secretEnv passes the configuration's secret (collective.TCPOptions.Secret)
// to its ranks, in the environment rather than on the command line.
const secretEnv = "SIGNSGD_BENCH_SECRET"

// killGrace is how long the other ranks get to notice a failed one.
const killGrace = 5 * time.Second

// tailBuffer keeps the last bytes written to it (a rank's stderr).
type tailBuffer struct {
	mu  sync.Mutex
	buf []byte
}

func (t *tailBuffer) Write(p []byte) (int, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.buf = append(t.buf, p...)
	if len(t.buf) > 4096 {
		t.buf = t.buf[len(t.buf)-4096:]
	}
	return len(p), nil
}

// lastLine is the last non-empty line written.
func (t *tailBuffer) lastLine() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	lines := strings.Split(strings.TrimSpace(string(t.buf)), "\n")
	return strings.TrimSpace(lines[len(lines)-1])
}

// run starts spec.Workers ranks. On loopback (netns nil) rank 0 gets a
// listening socket opened here, so no port can be taken in between; in
// namespaces (netns[r] is rank r's), rank 0 listens at spec.Coordinator
// itself. Ranks run with spec.Threads Go and OpenBLAS threads.
func (l *launcher) run(ctx context.Context, spec rankSpec, netns []string) ([]rankTimes, error) {
	spec.JobID = spawn.JobID()
	var secret [32]byte
	rand.Read(secret[:])
	var lf *os.File
	if netns == nil {
		var err error
		lf, spec.Coordinator, err = spawn.Loopback()
		if err != nil {
			return nil, err
		}
		defer lf.Close()
	}
	specJSON, err := json.Marshal(spec)
	if err != nil {
		return nil, err
	}
	threads := max(spec.Threads, 1)
	env := secretEnv + "=" + hex.EncodeToString(secret[:])
	cmds := make([]*exec.Cmd, spec.Workers)
	errs := make([]*tailBuffer, spec.Workers)
	var out bytes.Buffer
	for r := range cmds {
		args := []string{"bench", "rank", "--spec", string(specJSON), "--rank", strconv.Itoa(r)}
		var cmd *exec.Cmd
		if netns != nil {
			cmd = spawn.Command("ip", append([]string{"netns", "exec", netns[r], l.exe}, args...), threads, nil, env)
		} else {
			var rankLF *os.File // rank 0's listener
			if r == 0 {
				rankLF = lf
			}
			cmd = spawn.Command(l.exe, args, threads, rankLF, env)
		}
		errs[r] = &tailBuffer{}
		cmd.Stderr = errs[r]
		if r == 0 {
			cmd.Stdout = &out
		}
		cmds[r] = cmd
	}
	if err := spawn.Start(cmds); err != nil {
		return nil, err
	}
	if lf != nil {
		lf.Close()
	}
	exits := spawn.Wait(cmds)
	exited := make([]bool, len(cmds)) // (ProcessState is Wait's to write)
	killAll := func() {
		for r, cmd := range cmds {
			if !exited[r] {
				cmd.Process.Kill()
			}
		}
	}
	limit := time.NewTimer(l.limit)
	defer limit.Stop()
	var firstErr error
	var grace <-chan time.Time
	done := ctx.Done()
	for left := len(cmds); left > 0; {
		select {
		case e := <-exits:
			left--
			exited[e.Rank] = true
			if e.Err != nil && firstErr == nil {
				msg := errs[e.Rank].lastLine()
				if msg == "" {
					msg = e.Err.Error()
				}
				firstErr = fmt.Errorf("rank %d failed: %s", e.Rank, msg)
				grace = time.After(killGrace)
			}
		case <-grace:
			killAll()
			grace = nil
		case <-limit.C:
			if firstErr == nil {
				firstErr = fmt.Errorf("configuration took longer than %v (killed)", l.limit)
			}
			killAll()
		case <-done:
			if firstErr == nil {
				firstErr = fmt.Errorf("interrupted, ranks killed (%w)", context.Cause(ctx))
			}
			killAll()
			done = nil
		}
	}
	if firstErr != nil {
		return nil, firstErr
	}
	var all []rankTimes
	line := bytes.TrimSpace(out.Bytes())
	if i := bytes.LastIndexByte(line, '\n'); i >= 0 {
		line = line[i+1:]
	}
	if err := json.Unmarshal(line, &all); err != nil {
		return nil, fmt.Errorf("rank 0's report: %w", err)
	}
	if len(all) != spec.Workers {
		return nil, errors.New("rank 0's report: wrong number of ranks")
	}
	return all, nil
}
