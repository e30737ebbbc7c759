package job

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"os/signal"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"signsgd/collective"
	"signsgd/job/spawn"
	"signsgd/kernels"
	"signsgd/slurm"
)

// rankRun is one rank's process: connect, train, leave.
func rankRun(cfg *Config, stdout io.Writer) error {
	if cfg.Workers == 1 {
		c := collective.NewMemWorld(1, 0)[0]
		defer c.Close()
		return Train(cfg, c, stdout)
	}
	secret, err := jobSecret(cfg, os.Getenv)
	if err != nil {
		return err
	}
	opt := collective.TCPOptions{
		Rank: cfg.Rank, Size: cfg.Workers, Coordinator: cfg.Coordinator, JobID: cfg.JobID, Secret: secret,
		Timeout: cfg.timeout, SetupTimeout: cfg.timeout, DropStale: cfg.voteDeadline > 0,
		Logf: func(format string, args ...any) { fmt.Fprintf(os.Stderr, format+"\n", args...) },
	}
	var why string
	if opt.Security, why, err = resolveSecurity(cfg); err != nil {
		return err
	}
	if cfg.Rank == 0 && cfg.ListenFD == 0 && !cfg.Quiet {
		// Under Slurm, mpirun or --rank, rank 0's start line (the local
		// launcher's own says it for all).
		fmt.Fprintf(os.Stderr, "signsgd: rank 0 of %d, coordinator %s, transport security %s (%s)\n", cfg.Workers, cfg.Coordinator, opt.Security, why)
	}
	if cfg.Rank == 0 && cfg.listenAll != "" {
		// Under Slurm or mpirun rank 0 listens on every interface at the
		// job's port; the others reach it at the first node's name.
		l, err := net.Listen("tcp", cfg.listenAll)
		if err != nil {
			return fmt.Errorf("listen on port %s (derived from job %s; choose another with --port): %w", cfg.listenAll[1:], cfg.JobID, err)
		}
		opt.Listener = l
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
	err = Train(cfg, c, stdout)
	if err != nil && (cfg.Rank == 0 || cfg.voteDeadline == 0) {
		// Tell the others why, so each names the cause rather than only
		// that this rank left. (Under --vote-deadline a worker that fails
		// leaves quietly: the job goes on without it.)
		collective.Abort(c, err)
	}
	return err
}

// killGrace is how long the launcher lets the other ranks end on their own
// after one fails (the failing rank's abort notice reaches them within
// milliseconds; a rank still there after this is hung).
const killGrace = 3 * time.Second

// doneGrace is how long the launcher waits for the other ranks once rank 0
// has finished well.
const doneGrace = 3 * time.Second

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
	lf, addr, err := spawn.Loopback()
	if err != nil {
		return fmt.Errorf("launcher: %w", err)
	}
	defer lf.Close()
	jobID := spawn.JobID()

	secret := newSecret() // this job's, known only to its ranks
	var env []string
	if os.Getenv(SecretEnv) == "" && cfg.SecretFile == "" {
		env = append(env, SecretEnv+"="+secret)
	}

	var outMu sync.Mutex
	cmds := make([]*exec.Cmd, cfg.Workers)
	var flushers []*linePrefixer
	errOut := make([]*linePrefixer, cfg.Workers) // each rank's stderr
	for r := range cmds {
		rankArgs := append([]string{"run"}, args...)
		rankArgs = append(rankArgs, "--rank", strconv.Itoa(r), "--coordinator", addr, "--job-id", jobID)
		var rankLF *os.File // rank 0's listener
		if r == 0 {
			rankLF = lf
		}
		cmd := spawn.Command(exe, rankArgs, slurm.ThreadsPerRank(runtime.NumCPU(), cfg.Workers), rankLF, env...)
		if r == 0 {
			cmd.Stdout = stdout
		} else {
			p := &linePrefixer{mu: &outMu, w: stderr, prefix: fmt.Sprintf("rank %d: ", r)}
			cmd.Stdout = p
			flushers = append(flushers, p)
		}
		p := &linePrefixer{mu: &outMu, w: stderr}
		cmd.Stderr = p
		flushers = append(flushers, p)
		errOut[r] = p
		cmds[r] = cmd
	}
	if err := spawn.Start(cmds); err != nil {
		return fmt.Errorf("launcher: %w", err)
	}
	lf.Close()

	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, os.Interrupt, syscall.SIGTERM)
	defer signal.Stop(sigs)
	exits := spawn.Wait(cmds)
	var firstErr error
	// A rank killed by a signal (not ours) is the cause, rather than the
	// ranks that failed because it was gone, whichever exit came first.
	causeSignaled, signaling := false, false
	var early []int // workers that ended early under --vote-deadline
	var deadline <-chan time.Time
	for left := len(cmds); left > 0; {
		select {
		case e := <-exits:
			left--
			switch {
			case e.Err != nil && e.Rank != 0 && cfg.voteDeadline > 0:
				// Rank 0 may go on without it (it records the
				// abstentions); whether it did is known at the end.
				early = append(early, e.Rank)
				outMu.Lock()
				fmt.Fprintf(stderr, "launcher: rank %d ended early (%v)\n", e.Rank, e.Err)
				outMu.Unlock()
			case e.Err != nil && (firstErr == nil || (!causeSignaled && !signaling && killedBySignal(e.Err))):
				if firstErr == nil {
					deadline = time.After(killGrace)
				}
				causeSignaled = killedBySignal(e.Err)
				firstErr = fmt.Errorf("rank %d failed (%v)", e.Rank, e.Err)
				if refused(e.Err, errOut[e.Rank]) {
					// The rank refused the job as given: so does the
					// launcher (exit status 2).
					firstErr = &usageError{fmt.Sprintf("rank %d refused the job (%v)", e.Rank, e.Err)}
				}
			case e.Rank == 0 && deadline == nil:
				// Rank 0 is done and the others leave right after it: one
				// still running after doneGrace is hung (a stalled rank
				// dropped from the job).
				deadline = time.After(doneGrace)
			}
		case s := <-sigs:
			if firstErr == nil {
				firstErr = fmt.Errorf("interrupted by %v", s)
			}
			signaling = true
			for _, cmd := range cmds {
				cmd.Process.Signal(syscall.SIGTERM)
			}
			deadline = time.After(killGrace)
		case <-deadline:
			signaling = true
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
	if firstErr == nil && len(early) > 0 {
		fmt.Fprintf(stderr, "launcher: the job went on without %s (--vote-deadline)\n", rankList(early))
	}
	return firstErr
}

// rankList is "rank 3" or "ranks [1 3]".
func rankList(ranks []int) string {
	if len(ranks) == 1 {
		return fmt.Sprintf("rank %d", ranks[0])
	}
	return fmt.Sprintf("ranks %v", ranks)
}

// setThreads gives this rank n threads for the vote, BLAS and image
// decoding.
func setThreads(cfg *Config, n int) {
	kernels.SetThreads(n)
	kernels.SetBLASThreads(n)
	cfg.loaderThreads = n
}

// killedBySignal says whether a rank's exit was a signal's.
func killedBySignal(err error) bool {
	var ee *exec.ExitError
	if !errors.As(err, &ee) {
		return false
	}
	ws, ok := ee.Sys().(syscall.WaitStatus)
	return ok && ws.Signaled()
}

// refused says whether a rank's exit is a usage error (exit status 2
// after its one error line from Main) rather than a failed run or a crash
// of the runtime (which exits 2 too, after a trace).
func refused(err error, stderr *linePrefixer) bool {
	var ee *exec.ExitError
	if !errors.As(err, &ee) || ee.ExitCode() != 2 {
		return false
	}
	stderr.mu.Lock()
	defer stderr.mu.Unlock()
	return strings.HasPrefix(stderr.last, "signsgd: ")
}

// linePrefixer copies whole lines to w, each with a prefix, under a mutex
// shared by all ranks so lines never interleave.
type linePrefixer struct {
	mu     *sync.Mutex
	w      io.Writer
	prefix string
	buf    []byte
	last   string // the last whole line
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
		p.last = string(p.buf[:i])
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

// checkLocalStart is what a launcher that starts every rank here (local,
// sim) checks before any rank starts: the secret file reads (unless the
// environment carries the secret), --out is writable and no other run
// holds it.
func checkLocalStart(cfg *Config) error {
	if cfg.SecretFile != "" && os.Getenv(SecretEnv) == "" {
		if _, err := readSecretFile(cfg.SecretFile, "--secret-file"); err != nil {
			return err
		}
	}
	if err := prepareOut(cfg.Out); err != nil {
		return &usageError{err.Error()}
	}
	return checkOutFree(cfg.Out)
}

// Run is `signsgd run`: with --rank, or under Slurm's srun or OpenMPI's
// mpirun, it is one rank of a job; otherwise it launches every rank on this
// machine.
func Run(args []string, stdout, stderr io.Writer) error {
	cfg, err := ParseRun(args)
	if err != nil {
		return err
	}
	if cfg.DryRun {
		b, err := json.MarshalIndent(cfg, "", "  ")
		if err != nil {
			return err
		}
		_, err = fmt.Fprintf(stdout, "%s\n", b)
		return err
	}
	launcher, err := resolveLauncher(cfg, os.Getenv)
	if err != nil {
		return err
	}
	if launcher == "sim" {
		return runSim(cfg, stdout, stderr)
	}
	ranksHere := 1
	if launcher == "local" {
		ranksHere = cfg.Workers
	}
	if err := checkMemory(cfg, ranksHere, false); err != nil {
		return err
	}
	if launcher != "local" {
		if err := rankRun(cfg, stdout); err != nil {
			return fmt.Errorf("rank %d of %d: %w", cfg.Rank, cfg.Workers, err)
		}
		return nil
	}
	if err := checkLocalStart(cfg); err != nil {
		return err
	}
	if !cfg.Quiet {
		beta := ""
		if cfg.Opt == "signum" {
			beta = fmt.Sprintf(", beta %g", cfg.Momentum)
		}
		decay := ""
		if cfg.LRDecayEvery < cfg.Epochs && cfg.LRDecay != 1 {
			decay = fmt.Sprintf(" (x%g every %d epochs)", cfg.LRDecay, cfg.LRDecayEvery)
		}
		sec, _, err := resolveSecurity(&Config{TransportSecurity: cfg.TransportSecurity, hosts: hostsOne})
		if err != nil {
			return err
		}
		fmt.Fprintf(stdout, "signsgd: %s on %s/%s, %d ranks on loopback (%d blind, %d byzantine, %s attack, transport security %s), lr %g%s%s, %d epochs, results in %s\n",
			cfg.Opt, cfg.Dataset, cfg.Model, cfg.Workers, cfg.Blind, cfg.Byzantine, cfg.Attack, sec, cfg.LR, decay, beta, cfg.Epochs, cfg.Out)
	}
	return launchLocal(cfg, args, stdout, stderr)
}

// resolveLauncher decides who started this process and, for a rank, fills
// cfg.Rank, cfg.Workers, cfg.Coordinator, cfg.JobID and the thread count.
// Order: explicit --rank; OpenMPI (its variables win, since under sbatch
// mpirun's ranks all see SLURM_PROCID=0); Slurm inside an srun step
// (SLURM_STEP_ID set: the batch script itself is not a rank); else local.
func resolveLauncher(cfg *Config, getenv func(string) string) (string, error) {
	if cfg.Rank >= 0 {
		if cfg.Launcher != "auto" && cfg.Launcher != "local" {
			return "", badFlag("--rank with --launcher %s: give one or the other", cfg.Launcher)
		}
		setThreads(cfg, runtime.GOMAXPROCS(0)) // which a launcher may set
		cfg.nodeCores = runtime.NumCPU()
		return "flags", nil
	}
	which := cfg.Launcher
	if which == "sim" {
		return which, nil
	}
	if which == "auto" {
		switch {
		case getenv("OMPI_COMM_WORLD_SIZE") != "":
			which = "mpi"
		case getenv("SLURM_STEP_ID") != "" && getenv("SLURM_PROCID") != "":
			which = "slurm"
		default:
			which = "local"
		}
	}
	if which == "local" {
		return which, nil
	}
	l, err := slurm.FromEnv(getenv)
	if err != nil {
		return "", err
	}
	want := map[string]string{"mpi": "openmpi", "slurm": "slurm"}[which]
	if l.Source != want {
		found := l.Source
		if found == "" {
			found = "neither"
		}
		return "", badFlag("--launcher %s: no %s environment here (found %s); start the ranks with srun or mpirun, or drop --launcher", which, want, found)
	}
	if which == "slurm" && getenv("SLURM_STEP_ID") == "" {
		return "", badFlag("--launcher slurm outside an srun step (in the batch script itself?): run it as `srun bin/signsgd run ...`")
	}
	if cfg.set["workers"] && cfg.Workers != l.Size {
		return "", badFlag("--workers %d, but the launcher started %d ranks", cfg.Workers, l.Size)
	}
	if err := checkAdversaries(cfg.Blind, cfg.Byzantine, l.Size); err != nil {
		return "", err
	}
	cfg.Rank, cfg.Workers = l.Rank, l.Size
	cfg.hosts = spanOf(l)
	switch {
	case l.JobID != "":
		cfg.JobID = l.JobID
	case getenv("OMPI_MCA_ess_base_jobid") != "":
		cfg.JobID = "ompi-" + getenv("OMPI_MCA_ess_base_jobid")
	}
	port := cfg.Port
	if port == 0 {
		port = slurm.DerivePort(cfg.JobID)
	}
	if cfg.Coordinator == "" {
		host := "127.0.0.1"
		if len(l.Nodes) > 0 {
			host = l.Nodes[0]
		}
		cfg.Coordinator = net.JoinHostPort(host, strconv.Itoa(port))
	}
	cfg.listenAll = ":" + strconv.Itoa(port)
	cpus := runtime.NumCPU()
	if l.CPUsOnNode > 0 {
		cpus = min(cpus, l.CPUsOnNode)
	}
	ranks := l.LocalSize
	if ranks <= 0 {
		ranks = 1
	}
	setThreads(cfg, slurm.ThreadsPerRank(cpus, ranks))
	cfg.nodeCores = cpus
	return which, nil
}
