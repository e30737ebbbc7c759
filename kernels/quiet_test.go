package kernels

import (
	"fmt"
	"os"
	"strings"
	"testing"
	"time"
)

func TestParseProcStat(t *testing.T) {
	st := []byte("cpu  361916 5 87425 238320 1389 7 2707 1899 0 0\n" +
		"cpu0 100 1 20 999 9 2 3 4 0 0\n" +
		"cpu1 200 0 40 999 9 0 6 8 0 0\n" +
		"cpu2 400 0 80 999 9 0 12 16 0 0\n" +
		"intr 12345 0 0\nctxt 999\n")
	for _, c := range []struct {
		cpus        map[int]bool
		busy, cores int64
	}{
		{nil, 130 + 254 + 508, 3}, // idle and iowait left out, the total line too
		{map[int]bool{0: true, 2: true}, 130 + 508, 2},
		{map[int]bool{1: true, 7: true}, 254, 1},
	} {
		busy, cores, ok := parseProcStat(st, c.cpus)
		if !ok || busy != c.busy || int64(cores) != c.cores {
			t.Errorf("cpus %v: busy %d on %d cores (ok %v), want %d on %d", c.cpus, busy, cores, ok, c.busy, c.cores)
		}
	}
	for _, bad := range []string{"", "cpu 1 2 3 4 5 6 7 8\n", "cpu0 1 2 3\n", "cpu0 1 2 x 4 5 6 7 8\n"} {
		if _, _, ok := parseProcStat([]byte(bad), nil); ok {
			t.Errorf("%q parsed", bad)
		}
	}
}

func TestParseAllowedCPUs(t *testing.T) {
	status := []byte("Name:\tsignsgd\nCpus_allowed:\tff\nCpus_allowed_list:\t0-2,5,8-9\nMems_allowed_list:\t0\n")
	cpus, ok := parseAllowedCPUs(status)
	want := []int{0, 1, 2, 5, 8, 9}
	if !ok || len(cpus) != len(want) {
		t.Fatalf("cpus %v ok %v, want %v", cpus, ok, want)
	}
	for _, c := range want {
		if !cpus[c] {
			t.Fatalf("cpus %v, want %v", cpus, want)
		}
	}
	for _, bad := range []string{"Name: x\n", "Cpus_allowed_list:\t3-1\n", "Cpus_allowed_list:\tx\n", "Cpus_allowed_list:\t\n"} {
		if cpus, ok := parseAllowedCPUs([]byte(bad)); ok {
			t.Errorf("%q parsed as %v", bad, cpus)
		}
	}
}

func TestParseSelfStat(t *testing.T) {
	// a command name with spaces and parentheses; utime 123, stime 45
	st := []byte("4242 (a (b) c) S 1 4242 4242 0 -1 4194560 100 0 0 0 123 45 0 0 20 0 3 0 99 1000 10 18446744073709551615\n")
	if v, ok := parseSelfStat(st); !ok || v != 168 {
		t.Fatalf("self %d ok %v, want 168", v, ok)
	}
	if _, ok := parseSelfStat([]byte("4242 (x) S 1 2")); ok {
		t.Error("a short line parsed")
	}
	if _, err := os.Stat("/proc/self/stat"); err == nil {
		if _, ok := readProcTicks(); !ok {
			t.Error("this machine's /proc did not parse")
		}
	}
}

// fakeTicks makes readTicks return, for each timing, a start and an end
// whose busy time exceeds ours by others[i] ticks.
func fakeTicks(t *testing.T, others []int64) {
	t.Helper()
	calls := 0
	prev := readTicks
	readTicks = func() (cpuTicks, bool) {
		i := calls / 2
		calls++
		if calls%2 == 1 || i >= len(others) {
			return cpuTicks{busy: 1000, self: 500, cores: 2}, true
		}
		return cpuTicks{busy: 1000 + 10 + others[i], self: 510, cores: 2}, true
	}
	t.Cleanup(func() { readTicks = prev })
}

// A timing during which other processes took a core is done again; after
// quietTries disturbed tries the least disturbed one is kept and flagged.
func TestTimeQuietRetimesDisturbed(t *testing.T) {
	runs := 0
	// each run takes a millisecond, so that the tries' shares of
	// disturbance (others over their time) compare as their others do
	fns := []func(){func() { runs++; time.Sleep(time.Millisecond) }}
	cases := []struct {
		others            []int64
		tries             int
		disturbed         bool
		othersNS, worstNS float64
	}{
		{[]int64{0}, 1, false, 0, 0},
		{[]int64{3}, 1, false, 3 * tickNS, 0},                    // the meter's rounding is not a disturbance
		{[]int64{50, 0}, 2, false, 0, 50 * tickNS},               // timed again once
		{[]int64{50, 10, 60}, 3, true, 10 * tickNS, 60 * tickNS}, // the least disturbed of three
	}
	for _, c := range cases {
		fakeTicks(t, c.others)
		runs = 0
		q := timeQuiet(3, fns, 2)
		if q.tries != c.tries || q.disturbed != c.disturbed || q.othersNS != c.othersNS || q.worstNS != c.worstNS {
			t.Errorf("others %v: tries %d disturbed %v others %v ns worst %v, want %d %v %v %v", c.others, q.tries, q.disturbed, q.othersNS, q.worstNS, c.tries, c.disturbed, c.othersNS, c.worstNS)
		}
		if note := q.note(); (note == "") != (c.tries == 1) || c.tries > 1 && !strings.Contains(note, fmt.Sprintf("up to %.0f ms", c.worstNS/1e6)) {
			t.Errorf("others %v: note %q", c.others, note)
		}
		if runs != c.tries*4 || len(q.ns) != 1 {
			t.Errorf("others %v: %d runs and %d times, want %d and 1", c.others, runs, len(q.ns), c.tries*4)
		}
	}
	// a meter that fails after a disturbed try: that try is kept, marked
	calls := 0
	prev := readTicks
	readTicks = func() (cpuTicks, bool) {
		calls++
		switch calls {
		case 1:
			return cpuTicks{busy: 1000, self: 500, cores: 2}, true
		case 2:
			return cpuTicks{busy: 1070, self: 510, cores: 2}, true
		}
		return cpuTicks{}, false
	}
	if q := timeQuiet(3, fns, 2); q.tries != 1 || !q.disturbed || q.othersNS != 60*tickNS {
		t.Errorf("meter failing on the second try: %+v, want the first kept as disturbed", q)
	}
	// without a meter (not Linux) a timing is taken once
	readTicks = func() (cpuTicks, bool) { return cpuTicks{}, false }
	defer func() { readTicks = prev }()
	if q := timeQuiet(3, fns, 2); q.tries != 1 || q.othersNS != -1 || q.disturbed {
		t.Errorf("no meter: %+v", q)
	}
}

func TestDisturbedShare(t *testing.T) {
	// 2 threads on 2 cores: 10% of both over 1 s is 200 ms
	if disturbed(200e6, 1e9, 2, 2) || !disturbed(201e6, 1e9, 2, 2) {
		t.Error("the 10% share of 2 cores over 1 s is not 200 ms")
	}
	// 2 threads on 8 cores: the 6 cores they leave, and 10% of 2
	if disturbed(6.2e9, 1e9, 2, 8) || !disturbed(6.21e9, 1e9, 2, 8) {
		t.Error("2 threads on 8 cores over 1 s do not leave 6.2 s")
	}
	// more threads than cores: the cores are all needed
	if !disturbed(201e6, 1e9, 4, 2) {
		t.Error("4 threads on 2 cores allow more than 10% of them")
	}
	// a short timing: the meter's rounding, a tick per CPU and two of ours
	if disturbed(4*tickNS, 1e6, 2, 2) || !disturbed(5*tickNS, 1e6, 2, 2) {
		t.Error("a short timing on 2 CPUs does not allow four ticks")
	}
}
