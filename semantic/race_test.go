//go:build race

package semantic

// raceEnabled is true when the race detector is on; heavy tests shrink.
const raceEnabled = true
