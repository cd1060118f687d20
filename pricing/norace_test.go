//go:build !race

package pricing

// raceEnabled reports whether the race detector is on.
const raceEnabled = false
