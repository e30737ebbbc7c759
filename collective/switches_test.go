package collective

// The package's test switches: each set function sets one of the knobs
// that exist for tests and returns the function that puts back the value
// it replaced (defer setVoteChunkWords(3)()), so no test leaves a knob
// changed for the next. The with functions run f under one setting.

// setSwitch sets *p to v and returns the function that restores *p.
func setSwitch[T any](p *T, v T) (restore func()) {
	old := *p
	*p = v
	return func() { *p = old }
}

// setVoteCompression compresses every vote payload as cp.
func setVoteCompression(cp Compression) (restore func()) {
	return setSwitch(&voteCompression, cp)
}

// setVoteChunkWords cuts the server vote into chunks of n words.
func setVoteChunkWords(n int) (restore func()) { return setSwitch(&voteChunkWords, n) }

// setFloatSegmentBytes cuts the fp32 collectives into segments of n bytes.
func setFloatSegmentBytes(n int) (restore func()) { return setSwitch(&floatSegmentBytes, n) }

// setFloatsLE false byte-swaps float32s value by value, as on a big-endian
// host (the plain forms of the collectives).
func setFloatsLE(le bool) (restore func()) { return setSwitch(&floatsLE, le) }

// withCompression runs f with every vote payload compressed as cp.
func withCompression(cp Compression, f func()) {
	defer setVoteCompression(cp)()
	f()
}

// withChunkWords runs f with the server vote cut into chunks of n words.
func withChunkWords(n int, f func()) {
	defer setVoteChunkWords(n)()
	f()
}

// withSegmentBytes runs f with the fp32 collectives cut into segments of n
// bytes.
func withSegmentBytes(n int, f func()) {
	defer setFloatSegmentBytes(n)()
	f()
}

// withSwappedFloats runs f with float32s byte-swapped value by value, as on
// a big-endian host (the plain forms of the collectives).
func withSwappedFloats(f func()) {
	defer setFloatsLE(false)()
	f()
}
