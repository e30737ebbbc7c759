package slurm

import (
	"fmt"
	"strconv"
	"strings"
)

// MaxHosts is the largest number of host names ExpandHostlist will produce.
// Larger expansions are rejected so that hostile input such as
// "n[0-99999999999]" cannot exhaust memory.
const MaxHosts = 1 << 20

// maxHostlistBytes bounds the total size of the expanded names, so that a
// long literal repeated MaxHosts times cannot exhaust memory either.
const maxHostlistBytes = 64 << 20

// ExpandHostlist expands a Slurm compressed hostlist into host names, in the
// order `scontrol show hostnames` prints them.
//
// Entries are separated by commas at the top level (a comma inside brackets
// belongs to the bracket). An entry is literal text with any number of
// bracket groups; a group holds comma-separated numbers and ranges lo-hi:
//
//	node[01-04,07]     -> node01 node02 node03 node04 node07
//	n[08-11]           -> n08 n09 n10 n11 (a lower bound with a leading zero sets the width)
//	a-[1-2]-b[3,5]     -> a-1-b3 a-1-b5 a-2-b3 a-2-b5 (leftmost group varies slowest)
//	node[1-2],gpu[3],x -> node1 node2 gpu3 x
//
// Duplicates are kept. The empty string expands to no hosts and no error.
// Unbalanced, empty or nested brackets, reversed or non-numeric ranges,
// empty entries, whitespace or control characters, and expansions beyond
// MaxHosts are errors that name the input and the byte offset of the
// problem. ExpandHostlist never panics.
func ExpandHostlist(s string) ([]string, error) {
	return expandHostlist(s, hostlistLimits{MaxHosts, maxHostlistBytes})
}

// hostlistLimits bounds an expansion; tests and the fuzz target use small
// limits to stay fast.
type hostlistLimits struct {
	hosts uint64 // host names
	bytes uint64 // total length of the host names
}

func expandHostlist(s string, lim hostlistLimits) ([]string, error) {
	if s == "" {
		return nil, nil
	}
	// Split into top-level entries, checking bracket structure on the way.
	type span struct{ start, end int }
	var entries []span
	start, open := 0, -1
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case c == '[':
			if open >= 0 {
				return nil, hostlistErr(s, i, "nested '[' inside the bracket opened at byte %d", open)
			}
			open = i
		case c == ']':
			if open < 0 {
				return nil, hostlistErr(s, i, "']' without a matching '['")
			}
			open = -1
		case c == ',' && open < 0:
			if i == start {
				return nil, hostlistErr(s, i, "empty entry")
			}
			entries = append(entries, span{start, i})
			start = i + 1
		case c <= ' ' || c == 0x7f:
			return nil, hostlistErr(s, i, "invalid character %q", c)
		}
	}
	if open >= 0 {
		return nil, hostlistErr(s, open, "unbalanced '[': no matching ']'")
	}
	if start == len(s) {
		return nil, hostlistErr(s, start, "empty entry")
	}
	entries = append(entries, span{start, len(s)})

	var hosts []string
	var size uint64 // bytes of host names so far
	for _, e := range entries {
		var err error
		hosts, err = expandEntry(s, e.start, e.end, lim, hosts, &size)
		if err != nil {
			return nil, err
		}
	}
	return hosts, nil
}

// numRange is one lo-hi item of a bracket group, printed zero-padded to width.
type numRange struct {
	lo, hi uint64
	width  int
}

// hostPart is a piece of an entry: literal text, or a bracket group.
type hostPart struct {
	lit    string
	ranges []numRange // nil for a literal
	count  uint64     // numbers in the group
	maxLen int        // longest printed number in the group
}

// expandEntry expands s[start:end], an entry with balanced, non-nested
// brackets, appending the hosts to out and their length to *size.
func expandEntry(s string, start, end int, lim hostlistLimits, out []string, size *uint64) ([]string, error) {
	var parts []hostPart
	count, maxLen := uint64(1), 0
	for i := start; i < end; {
		j := strings.IndexByte(s[i:end], '[')
		if j < 0 {
			parts = append(parts, hostPart{lit: s[i:end]})
			maxLen += end - i
			break
		}
		if j > 0 {
			parts = append(parts, hostPart{lit: s[i : i+j]})
			maxLen += j
		}
		open := i + j
		closing := open + strings.IndexByte(s[open:end], ']') // present: checked by the caller
		g, err := parseGroup(s, open, closing, lim.hosts)
		if err != nil {
			return nil, err
		}
		if count > lim.hosts/g.count {
			return nil, hostlistErr(s, open, "expands to more than %d hosts", lim.hosts)
		}
		count *= g.count
		maxLen += g.maxLen
		parts = append(parts, g)
		i = closing + 1
	}
	if uint64(len(out))+count > lim.hosts {
		return nil, hostlistErr(s, start, "expands to more than %d hosts", lim.hosts)
	}
	// count <= lim.hosts and maxLen < 21*len(s): the product cannot overflow.
	if *size+count*uint64(maxLen) > lim.bytes {
		return nil, hostlistErr(s, start, "expands to more than %d bytes of host names", lim.bytes)
	}
	*size += count * uint64(maxLen)

	// Odometer over the groups, rightmost group fastest.
	idx := make([]uint64, len(parts)) // offset within each group
	var b strings.Builder
	for n := uint64(0); n < count; n++ {
		b.Reset()
		b.Grow(maxLen)
		for k, p := range parts {
			if p.ranges == nil {
				b.WriteString(p.lit)
				continue
			}
			writeNumber(&b, p.ranges, idx[k])
		}
		out = append(out, b.String())
		for k := len(parts) - 1; k >= 0; k-- {
			if parts[k].ranges == nil {
				continue
			}
			idx[k]++
			if idx[k] < parts[k].count {
				break
			}
			idx[k] = 0
		}
	}
	return out, nil
}

// writeNumber writes the off-th number of the group made of ranges.
func writeNumber(b *strings.Builder, ranges []numRange, off uint64) {
	for _, r := range ranges {
		if n := r.hi - r.lo + 1; off >= n {
			off -= n
			continue
		}
		digits := strconv.FormatUint(r.lo+off, 10)
		for pad := r.width - len(digits); pad > 0; pad-- {
			b.WriteByte('0')
		}
		b.WriteString(digits)
		return
	}
}

// parseGroup parses the bracket group s[open:closing+1], "[1-3,07]".
func parseGroup(s string, open, closing int, maxHosts uint64) (hostPart, error) {
	if closing == open+1 {
		return hostPart{}, hostlistErr(s, open, "empty brackets")
	}
	g := hostPart{}
	for i := open + 1; i <= closing; {
		j := i + strings.IndexByte(s[i:closing+1], ',')
		if j < i { // no comma: the item runs to the ']'
			j = closing
		}
		if j == i {
			return hostPart{}, hostlistErr(s, i, "empty range inside brackets")
		}
		r, err := parseRange(s, i, j, maxHosts)
		if err != nil {
			return hostPart{}, err
		}
		n := r.hi - r.lo // < maxHosts, checked by parseRange
		if g.count+n+1 > maxHosts {
			return hostPart{}, hostlistErr(s, i, "expands to more than %d hosts", maxHosts)
		}
		g.count += n + 1
		g.maxLen = max(g.maxLen, r.width, len(strconv.FormatUint(r.hi, 10)))
		g.ranges = append(g.ranges, r)
		i = j + 1
	}
	return g, nil
}

// parseRange parses s[i:j], "7", "07" or "08-11".
func parseRange(s string, i, j int, maxHosts uint64) (numRange, error) {
	item := s[i:j]
	loStr, hiStr, isRange := strings.Cut(item, "-")
	lo, err := parseBound(s, i, loStr)
	if err != nil {
		return numRange{}, err
	}
	hi := lo
	if isRange {
		if hi, err = parseBound(s, i+len(loStr)+1, hiStr); err != nil {
			return numRange{}, err
		}
	}
	if lo > hi {
		return numRange{}, hostlistErr(s, i, "reversed range %q", item)
	}
	if hi-lo >= maxHosts {
		return numRange{}, hostlistErr(s, i, "range %q expands to more than %d hosts", item, maxHosts)
	}
	r := numRange{lo: lo, hi: hi}
	if len(loStr) > 1 && loStr[0] == '0' {
		r.width = len(loStr)
	}
	return r, nil
}

// parseBound parses the range bound b found at byte off of s.
func parseBound(s string, off int, b string) (uint64, error) {
	if b == "" {
		return 0, hostlistErr(s, off, "missing range bound")
	}
	for k := 0; k < len(b); k++ {
		if b[k] < '0' || b[k] > '9' {
			return 0, hostlistErr(s, off+k, "non-numeric range bound %q", b)
		}
	}
	v, err := strconv.ParseUint(b, 10, 64)
	if err != nil {
		return 0, hostlistErr(s, off, "range bound %q too large", b)
	}
	return v, nil
}

// hostlistErr formats a one-line error naming the input (shortened when
// long) and the byte offset of the problem.
func hostlistErr(s string, off int, format string, args ...any) error {
	shown := s
	if len(shown) > 80 {
		shown = shown[:80] + "..."
	}
	return fmt.Errorf("slurm: hostlist %q: byte %d: %s", shown, off, fmt.Sprintf(format, args...))
}
