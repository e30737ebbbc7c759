package comm

import (
	"bytes"
	"encoding/csv"
	"fmt"
	"image/color"
	"io"
	"math"
	"strconv"
	"strings"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/font"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/plotutil"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
	"gonum.org/v1/plot/vg/vgimg"

	"signsgd/job/cli"
)

// table is a CSV file's and a Markdown table's content: a header and rows
// of already formatted cells.
type table struct {
	header []string
	rows   [][]string
}

func (t *table) add(cells ...string) { t.rows = append(t.rows, cells) }

// writeCSV writes t to path atomically.
func (t *table) writeCSV(path string) error {
	return cli.WriteFileAtomic(path, func(w io.Writer) error {
		cw := csv.NewWriter(w)
		cw.Write(t.header)
		cw.WriteAll(t.rows)
		return cw.Error()
	})
}

// markdown renders t, or only the columns cols (by header name) if given.
func (t *table) markdown(cols ...string) string {
	idx := make([]int, 0, len(t.header))
	if len(cols) == 0 {
		for i := range t.header {
			idx = append(idx, i)
		}
	}
	for _, c := range cols {
		for i, h := range t.header {
			if h == c {
				idx = append(idx, i)
			}
		}
	}
	var b strings.Builder
	line := func(cells []string) {
		b.WriteString("|")
		for _, i := range idx {
			b.WriteString(" " + cells[i] + " |")
		}
		b.WriteString("\n")
	}
	line(t.header)
	b.WriteString("|")
	for range idx {
		b.WriteString(" --- |")
	}
	b.WriteString("\n")
	for _, r := range t.rows {
		line(r)
	}
	return b.String()
}

// writeText writes s to path atomically.
func writeText(path, s string) error {
	return cli.WriteFileAtomic(path, func(w io.Writer) error {
		_, err := io.WriteString(w, s)
		return err
	})
}

// Cell formats.
func itoa(n int) string { return strconv.Itoa(n) }

func fmtFloat(v float64) string {
	if math.IsNaN(v) {
		return ""
	}
	return strconv.FormatFloat(v, 'g', 6, 64)
}

// fmtMs is a time for Markdown: milliseconds, 3 significant digits or whole.
func fmtMs(v float64) string {
	if math.IsNaN(v) {
		return "-"
	}
	if ms := v * 1e3; ms >= 100 {
		return strconv.FormatFloat(ms, 'f', 0, 64)
	}
	return strconv.FormatFloat(v*1e3, 'g', 3, 64)
}

func fmtRatio(v float64) string {
	if math.IsNaN(v) || math.IsInf(v, 0) {
		return "-"
	}
	return strconv.FormatFloat(v, 'f', 1, 64)
}

// fmtRatio2 is a ratio with two decimals ("-" for none).
func fmtRatio2(v float64) string {
	if math.IsNaN(v) || math.IsInf(v, 0) {
		return "-"
	}
	return strconv.FormatFloat(v, 'f', 2, 64)
}

// fmtBytes is a byte count with thousands separators.
func fmtBytes(v float64) string {
	s := strconv.FormatFloat(math.Round(v), 'f', 0, 64)
	var b strings.Builder
	for i, c := range s {
		if i > 0 && (len(s)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteRune(c)
	}
	return b.String()
}

// series is one line of a plot.
type series struct {
	name   string
	xy     plotter.XYs
	dashed bool
}

// panel is one plot of a figure.
type panel struct {
	title, xLabel, yLabel string
	logX, logY            bool
	xTicks                []float64 // labelled x values (default: the axis's own)
	lines                 []series
}

// drawPNG draws panels side by side into one PNG at path (the style of
// bench/figures: a line per series, points when few, a grid).
func drawPNG(path, title string, panels []panel) error {
	plots := [][]*plot.Plot{make([]*plot.Plot, len(panels))}
	for i, pn := range panels {
		p := plot.New()
		p.Title.Text = pn.title
		p.X.Label.Text = pn.xLabel
		p.Y.Label.Text = pn.yLabel
		if pn.logX {
			p.X.Scale = plot.LogScale{}
			p.X.Tick.Marker = plot.LogTicks{Prec: -1}
		}
		if len(pn.xTicks) > 0 {
			var ticks []plot.Tick
			for _, x := range pn.xTicks {
				ticks = append(ticks, plot.Tick{Value: x, Label: strconv.FormatFloat(x, 'g', -1, 64)})
			}
			p.X.Tick.Marker = plot.ConstantTicks(ticks)
		}
		if pn.logY {
			p.Y.Scale = plot.LogScale{}
			p.Y.Tick.Marker = plot.LogTicks{Prec: -1}
		}
		p.Legend.Top = true
		p.Legend.Left = true
		for j, s := range pn.lines {
			var xy plotter.XYs
			for _, pt := range s.xy {
				if math.IsNaN(pt.Y) || math.IsInf(pt.Y, 0) || (pn.logY && pt.Y <= 0) || (pn.logX && pt.X <= 0) {
					continue
				}
				xy = append(xy, pt)
			}
			if len(xy) == 0 {
				continue
			}
			l, err := plotter.NewLine(xy)
			if err != nil {
				return fmt.Errorf("plot %s: %w", path, err)
			}
			l.Color = plotutil.Color(j)
			l.Width = vg.Points(1.5)
			l.Dashes = plotutil.Dashes(j / 7) // colours repeat after 7
			if s.dashed {
				l.Dashes = []vg.Length{vg.Points(5), vg.Points(3)}
			}
			pts, err := plotter.NewScatter(xy)
			if err != nil {
				return fmt.Errorf("plot %s: %w", path, err)
			}
			pts.Color = l.Color
			p.Add(l, pts)
			p.Legend.Add(s.name, l)
		}
		p.Add(plotter.NewGrid())
		// A single value on a log axis (one M, or lines that meet in one
		// point): widen it by a factor of two each way, as the plot's own
		// widening by +-1 can reach zero or below.
		if pn.logX && p.X.Min >= p.X.Max && p.X.Min > 0 {
			p.X.Min, p.X.Max = p.X.Min/2, p.X.Max*2
		}
		if pn.logY && p.Y.Min >= p.Y.Max && p.Y.Min > 0 {
			p.Y.Min, p.Y.Max = p.Y.Min/2, p.Y.Max*2
		}
		plots[0][i] = p
	}
	return savePlots(path, title, plots, 6*vg.Inch, 5*vg.Inch)
}

// savePlots draws plots, a row-major grid (nil cells left blank), each in
// a w x h tile, into one PNG at path under title.
func savePlots(path, title string, plots [][]*plot.Plot, w, h vg.Length) error {
	rows, cols := len(plots), len(plots[0])
	img := vgimg.NewWith(vgimg.UseWH(vg.Length(cols)*w, vg.Length(rows)*h), vgimg.UseDPI(96), vgimg.UseBackgroundColor(color.White))
	c := draw.New(img)
	body := c
	body.Max.Y -= vg.Points(26)
	c.FillText(draw.TextStyle{Color: color.Black, Font: font.From(plot.DefaultFont, 13), Handler: plot.DefaultTextHandler, XAlign: draw.XCenter},
		vg.Point{X: (c.Min.X + c.Max.X) / 2, Y: c.Max.Y - vg.Points(18)}, title)
	tiles := draw.Tiles{Rows: rows, Cols: cols, PadX: vg.Millimeter * 6, PadY: vg.Millimeter * 6, PadTop: vg.Millimeter * 2, PadBottom: vg.Millimeter * 2, PadLeft: vg.Millimeter * 2, PadRight: vg.Millimeter * 4}
	canvases := plot.Align(plots, tiles, body)
	for i, row := range plots {
		for j, p := range row {
			if p != nil {
				p.Draw(canvases[i][j])
			}
		}
	}
	var buf bytes.Buffer
	if _, err := (vgimg.PngCanvas{Canvas: img}).WriteTo(&buf); err != nil {
		return fmt.Errorf("plot %s: %w", path, err)
	}
	return cli.WriteFileAtomic(path, func(w io.Writer) error { _, err := w.Write(buf.Bytes()); return err })
}
