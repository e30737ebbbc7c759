package comm

import (
	"slices"
	"strings"

	"signsgd/collective"
	"signsgd/kernels"
)

// This file is the one place that knows which topologies package
// collective offers and how many bytes each moves: the benchmarks call
// the functions below only.

// signTopologies are the vote's topologies; meanTopologies the fp32 mean's.
var (
	signTopologies = collective.VoteTopologies
	meanTopologies = collective.MeanTopologies
)

// topologiesOf returns the topologies of optimizer opt.
func topologiesOf(opt string) []string {
	if opt == "sgd" {
		return meanTopologies
	}
	return signTopologies
}

// hasTopology says whether opt can run over topology.
func hasTopology(opt, topology string) bool {
	return slices.Contains(topologiesOf(opt), topology)
}

// exchangeSigns runs the majority vote of local over topology; result gets
// the ternary vote on every rank.
func exchangeSigns(c collective.Comm, topology string, local, result kernels.Signs, opt kernels.VoteOptions) error {
	return collective.Vote(c, topology, local, result, opt)
}

// exchangeMean replaces x by the mean over ranks, over topology.
func exchangeMean(c collective.Comm, topology string, x []float32) error {
	return collective.Mean(c, topology, x)
}

// formulaBytes is what rank sends and receives, frame headers included, in
// one exchange of optimizer opt over topology with d coordinates and m
// ranks: exact for the fp32 mean; for a vote exact when the sign planes go
// raw and every sign is non-zero, an upper bound otherwise (collective
// compresses a plane when that is shorter, and a zero sign costs no sign
// bit).
func formulaBytes(opt, topology string, d, m, rank int) (sent, recv int) {
	if !hasTopology(opt, topology) {
		return 0, 0
	}
	if opt == "sgd" {
		return collective.MeanBytes(topology, d, m, rank)
	}
	return collective.VoteBytes(topology, d, m, rank)
}

// headerSize is collective's frame header, for the outputs' prose.
func headerSize() int { return collective.HeaderSize }

// optPair is an optimizer and a topology it runs over.
type optPair struct{ opt, topo string }

// kind is the collective the pair exchanges with: "mean" for sgd, "vote"
// for the signs.
func (p optPair) kind() string {
	if p.opt == "sgd" {
		return "mean"
	}
	return "vote"
}

func (p optPair) String() string { return p.opt + ":" + p.topo }

// pairList reads a comma list of optimizer:topology pairs given to flag
// name of cmd, each optimizer one of --opt's and over one of its
// topologies.
func pairList(cmd, name, s string) ([]optPair, error) {
	var out []optPair
	for _, f := range strings.Split(s, ",") {
		opt, topo, ok := strings.Cut(strings.TrimSpace(f), ":")
		if _, err := optList(cmd, opt); err != nil || !ok || !hasTopology(opt, topo) {
			return nil, usageErr(cmd, "--%s %q: %q is not optimizer:topology (sgd over %s; signsgd and signum over %s)",
				name, s, f, strings.Join(meanTopologies, ", "), strings.Join(signTopologies, ", "))
		}
		out = append(out, optPair{opt, topo})
	}
	return out, nil
}

// linkList reads --rates (a comma list in tc's syntax) with one --latency
// into modelled links, before anything is written.
func linkList(cmd, rates, latency string) (names []string, links []collective.Link, err error) {
	for _, r := range strings.Split(rates, ",") {
		r = strings.TrimSpace(r)
		l, err := collective.ParseLink(r + "," + latency)
		if err != nil {
			return nil, nil, usageErr(cmd, "--rates %q, --latency %q: %v", rates, latency, err)
		}
		names, links = append(names, r), append(links, l)
	}
	return names, links, nil
}
