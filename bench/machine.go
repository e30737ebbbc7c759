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

// CPUModel is /proc/cpuinfo's model name (lscpu's Model name) with its
// family and model numbers, which tell CPUs of one brand name apart
// ("unknown CPU" where there is no such file).
func CPUModel() string {
	f, err := os.Open("/proc/cpuinfo")
	if err != nil {
		return "unknown CPU"
	}
	defer f.Close()
	fields := map[string]string{}
	sc := bufio.NewScanner(f)
	for sc.Scan() && sc.Text() != "" { // the first processor's block
		if k, v, ok := strings.Cut(sc.Text(), ":"); ok {
			fields[strings.TrimSpace(k)] = strings.TrimSpace(v)
		}
	}
	name := fields["model name"]
	if name == "" {
		return "unknown CPU"
	}
	if fam, model := fields["cpu family"], fields["model"]; fam != "" && model != "" {
		name += fmt.Sprintf(" (family %s model %s)", fam, model)
	}
	return name
}
