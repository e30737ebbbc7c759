package job

import (
	"fmt"
	"net"

	"signsgd/collective"
	"signsgd/slurm"
)

// transportSecurity is a value of --transport-security: auto, or one of
// collective's modes (see collective/doc.go, "Sealed frames").
type transportSecurity struct {
	auto bool
	mode collective.Security
}

// securities is --transport-security's registry.
var securities = &registry[transportSecurity]{flag: "transport-security", items: []choice[transportSecurity]{
	{Name: "auto", Help: "seal when the job's ranks span more than one host, off on a single host (loopback has no path to tamper with)", Value: transportSecurity{auto: true}},
	{Name: "seal", Help: "encrypt and authenticate every frame (AES-256-GCM, or ChaCha20-Poly1305 without AES instructions)", Value: transportSecurity{mode: collective.SecuritySeal}},
	{Name: "auth", Help: "authenticate every frame (GMAC), payloads in the clear: integrity at the lowest cost", Value: transportSecurity{mode: collective.SecurityAuth}},
	{Name: "off", Help: "plaintext frames, unauthenticated (for one host, and benchmarks against plaintext peers)", Value: transportSecurity{mode: collective.SecurityOff}},
}}

// hostSpan is what a launcher says about where a job's ranks run.
type hostSpan uint8

const (
	hostsUnknown hostSpan = iota // no launcher, or it did not say
	hostsOne                     // every rank on this host
	hostsMany                    // ranks on more than one host
)

func (h hostSpan) String() string {
	return [...]string{"hosts unknown", "one host", "more than one host"}[h]
}

// spanOf says whether the ranks a launcher started share one host. The
// ranks on this node against all of them decide when known (OpenMPI's
// node list is the whole allocation's, which may hold nodes mpirun left
// idle); else the node list (Slurm's is the step's); else nothing is known.
// Every rank of a job reaches the same answer: either every rank has all
// the ranks on its node or none has.
func spanOf(l slurm.Launch) hostSpan {
	switch {
	case l.LocalSize > 0 && l.LocalSize >= l.Size:
		return hostsOne
	case l.LocalSize > 0:
		return hostsMany
	case len(l.Nodes) == 1:
		return hostsOne
	case len(l.Nodes) > 1:
		return hostsMany
	}
	return hostsUnknown
}

// isLoopback says whether host:port names this host's loopback.
func isLoopback(addr string) bool {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		host = addr
	}
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// resolveSecurity is the mode in force for cfg and why: the flag's, or for
// auto (and an empty flag) off when every rank is on this host and seal
// otherwise. Where the ranks are comes from the launcher (cfg.hosts);
// without one (--rank), from the coordinator's address: on loopback every
// rank is on this host, anything else is taken for more than one.
func resolveSecurity(cfg *Config) (collective.Security, string, error) {
	name := cfg.TransportSecurity
	if name == "" {
		name = "auto"
	}
	ts, err := securities.parse(name)
	if err != nil {
		return 0, "", err
	}
	if !ts.auto {
		return ts.mode, "--transport-security " + name, nil
	}
	span := cfg.hosts
	why := "auto: " + span.String()
	if span == hostsUnknown {
		span = hostsMany
		why = fmt.Sprintf("auto: coordinator %s not on loopback", cfg.Coordinator)
		if isLoopback(cfg.Coordinator) {
			span = hostsOne
			why = fmt.Sprintf("auto: coordinator %s on loopback", cfg.Coordinator)
		}
	}
	if span == hostsOne {
		return collective.SecurityOff, why, nil
	}
	return collective.SecuritySeal, why, nil
}
