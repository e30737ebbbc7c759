package data

import (
	"bytes"
	"compress/gzip"
	"encoding/binary"
	"errors"
	"io/fs"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

// idxFile encodes an IDX stream of element type typ with dims and data.
func idxFile(typ byte, dims []int, data []byte) []byte {
	b := []byte{0, 0, typ, byte(len(dims))}
	for _, d := range dims {
		b = binary.BigEndian.AppendUint32(b, uint32(d))
	}
	return append(b, data...)
}

func gzipped(t testing.TB, b []byte) []byte {
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	if _, err := zw.Write(b); err != nil {
		t.Fatal(err)
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func writeFile(t testing.TB, dir, name string, b []byte) string {
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, b, 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

func seq(n int) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(i * 7)
	}
	return b
}

func TestIDXRoundTrip(t *testing.T) {
	dir := t.TempDir()
	for _, dims := range [][]int{{5}, {3, 4}, {2, 3, 4}, {2, 1, 3, 2}, {0, 28, 28}, {0}} {
		n := 1
		for _, d := range dims {
			n *= d
		}
		want := seq(n)
		raw := idxFile(0x08, dims, want)
		for _, gz := range []bool{false, true} {
			name, b := "x-"+dimString(dims), raw
			if gz {
				name, b = name+".gz", gzipped(t, raw)
			}
			p := writeFile(t, dir, name, b)
			gotDims, got, err := OpenIDX(p, 1<<16)
			if err != nil {
				t.Fatalf("%s: %v", name, err)
			}
			if !slices.Equal(gotDims, dims) || !bytes.Equal(got, want) {
				t.Fatalf("%s: got dims %v data %v, want %v %v", name, gotDims, got, dims, want)
			}
		}
		gotDims, got, err := ReadIDX(bytes.NewReader(raw), "mem", n)
		if err != nil || !slices.Equal(gotDims, dims) || !bytes.Equal(got, want) {
			t.Fatalf("ReadIDX %v: %v %v %v", dims, gotDims, got, err)
		}
	}
	// gzip is detected by content, not by name
	p := writeFile(t, dir, "plain-name", gzipped(t, idxFile(0x08, []int{2}, []byte{1, 2})))
	if dims, data, err := OpenIDX(p, 10); err != nil || !slices.Equal(dims, []int{2}) || !bytes.Equal(data, []byte{1, 2}) {
		t.Fatalf("gzip without .gz: %v %v %v", dims, data, err)
	}
}

func TestIDXCorrupt(t *testing.T) {
	good := idxFile(0x08, []int{2, 3}, seq(6))
	gz := gzipped(t, good)
	cases := []struct {
		name   string
		file   []byte
		err    error
		offset string // "offset N" expected in the message
	}{
		{"empty", nil, ErrIDXTruncated, "offset 0"},
		{"short magic", []byte{0, 0}, ErrIDXTruncated, "offset 2"},
		{"wrong magic", append([]byte{1, 0}, good[2:]...), ErrIDXMagic, "offset 0"},
		{"wrong magic 2", append([]byte{0, 9}, good[2:]...), ErrIDXMagic, "offset 0"},
		{"wrong type", idxFile(0x0d, []int{2, 3}, seq(6)), ErrIDXType, "offset 2"},
		{"int type", idxFile(0x0c, []int{2}, seq(8)), ErrIDXType, "offset 2"},
		{"zero dims", []byte{0, 0, 8, 0}, ErrIDXDims, "offset 3"},
		{"too many dims", idxFile(0x08, []int{1, 1, 1, 1, 1}, seq(1)), ErrIDXDims, "offset 3"},
		{"zero inner dim", idxFile(0x08, []int{2, 0}, nil), ErrIDXDims, "offset 8"},
		{"zero last dim", idxFile(0x08, []int{2, 3, 0}, nil), ErrIDXDims, "offset 12"},
		{"huge dims", idxFile(0x08, []int{0xffffffff, 0xffffffff, 0xffffffff, 0xffffffff}, nil), ErrIDXTooLarge, "offset 4"},
		{"over maxElems", idxFile(0x08, []int{256, 256, 2}, nil), ErrIDXTooLarge, "offset 12"},
		{"one over maxElems", idxFile(0x08, []int{1<<16 + 1}, nil), ErrIDXTooLarge, "offset 4"},
		{"truncated header", good[:10], ErrIDXTruncated, "offset 10"},
		{"truncated dims", good[:4], ErrIDXTruncated, "offset 4"},
		{"no data", good[:12], ErrIDXTruncated, "offset 12"},
		{"truncated data", good[:16], ErrIDXTruncated, "offset 16"},
		{"trailing bytes", append(slices.Clone(good), 0), ErrIDXTrailing, "offset 18"},
		{"truncated gzip", gz[:len(gz)-4], ErrIDXTruncated, "offset 18"},
		{"truncated gzip header", gz[:5], ErrIDXTruncated, "offset 0"},
		{"gzip trailing", gzipped(t, append(slices.Clone(good), 1, 2)), ErrIDXTrailing, "offset 18"},
		{"gzip truncated data", gzipped(t, good[:15]), ErrIDXTruncated, "offset 15"},
	}
	dir := t.TempDir()
	for _, c := range cases {
		for _, file := range []string{"train-images-idx3-ubyte", "train-images-idx3-ubyte.gz"} {
			b := c.file
			if strings.HasSuffix(file, ".gz") {
				if strings.Contains(c.name, "gzip") {
					continue // already gzipped
				}
				b = gzipped(t, b)
			}
			p := writeFile(t, dir, file, b)
			_, _, err := OpenIDX(p, 1<<16)
			checkErr(t, c.name+" "+file, err, c.err, p, c.offset)
		}
		if !strings.Contains(c.name, "gzip") {
			_, _, err := ReadIDX(bytes.NewReader(c.file), "mem.idx", 1<<16)
			checkErr(t, c.name+" ReadIDX", err, c.err, "mem.idx", c.offset)
		}
	}

	// the example message, and the hint for gzip data given to ReadIDX
	p := writeFile(t, dir, "train-images-idx3-ubyte.gz", gzipped(t, idxFile(0x0d, []int{1}, seq(1))))
	_, _, err := OpenIDX(p, 10)
	if want := p + ": offset 2: unsupported IDX type 0x0d, want 0x08 (unsigned byte)"; err == nil || err.Error() != want {
		t.Errorf("got %v\nwant %s", err, want)
	}
	_, _, err = ReadIDX(bytes.NewReader(gz), "x.gz", 10)
	if !errors.Is(err, ErrIDXMagic) || !strings.Contains(err.Error(), "gzip") {
		t.Errorf("gzip given to ReadIDX: %v", err)
	}
	if _, _, err := OpenIDX(filepath.Join(dir, "absent"), 10); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("absent file: %v", err)
	}
}

// checkErr checks that err wraps want and is one line naming file and offset.
func checkErr(t *testing.T, what string, err, want error, file, offset string) {
	t.Helper()
	switch {
	case err == nil:
		t.Errorf("%s: no error, want %v", what, want)
	case !errors.Is(err, want):
		t.Errorf("%s: got %v, want %v", what, err, want)
	case !strings.Contains(err.Error(), file) || !strings.Contains(err.Error(), offset):
		t.Errorf("%s: %q does not name %s and %q", what, err, file, offset)
	case strings.Contains(err.Error(), "\n"):
		t.Errorf("%s: error is not one line: %q", what, err)
	}
}

// writeMNIST writes a fake MNIST dir: prefix's n images with pixel
// (i*784+j)%256 and labels i%10, gzipped or not.
func writeMNIST(t *testing.T, dir, prefix string, n int, gz bool) {
	pix := make([]byte, n*MNISTFeatures)
	for i := range pix {
		pix[i] = byte(i)
	}
	lab := make([]byte, n)
	for i := range lab {
		lab[i] = byte(i % 10)
	}
	files := map[string][]byte{
		prefix + "-images-idx3-ubyte": idxFile(0x08, []int{n, 28, 28}, pix),
		prefix + "-labels-idx1-ubyte": idxFile(0x08, []int{n}, lab),
	}
	for name, b := range files {
		if gz {
			name, b = name+".gz", gzipped(t, b)
		}
		writeFile(t, dir, name, b)
	}
}

func TestLoadMNISTSmall(t *testing.T) {
	dir := t.TempDir()
	writeMNIST(t, dir, "train", 12, true)
	writeMNIST(t, dir, "t10k", 3, false)
	train, test, err := LoadMNIST(dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		d Dataset
		n int
	}{{train, 12}, {test, 3}} {
		d := c.d
		if d.Len() != c.n || d.Features != 784 || d.Classes != 10 || len(d.X) != c.n*784 {
			t.Fatalf("shape: %d rows, %d features, %d classes, %d X", d.Len(), d.Features, d.Classes, len(d.X))
		}
		for i := range d.Y {
			if d.Y[i] != float32(i%10) {
				t.Fatalf("Y[%d] = %v", i, d.Y[i])
			}
		}
		for i, x := range d.X {
			want := (float64(byte(i))/255 - 0.1307) / 0.3081
			if math.Abs(float64(x)-want) > 1e-6 {
				t.Fatalf("X[%d] = %v, want %v", i, x, want)
			}
		}
	}
	// the plain file wins over the .gz one
	writeMNIST(t, dir, "train", 4, false)
	if train, _, err = LoadMNIST(dir); err != nil || train.Len() != 4 {
		t.Fatalf("plain over gz: %d rows, %v", train.Len(), err)
	}
}

func TestLoadMNISTCorrupt(t *testing.T) {
	lab := func(n int, bad int) []byte {
		b := make([]byte, n)
		b[bad] = 10
		return idxFile(0x08, []int{n}, b)
	}
	const il, ll = "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"
	cases := []struct {
		name   string
		file   string // overwritten in a good dir
		data   []byte
		err    error
		offset string
		also   string // another file the message must name
	}{
		{"label 10", ll, lab(3, 2), ErrMNISTLabel, "offset 10", ""},
		{"label 255", ll, idxFile(0x08, []int{3}, []byte{0, 255, 0}), ErrMNISTLabel, "offset 9", ""},
		{"fewer labels", ll, idxFile(0x08, []int{2}, []byte{1, 2}), ErrMNISTCount, "offset 4", il},
		{"more labels", ll, idxFile(0x08, []int{4}, []byte{1, 2, 3, 4}), ErrMNISTCount, "offset 4", il},
		{"labels 2-d", ll, idxFile(0x08, []int{3, 1}, []byte{1, 2, 3}), ErrMNISTShape, "offset 3", ""},
		{"images 27 wide", il, idxFile(0x08, []int{3, 28, 27}, make([]byte, 3*28*27)), ErrMNISTShape, "offset 12", ""},
		{"images 29 high", il, idxFile(0x08, []int{1, 29, 28}, make([]byte, 29*28)), ErrMNISTShape, "offset 8", ""},
		{"images 2-d", il, idxFile(0x08, []int{3, 784}, make([]byte, 3*784)), ErrMNISTShape, "offset 3", ""},
		{"zero images, 3 labels", il, idxFile(0x08, []int{0, 28, 28}, nil), ErrMNISTCount, "offset 4", il},
		{"images truncated", il, idxFile(0x08, []int{3, 28, 28}, make([]byte, 3*784-1)), ErrIDXTruncated, "offset 2367", ""},
		{"images wrong type", il, idxFile(0x09, []int{3, 28, 28}, make([]byte, 3*784)), ErrIDXType, "offset 2", ""},
	}
	for _, c := range cases {
		dir := t.TempDir()
		writeMNIST(t, dir, "train", 2, true)
		writeMNIST(t, dir, "t10k", 3, false)
		p := writeFile(t, dir, c.file, c.data)
		_, _, err := LoadMNIST(dir)
		checkErr(t, c.name, err, c.err, p, c.offset)
		if err != nil && c.also != "" && !strings.Contains(err.Error(), filepath.Join(dir, c.also)) {
			t.Errorf("%s: %q does not name %s", c.name, err, c.also)
		}
	}

	// an empty set
	dir := t.TempDir()
	writeMNIST(t, dir, "train", 0, true)
	writeMNIST(t, dir, "t10k", 3, false)
	_, _, err := LoadMNIST(dir)
	checkErr(t, "empty", err, ErrMNISTShape, filepath.Join(dir, "train-images-idx3-ubyte.gz"), "offset 4")

	// a gzipped labels file: offsets count decompressed bytes
	dir = t.TempDir()
	writeMNIST(t, dir, "train", 3, true)
	writeMNIST(t, dir, "t10k", 3, false)
	p := writeFile(t, dir, "train-labels-idx1-ubyte.gz", gzipped(t, lab(3, 1)))
	_, _, err = LoadMNIST(dir)
	checkErr(t, "gzipped label 10", err, ErrMNISTLabel, p, "offset 9")

	// no images, either with ".gz" or without
	dir = t.TempDir()
	writeMNIST(t, dir, "train", 3, true)
	writeMNIST(t, dir, "t10k", 3, false)
	os.Remove(filepath.Join(dir, il))
	_, _, err = LoadMNIST(dir)
	if !errors.Is(err, fs.ErrNotExist) || !strings.Contains(err.Error(), il) || !strings.Contains(err.Error(), dir) {
		t.Errorf("missing file: %v", err)
	}
}

func TestLoadMNISTReal(t *testing.T) {
	dir, err := DefaultMNISTDir()
	if err != nil {
		t.Skipf("no MNIST files: %v", err)
	}
	start := time.Now()
	train, test, err := LoadMNIST(dir)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("LoadMNIST(%s) took %v", dir, time.Since(start))
	// the label counts of the original files
	wantCounts := map[int][10]int{
		60000: {5923, 6742, 5958, 6131, 5842, 5421, 5918, 6265, 5851, 5949},
		10000: {980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009},
	}
	for _, c := range []struct {
		d Dataset
		n int
	}{{train, 60000}, {test, 10000}} {
		d := c.d
		if d.Len() != c.n || d.Features != 784 || d.Classes != 10 || len(d.X) != c.n*784 {
			t.Fatalf("got %d rows, %d features, %d classes, %d X; want %d rows", d.Len(), d.Features, d.Classes, len(d.X), c.n)
		}
		var counts [10]int
		for _, y := range d.Y {
			counts[int(y)]++
		}
		sum := 0
		for _, k := range counts {
			sum += k
		}
		if sum != c.n || counts != wantCounts[c.n] {
			t.Errorf("%d rows: label counts %v (sum %d), want %v", c.n, counts, sum, wantCounts[c.n])
		}
		lo, hi := float32((0-MNISTMean)/MNISTStd), float32((1-MNISTMean)/MNISTStd)
		mean := 0.0
		for _, x := range d.X {
			if x < lo || x > hi {
				t.Fatalf("pixel %v outside [%v, %v]", x, lo, hi)
			}
			mean += float64(x)
		}
		mean /= float64(len(d.X))
		if math.Abs(mean) > 0.02 {
			t.Errorf("%d rows: normalised pixel mean %.4f, want about 0", c.n, mean)
		}
	}
	if train.Y[0] != 5 {
		t.Errorf("first training label %v, want 5", train.Y[0])
	}
}

func FuzzReadIDX(f *testing.F) {
	f.Add(idxFile(0x08, []int{2, 3}, seq(6)))
	f.Add(idxFile(0x08, []int{0, 28, 28}, nil))
	f.Add(idxFile(0x08, []int{1, 2, 1, 2}, seq(4)))
	f.Add(idxFile(0x08, []int{2, 3}, seq(5)))
	f.Add(idxFile(0x08, []int{2, 3}, seq(7)))
	f.Add(idxFile(0x0d, []int{1}, seq(4)))
	f.Add(idxFile(0x08, []int{0xffffffff, 2}, nil))
	f.Add([]byte{0, 0, 8})
	f.Add([]byte{})
	const maxElems = 1 << 16
	f.Fuzz(func(t *testing.T, b []byte) {
		dims, data, err := ReadIDX(bytes.NewReader(b), "fuzz.idx", maxElems)
		if err != nil {
			if msg := err.Error(); !strings.HasPrefix(msg, "fuzz.idx: offset ") || strings.Contains(msg, "\n") {
				t.Fatalf("bad error message %q", msg)
			}
			if dims != nil || data != nil {
				t.Fatalf("error %v with dims %v and %d bytes", err, dims, len(data))
			}
			return
		}
		if len(dims) < 1 || len(dims) > 4 {
			t.Fatalf("%d dims", len(dims))
		}
		n := 1
		for _, d := range dims {
			n *= d
		}
		if len(data) != n || n > maxElems || len(b) != 4+4*len(dims)+n {
			t.Fatalf("dims %v, %d data bytes of %d input", dims, len(data), len(b))
		}
	})
}
