package comm

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"time"
)

// netLab is a small network of our own, built with iproute2 and torn down
// by close:
//
//	namespace <id>-r0: eth0 10.77.0.1/24 --veth-- v0 \
//	namespace <id>-r1: eth0 10.77.0.2/24 --veth-- v1  >-- br0 in namespace <id>-br
//	...                                              /
//
// Every veth end has a tbf qdisc at the lab's rate, so a rank's uplink
// (eth0) and downlink (vN in the bridge) are each limited, as a node's
// network card is. Only addresses inside these namespaces are used.
type netLab struct {
	id      string   // unique per run: "sgb" + 6 hex digits
	bridge  string   // the bridge's namespace
	ranks   []string // rank r's namespace
	created []string // namespaces to delete, in creation order
}

// labAddr is rank r's address in every lab.
func labAddr(r int) string { return fmt.Sprintf("10.77.0.%d", r+1) }

// netnsUsable says why namespaces cannot be used here ("" if they can).
func netnsUsable() string {
	if os.Geteuid() != 0 {
		return "not root (network namespaces and tc need root)"
	}
	for _, tool := range []string{"ip", "tc"} {
		if _, err := exec.LookPath(tool); err != nil {
			return fmt.Sprintf("no %s command (Debian package iproute2)", tool)
		}
	}
	return ""
}

// ipRun runs one iproute2 command; its error names the command.
func ipRun(ctx context.Context, name string, args ...string) error {
	parent := ctx
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, name, args...).CombinedOutput()
	if err != nil {
		if parent.Err() != nil {
			// Killed because the bench was interrupted (Ctrl-C), not a
			// failure of the command: say so.
			return fmt.Errorf("netns: interrupted during %s %s (%w)", name, strings.Join(args, " "), context.Cause(parent))
		}
		return fmt.Errorf("netns: %s %s: %v: %s", name, strings.Join(args, " "), err, strings.TrimSpace(string(out)))
	}
	return nil
}

// newNetLab builds a lab of m rank namespaces. On error everything built
// so far is deleted.
func newNetLab(ctx context.Context, m int) (l *netLab, err error) {
	if m > 250 {
		return nil, fmt.Errorf("netns: %d ranks: at most 250 in one /24", m)
	}
	var idb [3]byte
	rand.Read(idb[:])
	l = &netLab{id: "sgb" + hex.EncodeToString(idb[:])}
	defer func() {
		if err != nil {
			l.close()
		}
	}()
	addNS := func(name string) error {
		if err := ipRun(ctx, "ip", "netns", "add", name); err != nil {
			return err
		}
		l.created = append(l.created, name)
		return ipRun(ctx, "ip", "-n", name, "link", "set", "lo", "up")
	}
	l.bridge = l.id + "-br"
	if err := addNS(l.bridge); err != nil {
		return l, err
	}
	if err := ipRun(ctx, "ip", "-n", l.bridge, "link", "add", "br0", "type", "bridge"); err != nil {
		return l, err
	}
	if err := ipRun(ctx, "ip", "-n", l.bridge, "link", "set", "br0", "up"); err != nil {
		return l, err
	}
	for r := range m {
		ns := fmt.Sprintf("%s-r%d", l.id, r)
		if err := addNS(ns); err != nil {
			return l, err
		}
		l.ranks = append(l.ranks, ns)
		peer := "v" + strconv.Itoa(r)
		steps := [][]string{
			{"-n", ns, "link", "add", "eth0", "type", "veth", "peer", "name", peer, "netns", l.bridge},
			{"-n", ns, "addr", "add", labAddr(r) + "/24", "dev", "eth0"},
			{"-n", ns, "link", "set", "eth0", "up"},
			{"-n", l.bridge, "link", "set", peer, "master", "br0"},
			{"-n", l.bridge, "link", "set", peer, "up"},
		}
		for _, s := range steps {
			if err := ipRun(ctx, "ip", s...); err != nil {
				return l, err
			}
		}
	}
	return l, nil
}

// parseRate reads a tc rate such as 10gbit, 1gbit, 100mbit as bits/s.
func parseRate(s string) (float64, error) {
	units := []struct {
		suffix string
		mult   float64
	}{{"gbit", 1e9}, {"mbit", 1e6}, {"kbit", 1e3}, {"bit", 1}}
	for _, u := range units {
		if v, ok := strings.CutSuffix(strings.ToLower(s), u.suffix); ok {
			f, err := strconv.ParseFloat(v, 64)
			if err != nil || f <= 0 {
				break
			}
			return f * u.mult, nil
		}
	}
	return 0, fmt.Errorf("rate %q: want a positive number with gbit, mbit, kbit or bit", s)
}

// limit puts a tbf qdisc of rate on both ends of every rank's veth. Its
// burst is 1 ms at that rate, at least 16 KiB: small, because every byte
// of burst crosses the link for free after an idle moment (tbf splits
// segmentation offload's larger packets itself).
func (l *netLab) limit(ctx context.Context, rate string) error {
	bps, err := parseRate(rate)
	if err != nil {
		return err
	}
	burst := strconv.Itoa(labBurst(bps))
	tbf := []string{"root", "tbf", "rate", rate, "burst", burst, "latency", "100ms"}
	for r, ns := range l.ranks {
		for _, end := range [][2]string{{ns, "eth0"}, {l.bridge, "v" + strconv.Itoa(r)}} {
			args := append([]string{"netns", "exec", end[0], "tc", "qdisc", "replace", "dev", end[1]}, tbf...)
			if err := ipRun(ctx, "ip", args...); err != nil {
				return err
			}
		}
	}
	return nil
}

// close deletes every namespace the lab created (their veths go with
// them); it keeps going past errors and returns the first.
func (l *netLab) close() error {
	var errs []error
	for i := len(l.created) - 1; i >= 0; i-- {
		// Not the caller's context: cleaning up must happen after an
		// interrupt too.
		if err := ipRun(context.Background(), "ip", "netns", "del", l.created[i]); err != nil {
			errs = append(errs, err)
		}
	}
	l.created = nil
	return errors.Join(errs...)
}

// labBurst is the tbf burst in bytes at bps bits/s.
func labBurst(bps float64) int { return max(int(bps/8*0.001), 16<<10) }
