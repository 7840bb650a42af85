//go:build race

package scenario_test

// Under the race detector the suite runs a few histories by default: they
// look for races in the whole loop; scripts/test.sh runs the full count
// without it.
func init() { defaultHistories = 25 }
