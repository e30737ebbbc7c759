package runs

import (
	"bytes"
	"fmt"
	"image/color"
	"math"
	"strings"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/font"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/plotutil"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
	"gonum.org/v1/plot/vg/vgimg"
	"gonum.org/v1/plot/vg/vgsvg"

	"signsgd/job"
)

// A metric is one panel's quantity, read from an epoch's record; ok is
// false where the record has none.
type metric struct {
	name, title string
	value       func(r job.Record) (v float64, ok bool)
	percent     bool // a fraction shown in percent, on an axis from 0
}

func ptr(p *float64) (float64, bool) {
	if p == nil {
		return 0, false
	}
	return *p, true
}

// metrics are the panels, in order. The attack panels appear only when
// some run has Byzantines voting signs.
var metrics = []metric{
	{name: "test_acc", title: "test accuracy", value: func(r job.Record) (float64, bool) { return ptr(r.TestAcc) }},
	{name: "test_loss", title: "test loss", value: func(r job.Record) (float64, bool) { return float64(r.TestLoss), true }},
	{name: "train_loss", title: "train loss", value: func(r job.Record) (float64, bool) { return float64(r.TrainLoss), true }},
	{name: "bytes_per_step", title: "bytes per step per worker (sent + received)", value: func(r job.Record) (float64, bool) {
		return r.BytesSentPerStep + r.BytesRecvPerStep, true
	}},
	{name: "step_ms", title: "milliseconds per step (rank 0)", value: func(r job.Record) (float64, bool) { return 1e3 * r.StepSeconds, true }},
	{name: "attack_flipped", title: "attack: % of coordinates flipped", percent: true, value: func(r job.Record) (float64, bool) { return ptr(r.AttackFlipped) }},
	{name: "attack_zeroed", title: "attack: % of coordinates zeroed", percent: true, value: func(r job.Record) (float64, bool) { return ptr(r.AttackZeroed) }},
	{name: "attack_unanimous", title: "attack: % where the honest signs agree", percent: true, value: func(r job.Record) (float64, bool) { return ptr(r.AttackUnanimous) }},
}

// Line is one run's curve in a panel: (epoch, value) for every epoch with
// a finite value.
type Line struct {
	Run   int // index in the runs given to Panels
	Label string
	XY    plotter.XYs
}

// Panel is one plot of the figure.
type Panel struct {
	Name     string // the metric: test_acc, test_loss, ..., attack_unanimous
	Title    string
	Lines    []Line // one per run that has a point, in the runs' order
	Log      bool   // log y axis: all values positive and spanning more than 20x
	FromZero bool   // the y axis starts at 0 (percentages)
}

// Panels builds the figure's data: one panel per metric that some run has
// (the attack ones only with Byzantine signs), one line per run with points.
func Panels(runs []*Run) []Panel {
	labels := Labels(runs)
	var panels []Panel
	for _, m := range metrics {
		p := Panel{Name: m.name, Title: m.title, FromZero: m.percent}
		lo, hi := math.Inf(1), math.Inf(-1)
		for i, r := range runs {
			var xy plotter.XYs
			for _, rec := range r.Records {
				v, ok := m.value(rec)
				if !ok || math.IsNaN(v) || math.IsInf(v, 0) {
					continue
				}
				if m.percent {
					v *= 100
				}
				xy = append(xy, plotter.XY{X: float64(rec.Epoch), Y: v})
				lo, hi = math.Min(lo, v), math.Max(hi, v)
			}
			if len(xy) > 0 {
				p.Lines = append(p.Lines, Line{Run: i, Label: labels[i], XY: xy})
			}
		}
		if len(p.Lines) == 0 {
			continue
		}
		p.Log = lo > 0 && hi > 20*lo && (m.name == "bytes_per_step" || m.name == "step_ms")
		panels = append(panels, p)
	}
	return panels
}

// Figure layout: three panels a row, the legend in the tile after the
// last panel, 14 x 4 inches a row (96 dots an inch in PNG).
const (
	figCols  = 3
	figWidth = 14 * vg.Inch
	rowH     = 4 * vg.Inch
	titleH   = 26 // points
	pngDPI   = 96
)

// FigureSize is the size of the figure of n panels.
func FigureSize(n int) (w, h vg.Length) {
	rows := (n + 1 + figCols - 1) / figCols // the legend takes a tile
	return figWidth, vg.Length(rows) * rowH
}

// style is run i's line: the paper figures' colours, then dashes once
// they repeat.
func style(i int) draw.LineStyle {
	s := plotter.DefaultLineStyle
	s.Color = plotutil.Color(i)
	s.Width = vg.Points(1.5)
	if k := i / len(plotutil.DefaultColors); k > 0 {
		s.Dashes = plotutil.Dashes(k)
	}
	return s
}

// lineThumb draws a legend entry's line.
type lineThumb struct{ draw.LineStyle }

func (t lineThumb) Thumbnail(c *draw.Canvas) {
	y := c.Center().Y
	c.StrokeLine2(t.LineStyle, c.Min.X, y, c.Max.X, y)
}

// legendText is a run's label with how far it got, unless it finished.
func legendText(r *Run, label string) string {
	switch r.Status() {
	case Failed:
		return label + " (failed: no epochs)"
	case Incomplete:
		n := len(r.Records)
		if p := r.PlannedEpochs(); p > 0 {
			return fmt.Sprintf("%s (incomplete: %d of %d epochs)", label, n, p)
		}
		return fmt.Sprintf("%s (incomplete: %d epochs)", label, n)
	}
	return label
}

// Title is the figure's title: how many runs and the settings they share
// among dataset, model, optimizer and workers.
func Title(runs []*Run) string {
	title := fmt.Sprintf("%d runs", len(runs))
	if len(runs) == 1 {
		title = runs[0].Dir
	}
	differ := map[string]bool{}
	for _, k := range Differing(runs) {
		differ[k] = true
	}
	var same []string
	for _, k := range []string{"dataset", "model", "opt", "workers"} {
		if _, ok := runs[0].Config[k]; ok && !differ[k] {
			same = append(same, k+"="+Value(runs[0].Config, k))
		}
	}
	if len(same) > 0 {
		title += ": " + strings.Join(same, ", ")
	}
	return title
}

// Draw draws the panels of runs into one figure, PNG or SVG (format "png"
// or "svg"), and returns its bytes.
func Draw(runs []*Run, panels []Panel, format string) ([]byte, error) {
	if len(panels) == 0 {
		return nil, fmt.Errorf("nothing to plot: no run has an epoch")
	}
	w, h := FigureSize(len(panels))
	var c draw.Canvas
	var buf bytes.Buffer
	var write func() error
	switch format {
	case "png":
		img := vgimg.NewWith(vgimg.UseWH(w, h), vgimg.UseDPI(pngDPI), vgimg.UseBackgroundColor(color.White))
		c = draw.New(img)
		write = func() error { _, err := vgimg.PngCanvas{Canvas: img}.WriteTo(&buf); return err }
	case "svg":
		img := vgsvg.New(w, h)
		c = draw.New(img)
		write = func() error { _, err := img.WriteTo(&buf); return err }
	default:
		return nil, fmt.Errorf("format %q (want png or svg)", format)
	}
	c.FillText(draw.TextStyle{Color: color.Black, Font: font.From(plot.DefaultFont, 14), Handler: plot.DefaultTextHandler, XAlign: draw.XCenter},
		vg.Point{X: (c.Min.X + c.Max.X) / 2, Y: c.Max.Y - vg.Points(18)}, Title(runs))
	body := c
	body.Max.Y -= vg.Points(titleH)

	rows := (len(panels) + 1 + figCols - 1) / figCols
	grid := make([][]*plot.Plot, rows)
	for r := range grid {
		grid[r] = make([]*plot.Plot, figCols)
	}
	for i, pn := range panels {
		p := plot.New()
		p.Title.Text = pn.Title
		p.X.Label.Text = "epoch"
		p.Y.Label.Text = pn.Title
		if i := strings.Index(pn.Title, " ("); i > 0 {
			p.Y.Label.Text = pn.Title[:i]
		}
		if pn.Log {
			p.Y.Scale = plot.LogScale{}
			p.Y.Tick.Marker = plot.LogTicks{Prec: -1}
		}
		for _, ln := range pn.Lines {
			l, err := plotter.NewLine(ln.XY)
			if err != nil {
				return nil, fmt.Errorf("%s, %s: %w", pn.Title, ln.Label, err)
			}
			l.LineStyle = style(ln.Run)
			p.Add(l)
			if len(ln.XY) < 3 { // a line of one or two points is hard to see
				pts, _ := plotter.NewScatter(ln.XY)
				pts.Color = l.Color
				p.Add(pts)
			}
		}
		if pn.FromZero {
			p.Y.Min = 0
			if p.Y.Max <= 0 {
				p.Y.Max = 1
			}
		}
		p.Add(plotter.NewGrid())
		grid[i/figCols][i%figCols] = p
	}
	tiles := draw.Tiles{Rows: rows, Cols: figCols, PadX: vg.Millimeter * 4, PadY: vg.Millimeter * 4,
		PadTop: vg.Millimeter * 2, PadBottom: vg.Millimeter * 2, PadLeft: vg.Millimeter * 2, PadRight: vg.Millimeter * 2}
	canvases := plot.Align(grid, tiles, body)
	for i := range panels {
		grid[i/figCols][i%figCols].Draw(canvases[i/figCols][i%figCols])
	}

	// The legend: the tiles after the last panel, one entry per run.
	first := len(panels)
	lc := tiles.At(body, first%figCols, first/figCols)
	lc.Max.X = tiles.At(body, figCols-1, rows-1).Max.X
	lc.Min.X += vg.Millimeter * 8
	lc.Max.Y -= vg.Millimeter * 8
	labels := Labels(runs)
	leg := plot.NewLegend()
	leg.Top, leg.Left = true, true
	leg.Padding = vg.Points(4)
	leg.ThumbnailWidth = vg.Points(28)
	for i, r := range runs {
		leg.Add(legendText(r, labels[i]), lineThumb{style(i)})
	}
	// Long labels: a smaller font until the legend fits its tiles.
	for size := vg.Points(12); size > vg.Points(6); size -= vg.Points(1) {
		leg.TextStyle.Font.Size = size
		if rc := leg.Rectangle(lc); rc.Max.X-rc.Min.X <= lc.Max.X-lc.Min.X && rc.Max.Y-rc.Min.Y <= lc.Max.Y-lc.Min.Y {
			break
		}
	}
	leg.Draw(lc)

	if err := write(); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}
