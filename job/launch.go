package job

import (
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"runtime"
	"strconv"
	"sync"
	"syscall"
	"time"

	"signsgd/collective"
	"signsgd/kernels"
)

// runRank is one rank's process: connect, train, leave.
func runRank(cfg *Config, stdout io.Writer) error {
	opt := collective.TCPOptions{
		Rank: cfg.Rank, Size: cfg.Workers, Coordinator: cfg.Coordinator, JobID: cfg.JobID,
		Timeout: cfg.timeout, SetupTimeout: max(cfg.timeout, 60*time.Second),
		Logf: func(format string, args ...any) { fmt.Fprintf(os.Stderr, format+"\n", args...) },
	}
	if cfg.ListenFD > 0 {
		f := os.NewFile(uintptr(cfg.ListenFD), "listener")
		l, err := net.FileListener(f)
		f.Close()
		if err != nil {
			return fmt.Errorf("rank %d: inherited listener (fd %d): %w", cfg.Rank, cfg.ListenFD, err)
		}
		opt.Listener = l
	}
	c, err := collective.DialTCP(opt)
	if err != nil {
		return err
	}
	defer c.Close()
	return Train(cfg, c, stdout)
}

// killGrace is how long the launcher lets the other ranks end on their own
// after one fails (they notice the lost peer within their timeout).
const killGrace = 10 * time.Second

// launchLocal starts cfg.Workers ranks of this program on loopback, rank 0
// on a listener opened here and handed down (no port race), and waits for
// them. Rank 0's output goes to stdout; every rank's errors go to stderr
// prefixed with its rank. If one rank fails, the others get killGrace to
// notice, then are killed; the launcher's own exit says which rank failed.
func launchLocal(cfg *Config, args []string, stdout, stderr io.Writer) error {
	exe, err := os.Executable()
	if err != nil {
		return fmt.Errorf("launcher: find own executable: %w", err)
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return fmt.Errorf("launcher: listen on loopback: %w", err)
	}
	lf, err := l.(*net.TCPListener).File()
	l.Close()
	if err != nil {
		return fmt.Errorf("launcher: listener file: %w", err)
	}
	defer lf.Close()
	addr := l.Addr().String()
	var idb [8]byte
	rand.Read(idb[:])
	jobID := hex.EncodeToString(idb[:])

	var outMu sync.Mutex
	cmds := make([]*exec.Cmd, cfg.Workers)
	var flushers []*linePrefixer
	for r := range cmds {
		rankArgs := append([]string{"run"}, args...)
		rankArgs = append(rankArgs, "--rank", strconv.Itoa(r), "--coordinator", addr, "--job-id", jobID)
		cmd := exec.Command(exe, rankArgs...)
		cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
		if r == 0 {
			cmd.ExtraFiles = []*os.File{lf}
			cmd.Args = append(cmd.Args, "--listen-fd", "3")
			cmd.Stdout = stdout
		} else {
			p := &linePrefixer{mu: &outMu, w: stderr, prefix: fmt.Sprintf("rank %d: ", r)}
			cmd.Stdout = p
			flushers = append(flushers, p)
		}
		p := &linePrefixer{mu: &outMu, w: stderr}
		cmd.Stderr = p
		flushers = append(flushers, p)
		cmd.Env = append(os.Environ(), "GOMAXPROCS="+strconv.Itoa(threadsPerRank(cfg.Workers)))
		cmds[r] = cmd
	}
	for r, cmd := range cmds {
		if err := cmd.Start(); err != nil {
			for _, started := range cmds[:r] {
				started.Process.Kill()
				started.Wait()
			}
			return fmt.Errorf("launcher: start rank %d: %w", r, err)
		}
	}
	lf.Close()

	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, os.Interrupt, syscall.SIGTERM)
	defer signal.Stop(sigs)
	type exit struct {
		rank int
		err  error
	}
	exits := make(chan exit, len(cmds))
	for r, cmd := range cmds {
		go func() { exits <- exit{r, cmd.Wait()} }()
	}
	var firstErr error
	var deadline <-chan time.Time
	for left := len(cmds); left > 0; {
		select {
		case e := <-exits:
			left--
			if e.err != nil && firstErr == nil {
				firstErr = fmt.Errorf("rank %d failed (%v)", e.rank, e.err)
				deadline = time.After(killGrace)
			}
		case s := <-sigs:
			if firstErr == nil {
				firstErr = fmt.Errorf("interrupted by %v", s)
			}
			for _, cmd := range cmds {
				cmd.Process.Signal(syscall.SIGTERM)
			}
			deadline = time.After(killGrace)
		case <-deadline:
			for _, cmd := range cmds {
				if cmd.ProcessState == nil {
					cmd.Process.Kill()
				}
			}
			deadline = nil
		}
	}
	for _, p := range flushers {
		p.flush()
	}
	return firstErr
}

// threadsPerRank shares the cores among the ranks of one node: at least 1.
func threadsPerRank(ranks int) int { return max(1, runtime.NumCPU()/ranks) }

// linePrefixer copies whole lines to w, each with a prefix, under a mutex
// shared by all ranks so lines never interleave.
type linePrefixer struct {
	mu     *sync.Mutex
	w      io.Writer
	prefix string
	buf    []byte
}

func (p *linePrefixer) Write(b []byte) (int, error) {
	p.buf = append(p.buf, b...)
	for {
		i := bytes.IndexByte(p.buf, '\n')
		if i < 0 {
			break
		}
		p.mu.Lock()
		fmt.Fprintf(p.w, "%s%s\n", p.prefix, p.buf[:i])
		p.mu.Unlock()
		p.buf = p.buf[i+1:]
	}
	return len(b), nil
}

// flush writes a last line that had no newline.
func (p *linePrefixer) flush() {
	if len(p.buf) > 0 {
		p.Write([]byte("\n"))
	}
}

// Run is `signsgd run`: with --rank it is one rank of a job; without, it
// launches every rank on this machine.
func Run(args []string, stdout, stderr io.Writer) error {
	cfg, err := ParseRun(args)
	if err != nil {
		return err
	}
	kernels.SetThreads(threadsPerRank(cfg.Workers))
	if cfg.Rank >= 0 {
		if cfg.Workers == 1 {
			c := collective.NewMemWorld(1, 0)[0]
			defer c.Close()
			return Train(cfg, c, stdout)
		}
		return runRank(cfg, stdout)
	}
	if err := prepareOut(cfg.Out); err != nil {
		return &usageError{err.Error()}
	}
	if err := writeJSONAtomic(filepath.Join(cfg.Out, "config.json"), cfg); err != nil {
		return fmt.Errorf("--out %s: %w", cfg.Out, err)
	}
	// Old results of another run in the same folder would be misleading.
	for _, f := range []string{"metrics.jsonl", "summary.json"} {
		if err := os.Remove(filepath.Join(cfg.Out, f)); err != nil && !errors.Is(err, os.ErrNotExist) {
			return err
		}
	}
	if !cfg.Quiet {
		fmt.Fprintf(stdout, "signsgd: %s on %s/%s, %d ranks on loopback (%d blind, %d byzantine, %s attack), lr %g, %d epochs, results in %s\n",
			cfg.Opt, cfg.Dataset, cfg.Model, cfg.Workers, cfg.Blind, cfg.Byzantine, cfg.Attack, cfg.LR, cfg.Epochs, cfg.Out)
	}
	return launchLocal(cfg, args, stdout, stderr)
}
