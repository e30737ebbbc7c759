package figures

import (
	_ "embed"
	"encoding/json"
	"fmt"
	"os"
	"slices"
	"strings"

	"signsgd/job"
)

// Spec is a grid of experiments.
type Spec struct {
	Experiments []Experiment `json:"experiments"`
}

// Experiment is one figure: every optimizer against every number of
// adversaries of one kind.
type Experiment struct {
	Name       string   `json:"name"`  // file name of the figure
	Title      string   `json:"title"` // figure title
	Dataset    string   `json:"dataset"`
	Model      string   `json:"model"`
	Adversary  string   `json:"adversary"` // "blind" or "byzantine"
	Attack     string   `json:"attack,omitempty"`
	Counts     []int    `json:"counts"` // numbers of adversaries, one line each
	Optimizers []string `json:"optimizers"`
	Workers    int      `json:"workers"`
	Epochs     int      `json:"epochs"`
	Seed       uint64   `json:"seed"`
	Flags      []string `json:"flags,omitempty"` // more `signsgd run` flags
	// OptFlags are more flags for one optimizer only (SIGNUM's --momentum,
	// say, which the others refuse), after Flags.
	OptFlags map[string][]string `json:"opt_flags,omitempty"`
	// Quick overrides for --quick (tests): fewer epochs and counts.
	QuickEpochs int      `json:"quick_epochs,omitempty"`
	QuickCounts []int    `json:"quick_counts,omitempty"`
	QuickFlags  []string `json:"quick_flags,omitempty"`
	// QuickOptimizers, if set, replaces Optimizers in the quick grid;
	// QuickSkip leaves the experiment out of it.
	QuickOptimizers []string `json:"quick_optimizers,omitempty"`
	QuickSkip       bool     `json:"quick_skip,omitempty"`
}

// forGrid returns the experiments of the full or the quick grid, with the
// quick overrides applied.
func (s Spec) forGrid(quick bool) []Experiment {
	var out []Experiment
	for _, e := range s.Experiments {
		if !quick {
			out = append(out, e)
			continue
		}
		if e.QuickSkip {
			continue
		}
		if len(e.QuickOptimizers) > 0 {
			e.Optimizers = e.QuickOptimizers
		}
		out = append(out, e)
	}
	return out
}

//go:embed paper.json
var paperSpec []byte

// PaperSpec is the grid of the paper's Figures 2-5 (and the oppose attack).
func PaperSpec() Spec {
	var s Spec
	if err := json.Unmarshal(paperSpec, &s); err != nil {
		panic("figures: embedded paper.json: " + err.Error())
	}
	return s
}

// LoadSpec reads a spec file and checks it.
func LoadSpec(path string) (Spec, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return Spec{}, err
	}
	var s Spec
	dec := json.NewDecoder(strings.NewReader(string(b)))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&s); err != nil {
		return Spec{}, fmt.Errorf("%s: %w", path, err)
	}
	if err := s.Check(); err != nil {
		return Spec{}, fmt.Errorf("%s: %w", path, err)
	}
	return s, nil
}

// Check validates what the runs cannot: names, kinds and counts.
func (s Spec) Check() error {
	if len(s.Experiments) == 0 {
		return fmt.Errorf("no experiments")
	}
	seen := map[string]bool{}
	for i, e := range s.Experiments {
		where := fmt.Sprintf("experiment %d (%q)", i, e.Name)
		switch {
		case e.Name == "" || strings.ContainsAny(e.Name, "/\\ "):
			return fmt.Errorf("%s: name must be non-empty, without slashes or spaces", where)
		case seen[e.Name]:
			return fmt.Errorf("%s: duplicate name", where)
		case e.Adversary != "blind" && e.Adversary != "byzantine":
			return fmt.Errorf("%s: adversary %q, want blind or byzantine", where, e.Adversary)
		case len(e.Counts) == 0 || len(e.Optimizers) == 0:
			return fmt.Errorf("%s: needs counts and optimizers", where)
		case e.Workers < 1 || e.Epochs < 1:
			return fmt.Errorf("%s: workers and epochs must be positive", where)
		}
		for _, o := range e.Optimizers {
			if !slices.Contains(job.Optimizers(), o) {
				return fmt.Errorf("%s: optimizer %q, want %s", where, o, strings.Join(job.Optimizers(), ", "))
			}
		}
		if e.Attack != "" && !slices.Contains(job.Attacks(), e.Attack) {
			return fmt.Errorf("%s: attack %q, want %s", where, e.Attack, strings.Join(job.Attacks(), ", "))
		}
		for o := range e.OptFlags {
			if !slices.Contains(e.Optimizers, o) && !slices.Contains(e.QuickOptimizers, o) {
				return fmt.Errorf("%s: opt_flags for %q, which is not one of its optimizers", where, o)
			}
		}
		for _, c := range e.Counts {
			if c < 0 || c >= e.Workers {
				return fmt.Errorf("%s: %d adversaries of %d workers", where, c, e.Workers)
			}
		}
		seen[e.Name] = true
	}
	return nil
}
