package robustness

import (
	"bytes"
	"fmt"
	"image/color"
	"io"
	"path/filepath"
	"slices"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/font"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
	"gonum.org/v1/plot/vg/vgimg"

	"signsgd/job/cli"
)

// drawHeatmaps draws, for every table with Byzantines (workers, partition,
// count), the methods (rows) against the attacks (columns), each cell
// coloured by its final accuracy and printed, as DIR/heat-M<w>-<partition>-f<f>.png.
// It returns the files by table, relative to DIR's parent (the Markdown's
// folder).
func drawHeatmaps(g Grid, cells []Cell, dir string) (map[Key]string, error) {
	out := map[Key]string{}
	for _, w := range g.Workers {
		for _, part := range g.Partitions {
			for _, f := range g.countsFor(w) {
				if f == 0 {
					continue
				}
				k := Key{w, part, f}
				name := fmt.Sprintf("heat-M%d-%s-f%d.png", w, sanitize(part), f)
				if err := drawHeatmap(g, cells, k, filepath.Join(dir, name)); err != nil {
					return nil, err
				}
				out[k] = filepath.Join(filepath.Base(dir), name)
			}
		}
	}
	return out, nil
}

func sanitize(s string) string {
	b := []byte(s)
	for i, c := range b {
		if c == ':' || c == '/' {
			b[i] = '-'
		}
	}
	return string(b)
}

// heatColor maps an accuracy in [0, 1] from red (chance and below)
// through yellow to green (1).
func heatColor(acc, chance float64) color.Color {
	t := min(max((acc-chance)/(1-chance), 0), 1)
	if t < 0.5 {
		return color.RGBA{R: 215, G: uint8(48 + 2*t*(200-48)), B: 39, A: 255}
	}
	u := 2 * (t - 0.5)
	return color.RGBA{R: uint8(215 - u*(215-26)), G: uint8(200 - u*(200-152)), B: uint8(39 + u*(80-39)), A: 255}
}

func drawHeatmap(g Grid, cells []Cell, k Key, path string) error {
	const cellW, cellH, left, top = 62, 20, 150, 60
	wd := vg.Length(left + cellW*(len(g.Attacks)+1) + 10)
	ht := vg.Length(top + cellH*len(g.Methods) + 10)
	img := vgimg.NewWith(vgimg.UseWH(wd, ht), vgimg.UseDPI(96), vgimg.UseBackgroundColor(color.White))
	c := draw.New(img)
	text := func(x, y vg.Length, s string, size float64, xa draw.XAlignment) {
		c.FillText(draw.TextStyle{Color: color.Black, Font: font.From(plot.DefaultFont, font.Length(size)), Handler: plot.DefaultTextHandler, XAlign: xa, YAlign: draw.YCenter},
			vg.Point{X: x, Y: y}, s)
	}
	text(wd/2, ht-14, fmt.Sprintf("%s/%s, %d workers, %s, %d Byzantine: final test accuracy", g.Dataset, g.Model, k.Workers, k.Partition, k.Byzantine), 11, draw.XCenter)
	cols := append(slices.Clone(g.Attacks), "worst")
	for j, a := range cols {
		text(vg.Length(left+cellW*j+cellW/2), ht-vg.Length(top-10), a, 8, draw.XCenter)
	}
	worst := Worst(cells)[k]
	chance := 0.5 // logreg's two classes
	if g.Dataset != "logreg" {
		chance = 0.1
	}
	for i, m := range g.Methods {
		y := ht - vg.Length(top+cellH*(i+1))
		text(left-6, y+cellH/2, m.Name, 9, draw.XRight)
		for j, a := range cols {
			x := vg.Length(left + cellW*j)
			label, fill := "-", color.Color(color.Gray{Y: 220})
			if a == "worst" {
				if acc, ok := worst[m.Name]; ok {
					label, fill = fmt.Sprintf("%.3f", acc), heatColor(acc, chance)
				}
			} else if n := slices.IndexFunc(cells, func(c Cell) bool { return c.key() == k && c.Method == m.Name && c.Attack == a }); n >= 0 {
				acc := accuracy(cells[n])
				label, fill = fmt.Sprintf("%.3f", acc), heatColor(acc, chance)
				if acc == 0 {
					label = "div."
				}
			}
			c.SetColor(fill)
			var p vg.Path
			p.Move(vg.Point{X: x + 1, Y: y + 1})
			p.Line(vg.Point{X: x + cellW - 1, Y: y + 1})
			p.Line(vg.Point{X: x + cellW - 1, Y: y + cellH - 1})
			p.Line(vg.Point{X: x + 1, Y: y + cellH - 1})
			p.Close()
			c.Fill(p)
			text(x+cellW/2, y+cellH/2, label, 8, draw.XCenter)
		}
	}
	var buf bytes.Buffer
	if _, err := (vgimg.PngCanvas{Canvas: img}).WriteTo(&buf); err != nil {
		return err
	}
	return cli.WriteFileAtomic(path, func(w io.Writer) error { _, err := w.Write(buf.Bytes()); return err })
}
