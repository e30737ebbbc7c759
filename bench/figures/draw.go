package figures

import (
	"bytes"
	"fmt"
	"image/color"
	"io"
	"math"
	"path/filepath"
	"sort"
	"strings"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/font"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/plotutil"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
	"gonum.org/v1/plot/vg/vgimg"
	"gonum.org/v1/plot/vg/vgsvg"

	"signsgd/job/cli"
)

var nanValue = math.NaN()

// drawExperiment draws loss (top row) and test accuracy (bottom row)
// against epoch, one column per optimizer, one line per adversary count,
// as PNG and SVG.
func drawExperiment(e Experiment, series []Series, out string) ([]string, error) {
	cols := len(e.Optimizers)
	plots := make([][]*plot.Plot, 2)
	for r := range plots {
		plots[r] = make([]*plot.Plot, cols)
	}
	for ci, o := range e.Optimizers {
		var mine []Series
		for _, s := range series {
			if s.Optimizer == o {
				mine = append(mine, s)
			}
		}
		sort.Slice(mine, func(i, j int) bool { return mine[i].Count < mine[j].Count })
		for r, what := range []string{"test loss", "test accuracy"} {
			p := plot.New()
			p.Title.Text = fmt.Sprintf("%s: %s", strings.ToUpper(o), what)
			p.X.Label.Text = "epoch"
			p.Y.Label.Text = what
			p.Legend.Top = r == 0
			for i, s := range mine {
				var xy plotter.XYs
				for _, pt := range s.Points {
					v := pt.TestLoss
					if r == 1 {
						v = pt.TestAcc
					}
					if v == nil || math.IsNaN(*v) || math.IsInf(*v, 0) {
						continue
					}
					xy = append(xy, plotter.XY{X: float64(pt.Epoch), Y: *v})
				}
				if len(xy) == 0 {
					continue
				}
				l, err := plotter.NewLine(xy)
				if err != nil {
					return nil, err
				}
				l.Color = plotutil.Color(i)
				l.Width = vg.Points(1.5)
				if len(xy) < 3 {
					pts, _ := plotter.NewScatter(xy)
					pts.Color = l.Color
					p.Add(pts)
				}
				p.Add(l)
				p.Legend.Add(fmt.Sprintf("%d %s", s.Count, e.Adversary), l)
			}
			if r == 1 {
				p.Y.Min, p.Y.Max = 0, 1
			}
			p.Add(plotter.NewGrid())
			plots[r][ci] = p
		}
	}
	const w, h = 14 * vg.Inch, 8 * vg.Inch
	var files []string
	for _, format := range []string{"png", "svg"} {
		var c draw.Canvas
		var buf bytes.Buffer
		var write func() error
		switch format {
		case "png":
			img := vgimg.NewWith(vgimg.UseWH(w, h), vgimg.UseDPI(96), vgimg.UseBackgroundColor(color.White))
			c = draw.New(img)
			write = func() error { _, err := vgimg.PngCanvas{Canvas: img}.WriteTo(&buf); return err }
		case "svg":
			img := vgsvg.New(w, h)
			c = draw.New(img)
			write = func() error { _, err := img.WriteTo(&buf); return err }
		}
		title := c
		title.Min.Y = c.Max.Y - vg.Points(24)
		title.FillText(draw.TextStyle{Color: color.Black, Font: font.From(plot.DefaultFont, 14), Handler: plot.DefaultTextHandler, XAlign: draw.XCenter},
			vg.Point{X: (c.Min.X + c.Max.X) / 2, Y: c.Max.Y - vg.Points(18)}, e.Title)
		body := c
		body.Max.Y -= vg.Points(26)
		tiles := draw.Tiles{Rows: 2, Cols: cols, PadX: vg.Millimeter * 4, PadY: vg.Millimeter * 4, PadTop: vg.Millimeter * 2, PadBottom: vg.Millimeter * 2, PadLeft: vg.Millimeter * 2, PadRight: vg.Millimeter * 2}
		canvases := plot.Align(plots, tiles, body)
		for r := range plots {
			for ci := range plots[r] {
				plots[r][ci].Draw(canvases[r][ci])
			}
		}
		if err := write(); err != nil {
			return nil, err
		}
		path := filepath.Join(out, e.Name+"."+format)
		if err := cli.WriteFileAtomic(path, func(w io.Writer) error { _, err := w.Write(buf.Bytes()); return err }); err != nil {
			return nil, err
		}
		files = append(files, path)
	}
	return files, nil
}
