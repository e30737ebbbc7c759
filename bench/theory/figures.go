package theory

import (
	"fmt"
	"image/color"
	"io"
	"math"
	"path/filepath"
	"strconv"
	"strings"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/plotutil"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
	"gonum.org/v1/plot/vg/vgimg"
	"gonum.org/v1/plot/vg/vgsvg"

	"signsgd/job/cli"
)

// Line styles shared by both figures.
var (
	dashed = []vg.Length{vg.Points(6), vg.Points(3)}
	dotted = []vg.Length{vg.Points(1.5), vg.Points(2.5)}
	grey   = color.Gray{Y: 110}
)

// writeLemmaFigure draws P(wrong sign) against S, log-log, one panel per
// noise, with the measured points, the exact curve and the three bounds
// (clipped at 1). path's extension (.png or .svg) selects the format.
func writeLemmaFigure(path string, pts []lemmaPoint, g grid) error {
	fine := logSpace(g.lemmaS[0], g.lemmaS[len(g.lemmaS)-1], 200)
	var plots []*plot.Plot
	for ni, nz := range noises {
		p := newLogLog(nz.name, "S = |g|/sigma", "P(sign(g+noise) != sign(g))")
		var meas plotter.XYs
		ymin := math.Inf(1)
		for _, pt := range pts {
			if pt.noise != ni {
				continue
			}
			if pt.measured > 0 {
				meas = append(meas, plotter.XY{X: pt.s, Y: pt.measured})
				ymin = min(ymin, pt.measured)
			}
		}
		curve := func(f func(float64) float64) plotter.XYs {
			xy := make(plotter.XYs, 0, len(fine))
			for _, s := range fine {
				if y := f(s); y > 0 {
					xy = append(xy, plotter.XY{X: s, Y: min(y, 1)})
				}
			}
			return xy
		}
		// The axis follows the measured points; the exact curve, which
		// can fall to 1e-30, is clipped to the data area.
		exact := curve(nz.wrong)
		if math.IsInf(ymin, 1) {
			ymin = 0.1
		}
		l1name := "Lemma 1"
		if !nz.unimodalSymmetric {
			l1name = "Lemma 1 (not claimed here)"
		}
		lines := []struct {
			name  string
			xy    plotter.XYs
			col   color.Color
			dash  []vg.Length
			width vg.Length
		}{
			{"exact", exact, grey, nil, vg.Points(0.8)},
			{l1name, curve(Lemma1), plotutil.Color(0), dashed, vg.Points(1.5)},
			{"Lemma 1bis 1/(2S^2)", curve(Lemma1bis), plotutil.Color(1), nil, vg.Points(1.5)},
			{"Cantelli 1/(1+S^2)", curve(Cantelli), plotutil.Color(2), dotted, vg.Points(1.8)},
		}
		for _, ln := range lines {
			if err := addLine(p, ln.name, ln.xy, ln.col, ln.dash, ln.width); err != nil {
				return fmt.Errorf("theory: figure %s: %w", path, err)
			}
		}
		if len(meas) > 0 {
			sc, err := plotter.NewScatter(meas)
			if err != nil {
				return fmt.Errorf("theory: figure %s: %w", path, err)
			}
			sc.GlyphStyle.Shape = draw.CircleGlyph{}
			sc.GlyphStyle.Radius = vg.Points(2.2)
			sc.GlyphStyle.Color = color.Black
			p.Add(sc)
			p.Legend.Add("measured", sc)
		}
		p.X.Min, p.X.Max = g.lemmaS[0]*0.9, g.lemmaS[len(g.lemmaS)-1]*1.1
		p.Y.Min, p.Y.Max = clampMin(ymin/3), 1.5
		p.Legend.Top, p.Legend.Left = false, true
		plots = append(plots, p)
	}
	return renderTiles(path, plots, 2, vg.Inch*12, vg.Inch*9)
}

// writeVoteFigure draws P(fail) against M, log-log, one panel per S, a
// solid line per alpha (measured; zero estimates are not drawn) with the
// proof's Cantelli step (dashed) and final line (dotted) in the same colour
// where the condition alpha < 1 - 1/(2p) holds, clipped at 1.
func writeVoteFigure(path string, pts []votePoint, g grid) error {
	var plots []*plot.Plot
	for _, s := range g.voteS {
		title := fmt.Sprintf("S = %g (p = Phi(S) = %.4f)", s, Phi(s))
		p := newLogLog(title, "workers M", "P(majority vote wrong)")
		// The colours are the same in every panel: one legend suffices.
		legend := len(plots) == 0
		ymin := math.Inf(1)
		for ai, a := range g.alpha {
			var meas, cant, final plotter.XYs
			for _, pt := range pts {
				if pt.s != s || pt.alpha != a {
					continue
				}
				m := float64(pt.m)
				if pt.measured > 0 {
					meas = append(meas, plotter.XY{X: m, Y: pt.measured})
					ymin = min(ymin, pt.measured)
				}
				if pt.bounds.Condition {
					cant = append(cant, plotter.XY{X: m, Y: min(pt.bounds.Cantelli, 1)})
					final = append(final, plotter.XY{X: m, Y: min(pt.bounds.Final, 1)})
					ymin = min(ymin, pt.bounds.Cantelli)
				}
			}
			col := plotutil.Color(ai)
			if len(meas) > 0 {
				ln, sc, err := plotter.NewLinePoints(meas)
				if err != nil {
					return fmt.Errorf("theory: figure %s: %w", path, err)
				}
				ln.Color, ln.Width = col, vg.Points(1.5)
				sc.GlyphStyle.Color, sc.GlyphStyle.Shape = col, draw.CircleGlyph{}
				p.Add(ln, sc)
				if legend {
					p.Legend.Add(fmt.Sprintf("alpha = %g", a), ln, sc)
				}
			}
			if err := addLine(p, "", cant, col, dashed, vg.Points(1.2)); err != nil {
				return fmt.Errorf("theory: figure %s: %w", path, err)
			}
			if err := addLine(p, "", final, col, dotted, vg.Points(1.2)); err != nil {
				return fmt.Errorf("theory: figure %s: %w", path, err)
			}
		}
		// Style keys for the bounds.
		for _, k := range legendKeys(legend) {
			ln, err := plotter.NewLine(plotter.XYs{{X: 1, Y: 1}, {X: 2, Y: 1}})
			if err != nil {
				return fmt.Errorf("theory: figure %s: %w", path, err)
			}
			ln.Color, ln.Dashes = color.Black, k.dash
			p.Legend.Add(k.name, ln)
		}
		p.X.Min, p.X.Max = float64(g.voteM[0])*0.9, float64(g.voteM[len(g.voteM)-1])*1.1
		if math.IsInf(ymin, 1) {
			ymin = 0.1
		}
		p.Y.Min, p.Y.Max = clampMin(ymin/2), 1.5
		p.Legend.Top, p.Legend.Left = false, true
		plots = append(plots, p)
	}
	return renderTiles(path, plots, 2, vg.Inch*12, vg.Inch*9)
}

// clampMin keeps a log axis' minimum positive and finite.
func clampMin(y float64) float64 {
	if !(y > 1e-12) || math.IsInf(y, 0) {
		return 1e-12
	}
	return y
}

func newLogLog(title, x, y string) *plot.Plot {
	p := plot.New()
	p.Title.Text = title
	p.X.Label.Text, p.Y.Label.Text = x, y
	p.X.Scale, p.Y.Scale = plot.LogScale{}, plot.LogScale{}
	p.X.Tick.Marker, p.Y.Tick.Marker = logTicks{}, logTicks{}
	p.Add(plotter.NewGrid())
	return p
}

// logTicks is plot.LogTicks with short labels ("1e-05", "0.001", "100")
// instead of the shortest round-trip representation of each power of ten.
type logTicks struct{}

// Ticks implements plot.Ticker.
func (logTicks) Ticks(min, max float64) []plot.Tick {
	ts := plot.LogTicks{Prec: -1}.Ticks(min, max)
	for i := range ts {
		if ts[i].Label != "" {
			ts[i].Label = strconv.FormatFloat(ts[i].Value, 'g', 3, 64)
		}
	}
	return ts
}

// addLine adds a line (skipped when empty) with a legend entry unless name
// is empty.
func addLine(p *plot.Plot, name string, xy plotter.XYs, col color.Color, dash []vg.Length, width vg.Length) error {
	if len(xy) == 0 {
		return nil
	}
	ln, err := plotter.NewLine(xy)
	if err != nil {
		return err
	}
	ln.Color, ln.Dashes, ln.Width = col, dash, width
	p.Add(ln)
	if name != "" {
		p.Legend.Add(name, ln)
	}
	return nil
}

// renderTiles draws plots on a grid of cols columns and writes it to path
// as PNG or SVG according to its extension.
func renderTiles(path string, plots []*plot.Plot, cols int, w, h vg.Length) (err error) {
	// The plot package panics on some degenerate inputs; report them as
	// errors naming the file.
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("theory: figure %s: %v", path, r)
		}
	}()
	rows := (len(plots) + cols - 1) / cols
	grid := make([][]*plot.Plot, rows)
	for j := range grid {
		grid[j] = make([]*plot.Plot, cols)
		for i := range cols {
			if k := j*cols + i; k < len(plots) {
				grid[j][i] = plots[k]
			}
		}
	}
	tiles := draw.Tiles{Rows: rows, Cols: cols,
		PadTop: vg.Points(6), PadBottom: vg.Points(6), PadLeft: vg.Points(6),
		PadRight: vg.Points(12), PadX: vg.Points(18), PadY: vg.Points(18)}
	var canvas vg.CanvasWriterTo
	switch ext := strings.ToLower(filepath.Ext(path)); ext {
	case ".png":
		canvas = vgimg.PngCanvas{Canvas: vgimg.New(w, h)}
	case ".svg":
		canvas = vgsvg.New(w, h)
	default:
		return fmt.Errorf("theory: figure %s: unknown format %q", path, ext)
	}
	dc := draw.New(canvas)
	// Opaque background for the PNG (SVG is transparent by default).
	dc.SetColor(color.White)
	dc.Fill(dc.Rectangle.Path())
	aligned := plot.Align(grid, tiles, dc)
	for j := range grid {
		for i, p := range grid[j] {
			if p != nil {
				p.Draw(aligned[j][i])
			}
		}
	}
	return cli.WriteFileAtomic(path, func(wr io.Writer) error {
		_, err := canvas.WriteTo(wr)
		return err
	})
}

// styleKey is a legend entry for a line style.
type styleKey struct {
	name string
	dash []vg.Length
}

// legendKeys returns the legend entries for the bound line styles, or none
// when the panel carries no legend.
func legendKeys(show bool) []styleKey {
	if !show {
		return nil
	}
	return []styleKey{{"dashed: Cantelli step", dashed}, {"dotted: final line (Lemma 1bis)", dotted}}
}

// driftPanels are the drift figure's panels: M and the Byzantine counts
// drawn in it.
var driftPanels = []struct {
	m  int
	fs []int
}{{9, []int{0, 1, 2, 3, 4}}, {21, []int{0, 5, 8, 9, 10}}}

// writeDriftFigure draws Drift against the honest sign accuracy p, one
// panel per M, a line per number of Byzantines: the paper's rule solid, the
// proof's worst case (Byzantines that know the true sign) dashed in the same
// colour.
func writeDriftFigure(path string) error {
	var plots []*plot.Plot
	for _, panel := range driftPanels {
		p := plot.New()
		p.Title.Text = fmt.Sprintf("M = %d workers: the vote's drift (solid: paper's rule, dashed: Byzantines knowing the truth)", panel.m)
		p.X.Label.Text, p.Y.Label.Text = "p = P(an honest sign is right)", "E[sign(vote)] x sign(g)"
		p.Add(plotter.NewGrid())
		if err := addLine(p, "", plotter.XYs{{X: 0.5, Y: 0}, {X: 1, Y: 0}}, color.Black, nil, vg.Points(0.8)); err != nil {
			return fmt.Errorf("theory: figure %s: %w", path, err)
		}
		for i, f := range panel.fs {
			var paper, truth plotter.XYs
			for k := 0; k <= 200; k++ {
				q := 0.5 + 0.5*float64(k)/200
				paper = append(paper, plotter.XY{X: q, Y: Drift(panel.m, f, "paper", q)})
				truth = append(truth, plotter.XY{X: q, Y: Drift(panel.m, f, "truth", q)})
			}
			col := plotutil.Color(i)
			if err := addLine(p, fmt.Sprintf("f = %d (p* = %.3f)", f, Crossover(panel.m, f, "paper")), paper, col, nil, vg.Points(1.5)); err != nil {
				return fmt.Errorf("theory: figure %s: %w", path, err)
			}
			if err := addLine(p, "", truth, col, dashed, vg.Points(1.2)); err != nil {
				return fmt.Errorf("theory: figure %s: %w", path, err)
			}
		}
		p.X.Min, p.X.Max, p.Y.Min, p.Y.Max = 0.5, 1, -1, 1
		p.Legend.Top, p.Legend.Left = false, false
		plots = append(plots, p)
	}
	return renderTiles(path, plots, 2, vg.Inch*14, vg.Inch*5)
}
