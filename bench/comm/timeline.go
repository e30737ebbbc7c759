package comm

import (
	"cmp"
	"fmt"
	"image/color"
	"path/filepath"
	"slices"
	"strings"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/plotutil"
	"gonum.org/v1/plot/vg"

	"signsgd/collective"
)

// rankEvent is one rank's stepEvent.
type rankEvent struct {
	Rank int
	stepEvent
}

// timelineOf joins every rank's recorded milestones, in rank order.
func timelineOf(all []rankTimes) []rankEvent {
	var evs []rankEvent
	for _, rt := range all {
		for _, e := range rt.Timeline {
			evs = append(evs, rankEvent{Rank: rt.Rank, stepEvent: e})
		}
	}
	return evs
}

// stepStarts is, by timed step, the earliest event of any rank: the time
// the step's milestones are counted from.
func stepStarts(evs []rankEvent) map[int]int64 {
	t0 := map[int]int64{}
	for _, e := range evs {
		if t, ok := t0[e.Step]; !ok || e.At < t {
			t0[e.Step] = e.At
		}
	}
	return t0
}

// timelineTable is timeline.csv: every milestone of every rank in every
// timed step of every configuration (the server exchanges and the shard
// vote record them), in ms from the step's first event.
func timelineTable(rows []commRow) *table {
	t := &table{header: []string{"optimizer", "topology", "security", "workers", "dim", "step", "rank", "milestone", "chunk", "ms"}}
	for _, r := range rows {
		t0 := stepStarts(r.Timeline)
		for _, e := range r.Timeline {
			t.add(r.Opt, r.Topology, r.Security, itoa(r.Workers), itoa(r.Dim), itoa(e.Step), itoa(e.Rank), e.Milestone.String(), itoa(e.Chunk),
				fmt.Sprintf("%.4f", float64(e.At-t0[e.Step])/1e6))
		}
	}
	return t
}

// serverTimeline is a server exchange's timeline summed up, each figure the
// median over the timed steps, in seconds.
type serverTimeline struct {
	Chunks     int     // chunks (a mean's segments) rank 0 reduced in a step
	FirstIn    float64 // rank 0 holds chunk 0 of every worker, from the step's first event
	Reduce     float64 // rank 0's count or sum of a chunk (median over chunks)
	Answer     float64 // rank 0's encode and queue of a chunk's result
	Between    float64 // rank 0 from a chunk's answer to holding the next chunk
	Rank0Done  float64 // rank 0's last answer queued
	LastResult float64 // the last result chunk in (a vote's: decoded) at any worker
	End        float64 // the last rank out of the exchange
}

// summarizeTimeline sums up a server exchange's events (ok false if they
// hold no rank-0 chunk milestones, as for the other topologies).
func summarizeTimeline(evs []rankEvent) (v serverTimeline, ok bool) {
	t0 := stepStarts(evs)
	steps := make([]int, 0, len(t0))
	for s := range t0 {
		steps = append(steps, s)
	}
	slices.Sort(steps)
	var firstIn, reduce, answer, between, done, last, end []float64
	chunks := 0
	for _, s := range steps {
		in, reduced, answered := map[int]int64{}, map[int]int64{}, map[int]int64{}
		var lastResult, lastEnd, lastAnswer int64
		for _, e := range evs {
			if e.Step != s {
				continue
			}
			switch {
			case e.Rank == 0 && e.Milestone == collective.MilestoneIn:
				in[e.Chunk] = e.At
			case e.Rank == 0 && e.Milestone == collective.MilestoneReduced:
				reduced[e.Chunk] = e.At
			case e.Rank == 0 && e.Milestone == collective.MilestoneAnswered:
				answered[e.Chunk] = e.At
				lastAnswer = max(lastAnswer, e.At)
			case e.Rank != 0 && (e.Milestone == collective.MilestoneResult || e.Milestone == collective.MilestoneDecoded):
				lastResult = max(lastResult, e.At)
			case e.Milestone == collective.MilestoneEnd:
				lastEnd = max(lastEnd, e.At)
			}
		}
		t, ok0 := in[0]
		if !ok0 {
			continue
		}
		firstIn = append(firstIn, sec(t, t0[s]))
		chunks = max(chunks, len(in))
		for k, ti := range in {
			if tc, ok := reduced[k]; ok {
				reduce = append(reduce, sec(tc, ti))
				if ta, ok := answered[k]; ok {
					answer = append(answer, sec(ta, tc))
				}
			}
			if tn, ok := in[k+1]; ok {
				if ta, ok := answered[k]; ok {
					between = append(between, sec(tn, ta))
				}
			}
		}
		done = append(done, sec(lastAnswer, t0[s]))
		if lastResult > 0 {
			last = append(last, sec(lastResult, t0[s]))
		}
		end = append(end, sec(lastEnd, t0[s]))
	}
	if len(firstIn) == 0 {
		return v, false
	}
	med := medianOrNaN
	return serverTimeline{Chunks: chunks, FirstIn: med(firstIn), Reduce: med(reduce), Answer: med(answer), Between: med(between),
		Rank0Done: med(done), LastResult: med(last), End: med(end)}, true
}

// shardTimeline is a shard vote's timeline summed up, each figure the
// median over the timed steps (and, per shard, over the ranks), in
// seconds.
type shardTimeline struct {
	Held       float64 // a rank holds every voter's part of its shard, from the step's first event
	Count      float64 // its count of the shard
	Answer     float64 // its encode and queue of the shard's result
	LastResult float64 // the last result shard decoded by any rank
	End        float64 // the last rank out of the vote
}

// summarizeShard sums up a shard vote's events (ok false if they hold no
// count of a shard).
func summarizeShard(evs []rankEvent) (v shardTimeline, ok bool) {
	t0 := stepStarts(evs)
	type key struct{ step, rank int }
	in, reduced, answered := map[key]int64{}, map[key]int64{}, map[key]int64{}
	last, end := map[int]int64{}, map[int]int64{}
	for _, e := range evs {
		k := key{e.Step, e.Rank}
		switch e.Milestone {
		case collective.MilestoneIn:
			in[k] = e.At
		case collective.MilestoneReduced:
			reduced[k] = e.At
		case collective.MilestoneAnswered:
			answered[k] = e.At
		case collective.MilestoneDecoded:
			last[e.Step] = max(last[e.Step], e.At)
		case collective.MilestoneEnd:
			end[e.Step] = max(end[e.Step], e.At)
		}
	}
	var held, count, answer, lastResult, ends []float64
	for k, ti := range in {
		held = append(held, sec(ti, t0[k.step]))
		if tr, ok := reduced[k]; ok {
			count = append(count, sec(tr, ti))
			if ta, ok := answered[k]; ok {
				answer = append(answer, sec(ta, tr))
			}
		}
	}
	if len(count) == 0 {
		return v, false
	}
	for s, t := range last {
		lastResult = append(lastResult, sec(t, t0[s]))
	}
	for s, t := range end {
		ends = append(ends, sec(t, t0[s]))
	}
	return shardTimeline{Held: medianOrNaN(held), Count: medianOrNaN(count), Answer: medianOrNaN(answer),
		LastResult: medianOrNaN(lastResult), End: medianOrNaN(ends)}, true
}

// sec is the span from b to a, wall-clock nanoseconds, in seconds.
func sec(a, b int64) float64 { return float64(a-b) / 1e9 }

// writeTimeline writes timeline.csv and returns comm.md's section on the
// exchanges' timelines ("" if no row has one).
func writeTimeline(o commOptions, rows []commRow) (string, error) {
	if err := timelineTable(rows).writeCSV(filepath.Join(o.Out, "timeline.csv")); err != nil {
		return "", err
	}
	if err := drawTimeline(filepath.Join(o.Out, "timeline.png"), rows); err != nil {
		return "", err
	}
	server := &table{header: []string{"optimizer", "security", "M", "d", "chunks", "rank 0 holds chunk 0", "reduce / chunk", "answer / chunk",
		"answer to next chunk held", "rank 0's last answer", "last worker's result (vote: decoded)", "last rank out", "exchange (slowest rank's own)", "wire floor"}}
	shard := &table{header: []string{"optimizer", "security", "M", "d", "a rank holds its shard's votes", "count / shard", "answer / shard",
		"last result decoded", "last rank out", "exchange (slowest rank's own)", "wire floor"}}
	for _, r := range rows {
		if r.Topology == "shard" {
			if v, ok := summarizeShard(r.Timeline); ok {
				shard.add(r.Opt, r.Security, itoa(r.Workers), itoa(r.Dim), fmtMs(v.Held), fmtMs(v.Count), fmtMs(v.Answer),
					fmtMs(v.LastResult), fmtMs(v.End), fmtMs(r.TimelineExchange), fmtMs(r.TimelineFloor))
			}
			continue
		}
		if v, ok := summarizeTimeline(r.Timeline); ok {
			server.add(r.Opt, r.Security, itoa(r.Workers), itoa(r.Dim), itoa(v.Chunks), fmtMs(v.FirstIn), fmtMs(v.Reduce), fmtMs(v.Answer),
				fmtMs(v.Between), fmtMs(v.Rank0Done), fmtMs(v.LastResult), fmtMs(v.End), fmtMs(r.TimelineExchange), fmtMs(r.TimelineFloor))
		}
	}
	if len(server.rows)+len(shard.rows) == 0 {
		return "", nil
	}
	var b strings.Builder
	b.WriteString("## Where an exchange's time goes (--timeline)\n\n")
	b.WriteString("Each rank records the milestones of its server vote or mean, or shard vote (collective.Timeline), on the\n" +
		"machine's wall clock; times are ms from the step's first milestone on any rank, medians over the timed steps\n" +
		"(per-chunk figures: over the chunks too; per-shard figures: over the ranks). Every event: timeline.csv; each\n" +
		"configuration's median step, rank by rank: [timeline.png](timeline.png). The\n" +
		"exchange column is each rank's own start to end, so it may be shorter than the last rank out, which counts\n" +
		"from the first rank in.")
	if o.Repeat > 1 {
		b.WriteString(" Of several runs, all of it is the first run's, its exchange and wire floor too.")
	}
	b.WriteString("\n\n")
	if len(server.rows) > 0 {
		b.WriteString("Server vote and mean: rank 0 holds a chunk of every worker (a vote's viewed or decoded), reduces it\n" +
			"(counts the votes, sums the vectors), then answers it (posts its receives of later chunks, encodes a vote's\n" +
			"result, queues it to every worker).\n\n")
		b.WriteString(server.markdown())
		b.WriteString("\n")
	}
	if len(shard.rows) > 0 {
		b.WriteString("Shard vote: every rank sends each peer its part of the peer's shard, holds every part of its own,\n" +
			"counts it, answers it (encodes the result, queues it to every peer), then decodes every other shard's result.\n\n")
		b.WriteString(shard.markdown())
		b.WriteString("\n")
	}
	return b.String(), nil
}

// timelineSpans are the spans the timeline figure draws, in its legend's
// order: from milestone from to milestone to of one rank and chunk.
var timelineSpans = []struct {
	name     string
	from, to collective.Milestone
}{
	{"send (start to last chunk sent or queued)", collective.MilestoneStart, collective.MilestoneSent},
	{"reduce (held to reduced)", collective.MilestoneIn, collective.MilestoneReduced},
	{"answer (reduced to queued)", collective.MilestoneReduced, collective.MilestoneAnswered},
	{"decode (result in to decoded)", collective.MilestoneResult, collective.MilestoneDecoded},
}

// medianStep is the timed step whose last milestone is the median of the
// steps' (the lower one of an even count), -1 if there are no events.
func medianStep(evs []rankEvent) int {
	if len(evs) == 0 {
		return -1
	}
	t0 := stepStarts(evs)
	last := map[int]int64{}
	for _, e := range evs {
		last[e.Step] = max(last[e.Step], e.At-t0[e.Step])
	}
	steps := make([]int, 0, len(last))
	for st := range last {
		steps = append(steps, st)
	}
	slices.SortFunc(steps, func(a, b int) int {
		if c := cmp.Compare(last[a], last[b]); c != 0 {
			return c
		}
		return cmp.Compare(a, b)
	})
	return steps[(len(steps)-1)/2]
}

// drawTimeline draws timeline.png: for each configuration with milestones,
// its median step, a row per rank (rank 0 on top), each span of
// timelineSpans a bar, the rank's start to end a thin line.
func drawTimeline(path string, rows []commRow) error {
	var plots []*plot.Plot
	for _, r := range rows {
		if len(r.Timeline) == 0 {
			continue
		}
		step := medianStep(r.Timeline)
		t0 := stepStarts(r.Timeline)[step]
		type key struct {
			m    collective.Milestone
			rank int
			k    int
		}
		at := map[key]float64{}
		ranks := 0
		for _, e := range r.Timeline {
			if e.Step != step {
				continue
			}
			at[key{e.Milestone, e.Rank, e.Chunk}] = float64(e.At-t0) / 1e6
			ranks = max(ranks, e.Rank+1)
		}
		p := plot.New()
		p.Title.Text = fmt.Sprintf("%s %s, M = %d, d = %d, security %s (median step)", r.Opt, r.Topology, r.Workers, r.Dim, r.Security)
		p.X.Label.Text = "ms from the step's first milestone"
		p.Legend.Top = true
		var ticks []plot.Tick
		bar := func(a, b, y float64, c color.Color, width vg.Length) (*plotter.Line, error) {
			l, err := plotter.NewLine(plotter.XYs{{X: a, Y: y}, {X: b, Y: y}})
			if err != nil {
				return nil, err
			}
			l.Color, l.Width = c, width
			p.Add(l)
			return l, nil
		}
		legend := make([]*plotter.Line, len(timelineSpans))
		for rank := range ranks {
			y := -float64(rank)
			ticks = append(ticks, plot.Tick{Value: y, Label: fmt.Sprintf("rank %d", rank)})
			if a, ok := at[key{collective.MilestoneStart, rank, -1}]; ok {
				if b, ok := at[key{collective.MilestoneEnd, rank, -1}]; ok {
					if _, err := bar(a, b, y, color.Gray{Y: 160}, vg.Points(1)); err != nil {
						return fmt.Errorf("plot %s: %w", path, err)
					}
				}
			}
			for i, sp := range timelineSpans {
				for k := range at {
					if k.m != sp.from || k.rank != rank {
						continue
					}
					b, ok := at[key{sp.to, rank, k.k}]
					if !ok {
						continue
					}
					l, err := bar(at[k], b, y+0.12-0.08*float64(i), plotutil.Color(i), vg.Points(5))
					if err != nil {
						return fmt.Errorf("plot %s: %w", path, err)
					}
					legend[i] = l
				}
			}
		}
		for i, l := range legend {
			if l != nil {
				p.Legend.Add(timelineSpans[i].name, l)
			}
		}
		p.Y.Tick.Marker = plot.ConstantTicks(ticks)
		// Room above rank 0 for the legend: three tenths of the rows
		// (at least one) keep its four lines clear of them at every M.
		p.Y.Min, p.Y.Max = -float64(ranks)+0.5, 0.5+max(1, 0.3*float64(ranks))
		p.Add(plotter.NewGrid())
		plots = append(plots, p)
	}
	if len(plots) == 0 {
		return nil
	}
	const cols = 3
	grid := make([][]*plot.Plot, (len(plots)+cols-1)/cols)
	for i := range grid {
		grid[i] = make([]*plot.Plot, min(cols, len(plots)))
	}
	for i, p := range plots {
		grid[i/cols][i%cols] = p
	}
	return savePlots(path, "each rank's spans in its median step (--timeline)", grid, 6*vg.Inch, 4*vg.Inch)
}
