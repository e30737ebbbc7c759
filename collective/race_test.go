//go:build race

package collective

// raceEnabled: the race detector is on, under which sync.Pool drops items
// at random, so allocation counts mean nothing.
const raceEnabled = true
