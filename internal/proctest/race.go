//go:build race

package proctest

// raceEnabled builds moat with the race detector when the tests run with it.
const raceEnabled = true
