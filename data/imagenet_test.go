package data

import (
	"bytes"
	"image"
	"image/color"
	"image/jpeg"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"testing"
)

// encodeJPEG returns img as a JPEG of the given quality.
func encodeJPEG(t testing.TB, img image.Image, quality int) []byte {
	t.Helper()
	var buf bytes.Buffer
	if err := jpeg.Encode(&buf, img, &jpeg.Options{Quality: quality}); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// writeTreeFile writes b to root/rel, making the folders.
func writeTreeFile(t testing.TB, root, rel string, b []byte) string {
	t.Helper()
	p := filepath.Join(root, filepath.FromSlash(rel))
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, b, 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

func solidImage(w, h int, c color.RGBA) *image.RGBA {
	img := image.NewRGBA(image.Rect(0, 0, w, h))
	for y := range h {
		for x := range w {
			img.SetRGBA(x, y, c)
		}
	}
	return img
}

// rampImage has red increasing with x, green with y and a constant blue.
func rampImage(w, h int, blue uint8) *image.RGBA {
	img := image.NewRGBA(image.Rect(0, 0, w, h))
	for y := range h {
		for x := range w {
			img.SetRGBA(x, y, color.RGBA{uint8(255 * x / (w - 1)), uint8(255 * y / (h - 1)), blue, 255})
		}
	}
	return img
}

func grayImage(w, h int, v func(x, y int) uint8) *image.Gray {
	img := image.NewGray(image.Rect(0, 0, w, h))
	for y := range h {
		for x := range w {
			img.SetGray(x, y, color.Gray{v(x, y)})
		}
	}
	return img
}

var (
	valCat = color.RGBA{200, 40, 40, 255}
	valDog = color.RGBA{30, 160, 90, 255}
)

const valGray = 128

// makeImageTree writes a small ImageNet-style tree: train has classes
// bird (one grayscale ramp), cat and dog (RGB ramps of 40x30 and 30x50,
// plus a text file to ignore); val has solid cat and dog images and a
// solid grayscale dog, and no bird.
func makeImageTree(t testing.TB) string {
	root := t.TempDir()
	writeTreeFile(t, root, "train/dog/d1.JPEG", encodeJPEG(t, rampImage(40, 30, 10), 95))
	writeTreeFile(t, root, "train/dog/d2.jpg", encodeJPEG(t, rampImage(30, 50, 60), 95))
	writeTreeFile(t, root, "train/dog/readme.txt", []byte("not an image"))
	writeTreeFile(t, root, "train/cat/c2.JPG", encodeJPEG(t, rampImage(40, 30, 120), 95))
	writeTreeFile(t, root, "train/cat/c1.jpeg", encodeJPEG(t, rampImage(30, 50, 200), 95))
	writeTreeFile(t, root, "train/bird/b1.jpg", encodeJPEG(t, grayImage(40, 30, func(x, y int) uint8 { return uint8(6*x + y) }), 95))
	writeTreeFile(t, root, "val/cat/v1.jpg", encodeJPEG(t, solidImage(40, 30, valCat), 100))
	writeTreeFile(t, root, "val/dog/v2.JPEG", encodeJPEG(t, solidImage(30, 50, valDog), 100))
	writeTreeFile(t, root, "val/dog/v3.jpg", encodeJPEG(t, grayImage(30, 50, func(x, y int) uint8 { return valGray }), 100))
	return root
}

var smallOpts = ImageOptions{Size: 16, Resize: 20, Workers: 2, Seed: 7}

func openTree(t *testing.T, root string, train bool) *ImageFolder {
	t.Helper()
	f, err := OpenImageFolder(root, train, smallOpts)
	if err != nil {
		t.Fatal(err)
	}
	return f
}

func TestImageFolderDiscovery(t *testing.T) {
	root := makeImageTree(t)
	tr, va := openTree(t, root, true), openTree(t, root, false)
	want := []string{"bird", "cat", "dog"}
	for _, f := range []*ImageFolder{tr, va} {
		if !slices.Equal(f.Classes(), want) || f.NumClasses() != 3 {
			t.Fatalf("classes %v (%d), want %v", f.Classes(), f.NumClasses(), want)
		}
		if !slices.Equal(f.Shape(), []int{3, 16, 16}) || SampleSize(f) != 3*16*16 {
			t.Fatalf("shape %v", f.Shape())
		}
	}
	if tr.Len() != 5 || va.Len() != 3 {
		t.Fatalf("Len %d and %d, want 5 and 3", tr.Len(), va.Len())
	}
	var got []string
	for i := range tr.Len() {
		rel, _ := filepath.Rel(root, tr.Path(i))
		got = append(got, filepath.ToSlash(rel)+":"+tr.Classes()[tr.Label(i)])
	}
	wantFiles := []string{"train/bird/b1.jpg:bird", "train/cat/c1.jpeg:cat", "train/cat/c2.JPG:cat", "train/dog/d1.JPEG:dog", "train/dog/d2.jpg:dog"}
	if !slices.Equal(got, wantFiles) {
		t.Fatalf("train samples %v, want %v", got, wantFiles)
	}
	if va.Label(0) != 1 || va.Label(1) != 2 || va.Label(2) != 2 {
		t.Fatalf("val labels %d %d %d, want 1 2 2", va.Label(0), va.Label(1), va.Label(2))
	}
	tr.Classes()[0] = "changed"
	if tr.Classes()[0] != "bird" {
		t.Fatal("Classes returned the folder's own slice")
	}
	// defaults
	d, err := OpenImageFolder(root, false, ImageOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(d.Shape(), []int{3, 224, 224}) || d.opt.Resize != 256 || d.opt.Workers != runtime.GOMAXPROCS(0) ||
		d.opt.Mean != ImageNetMean || d.opt.Std != ImageNetStd {
		t.Fatalf("defaults: %+v", d.opt)
	}
}

func TestImageFolderCentreCropValues(t *testing.T) {
	va := openTree(t, openTreeRoot(t), false)
	n := 16 * 16
	x := make([]float32, 3*3*n)
	y := make([]float32, 3)
	if err := va.Batch(x, y, []int{0, 1, 2}, 0); err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(y, []float32{1, 2, 2}) {
		t.Fatalf("labels %v", y)
	}
	for s, want := range [][3]float64{
		{float64(valCat.R), float64(valCat.G), float64(valCat.B)},
		{float64(valDog.R), float64(valDog.G), float64(valDog.B)},
		{valGray, valGray, valGray},
	} {
		for c := range 3 {
			std := float64(ImageNetStd[c])
			v := (want[c]/255 - float64(ImageNetMean[c])) / std
			tol := 3.0 / 255 / std // JPEG rounding
			for _, got := range x[(3*s+c)*n : (3*s+c+1)*n] {
				if math.Abs(float64(got)-v) > tol {
					t.Fatalf("sample %d channel %d: %v, want %v +- %.3f", s, c, got, v, tol)
				}
			}
		}
	}
}

// openTreeRoot is makeImageTree for tests that only read it.
func openTreeRoot(t *testing.T) string { return makeImageTree(t) }

func TestImageFolderEvalResizeGeometry(t *testing.T) {
	// A 48x24 image whose left half is black and right half white (the edge
	// on a JPEG block boundary), resized to 24x12 then centre-cropped to
	// 8x8 from column 8: output column o samples source x 16.5 + 2o, so
	// columns 0 to 3 are black and 4 to 7 white.
	root := t.TempDir()
	img := grayImage(48, 24, func(x, y int) uint8 { return uint8(255 * (x / 24)) })
	writeTreeFile(t, root, "train/a/x.jpg", encodeJPEG(t, img, 100))
	writeTreeFile(t, root, "val/a/x.jpg", encodeJPEG(t, img, 100))
	f, err := OpenImageFolder(root, false, ImageOptions{Size: 8, Resize: 12, Std: [3]float32{1, 1, 1}})
	if err != nil {
		t.Fatal(err)
	}
	x := make([]float32, 3*64)
	y := make([]float32, 1)
	if err := f.Batch(x, y, []int{0}, 0); err != nil {
		t.Fatal(err)
	}
	for c := range 3 {
		for r := range 8 {
			row := x[c*64+r*8 : c*64+r*8+8]
			for o, v := range row {
				if want := float32(o / 4); math.Abs(float64(v-want)) > 0.02 {
					t.Fatalf("channel %d row %d: %v, want 4 zeros and 4 ones", c, r, row)
				}
			}
		}
	}
}

func TestImageFolderTrainAugmentation(t *testing.T) {
	tr := openTree(t, openTreeRoot(t), true)
	ss := SampleSize(tr)
	idx := []int{0, 1, 2, 3, 4}
	batch := func(f *ImageFolder, epoch int) []float32 {
		x := make([]float32, len(idx)*ss)
		y := make([]float32, len(idx))
		if err := f.Batch(x, y, idx, epoch); err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(y, []float32{0, 1, 1, 2, 2}) {
			t.Fatalf("labels %v", y)
		}
		return x
	}
	a, b, c := batch(tr, 3), batch(tr, 3), batch(tr, 4)
	if !slices.Equal(a, b) {
		t.Fatal("the same epoch gave different crops")
	}
	if slices.Equal(a, c) {
		t.Fatal("epochs 3 and 4 gave the same crops")
	}
	opt := smallOpts
	opt.Seed++
	other, err := OpenImageFolder(filepath.Dir(filepath.Dir(filepath.Dir(tr.Path(0)))), true, opt)
	if err != nil {
		t.Fatal(err)
	}
	if slices.Equal(a, batch(other, 3)) {
		t.Fatal("seeds 7 and 8 gave the same crops")
	}
	// Sample 3 (d1) has red increasing with x: a flipped crop has it
	// decreasing. About half the epochs flip.
	flips := 0
	x := make([]float32, ss)
	y := make([]float32, 1)
	for epoch := range 40 {
		if err := tr.Batch(x, y, []int{3}, epoch); err != nil {
			t.Fatal(err)
		}
		left, right := 0.0, 0.0
		for r := range 16 {
			left += float64(x[r*16])
			right += float64(x[r*16+15])
		}
		if left == right {
			t.Fatalf("epoch %d: flat red channel", epoch)
		}
		if left > right {
			flips++
		}
	}
	if flips < 8 || flips > 32 {
		t.Fatalf("%d of 40 crops flipped", flips)
	}
}

func TestRandomResizedCrop(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	for _, size := range [][2]int{{500, 375}, {30, 50}, {1, 1}, {1000, 10}, {10, 1000}, {3, 2}} {
		w, h := size[0], size[1]
		full := 0
		for range 2000 {
			cx, cy, cw, ch := randomResizedCrop(rng, w, h)
			if cw < 1 || ch < 1 || cx < 0 || cy < 0 || cx+cw > w || cy+ch > h {
				t.Fatalf("%dx%d: crop %d,%d %dx%d out of bounds", w, h, cx, cy, cw, ch)
			}
			if cw == w && ch == h {
				full++
			}
			if w >= 100 && h >= 100 {
				area := float64(cw*ch) / float64(w*h)
				ratio := float64(cw) / float64(ch)
				if area < 0.07 || area > 1 || ratio < 0.7 || ratio > 1.4 {
					t.Fatalf("%dx%d: crop %dx%d: area %.3f ratio %.3f", w, h, cw, ch, area, ratio)
				}
			}
		}
		if w == 1000 && full > 0 {
			t.Fatalf("1000x10: %d full crops, want the 4/3 centre fallback", full)
		}
	}
}

func TestMakeTaps(t *testing.T) {
	taps := make([]imageTap, 4)
	makeTaps(taps, 0, 1, 4) // identity
	for o, tp := range taps {
		if tp != (imageTap{o, min(o+1, 3), 0}) {
			t.Fatalf("identity tap %d: %+v", o, tp)
		}
	}
	makeTaps(taps, 0, 2, 8) // halve: centres at 0.5, 2.5, 4.5, 6.5
	for o, tp := range taps {
		if tp != (imageTap{2 * o, 2*o + 1, 0.5}) {
			t.Fatalf("halving tap %d: %+v", o, tp)
		}
	}
	makeTaps(taps, 0, 0.5, 2) // double: -0.25 clamps to 0, 0.25, 0.75, 1.25 clamps to 1
	want := []imageTap{{0, 1, 0}, {0, 1, 0.25}, {0, 1, 0.75}, {1, 1, 0}}
	if !slices.Equal(taps, want) {
		t.Fatalf("doubling taps %+v, want %+v", taps, want)
	}
}

// atOnly hides an image's type so sampleBilinear falls back to At.
type atOnly struct{ image.Image }

func TestSampleFastPathsMatchAt(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	fill := func(b []byte) {
		for i := range b {
			b[i] = uint8(rng.Uint32())
		}
	}
	r := image.Rect(0, 0, 37, 23)
	var imgs []image.Image
	for _, ratio := range []image.YCbCrSubsampleRatio{
		image.YCbCrSubsampleRatio444, image.YCbCrSubsampleRatio422, image.YCbCrSubsampleRatio420,
		image.YCbCrSubsampleRatio440, image.YCbCrSubsampleRatio411, image.YCbCrSubsampleRatio410,
	} {
		m := image.NewYCbCr(r, ratio)
		fill(m.Y)
		fill(m.Cb)
		fill(m.Cr)
		imgs = append(imgs, m, m.SubImage(image.Rect(3, 5, 30, 22)))
	}
	g := image.NewGray(r)
	fill(g.Pix)
	c := image.NewCMYK(r)
	fill(c.Pix)
	n := image.NewNRGBA(r)
	fill(n.Pix)
	a := image.NewRGBA(r)
	fill(a.Pix)
	for i := 0; i < len(a.Pix); i += 4 { // valid premultiplied colours
		for k := range 3 {
			a.Pix[i+k] = min(a.Pix[i+k], a.Pix[i+3])
		}
	}
	imgs = append(imgs, g, g.SubImage(image.Rect(1, 2, 20, 21)), c, c.SubImage(image.Rect(5, 1, 36, 9)), n, n.SubImage(image.Rect(2, 2, 9, 9)), a, a.SubImage(image.Rect(7, 3, 33, 20)))
	for k, img := range imgs {
		b := img.Bounds()
		for _, size := range []int{5, 16, 50} {
			s := newImageScratch(size)
			makeTaps(s.cols, 1.5, float64(b.Dx()-2)/float64(size), b.Dx())
			makeTaps(s.rows, 0.5, float64(b.Dy()-1)/float64(size), b.Dy())
			slices.Reverse(s.cols)
			fast := make([]float32, 3*size*size)
			slow := make([]float32, 3*size*size)
			one, zero := [3]float32{1, 1, 1}, [3]float32{}
			sampleBilinear(fast, img, s, one, zero)
			sampleBilinear(slow, atOnly{img}, s, one, zero)
			for i := range fast {
				if math.Abs(float64(fast[i]-slow[i])) > 1.5 {
					t.Fatalf("image %d (%T %v) size %d: value %d is %v, At gives %v", k, img, b, size, i, fast[i], slow[i])
				}
			}
		}
	}
}

func TestImageFolderBadFiles(t *testing.T) {
	root := t.TempDir()
	good := encodeJPEG(t, rampImage(40, 30, 0), 90)
	writeTreeFile(t, root, "train/a/0good.jpg", good)
	bad := writeTreeFile(t, root, "train/a/bad.jpg", []byte("this is not a JPEG"))
	trunc := writeTreeFile(t, root, "train/a/truncated.jpg", good[:len(good)/2])
	huge := slices.Clone(good)
	sof := bytes.Index(huge, []byte{0xff, 0xc0})
	if sof < 0 {
		t.Fatal("no SOF0 marker")
	}
	copy(huge[sof+5:], []byte{0xff, 0xff, 0xff, 0xff}) // 65535 x 65535
	hugePath := writeTreeFile(t, root, "train/a/huge.jpg", huge)
	empty := writeTreeFile(t, root, "train/a/empty.jpg", nil)
	f, err := OpenImageFolder(root, true, smallOpts)
	if err != nil {
		t.Fatal(err)
	}
	x := make([]float32, 2*SampleSize(f))
	y := make([]float32, 2)
	if err := f.Batch(x, y, []int{0}, 0); err != nil {
		t.Fatal(err)
	}
	for i, path := range []string{bad, empty, hugePath, trunc} {
		if f.Path(i+1) != path {
			t.Fatalf("sample %d is %s, want %s", i+1, f.Path(i+1), path)
		}
		err := f.Batch(x, y, []int{0, i + 1}, 0)
		if err == nil || !strings.Contains(err.Error(), path) || strings.Contains(err.Error(), "\n") {
			t.Fatalf("%s: error %v, want one line naming the file", path, err)
		}
	}
	if err := f.Batch(x, y, []int{0, 5}, 0); err == nil || !strings.Contains(err.Error(), "out of range") {
		t.Fatalf("index 5: %v", err)
	}
	if err := f.Batch(x[:10], y, []int{0}, 0); err == nil {
		t.Fatal("short buffer: no error")
	}
	// Hostile bytes: random corruptions of a valid JPEG decode or fail,
	// never panic.
	rng := rand.New(rand.NewPCG(5, 6))
	for range 300 {
		b := slices.Clone(good)
		for range 1 + rng.IntN(8) {
			b[rng.IntN(len(b))] = uint8(rng.Uint32())
		}
		if rng.IntN(4) == 0 {
			b = b[:rng.IntN(len(b))]
		}
		if err := os.WriteFile(bad, b, 0o644); err != nil {
			t.Fatal(err)
		}
		if err := f.Batch(x, y, []int{1}, 0); err != nil && !strings.Contains(err.Error(), bad) {
			t.Fatalf("error %v does not name %s", err, bad)
		}
	}
}

func TestImageFolderLayoutErrors(t *testing.T) {
	root := makeImageTree(t)
	missing := filepath.Join(t.TempDir(), "nowhere")
	onlyTrain := t.TempDir()
	writeTreeFile(t, onlyTrain, "train/a/x.jpg", encodeJPEG(t, solidImage(8, 8, valCat), 90))
	extraVal := t.TempDir()
	writeTreeFile(t, extraVal, "train/a/x.jpg", encodeJPEG(t, solidImage(8, 8, valCat), 90))
	writeTreeFile(t, extraVal, "val/zebra/x.jpg", encodeJPEG(t, solidImage(8, 8, valCat), 90))
	emptyClass := t.TempDir()
	writeTreeFile(t, emptyClass, "train/a/x.jpg", encodeJPEG(t, solidImage(8, 8, valCat), 90))
	writeTreeFile(t, emptyClass, "train/b/notes.txt", []byte("no images"))
	noClasses := t.TempDir()
	writeTreeFile(t, noClasses, "train/x.jpg", encodeJPEG(t, solidImage(8, 8, valCat), 90))
	for _, c := range []struct {
		name  string
		root  string
		train bool
		opt   ImageOptions
		want  []string
	}{
		{"missing root", missing, true, smallOpts, []string{filepath.Join(missing, "train"), "missing"}},
		{"missing val", onlyTrain, false, smallOpts, []string{filepath.Join(onlyTrain, "val"), "missing"}},
		{"val class not in train", extraVal, false, smallOpts, []string{`"zebra"`, filepath.Join(extraVal, "train")}},
		{"empty class", emptyClass, true, smallOpts, []string{filepath.Join(emptyClass, "train", "b"), "no .jpeg"}},
		{"no class folders", noClasses, true, smallOpts, []string{filepath.Join(noClasses, "train"), "no class folders"}},
		{"resize below size", root, true, ImageOptions{Size: 32, Resize: 16}, []string{root, "resize 16"}},
		{"zero std", root, true, ImageOptions{Std: [3]float32{1, 0, 1}}, []string{root, "std 0 of channel 1"}},
	} {
		f, err := OpenImageFolder(c.root, c.train, c.opt)
		if err == nil {
			t.Fatalf("%s: no error (%d samples)", c.name, f.Len())
		}
		for _, w := range c.want {
			if !strings.Contains(err.Error(), w) {
				t.Fatalf("%s: error %q does not contain %q", c.name, err, w)
			}
		}
	}
	// the extra val class is fine for training
	if _, err := OpenImageFolder(extraVal, true, smallOpts); err != nil {
		t.Fatal(err)
	}
}

// naturalImage is a w x h picture with smooth shapes, edges and a little
// noise, so it compresses like a photograph.
func naturalImage(w, h int, seed uint64) *image.RGBA {
	rng := rand.New(rand.NewPCG(seed, 1))
	img := image.NewRGBA(image.Rect(0, 0, w, h))
	fx, fy := 0.01+0.05*rng.Float64(), 0.01+0.05*rng.Float64()
	cx, cy, rad := rng.Float64()*float64(w), rng.Float64()*float64(h), 40+rng.Float64()*100
	for y := range h {
		for x := range w {
			dx, dy := float64(x)-cx, float64(y)-cy
			in := dx*dx+dy*dy < rad*rad
			r := 128 + 100*math.Sin(fx*float64(x)+fy*float64(y))
			g := 128 + 100*math.Cos(fy*float64(x)*0.7-fx*float64(y))
			b := 100 + 0.2*float64(x+y)
			if in {
				r, g = 255-r, 0.5*g
			}
			nz := 12 * rng.NormFloat64()
			img.SetRGBA(x, y, color.RGBA{clamp8(r + nz), clamp8(g + nz), clamp8(b + nz), 255})
		}
	}
	return img
}

func clamp8(v float64) uint8 { return uint8(max(0, min(255, v))) }

func BenchmarkImageFolderBatch(b *testing.B) {
	root := b.TempDir()
	const n = 8
	idx := make([]int, n)
	for i := range n {
		name := filepath.Join("train/c", "img"+string(rune('0'+i))+".JPEG")
		writeTreeFile(b, root, name, encodeJPEG(b, naturalImage(500, 375, uint64(i)), 90))
		writeTreeFile(b, root, filepath.Join("val/c", "img"+string(rune('0'+i))+".JPEG"), encodeJPEG(b, naturalImage(375, 500, uint64(i)), 90))
		idx[i] = i
	}
	for _, split := range []struct {
		name  string
		train bool
	}{{"val", false}, {"train", true}} {
		b.Run(split.name, func(b *testing.B) {
			f, err := OpenImageFolder(root, split.train, ImageOptions{Seed: 1})
			if err != nil {
				b.Fatal(err)
			}
			x := make([]float32, n*SampleSize(f))
			y := make([]float32, n)
			for i := 0; b.Loop(); i++ {
				if err := f.Batch(x, y, idx, i); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(n*b.N)/b.Elapsed().Seconds(), "images/s")
		})
	}
}
