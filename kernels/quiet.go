package kernels

import (
	"bytes"
	"fmt"
	"os"
	"strconv"
	"sync"
	"time"
)

// A calibration decides by timings, and a timing taken while another
// process holds a core is wrong, and not evenly: our products split over
// every core where OpenBLAS keeps a small one on a single core, so a busy
// core slows ours alone (a file copy during one run of the Zen 4 table's
// calibration gave a product of 64 rows to OpenBLAS by a 2x error).
// timeQuiet therefore watches, while it times a shape, how much CPU time
// other processes took on the CPUs this process may run on, from Linux's
// /proc/stat (those CPUs' busy time) less /proc/self/stat (ours), and
// times the shape again when they took more than a small share of them.
//
// The meter counts as other processes' everything on those CPUs that is
// not ours: interrupts, and steal time (a VM's neighbours), which also
// slows a timing but which no quiet moment on this machine removes. It
// counts logical CPUs: another process on our threads' SMT siblings shares
// their units yet sits in the allowance of the CPUs we leave idle.

// cpuTicks is the busy time of the CPUs this process may run on and this
// process's CPU time, in clock ticks, and how many CPUs those are.
type cpuTicks struct {
	busy, self int64
	cores      int
}

// tickNS is a clock tick (USER_HZ, 100 a second on Linux).
const tickNS = 1e7

// quietTries is how many times a shape is timed at most; quietShare is the
// share of its threads' cores other processes may take while it is timed,
// beyond the cores it leaves idle, and never less than the meter's
// rounding: a tick on each CPU's busy count and one on each of our two
// counts (user and system time).
const (
	quietTries = 3
	quietShare = 0.1
)

// readTicks reads the meter; false where /proc is not Linux's. Tests
// replace it.
var readTicks = readProcTicks

func readProcTicks() (cpuTicks, bool) {
	st, err := os.ReadFile("/proc/stat")
	if err != nil {
		return cpuTicks{}, false
	}
	self, err := os.ReadFile("/proc/self/stat")
	if err != nil {
		return cpuTicks{}, false
	}
	busy, cores, ok1 := parseProcStat(st, allowedCPUs())
	own, ok2 := parseSelfStat(self)
	return cpuTicks{busy, own, cores}, ok1 && ok2 && cores > 0
}

// allowedCPUs is the CPUs this process may run on, read once (nil: every
// CPU, where /proc/self/status does not say).
var allowedCPUs = sync.OnceValue(func() map[int]bool {
	status, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return nil
	}
	cpus, _ := parseAllowedCPUs(status)
	return cpus
})

// parseProcStat sums the busy fields (user, nice, system, irq, softirq,
// steal: all but idle and iowait) of /proc/stat's lines of the CPUs in
// cpus (every CPU's when nil), and counts those CPUs.
func parseProcStat(b []byte, cpus map[int]bool) (busy int64, cores int, ok bool) {
	for line := range bytes.Lines(b) {
		f := bytes.Fields(line)
		if len(f) < 9 || !bytes.HasPrefix(f[0], []byte("cpu")) || len(f[0]) == 3 {
			continue
		}
		n, err := strconv.Atoi(string(f[0][3:]))
		if err != nil || cpus != nil && !cpus[n] {
			continue
		}
		for _, i := range []int{1, 2, 3, 6, 7, 8} {
			v, err := strconv.ParseInt(string(f[i]), 10, 64)
			if err != nil {
				return 0, 0, false
			}
			busy += v
		}
		cores++
	}
	return busy, cores, cores > 0
}

// parseAllowedCPUs reads the Cpus_allowed_list line of /proc/self/status
// ("0-3,8,10-11"): the CPUs this process may run on (a Slurm job's, say).
func parseAllowedCPUs(status []byte) (map[int]bool, bool) {
	for line := range bytes.Lines(status) {
		v, found := bytes.CutPrefix(line, []byte("Cpus_allowed_list:"))
		if !found {
			continue
		}
		cpus := map[int]bool{}
		for _, r := range bytes.Split(bytes.TrimSpace(v), []byte(",")) {
			lo, hi, isRange := bytes.Cut(r, []byte("-"))
			a, err1 := strconv.Atoi(string(lo))
			b, err2 := a, error(nil)
			if isRange {
				b, err2 = strconv.Atoi(string(hi))
			}
			if err1 != nil || err2 != nil || b < a || b-a > 1<<16 {
				return nil, false
			}
			for c := a; c <= b; c++ {
				cpus[c] = true
			}
		}
		return cpus, len(cpus) > 0
	}
	return nil, false
}

// parseSelfStat sums utime and stime (fields 14 and 15) of
// /proc/self/stat; the command name (field 2) may hold spaces and
// parentheses, so the fields are counted from after its last ')'.
func parseSelfStat(b []byte) (int64, bool) {
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return 0, false
	}
	f := bytes.Fields(b[i+1:]) // from field 3
	if len(f) < 13 {
		return 0, false
	}
	var t int64
	for _, s := range f[11:13] {
		v, err := strconv.ParseInt(string(s), 10, 64)
		if err != nil {
			return 0, false
		}
		t += v
	}
	return t, true
}

// quietTiming is what timeQuiet measured: each function's median time in
// ns, the CPU time other processes took meanwhile (ns; -1 without a
// meter), the most they took on a disturbed try (0 if none was), how many
// times the functions were timed, and whether the kept timing was
// disturbed (every try was, or the meter failed after one that was).
type quietTiming struct {
	ns        []float64
	othersNS  float64
	worstNS   float64
	tries     int
	disturbed bool
}

// note is the calibration log's remark on a shape timed more than once:
// what other processes took, and which try was kept ("" for one try).
func (q quietTiming) note() string {
	if q.tries <= 1 {
		return ""
	}
	n := fmt.Sprintf(" (timed %d times: other processes took up to %.0f ms of CPU while it was timed", q.tries, q.worstNS/1e6)
	switch {
	case q.disturbed && q.othersNS >= 0:
		n += fmt.Sprintf(", %.0f ms on the least disturbed try, kept", q.othersNS/1e6)
	case q.disturbed:
		n += "; the meter then failed"
	default:
		n += fmt.Sprintf(", %.0f ms on the try kept", q.othersNS/1e6)
	}
	return n + ")"
}

// disturbed reports whether, during a timing of wall ns with threads
// threads on cores CPUs, other processes took more of those CPUs than the
// ones the timing left idle and quietShare of its threads' cores, and more
// than the meter's rounding.
func disturbed(othersNS, wallNS float64, threads, cores int) bool {
	need := max(1, min(threads, cores))
	rounding := float64(cores+2) * tickNS
	return othersNS > max(rounding, (float64(cores-need)+quietShare*float64(need))*wallNS)
}

// timeQuiet is medianTimes, repeated (up to quietTries times in all) while
// other processes took more of the CPUs than disturbed allows a timing
// with threads threads; when every try was disturbed it keeps the one
// they disturbed least (for its time).
func timeQuiet(reps int, fns []func(), threads int) quietTiming {
	var best quietTiming
	bestShare := 0.0
	for try := 1; try <= quietTries; try++ {
		t0, ok0 := readTicks()
		start := time.Now()
		ns := medianTimes(reps, fns)
		wall := float64(time.Since(start).Nanoseconds())
		t1, ok1 := readTicks()
		if !ok0 || !ok1 {
			if best.ns != nil { // the meter failed after a disturbed try
				return best
			}
			return quietTiming{ns: ns, othersNS: -1, tries: try}
		}
		others := float64(max(0, (t1.busy-t0.busy)-(t1.self-t0.self))) * tickNS
		if !disturbed(others, wall, threads, t1.cores) {
			return quietTiming{ns: ns, othersNS: others, worstNS: best.worstNS, tries: try}
		}
		worst := max(best.worstNS, others)
		if share := others / max(wall, 1); best.ns == nil || share < bestShare {
			best, bestShare = quietTiming{ns: ns, othersNS: others}, share
		}
		best.worstNS, best.tries, best.disturbed = worst, try, true
	}
	return best
}
