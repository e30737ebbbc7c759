package theory

import (
	"encoding/csv"
	"io"
	"math"
	"strconv"

	"signsgd/job/cli"
)

// num formats a float for CSV; NaN (no applicable bound) is empty.
func num(x float64) string {
	if math.IsNaN(x) {
		return ""
	}
	return strconv.FormatFloat(x, 'g', 8, 64)
}

func writeCSV(path string, header []string, rows [][]string) error {
	return cli.WriteFileAtomic(path, func(w io.Writer) error {
		cw := csv.NewWriter(w)
		if err := cw.Write(header); err != nil {
			return err
		}
		if err := cw.WriteAll(rows); err != nil {
			return err
		}
		return cw.Error()
	})
}

func writeLemmaCSV(path string, pts []lemmaPoint) error {
	header := []string{"noise", "S", "draws", "wrong", "measured", "lo99", "hi99",
		"exact", "lemma1", "lemma1_applies", "lemma1bis", "cantelli"}
	rows := make([][]string, len(pts))
	for i, p := range pts {
		rows[i] = []string{noises[p.noise].key, num(p.s), strconv.Itoa(p.draws),
			strconv.Itoa(p.wrong), num(p.measured), num(p.lo), num(p.hi),
			num(p.exact), num(p.lemma1), strconv.FormatBool(p.lemma1Applies),
			num(p.lemma1bis), num(p.cantelli)}
	}
	return writeCSV(path, header, rows)
}

func writeVoteCSV(path string, pts []votePoint) error {
	header := []string{"M", "alpha", "f", "alpha_eff", "honest", "S", "p_exact",
		"p_hat", "p_lo99", "p_hi99", "draws", "fails", "measured", "lo99", "hi99",
		"exact", "condition", "cantelli_step", "sqrt_form", "sqrt_1mp_form", "final_line"}
	rows := make([][]string, len(pts))
	for i, p := range pts {
		rows[i] = []string{strconv.Itoa(p.m), num(p.alpha), strconv.Itoa(p.f),
			num(p.alphaEff), strconv.Itoa(p.honest), num(p.s), num(p.p),
			num(p.pHat), num(p.pLo), num(p.pHi), strconv.Itoa(p.draws),
			strconv.Itoa(p.fails), num(p.measured), num(p.lo), num(p.hi),
			num(p.exact), strconv.FormatBool(p.bounds.Condition),
			num(p.bounds.Cantelli), num(p.bounds.Sqrt),
			num(p.bounds.SqrtOneMinusP), num(p.bounds.Final)}
	}
	return writeCSV(path, header, rows)
}
