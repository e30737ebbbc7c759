package job

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
)

// outLock is a run's exclusive hold on its --out folder: an flock on
// OUT/.lock, which holds the pid of the process that has it. The kernel
// lets go of it when that process ends, however it ends.
type outLock struct{ f *os.File }

// lockOut takes the lock on dir, or says which process holds it (a usage
// error: the command cannot run as given while that run goes on).
func lockOut(dir string) (*outLock, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("--out %s: %w", dir, err)
	}
	path := filepath.Join(dir, ".lock")
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		return nil, fmt.Errorf("--out %s: %w", dir, err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		f.Close()
		if errors.Is(err, syscall.EWOULDBLOCK) {
			holder := "unknown"
			if b, err := os.ReadFile(path); err == nil && len(strings.TrimSpace(string(b))) > 0 {
				holder = strings.TrimSpace(string(b))
			}
			return nil, badFlag("--out %s is in use by another run (pid %s); wait for it to end or choose another --out", dir, holder)
		}
		return nil, fmt.Errorf("--out %s: lock %s: %w", dir, path, err)
	}
	if err := f.Truncate(0); err == nil {
		f.WriteAt([]byte(fmt.Sprintf("%d\n", os.Getpid())), 0)
	}
	return &outLock{f: f}, nil
}

// release lets go of the lock (nil: nothing to do).
func (l *outLock) release() {
	if l != nil {
		l.f.Close()
	}
}

// checkOutFree fails, naming the holder, if another run holds dir's lock:
// the launcher's early check, before it starts any rank (rank 0 takes the
// lock itself).
func checkOutFree(dir string) error {
	l, err := lockOut(dir)
	l.release()
	return err
}
