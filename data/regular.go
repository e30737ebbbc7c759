package data

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"syscall"
)

// ErrNotRegular is wrapped by the error for an input file that is not a
// regular file: a named pipe or a device would make a read wait for a
// writer or never end, so it is refused rather than waited on.
var ErrNotRegular = errors.New("not a regular file")

// NotRegular is the error for a file of mode m, naming what it is.
func NotRegular(m fs.FileMode) error {
	what := "special file"
	switch {
	case m&fs.ModeNamedPipe != 0:
		what = "named pipe"
	case m&fs.ModeCharDevice != 0:
		what = "character device"
	case m&fs.ModeDevice != 0:
		what = "device"
	case m&fs.ModeSocket != 0:
		what = "socket"
	case m.IsDir():
		what = "folder"
	}
	return fmt.Errorf("%w but a %s", ErrNotRegular, what)
}

// OpenRegular opens path for reading if it is a regular file, without
// waiting on it if it is a named pipe.
func OpenRegular(path string) (*os.File, error) {
	f, err := os.OpenFile(path, os.O_RDONLY|syscall.O_NONBLOCK, 0)
	if err != nil {
		return nil, err
	}
	st, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, err
	}
	if !st.Mode().IsRegular() {
		f.Close()
		return nil, fmt.Errorf("%s: %w", path, NotRegular(st.Mode()))
	}
	return f, nil
}

// readRegular is os.ReadFile of a regular file only.
func readRegular(path string) ([]byte, error) {
	f, err := OpenRegular(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return nil, err
	}
	b := make([]byte, st.Size())
	n, err := f.ReadAt(b, 0)
	if n == len(b) {
		err = nil
	}
	return b[:n], err
}

// irregular says whether a folder entry of type t is a named pipe, device
// or socket (a symbolic link is judged when it is opened).
func irregular(t fs.FileMode) bool {
	return t&(fs.ModeNamedPipe|fs.ModeDevice|fs.ModeCharDevice|fs.ModeSocket) != 0
}
