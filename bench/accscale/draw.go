package accscale

import (
	"bytes"
	"fmt"
	"image/color"
	"io"
	"math"
	"strconv"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/font"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/plotutil"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
	"gonum.org/v1/plot/vg/vgimg"

	"signsgd/job/cli"
)

// drawFigure draws, one column per setup, the final test accuracy against
// M on a log axis (top row) and the same less the clean run's at that M
// and method (bottom row); one line per method x fraction, the colour the
// fraction's, SIGNUM solid and SGD's median dashed. PNG at path.
func drawFigure(c Config, pts []Point, path string) error {
	cols := len(c.Setups)
	if cols == 0 {
		return fmt.Errorf("accuracy-scale: no setup to draw")
	}
	plots := [][]*plot.Plot{make([]*plot.Plot, cols), make([]*plot.Plot, cols)}
	var ticks []plot.Tick
	for _, m := range c.Workers {
		ticks = append(ticks, plot.Tick{Value: float64(m), Label: strconv.Itoa(m)})
	}
	for ci, s := range c.Setups {
		for r, what := range []string{"final test accuracy", "accuracy - clean run's at the same M"} {
			p := plot.New()
			p.Title.Text = fmt.Sprintf("%s/%s: %s", s.Dataset, s.Model, what)
			p.X.Label.Text = "workers M (log scale)"
			p.Y.Label.Text = what
			p.X.Scale = plot.LogScale{}
			p.X.Tick.Marker = plot.ConstantTicks(ticks)
			p.X.Min, p.X.Max = float64(c.Workers[0])/1.3, float64(c.Workers[len(c.Workers)-1])*1.3
			for _, m := range c.Workers {
				p.X.Min, p.X.Max = math.Min(p.X.Min, float64(m)/1.3), math.Max(p.X.Max, float64(m)*1.3)
			}
			p.Legend.Left = true
			for mi, meth := range Methods() {
				for fi, frac := range c.Fractions {
					if r == 1 && frac == 0 {
						continue
					}
					var xy plotter.XYs
					for _, m := range c.Workers {
						q := find(pts, s, m, frac, meth.Name)
						if q == nil {
							continue
						}
						y := q.Accuracy()
						if r == 1 {
							y -= clean(pts, *q)
						}
						if !math.IsNaN(y) {
							xy = append(xy, plotter.XY{X: float64(m), Y: y})
						}
					}
					if len(xy) == 0 {
						continue
					}
					l, sc, err := plotter.NewLinePoints(xy)
					if err != nil {
						return err
					}
					l.Color, sc.Color = plotutil.Color(fi), plotutil.Color(fi)
					l.Width = vg.Points(1.5)
					sc.Shape = plotutil.Shape(mi)
					if meth.Opt == "sgd" {
						l.Dashes = []vg.Length{vg.Points(6), vg.Points(3)}
					}
					p.Add(l, sc)
					p.Legend.Add(fmt.Sprintf("%s, %s Byzantine", meth.Name, pct(frac)), l, sc)
				}
			}
			if r == 0 {
				p.Y.Min, p.Y.Max = 0, 1
			} else {
				p.Y.Max = math.Max(p.Y.Max, 0.02) // the clean run's level in view
				p.Add(zeroLine(p.X.Min, p.X.Max))
			}
			p.Add(plotter.NewGrid())
			plots[r][ci] = p
		}
	}
	w, h := vg.Length(cols)*7*vg.Inch, 10*vg.Inch
	img := vgimg.NewWith(vgimg.UseWH(w, h), vgimg.UseDPI(96), vgimg.UseBackgroundColor(color.White))
	cv := draw.New(img)
	cv.FillText(draw.TextStyle{Color: color.Black, Font: font.From(plot.DefaultFont, 14), Handler: plot.DefaultTextHandler, XAlign: draw.XCenter},
		vg.Point{X: (cv.Min.X + cv.Max.X) / 2, Y: cv.Max.Y - vg.Points(18)},
		fmt.Sprintf("Accuracy as workers scale: per-worker batch %d, the paper's attack, f = floor(fraction x M)", c.BatchPerWorker))
	body := cv
	body.Max.Y -= vg.Points(26)
	tiles := draw.Tiles{Rows: 2, Cols: cols, PadX: vg.Millimeter * 6, PadY: vg.Millimeter * 6, PadTop: vg.Millimeter * 2, PadBottom: vg.Millimeter * 2, PadLeft: vg.Millimeter * 2, PadRight: vg.Millimeter * 4}
	canvases := plot.Align(plots, tiles, body)
	for r := range plots {
		for ci := range plots[r] {
			plots[r][ci].Draw(canvases[r][ci])
		}
	}
	var buf bytes.Buffer
	if _, err := (vgimg.PngCanvas{Canvas: img}).WriteTo(&buf); err != nil {
		return err
	}
	return cli.WriteFileAtomic(path, func(w io.Writer) error { _, err := w.Write(buf.Bytes()); return err })
}

// zeroLine is a thin black line at y = 0 from x0 to x1.
func zeroLine(x0, x1 float64) *plotter.Line {
	l, _ := plotter.NewLine(plotter.XYs{{X: x0, Y: 0}, {X: x1, Y: 0}})
	l.Color = color.Black
	l.Width = vg.Points(0.5)
	return l
}
