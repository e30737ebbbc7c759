package nn

// State returns the buffers of the network that training changes but that
// are not parameters — batch normalisation's running mean and variance —
// in a fixed order, so a checkpoint can save and restore them.
func (n *Net) State() [][]float32 {
	var out [][]float32
	walk(n.body, func(l Layer) {
		if bn, ok := l.(*BatchNorm); ok {
			out = append(out, bn.run.Mean, bn.run.Var)
		}
	})
	return out
}

// walk calls f on l and on every layer inside it, depth first.
func walk(l Layer, f func(Layer)) {
	f(l)
	switch t := l.(type) {
	case *Sequential:
		for _, c := range t.Layers {
			walk(c, f)
		}
	case *Residual:
		walk(t.Main, f)
		if t.Shortcut != nil {
			walk(t.Shortcut, f)
		}
	}
}
