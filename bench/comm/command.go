package comm

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"os/signal"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"time"

	"signsgd/bench"
	"signsgd/job/cli"
	"signsgd/kernels"
	"signsgd/slurm"
)

const usage = `usage: signsgd bench comm|scale|step|kernels [flags]

  comm   bytes and seconds of one exchange per optimizer, topology, M and d on loopback, beside gloo
  scale  time per step against the worker count: loopback, bandwidth-limited namespaces, a fitted model
  step   a whole training step (ResNet-18 by default) split into forward/backward, pack, exchange, vote, update
  kernels  the CPU and the kernel chosen for each network shape; --calibrate measures this CPU's table

Run 'signsgd bench comm -h' (scale, step) for a command's flags.
`

// Command is `signsgd bench`: it dispatches to comm, scale and step (and
// the hidden rank, one process of a measured configuration).
func Command(args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		return cli.UsageError("bench: which benchmark? (comm, scale, step or kernels; 'signsgd bench -h' for more)")
	}
	switch args[0] {
	case "comm":
		return commCommand(args[1:], stdout)
	case "scale":
		if rest, sim := cutFlag(args[1:], "--sim"); sim {
			return simGridCommand(rest, stdout)
		}
		return scaleCommand(args[1:], stdout)
	case "simscale":
		return simscaleCommand(args[1:], stdout)
	case "step":
		return stepCommand(args[1:], stdout)
	case "kernels":
		return kernelsCommand(args[1:], stdout, stderr)
	case "rank":
		return rankCommand(args[1:], stdout)
	case "-h", "-help", "--help", "help":
		fmt.Fprint(stdout, usage)
		return nil
	}
	return cli.UsageError("bench: unknown benchmark %q (want comm, scale or step)", args[0])
}

// parseFlags parses args into fs; ok false means help was printed.
func parseFlags(fs *flag.FlagSet, args []string, stdout io.Writer) (ok bool, err error) {
	return cli.ParseFlags(fs, args, stdout, "")
}

// intList reads "2,4,8" as positive integers for flag name.
func intList(cmd, name, s string) ([]int, error) {
	var out []int
	for _, f := range strings.Split(s, ",") {
		f = strings.TrimSpace(f)
		if f == "" {
			continue
		}
		n, err := strconv.Atoi(f)
		if err != nil || n < 1 {
			return nil, cli.UsageError("%s: --%s %q: want positive integers separated by commas", cmd, name, s)
		}
		out = append(out, n)
	}
	if len(out) == 0 {
		return nil, cli.UsageError("%s: --%s is empty", cmd, name)
	}
	return out, nil
}

// optList reads --opt: a comma list of sgd, signsgd, signum.
func optList(cmd, s string) ([]string, error) {
	var out []string
	for _, f := range strings.Split(s, ",") {
		switch f = strings.TrimSpace(f); f {
		case "sgd", "signsgd", "signum":
			out = append(out, f)
		case "":
		default:
			return nil, cli.UsageError("%s: --opt %q: unknown optimizer %q (want sgd, signsgd, signum)", cmd, s, f)
		}
	}
	if len(out) == 0 {
		return nil, cli.UsageError("%s: --opt is empty", cmd)
	}
	return out, nil
}

// pairs are the (optimizer, topology) pairs to measure: every topology
// of each optimizer for "all", else the listed ones that apply to it.
func pairs(cmd string, opts []string, topos string) ([][2]string, error) {
	var want []string
	if topos != "all" {
		for _, t := range strings.Split(topos, ",") {
			t = strings.TrimSpace(t)
			known := false
			for _, o := range []string{"sgd", "signum"} {
				known = known || hasTopology(o, t)
			}
			if !known {
				return nil, cli.UsageError("%s: --topology %q: %q is not available (votes: %v; means: %v)", cmd, topos, t, signTopologies, meanTopologies)
			}
			want = append(want, t)
		}
	}
	var out [][2]string
	for _, o := range opts {
		for _, t := range topologiesOf(o) {
			if topos == "all" || contains(want, t) {
				out = append(out, [2]string{o, t})
			}
		}
	}
	if len(out) == 0 {
		return nil, cli.UsageError("%s: no topology in --topology %q applies to --opt %v", cmd, topos, opts)
	}
	return out, nil
}

func contains(xs []string, x string) bool {
	for _, v := range xs {
		if v == x {
			return true
		}
	}
	return false
}

// prepareOut creates the output folder and proves it writable.
func prepareOut(cmd, dir string) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return cli.UsageError("%s: --out %s: %v", cmd, dir, err)
	}
	f, err := os.CreateTemp(dir, ".probe-*")
	if err != nil {
		return cli.UsageError("%s: --out %s: not writable: %v", cmd, dir, err)
	}
	f.Close()
	return os.Remove(f.Name())
}

// interruptible returns a context cancelled by SIGINT or SIGTERM, so that
// ranks are killed and namespaces deleted before the command returns.
func interruptible() (context.Context, context.CancelFunc) {
	return signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
}

// ownExecutable is the program to start ranks of.
func ownExecutable() (string, error) {
	exe, err := os.Executable()
	if err != nil {
		return "", fmt.Errorf("find own executable: %w", err)
	}
	return exe, nil
}

// threadsPerRank is each rank's share of this machine's cores (at least 1).
func threadsPerRank(m int) int { return slurm.ThreadsPerRank(runtime.NumCPU(), m) }

// sharing says how m ranks share the cores, for the outputs.
func sharing(m int) string {
	cores := runtime.NumCPU()
	t := threadsPerRank(m)
	if m*t > cores {
		return fmt.Sprintf("%d ranks x %d thread on %d cores: oversubscribed %.1fx, ranks take turns", m, t, cores, float64(m*t)/float64(cores))
	}
	return fmt.Sprintf("%d ranks x %d thread(s) on %d cores", m, t, cores)
}

// machine describes where a benchmark ran.
func machine() string {
	host, _ := os.Hostname()
	load := "?"
	if b, err := os.ReadFile("/proc/loadavg"); err == nil {
		if f := strings.Fields(string(b)); len(f) >= 3 {
			load = strings.Join(f[:3], " ")
		}
	}
	return fmt.Sprintf("%s, %s, %d cores (runtime.NumCPU), %s, BLAS %s, %s, load average %s when the outputs were written (other work on the machine slows every figure)",
		host, bench.CPUModel(), runtime.NumCPU(), runtime.Version(), kernels.BLASName(), time.Now().UTC().Format(time.DateOnly+" 15:04 MST"), load)
}

// commandLine is the command that made a result, for its Markdown.
func commandLine(sub string, args []string) string {
	q := make([]string, len(args))
	for i, a := range args {
		if strings.ContainsAny(a, " \t'\"$") {
			a = strconv.Quote(a)
		}
		q[i] = a
	}
	return strings.TrimSpace("bin/signsgd bench " + sub + " " + strings.Join(q, " "))
}

// findPython returns a python3 that imports torch, or "" if none: path if
// given, else /usr/bin/python3 (Debian's python3-torch), else python3 on
// PATH.
func findPython(path string) string {
	cands := []string{path}
	if path == "" {
		cands = []string{"/usr/bin/python3", "python3"}
	}
	for _, p := range cands {
		ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
		err := exec.CommandContext(ctx, p, "-c", "import torch.distributed as d; assert d.is_gloo_available()").Run()
		cancel()
		if err == nil {
			return p
		}
	}
	return ""
}

// cutFlag returns args without the boolean flag name, and whether it was there.
func cutFlag(args []string, name string) ([]string, bool) {
	var rest []string
	found := false
	for _, a := range args {
		if a == name || a == name+"=true" {
			found = true
			continue
		}
		rest = append(rest, a)
	}
	return rest, found
}
