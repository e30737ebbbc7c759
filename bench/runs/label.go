package runs

import (
	"encoding/json"
	"slices"
	"strings"
)

// ignored are configuration keys that never tell runs apart: where the
// run wrote its results.
var ignored = map[string]bool{"out": true}

// Differing returns the configuration keys whose values are not the same in
// every run, sorted. A key that some runs lack differs. With one run there
// are none.
func Differing(runs []*Run) []string {
	var keys []string
	for _, k := range allKeys(runs) {
		first, firstOK := canonical(runs[0].Config, k)
		for _, r := range runs[1:] {
			if v, ok := canonical(r.Config, k); ok != firstOK || v != first {
				keys = append(keys, k)
				break
			}
		}
	}
	return keys
}

// Common returns "key=value" for every configuration key that every run
// has with the same value, sorted by key.
func Common(runs []*Run) []string {
	if len(runs) == 0 {
		return nil
	}
	differ := map[string]bool{}
	for _, k := range Differing(runs) {
		differ[k] = true
	}
	var out []string
	for _, k := range allKeys(runs) {
		if !differ[k] {
			out = append(out, k+"="+Value(runs[0].Config, k))
		}
	}
	return out
}

// allKeys are the configuration keys of all runs, sorted, without the
// ignored ones.
func allKeys(runs []*Run) []string {
	set := map[string]bool{}
	for _, r := range runs {
		for k := range r.Config {
			if !ignored[k] {
				set[k] = true
			}
		}
	}
	keys := make([]string, 0, len(set))
	for k := range set {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

// canonical is a value's JSON (maps with sorted keys), for comparing.
func canonical(cfg map[string]any, k string) (string, bool) {
	v, ok := cfg[k]
	if !ok {
		return "", false
	}
	b, err := json.Marshal(v)
	if err != nil { // cannot happen for decoded JSON
		return "", false
	}
	return string(b), true
}

// Value is how a setting reads in a label or a table: strings bare,
// numbers as config.json spells them, other values as compact JSON, "-"
// when the run has no such key.
func Value(cfg map[string]any, k string) string {
	v, ok := cfg[k]
	if !ok {
		return "-"
	}
	switch x := v.(type) {
	case string:
		return x
	case json.Number:
		return x.String()
	}
	s, _ := canonical(cfg, k)
	return s
}

// Labels names each run by the settings that differ between the runs,
// "key=value, key=value" with the keys sorted. One run is named by its
// folder; so is a run whose settings are all shared, and runs whose labels
// coincide get " (folder)" added.
func Labels(runs []*Run) []string {
	labels := make([]string, len(runs))
	keys := Differing(runs)
	for i, r := range runs {
		parts := make([]string, len(keys))
		for j, k := range keys {
			parts[j] = k + "=" + Value(r.Config, k)
		}
		labels[i] = strings.Join(parts, ", ")
	}
	count := map[string]int{}
	for _, l := range labels {
		count[l]++
	}
	for i, l := range labels {
		switch {
		case l == "":
			labels[i] = runs[i].Dir
		case count[l] > 1:
			labels[i] = l + " (" + runs[i].Dir + ")"
		}
	}
	return labels
}
