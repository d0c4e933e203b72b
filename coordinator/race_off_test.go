//go:build !race

package coordinator

// raceOn: the race detector instruments the code, which makes its stack
// frames larger (TestParkedStreamStackStaysSmall).
const raceOn = false
