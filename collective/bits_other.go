//go:build !amd64 || noasm

package collective

// useBMI2 is false without amd64 assembly: the table versions run.
const useBMI2 = false

func pext64(v, m uint64) uint64 { return extractBitsNaive(v, m) }
func pdep64(v, m uint64) uint64 { return depositBitsNaive(v, m) }

func gatherBMI2(out, nz, neg []uint64, tail uint64) { panic("collective: no BMI2 assembly") }
func scatterCopyBMI2(neg, nzOut, nz, in []uint64, wide bool) int {
	panic("collective: no BMI2 assembly")
}

// useScatter512 is false without amd64 assembly.
const useScatter512 = false

// onesCount is the number of set bits in w.
func onesCount(w []uint64) int { return onesCountGo(w) }
