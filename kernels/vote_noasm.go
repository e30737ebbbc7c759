//go:build !amd64 || noasm

package kernels

import "unsafe"

// voteWordsFast is the portable voteWords where there is no assembly kernel.
func voteWordsFast(dst Signs, nzs, negs []unsafe.Pointer, opt VoteOptions, lo, hi int) {
	voteWords(dst, nzs, negs, opt, lo, hi)
}
