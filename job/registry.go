package job

import (
	"fmt"
	"strings"
)

// A registry is one enumeration of the command line (optimizers,
// aggregators, pre-aggregators, attacks, topologies): its values in the
// order they are listed, each with a one-line help and, where there is one,
// the paper it comes from. The flag's usage, `signsgd run --help`, config
// validation, bench/figures' checks and the tests are all derived from it,
// so a name is written once.
type registry[T any] struct {
	flag  string // the flag that takes these names, without dashes
	items []choice[T]
}

// choice is one value of a registry.
type choice[T any] struct {
	Name  string
	Help  string // one line
	Ref   string // the reference, "" for ours
	Value T
}

// Names returns the names in order.
func (r *registry[T]) Names() []string {
	out := make([]string, len(r.items))
	for i, c := range r.items {
		out[i] = c.Name
	}
	return out
}

// lookup returns the choice called name.
func (r *registry[T]) lookup(name string) (choice[T], bool) {
	for _, c := range r.items {
		if c.Name == name {
			return c, true
		}
	}
	return choice[T]{}, false
}

// parse is lookup with the command line's error: one line naming the flag,
// the value and what it accepts.
func (r *registry[T]) parse(name string) (T, error) {
	c, ok := r.lookup(name)
	if !ok {
		return c.Value, badFlag("--%s: unknown value %q (want %s)", r.flag, name, strings.Join(r.Names(), ", "))
	}
	return c.Value, nil
}

// list is the names joined for a flag's one-line usage.
func (r *registry[T]) list() string { return strings.Join(r.Names(), ", ") }

// reference writes one line per choice: name, help and reference.
func (r *registry[T]) reference(w *strings.Builder, title string) {
	fmt.Fprintf(w, "%s (--%s):\n", title, r.flag)
	for _, c := range r.items {
		line := c.Help
		if c.Ref != "" {
			line += " [" + c.Ref + "]"
		}
		fmt.Fprintf(w, "  %-14s %s\n", c.Name, line)
	}
}

// Optimizers, Aggregators and Attacks are the registries' names, for the
// programs that build `signsgd run` command lines (bench).
func Optimizers() []string  { return optimizers.Names() }
func Aggregators() []string { return aggregators.Names() }
func Attacks() []string     { return attacks.Names() }

// methodsReference is the part of `signsgd run --help` that lists every
// optimizer, aggregator, pre-aggregator, attack, partition and transport
// security with its reference.
func methodsReference() string {
	var b strings.Builder
	optimizers.reference(&b, "optimizers")
	aggregators.reference(&b, "aggregators, for sgd on --topology server")
	preAggregators.reference(&b, "pre-aggregators, before the aggregator")
	attacks.reference(&b, "attacks of the --byzantine ranks")
	partitions.reference(&b, "how the training rows are divided among the ranks")
	securities.reference(&b, "transport security of every frame after the handshake")
	return b.String()
}

// AttackApplies says whether attack has a form for optimizer opt (a
// gradient form for sgd, a sign form for the vote).
func AttackApplies(attack, opt string) bool {
	a, ok := attacks.lookup(attack)
	o, ok2 := optimizers.lookup(opt)
	if !ok || !ok2 {
		return false
	}
	if o.Value.sign {
		return a.Value.sign != nil
	}
	return a.Value.grad != nil
}
