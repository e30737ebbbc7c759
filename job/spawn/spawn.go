package spawn

import (
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net"
	"os"
	"os/exec"
	"strconv"
	"syscall"
)

// Loopback opens a listening socket on a free loopback port for rank 0
// and returns it as a file to hand down (see Command) and its address, the
// job's coordinator. The caller closes the file once the ranks have
// started.
func Loopback() (lf *os.File, addr string, err error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, "", fmt.Errorf("listen on loopback: %w", err)
	}
	lf, err = l.(*net.TCPListener).File()
	l.Close()
	if err != nil {
		return nil, "", fmt.Errorf("listener file: %w", err)
	}
	return lf, l.Addr().String(), nil
}

// JobID is a fresh job ID: 8 random bytes in hex.
func JobID() string {
	var idb [8]byte
	rand.Read(idb[:])
	return hex.EncodeToString(idb[:])
}

// Command is one rank's process, name run with args: killed with SIGKILL
// if this process dies, with GOMAXPROCS and OPENBLAS_NUM_THREADS set to
// threads and env added to this process's environment. With lf (rank 0's,
// from Loopback) the process inherits it as file descriptor 3 and gets
// --listen-fd 3 after args.
func Command(name string, args []string, threads int, lf *os.File, env ...string) *exec.Cmd {
	cmd := exec.Command(name, args...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if lf != nil {
		cmd.ExtraFiles = []*os.File{lf}
		cmd.Args = append(cmd.Args, "--listen-fd", "3")
	}
	t := strconv.Itoa(threads)
	cmd.Env = append(append(os.Environ(), "GOMAXPROCS="+t, "OPENBLAS_NUM_THREADS="+t), env...)
	return cmd
}

// Start starts cmds in rank order. If one fails to start, those already
// started are killed and waited for, and the error names its rank.
func Start(cmds []*exec.Cmd) error {
	for r, cmd := range cmds {
		if err := cmd.Start(); err != nil {
			for _, started := range cmds[:r] {
				started.Process.Kill()
				started.Wait()
			}
			return fmt.Errorf("start rank %d: %w", r, err)
		}
	}
	return nil
}

// Exit is one rank's end: Wait's error for cmds[Rank].
type Exit struct {
	Rank int
	Err  error
}

// Wait waits for every started command on a goroutine of its own and
// sends each one's Exit, in the order they end, on the channel it returns
// (buffered for all of them).
func Wait(cmds []*exec.Cmd) <-chan Exit {
	exits := make(chan Exit, len(cmds))
	for r, cmd := range cmds {
		go func() { exits <- Exit{r, cmd.Wait()} }()
	}
	return exits
}
