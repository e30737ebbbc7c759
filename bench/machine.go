package bench

import (
	"bufio"
	"fmt"
	"os"
	"runtime"
	"strings"
	"time"
)

// Machine is the line a results file names its machine with: host, CPU
// model, cores, Go version and the time it was written (UTC).
func Machine() string {
	host, _ := os.Hostname()
	return fmt.Sprintf("%s, %s, %d cores, %s, %s", host, CPUModel(), runtime.NumCPU(), runtime.Version(),
		time.Now().UTC().Format(time.DateOnly+" 15:04 MST"))
}

// CPUModel is /proc/cpuinfo's model name ("unknown CPU" elsewhere).
func CPUModel() string {
	f, err := os.Open("/proc/cpuinfo")
	if err != nil {
		return "unknown CPU"
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if k, v, ok := strings.Cut(sc.Text(), ":"); ok && strings.TrimSpace(k) == "model name" {
			return strings.TrimSpace(v)
		}
	}
	return "unknown CPU"
}
