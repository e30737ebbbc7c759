package data

import (
	"bytes"
	"errors"
	"fmt"
	"image"
	"image/jpeg"
	"io/fs"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
)

// ImageNet's defaults: the training crop and evaluation resize of the
// reference ResNet recipe and the per-channel mean and standard deviation
// of the training pixels scaled to [0, 1].
const (
	ImageNetSize   = 224
	ImageNetResize = 256
)

var (
	// ImageNetMean is the default ImageOptions.Mean (R, G, B).
	ImageNetMean = [3]float32{0.485, 0.456, 0.406}
	// ImageNetStd is the default ImageOptions.Std (R, G, B).
	ImageNetStd = [3]float32{0.229, 0.224, 0.225}
)

// imageMaxPixels bounds the size a JPEG header may claim before it is
// decoded (ImageNet's largest images have a few tens of megapixels).
const imageMaxPixels = 1 << 26

// ImageOptions configures OpenImageFolder; zero fields take the defaults.
type ImageOptions struct {
	Size    int        // side of the square output crop (default 224)
	Resize  int        // evaluation: shorter side before the centre crop (default 256, at least Size)
	Workers int        // goroutines decoding a batch (default GOMAXPROCS)
	Mean    [3]float32 // per-channel mean of v/255 (R, G, B); with Std all zero both default to ImageNet's
	Std     [3]float32 // per-channel standard deviation of v/255 (default ImageNetStd)
	Seed    uint64     // seeds the training augmentation with the epoch and sample index
}

// withDefaults fills the zero fields of o and checks the others.
func (o ImageOptions) withDefaults() (ImageOptions, error) {
	if o.Size == 0 {
		o.Size = ImageNetSize
	}
	if o.Resize == 0 {
		o.Resize = max(ImageNetResize, o.Size)
	}
	if o.Workers == 0 {
		o.Workers = runtime.GOMAXPROCS(0)
	}
	if o.Std == ([3]float32{}) {
		o.Std = ImageNetStd
		if o.Mean == ([3]float32{}) {
			o.Mean = ImageNetMean
		}
	}
	switch {
	case o.Size < 0:
		return o, fmt.Errorf("image options: size %d, want > 0", o.Size)
	case o.Resize < o.Size:
		return o, fmt.Errorf("image options: resize %d smaller than the crop size %d", o.Resize, o.Size)
	case o.Workers < 0:
		return o, fmt.Errorf("image options: %d workers, want > 0", o.Workers)
	}
	for c, s := range o.Std {
		if !(s > 0) || math.IsInf(float64(s), 0) {
			return o, fmt.Errorf("image options: std %v of channel %d, want a positive number", s, c)
		}
	}
	return o, nil
}

// ImageFolder is one split of an ImageNet-style folder of JPEGs, decoded
// and augmented batch by batch; it implements Source.
type ImageFolder struct {
	dir     string   // the split's folder
	train   bool     // random crops and flips, else resize and centre crop
	classes []string // sorted class folder names of the training split
	files   []string // sample paths, sorted by class then name
	labels  []int32  // class index of each file
	opt     ImageOptions
}

// OpenImageFolder lists the samples of dir/train (train) or dir/val (not
// train), laid out as <split>/<class>/<image>.JPEG. The classes are the
// sorted subfolder names of dir/train, in both splits, so labels agree
// even when val lacks a class; a val class missing from train is an error.
// Samples are the files ending in .jpeg or .jpg (any case) directly in a
// class folder, sorted by name; other files are ignored. A split without
// class folders, or a class folder without samples, is an error. Nothing
// is decoded until Batch.
func OpenImageFolder(dir string, train bool, opt ImageOptions) (*ImageFolder, error) {
	opt, err := opt.withDefaults()
	if err != nil {
		return nil, fmt.Errorf("image folder %s: %w", dir, err)
	}
	trainDir := filepath.Join(dir, "train")
	classes, err := classFolders(trainDir)
	if err != nil {
		return nil, err
	}
	f := &ImageFolder{dir: trainDir, train: train, classes: classes, opt: opt}
	present := classes
	if !train {
		f.dir = filepath.Join(dir, "val")
		if present, err = classFolders(f.dir); err != nil {
			return nil, err
		}
	}
	for _, name := range present {
		label, ok := slices.BinarySearch(classes, name)
		if !ok {
			return nil, fmt.Errorf("image folder %s: class %q is not a class of %s", f.dir, name, trainDir)
		}
		cdir := filepath.Join(f.dir, name)
		names, err := imageFiles(cdir)
		if err != nil {
			return nil, err
		}
		for _, n := range names {
			f.files = append(f.files, filepath.Join(cdir, n))
			f.labels = append(f.labels, int32(label))
		}
	}
	return f, nil
}

// classFolders returns the sorted names of dir's subfolders (symbolic links
// to folders included).
func classFolders(dir string) ([]string, error) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil, fmt.Errorf("image folder %s: missing (want <class>/*.JPEG folders in it)", dir)
		}
		return nil, fmt.Errorf("image folder %s: %w", dir, err)
	}
	var names []string
	for _, e := range entries {
		isDir := e.IsDir()
		if e.Type()&fs.ModeSymlink != 0 {
			st, err := os.Stat(filepath.Join(dir, e.Name()))
			isDir = err == nil && st.IsDir()
		}
		if isDir {
			names = append(names, e.Name())
		}
	}
	if len(names) == 0 {
		return nil, fmt.Errorf("image folder %s: no class folders in it", dir)
	}
	slices.Sort(names)
	return names, nil
}

// imageFiles returns the sorted names of dir's .jpeg and .jpg files.
func imageFiles(dir string) ([]string, error) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("image folder %s: %w", dir, err)
	}
	var names []string
	for _, e := range entries {
		if e.IsDir() {
			continue
		}
		ext := filepath.Ext(e.Name())
		if strings.EqualFold(ext, ".jpeg") || strings.EqualFold(ext, ".jpg") {
			if irregular(e.Type()) {
				return nil, fmt.Errorf("image folder %s: %s: %w", dir, e.Name(), NotRegular(e.Type()))
			}
			names = append(names, e.Name())
		}
	}
	if len(names) == 0 {
		return nil, fmt.Errorf("image folder %s: no .jpeg or .jpg files in it", dir)
	}
	slices.Sort(names)
	return names, nil
}

// Len implements Source: the number of images.
func (f *ImageFolder) Len() int { return len(f.files) }

// NumClasses implements Source: the number of class folders of the
// training split.
func (f *ImageFolder) NumClasses() int { return len(f.classes) }

// Shape implements Source: (3, Size, Size).
func (f *ImageFolder) Shape() []int { return []int{3, f.opt.Size, f.opt.Size} }

// Classes returns the class folder names; label k is Classes()[k].
func (f *ImageFolder) Classes() []string { return slices.Clone(f.classes) }

// Path returns the file of sample i.
func (f *ImageFolder) Path(i int) string { return f.files[i] }

// Label returns the class index of sample i.
func (f *ImageFolder) Label(i int) int { return int(f.labels[i]) }

// Batch implements Source: it decodes the JPEGs idx on Workers goroutines
// into x, as (len(idx), 3, Size, Size) values (v/255 - Mean[c]) / Std[c],
// and their labels into y. Evaluation images are resized (bilinear) so
// their shorter side is Resize, then centre-cropped to Size x Size.
// Training images get a random resized crop (area 8% to 100%, aspect ratio
// 3/4 to 4/3) resized to Size x Size and a horizontal flip with probability
// 1/2, both drawn from (Seed, epoch, sample index). A file that cannot be
// read or decoded is an error naming it (the first such in idx).
func (f *ImageFolder) Batch(x, y []float32, idx []int, epoch int) error {
	ss := 3 * f.opt.Size * f.opt.Size
	if len(x) < len(idx)*ss || len(y) < len(idx) {
		return fmt.Errorf("image folder %s: batch of %d images into buffers of %d and %d values", f.dir, len(idx), len(x), len(y))
	}
	for _, i := range idx {
		if i < 0 || i >= len(f.files) {
			return fmt.Errorf("image folder %s: sample %d out of range [0, %d)", f.dir, i, len(f.files))
		}
	}
	errs := make([]error, len(idx))
	var next atomic.Int64
	work := func() {
		s := newImageScratch(f.opt.Size)
		for {
			r := int(next.Add(1)) - 1
			if r >= len(idx) {
				return
			}
			i := idx[r]
			errs[r] = f.load(s, x[r*ss:(r+1)*ss], i, epoch)
			y[r] = float32(f.labels[i])
		}
	}
	workers := min(f.opt.Workers, len(idx))
	var wg sync.WaitGroup
	for range workers - 1 {
		wg.Go(work)
	}
	work()
	wg.Wait()
	return firstError(errs)
}

// firstError returns the first non-nil error of errs, or nil.
func firstError(errs []error) error {
	for _, err := range errs {
		if err != nil {
			return err
		}
	}
	return nil
}

// load decodes sample i and writes its normalised crop to dst.
func (f *ImageFolder) load(s *imageScratch, dst []float32, i, epoch int) error {
	path := f.files[i]
	img, err := decodeJPEGFile(path)
	if err != nil {
		return err
	}
	b := img.Bounds()
	w, h := b.Dx(), b.Dy()
	n := f.opt.Size
	flip := false
	var x0, y0, sx, sy float64 // crop origin in pixels and source pixels per output pixel
	if f.train {
		rng := rand.New(rand.NewPCG(imageMix(f.opt.Seed^imageMix(uint64(epoch)+0x7f4a7c15)), uint64(i)))
		cx, cy, cw, ch := randomResizedCrop(rng, w, h)
		flip = rng.Uint64()&1 == 1
		x0, y0 = float64(cx), float64(cy)
		sx, sy = float64(cw)/float64(n), float64(ch)/float64(n)
	} else {
		rw, rh := resizeShorter(w, h, f.opt.Resize)
		left := math.RoundToEven(float64(rw-n) / 2)
		top := math.RoundToEven(float64(rh-n) / 2)
		sx, sy = float64(w)/float64(rw), float64(h)/float64(rh)
		x0, y0 = left*sx, top*sy
	}
	makeTaps(s.cols, x0, sx, w)
	makeTaps(s.rows, y0, sy, h)
	if flip {
		slices.Reverse(s.cols)
	}
	var scale, shift [3]float32
	for c := range 3 {
		scale[c] = 1 / (255 * f.opt.Std[c])
		shift[c] = -f.opt.Mean[c] / f.opt.Std[c]
	}
	sampleBilinear(dst, img, s, scale, shift)
	return nil
}

// decodeJPEGFile reads and decodes a JPEG, refusing headers that claim an
// empty or huge image and turning a decoder panic into an error.
func decodeJPEGFile(path string) (img image.Image, err error) {
	buf, err := readRegular(path)
	if err != nil {
		return nil, err
	}
	defer func() {
		if r := recover(); r != nil {
			img, err = nil, fmt.Errorf("%s: decode JPEG: decoder panic: %v", path, r)
		}
	}()
	cfg, err := jpeg.DecodeConfig(bytes.NewReader(buf))
	if err != nil {
		return nil, fmt.Errorf("%s: decode JPEG: %w", path, err)
	}
	if cfg.Width <= 0 || cfg.Height <= 0 || int64(cfg.Width)*int64(cfg.Height) > imageMaxPixels {
		return nil, fmt.Errorf("%s: decode JPEG: size %dx%d, want 1 to %d pixels", path, cfg.Width, cfg.Height, imageMaxPixels)
	}
	img, err = jpeg.Decode(bytes.NewReader(buf))
	if err != nil {
		return nil, fmt.Errorf("%s: decode JPEG: %w", path, err)
	}
	if b := img.Bounds(); b.Dx() <= 0 || b.Dy() <= 0 {
		return nil, fmt.Errorf("%s: decode JPEG: empty image", path)
	}
	return img, nil
}

// resizeShorter is the size of a w x h image resized so its shorter side is
// side, the longer one scaled alike and truncated (as torchvision does).
func resizeShorter(w, h, side int) (rw, rh int) {
	if w <= h {
		return side, max(side, int(float64(side)*float64(h)/float64(w)))
	}
	return max(side, int(float64(side)*float64(w)/float64(h))), side
}

// randomResizedCrop draws a crop (x, y, w, h) of a width x height image as
// torchvision's RandomResizedCrop does: an area of 8% to 100% of the image
// and an aspect ratio w/h log-uniform in [3/4, 4/3]; after 10 draws that
// do not fit, the centre crop of the largest such ratio range.
func randomResizedCrop(rng *rand.Rand, width, height int) (x, y, w, h int) {
	const minScale, maxScale = 0.08, 1.0
	const minRatio, maxRatio = 3.0 / 4, 4.0 / 3
	area := float64(width) * float64(height)
	lo, hi := math.Log(minRatio), math.Log(maxRatio)
	for range 10 {
		target := area * (minScale + (maxScale-minScale)*rng.Float64())
		ratio := math.Exp(lo + (hi-lo)*rng.Float64())
		w = int(math.RoundToEven(math.Sqrt(target * ratio)))
		h = int(math.RoundToEven(math.Sqrt(target / ratio)))
		if w > 0 && w <= width && h > 0 && h <= height {
			return rng.IntN(width - w + 1), rng.IntN(height - h + 1), w, h
		}
	}
	in := float64(width) / float64(height)
	switch {
	case in < minRatio:
		w = width
		h = max(1, min(height, int(math.RoundToEven(float64(w)/minRatio))))
	case in > maxRatio:
		h = height
		w = max(1, min(width, int(math.RoundToEven(float64(h)*maxRatio))))
	default:
		w, h = width, height
	}
	return (width - w) / 2, (height - h) / 2, w, h
}

// imageMix is splitmix64's finaliser: a bijective hash of x.
func imageMix(x uint64) uint64 {
	x += 0x9e3779b97f4a7c15
	x = (x ^ x>>30) * 0xbf58476d1ce4e5b9
	x = (x ^ x>>27) * 0x94d049bb133111eb
	return x ^ x>>31
}

// imageTap is one output coordinate's two source coordinates, relative to
// the image's bounds, and the weight of the second.
type imageTap struct {
	i0, i1 int
	w      float32
}

// makeTaps fills taps for a bilinear resize (half-pixel centres, edges
// clamped) of the source coordinates [0, size): output o samples source
// coordinate start + (o + 0.5) * scale - 0.5.
func makeTaps(taps []imageTap, start, scale float64, size int) {
	last := float64(size - 1)
	for o := range taps {
		v := start + (float64(o)+0.5)*scale - 0.5
		v = max(0, min(last, v))
		i := int(v)
		taps[o] = imageTap{i0: i, i1: min(i+1, size-1), w: float32(v - float64(i))}
	}
}

// imageScratch is one decoding goroutine's buffers.
type imageScratch struct {
	rows, cols []imageTap
	a, b       []float32 // two source rows sampled at the column taps, planar RGB
	aRow, bRow int       // the source rows a and b hold, or -1
	c0, c1     []int     // chroma column offsets of the column taps (YCbCr)
}

func newImageScratch(n int) *imageScratch {
	return &imageScratch{
		rows: make([]imageTap, n), cols: make([]imageTap, n),
		a: make([]float32, 3*n), b: make([]float32, 3*n),
		c0: make([]int, n), c1: make([]int, n),
	}
}

// rowSampler writes source row y (relative to the bounds), sampled at the column taps and
// interpolated horizontally, to out as planar R, G, B values in [0, 255].
type rowSampler func(y int, out []float32)

// sampleBilinear resamples img at s.rows x s.cols into dst, (3, n, n) CHW,
// as v * scale[c] + shift[c]: each source row needed is sampled
// horizontally once (at most two are kept), then rows are blended
// vertically.
func sampleBilinear(dst []float32, img image.Image, s *imageScratch, scale, shift [3]float32) {
	n := len(s.cols)
	row := rowSamplerFor(img, s)
	s.aRow, s.bRow = -1, -1
	for oy, t := range s.rows {
		s.fetch(row, t.i0, t.i1)
		wy := t.w
		for c := range 3 {
			a, b := s.a[c*n:(c+1)*n], s.b[c*n:(c+1)*n]
			out := dst[c*n*n+oy*n : c*n*n+(oy+1)*n]
			sc, sh := scale[c], shift[c]
			for ox := range out {
				out[ox] = (a[ox]+(b[ox]-a[ox])*wy)*sc + sh
			}
		}
	}
}

// fetch makes s.a hold source row y0 and s.b row y1, reusing what is there.
func (s *imageScratch) fetch(row rowSampler, y0, y1 int) {
	switch {
	case s.aRow == y0 && s.bRow == y1:
		return
	case s.bRow == y0:
		s.a, s.b = s.b, s.a
		s.aRow, s.bRow = s.bRow, s.aRow
	case s.aRow != y0:
		row(y0, s.a)
		s.aRow = y0
	}
	if s.bRow != y1 {
		if y1 == y0 {
			copy(s.b, s.a)
		} else {
			row(y1, s.b)
		}
		s.bRow = y1
	}
}

// rowSamplerFor returns a row sampler reading img's pixels directly for the
// types image/jpeg decodes to (and RGBA, NRGBA), through At otherwise.
func rowSamplerFor(img image.Image, s *imageScratch) rowSampler {
	cols := s.cols
	n := len(cols)
	switch m := img.(type) {
	case *image.YCbCr:
		hs, vs := 1, 1
		switch m.SubsampleRatio {
		case image.YCbCrSubsampleRatio422:
			hs = 2
		case image.YCbCrSubsampleRatio420:
			hs, vs = 2, 2
		case image.YCbCrSubsampleRatio440:
			vs = 2
		case image.YCbCrSubsampleRatio411:
			hs = 4
		case image.YCbCrSubsampleRatio410:
			hs, vs = 4, 2
		}
		org := m.Rect.Min
		for o, t := range cols {
			s.c0[o] = (org.X+t.i0)/hs - org.X/hs
			s.c1[o] = (org.X+t.i1)/hs - org.X/hs
		}
		c0, c1 := s.c0, s.c1
		return func(y int, out []float32) {
			yr := m.Y[y*m.YStride:]
			ci := ((org.Y+y)/vs - org.Y/vs) * m.CStride
			cb, cr := m.Cb[ci:], m.Cr[ci:]
			or, og, ob := out[:n], out[n:2*n], out[2*n:3*n]
			for o, t := range cols {
				r0, g0, b0 := ycbcrToRGB(yr[t.i0], cb[c0[o]], cr[c0[o]])
				r1, g1, b1 := ycbcrToRGB(yr[t.i1], cb[c1[o]], cr[c1[o]])
				or[o] = r0 + (r1-r0)*t.w
				og[o] = g0 + (g1-g0)*t.w
				ob[o] = b0 + (b1-b0)*t.w
			}
		}
	case *image.Gray:
		return func(y int, out []float32) {
			p := m.Pix[y*m.Stride:]
			for o, t := range cols {
				v0 := float32(p[t.i0])
				out[o] = v0 + (float32(p[t.i1])-v0)*t.w
			}
			copy(out[n:2*n], out[:n])
			copy(out[2*n:3*n], out[:n])
		}
	case *image.CMYK:
		return func(y int, out []float32) {
			p := m.Pix[y*m.Stride:]
			or, og, ob := out[:n], out[n:2*n], out[2*n:3*n]
			for o, t := range cols {
				r0, g0, b0 := cmykToRGB(p[4*t.i0 : 4*t.i0+4])
				r1, g1, b1 := cmykToRGB(p[4*t.i1 : 4*t.i1+4])
				or[o] = r0 + (r1-r0)*t.w
				og[o] = g0 + (g1-g0)*t.w
				ob[o] = b0 + (b1-b0)*t.w
			}
		}
	case *image.RGBA: // premultiplied: R, G, B over black
		return rgbaRow(m.Pix, m.Stride, cols, false)
	case *image.NRGBA:
		return rgbaRow(m.Pix, m.Stride, cols, true)
	}
	org := img.Bounds().Min
	return func(y int, out []float32) {
		or, og, ob := out[:n], out[n:2*n], out[2*n:3*n]
		for o, t := range cols {
			r0, g0, b0, _ := img.At(org.X+t.i0, org.Y+y).RGBA()
			r1, g1, b1, _ := img.At(org.X+t.i1, org.Y+y).RGBA()
			fr0, fg0, fb0 := float32(r0)/257, float32(g0)/257, float32(b0)/257
			or[o] = fr0 + (float32(r1)/257-fr0)*t.w
			og[o] = fg0 + (float32(g1)/257-fg0)*t.w
			ob[o] = fb0 + (float32(b1)/257-fb0)*t.w
		}
	}
}

// rgbaRow samples 4-byte RGBA pixels, multiplying by alpha when they are
// not premultiplied (as At's colours are).
func rgbaRow(pix []byte, stride int, cols []imageTap, nonPremul bool) rowSampler {
	n := len(cols)
	return func(y int, out []float32) {
		p := pix[y*stride:]
		for c := range 3 {
			oc := out[c*n : (c+1)*n]
			for o, t := range cols {
				v0, v1 := float32(p[4*t.i0+c]), float32(p[4*t.i1+c])
				if nonPremul {
					v0 *= float32(p[4*t.i0+3]) / 255
					v1 *= float32(p[4*t.i1+3]) / 255
				}
				oc[o] = v0 + (v1-v0)*t.w
			}
		}
	}
}

// ycbcrToRGB converts a JFIF YCbCr pixel to R, G, B in [0, 255].
func ycbcrToRGB(y, cb, cr uint8) (r, g, b float32) {
	fy, fb, fr := float32(y), float32(cb)-128, float32(cr)-128
	r = min(255, max(0, fy+1.402*fr))
	g = min(255, max(0, fy-0.344136*fb-0.714136*fr))
	b = min(255, max(0, fy+1.772*fb))
	return r, g, b
}

// cmykToRGB converts an (Adobe, as image/jpeg decodes it) CMYK pixel to
// R, G, B in [0, 255].
func cmykToRGB(p []byte) (r, g, b float32) {
	w := (255 - float32(p[3])) / 255
	return (255 - float32(p[0])) * w, (255 - float32(p[1])) * w, (255 - float32(p[2])) * w
}
