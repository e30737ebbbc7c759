//go:build amd64 && !noasm

package collective

import "golang.org/x/sys/cpu"

// useBMI2 says whether extractBits and depositBits may use the CPU's PEXT
// and PDEP instructions (BMI2; a few cycles each on current x86 cores).
var useBMI2 = cpu.X86.HasBMI2

// pext64 is x86's PEXT: the bits of v selected by m, packed low.
//
//go:noescape
func pext64(v, m uint64) uint64

// pdep64 is x86's PDEP: the low bits of v spread onto the set bits of m.
//
//go:noescape
func pdep64(v, m uint64) uint64
