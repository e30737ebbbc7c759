package runs

import (
	"encoding/csv"
	"fmt"
	"io"
	"math"
	"strconv"
	"strings"
)

// Row is one run in the comparison. Pointers are nil where the run has no
// such number (no epoch yet, or no accuracy on a regression).
type Row struct {
	Run       string // the folder
	Status    Status
	Epochs    int // epochs in metrics.jsonl
	Planned   int // config.json's epochs, 0 if unknown
	FinalAcc  *float64
	BestAcc   *float64 // the highest test accuracy, first reached at BestEpoch
	BestEpoch int
	FinalLoss *float64 // NaN for a run that diverged
	// WallSeconds is summary.json's wall time; for a run that did not
	// finish, the sum of its epochs' training and evaluation seconds
	// (WallFromEpochs).
	WallSeconds    *float64
	WallFromEpochs bool
	// Bytes of the algorithm's traffic per step per worker, sent and
	// received: the mean over the run's steps.
	BytesSent, BytesRecv *float64
	Settings             []string // the values of the differing keys, in Table's order
}

// Table returns the settings that differ between the runs (sorted) and one
// row per run, in the runs' order.
func Table(runs []*Run) (keys []string, rows []Row) {
	keys = Differing(runs)
	for _, r := range runs {
		row := Row{Run: r.Dir, Status: r.Status(), Epochs: len(r.Records), Planned: r.PlannedEpochs()}
		for _, k := range keys {
			row.Settings = append(row.Settings, Value(r.Config, k))
		}
		if n := len(r.Records); n > 0 {
			last := r.Records[n-1]
			row.FinalAcc = last.TestAcc
			loss := float64(last.TestLoss)
			row.FinalLoss = &loss
			for _, rec := range r.Records {
				if a := rec.TestAcc; a != nil && !math.IsNaN(*a) && (row.BestAcc == nil || *a > *row.BestAcc) {
					row.BestAcc, row.BestEpoch = a, rec.Epoch
				}
			}
			var sent, recv, steps, wall float64
			for _, rec := range r.Records {
				w := float64(rec.Steps)
				sent += w * rec.BytesSentPerStep
				recv += w * rec.BytesRecvPerStep
				steps += w
				wall += rec.EpochSeconds + rec.EvalSeconds
			}
			if steps > 0 {
				sent, recv = sent/steps, recv/steps
				row.BytesSent, row.BytesRecv = &sent, &recv
			}
			row.WallSeconds, row.WallFromEpochs = &wall, true
		}
		if r.Summary != nil {
			w := r.Summary.WallSeconds
			row.WallSeconds, row.WallFromEpochs = &w, false
		}
		rows = append(rows, row)
	}
	return keys, rows
}

// fmtNum formats p with verb, "-" when there is none.
func fmtNum(p *float64, verb string) string {
	if p == nil {
		return "-"
	}
	return fmt.Sprintf(verb, *p)
}

// exact is p as the shortest decimal that reads back to it, "" for none.
func exact(p *float64) string {
	if p == nil {
		return ""
	}
	return strconv.FormatFloat(*p, 'g', -1, 64)
}

func (r Row) epochs() string {
	if r.Planned > 0 {
		return fmt.Sprintf("%d/%d", r.Epochs, r.Planned)
	}
	return strconv.Itoa(r.Epochs)
}

// WriteMarkdown writes the table, then the settings every run shares.
func WriteMarkdown(w io.Writer, runs []*Run) error {
	keys, rows := Table(runs)
	var b strings.Builder
	head := []string{"run", "status", "epochs", "final test acc", "best test acc (epoch)", "final test loss",
		"wall s", "bytes/step/worker sent", "received"}
	head = append(head, keys...)
	mdRow(&b, head)
	b.WriteString("|" + strings.Repeat(" --- |", len(head)) + "\n")
	estimated := false
	for _, r := range rows {
		best := fmtNum(r.BestAcc, "%.4f")
		if r.BestAcc != nil {
			best += fmt.Sprintf(" (%d)", r.BestEpoch)
		}
		wall := fmtNum(r.WallSeconds, "%.2f")
		if r.WallFromEpochs {
			wall += "*"
			estimated = true
		}
		cells := []string{r.Run, string(r.Status), r.epochs(), fmtNum(r.FinalAcc, "%.4f"), best,
			fmtNum(r.FinalLoss, "%.4f"), wall, fmtNum(r.BytesSent, "%.0f"), fmtNum(r.BytesRecv, "%.0f")}
		mdRow(&b, append(cells, r.Settings...))
	}
	if estimated {
		b.WriteString("\n\\* not finished: the sum of its epochs' training and evaluation seconds.\n")
	}
	if common := Common(runs); len(common) > 0 {
		fmt.Fprintf(&b, "\nThe same in every run: %s.\n", strings.Join(common, ", "))
	}
	_, err := io.WriteString(w, b.String())
	return err
}

func mdRow(b *strings.Builder, cells []string) {
	b.WriteString("|")
	for _, c := range cells {
		b.WriteString(" " + strings.ReplaceAll(c, "|", `\|`) + " |")
	}
	b.WriteString("\n")
}

// CSVHeader is the first line of WriteCSV's table, before the differing
// settings' keys.
var CSVHeader = []string{"run", "status", "epochs", "planned_epochs", "final_test_acc", "best_test_acc", "best_epoch",
	"final_test_loss", "wall_seconds", "wall_from", "bytes_sent_per_step", "bytes_recv_per_step"}

// WriteCSV writes the table as CSV with numbers in full (they read back
// to exactly the metrics' values); empty cells where a run has none.
func WriteCSV(w io.Writer, runs []*Run) error {
	keys, rows := Table(runs)
	cw := csv.NewWriter(w)
	cw.Write(append(append([]string(nil), CSVHeader...), keys...))
	for _, r := range rows {
		planned, best, from := "", "", ""
		if r.Planned > 0 {
			planned = strconv.Itoa(r.Planned)
		}
		if r.BestAcc != nil {
			best = strconv.Itoa(r.BestEpoch)
		}
		if r.WallSeconds != nil {
			from = "summary"
			if r.WallFromEpochs {
				from = "epochs"
			}
		}
		rec := []string{r.Run, string(r.Status), strconv.Itoa(r.Epochs), planned, exact(r.FinalAcc), exact(r.BestAcc), best,
			exact(r.FinalLoss), exact(r.WallSeconds), from, exact(r.BytesSent), exact(r.BytesRecv)}
		cw.Write(append(rec, r.Settings...))
	}
	cw.Flush()
	return cw.Error()
}
