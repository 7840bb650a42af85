// Package scenario is drsctl's model-based test suite: random histories of
// the operator's world — backups falling due, idle nights, transfers and
// restores that fail or lose their reply, applies killed midway, files
// deleted by someone's cleanup job, destinations that cannot be listed,
// targets removed and re-added, -target shards, restore delays, a nightly
// restore window (no restore outside it, convergence once it opens), retention,
// clocks that are wrong, daylight saving, a standby failed over by hand,
// and (in half the histories, from a random source of their own) drsctl
// promote, promote -planned, reprotect, and promoted databases dropped or
// written to (failover_test.go) —
// run against the in-memory engine, with invariants checked after every
// step and convergence checked at the end. Every history comes from a seed;
// a failure prints the seed and the events so it replays exactly:
//
//	go test ./internal/scenario -run TestScenarios -scenario.seed=N -v
//
// `make test` runs a fixed set of seeds; `make soak` runs many more.
package scenario
