//go:build !amd64 || noasm

package collective

// useBMI2 is false without amd64 assembly: the table versions run.
const useBMI2 = false

func pext64(v, m uint64) uint64 { return extractBitsNaive(v, m) }
func pdep64(v, m uint64) uint64 { return depositBitsNaive(v, m) }
