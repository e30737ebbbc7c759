package comm

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
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
	var idb [8]byte
	rand.Read(idb[:])
	spec.JobID = hex.EncodeToString(idb[:])
	var secret [32]byte
	rand.Read(secret[:])
	var lf *os.File
	if netns == nil {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, fmt.Errorf("listen on loopback: %w", err)
		}
		lf, err = ln.(*net.TCPListener).File()
		ln.Close()
		if err != nil {
			return nil, fmt.Errorf("listener file: %w", err)
		}
		defer lf.Close()
		spec.Coordinator = ln.Addr().String()
	}
	specJSON, err := json.Marshal(spec)
	if err != nil {
		return nil, err
	}
	threads := strconv.Itoa(max(spec.Threads, 1))
	cmds := make([]*exec.Cmd, spec.Workers)
	errs := make([]*tailBuffer, spec.Workers)
	var out bytes.Buffer
	for r := range cmds {
		args := []string{"bench", "rank", "--spec", string(specJSON), "--rank", strconv.Itoa(r)}
		var cmd *exec.Cmd
		if netns != nil {
			cmd = exec.Command("ip", append([]string{"netns", "exec", netns[r], l.exe}, args...)...)
		} else {
			cmd = exec.Command(l.exe, args...)
			if r == 0 {
				cmd.ExtraFiles = []*os.File{lf}
				cmd.Args = append(cmd.Args, "--listen-fd", "3")
			}
		}
		cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
		cmd.Env = append(os.Environ(), "GOMAXPROCS="+threads, "OPENBLAS_NUM_THREADS="+threads, secretEnv+"="+hex.EncodeToString(secret[:]))
		errs[r] = &tailBuffer{}
		cmd.Stderr = errs[r]
		if r == 0 {
			cmd.Stdout = &out
		}
		cmds[r] = cmd
	}
	for r, cmd := range cmds {
		if err := cmd.Start(); err != nil {
			for _, started := range cmds[:r] {
				started.Process.Kill()
				started.Wait()
			}
			return nil, fmt.Errorf("start rank %d: %w", r, err)
		}
	}
	if lf != nil {
		lf.Close()
	}
	type exit struct {
		rank int
		err  error
	}
	exits := make(chan exit, len(cmds))
	for r, cmd := range cmds {
		go func() { exits <- exit{r, cmd.Wait()} }()
	}
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
			exited[e.rank] = true
			if e.err != nil && firstErr == nil {
				msg := errs[e.rank].lastLine()
				if msg == "" {
					msg = e.err.Error()
				}
				firstErr = fmt.Errorf("rank %d failed: %s", e.rank, msg)
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
