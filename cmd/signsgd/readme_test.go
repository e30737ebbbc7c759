package main

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// readmeMaxLines keeps the README a front door: reference lives in each
// package's doc.go, measurements in bench/results.
const readmeMaxLines = 220

// TestReadmeLinks: the README opens with the two commands, stays short,
// carries no dates or times (a measurement lives in the bench/results file
// its command wrote), and every relative link in it resolves to a file or
// folder of the repository.
func TestReadmeLinks(t *testing.T) {
	root := filepath.Join("..", "..")
	b, err := os.ReadFile(filepath.Join(root, "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	text := string(b)
	lines := strings.Split(strings.TrimRight(text, "\n"), "\n")
	if len(lines) > readmeMaxLines {
		t.Errorf("README.md has %d lines, more than %d: move reference into a doc.go, measurements into bench/results", len(lines), readmeMaxLines)
	}
	var first []string
	for _, l := range lines {
		if strings.HasPrefix(l, "make ") {
			first = append(first, strings.Fields(l)[1])
		}
		if len(first) == 2 {
			break
		}
	}
	if strings.Join(first, " ") != "run test" {
		t.Errorf("README.md's first commands are %q, want make run then make test", first)
	}
	dated := regexp.MustCompile(`20[0-9]{2}-[0-9]{2}-[0-9]{2}|[0-9] UTC`)
	for i, l := range lines {
		if dated.MatchString(l) {
			t.Errorf("README.md:%d has a date or time: %s", i+1, l)
		}
	}
	link := regexp.MustCompile(`\]\(([^)\s]+)\)`)
	n := 0
	for i, l := range lines {
		for _, m := range link.FindAllStringSubmatch(l, -1) {
			target := m[1]
			if strings.Contains(target, "://") || strings.HasPrefix(target, "mailto:") || strings.HasPrefix(target, "#") {
				continue
			}
			target, _, _ = strings.Cut(target, "#")
			n++
			if _, err := os.Stat(filepath.Join(root, filepath.FromSlash(target))); err != nil {
				t.Errorf("README.md:%d links %s, which does not exist", i+1, m[1])
			}
		}
	}
	if n == 0 {
		t.Error("README.md: no relative links found; the link pattern is wrong")
	}
}
