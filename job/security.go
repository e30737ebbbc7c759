package job

import (
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
	{Name: "off", Help: "plaintext frames, as before sealing (benchmarks against plaintext peers)", Value: transportSecurity{mode: collective.SecurityOff}},
}}

// multiHost says whether the ranks a launcher started span more than one
// host: the node list, else the ranks per node against all of them; when
// neither is known, yes (the safe answer).
func multiHost(l slurm.Launch) bool {
	switch {
	case len(l.Nodes) > 0:
		return len(l.Nodes) > 1
	case l.LocalSize > 0:
		return l.LocalSize < l.Size
	}
	return true
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

// resolveSecurity is the mode in force for cfg: the flag's, or for auto
// seal unless every rank is on this host (the local launcher, a launcher
// whose ranks share one node, or a coordinator on loopback).
func resolveSecurity(cfg *Config) (collective.Security, error) {
	name := cfg.TransportSecurity
	if name == "" {
		name = "auto"
	}
	ts, err := securities.parse(name)
	if err != nil {
		return 0, err
	}
	if !ts.auto {
		return ts.mode, nil
	}
	if cfg.singleHost || isLoopback(cfg.Coordinator) {
		return collective.SecurityOff, nil
	}
	return collective.SecuritySeal, nil
}
