package collective

import (
	"sync"

	"signsgd/kernels"
)

// signsPool recycles the sign vectors the vote collectives decode their
// peers' votes into, so a step does not allocate M vectors of d signs.
var signsPool sync.Pool

// getSigns returns a vector of n signs whose contents are undefined (the
// caller overwrites all of it).
func getSigns(n int) kernels.Signs {
	for range 4 {
		v, ok := signsPool.Get().(*kernels.Signs)
		if !ok {
			break
		}
		if v.N == n {
			return *v
		}
	}
	return kernels.NewSigns(n)
}

// putSigns hands vectors from getSigns back once nothing refers to them.
func putSigns(vs []kernels.Signs) {
	for i := range vs {
		v := vs[i]
		signsPool.Put(&v)
	}
}
