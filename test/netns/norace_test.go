//go:build !race

package netns_test

// raceEnabled builds moat with the race detector when the tests run with it.
const raceEnabled = false
