//go:build race

package web

// raceEnabled: the race detector slows the store and the templates about
// tenfold, and the time limits of the tests allow for it.
const raceEnabled = true
