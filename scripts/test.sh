#!/usr/bin/env bash
# Runs every test: the real servers the integration tests need are installed
# and started first (scripts/testenv.sh) and stopped afterwards, whatever happens.
set -euo pipefail
cd "$(dirname "$0")/.."

./scripts/testenv.sh up
trap './scripts/testenv.sh down >/dev/null 2>&1 || true' EXIT
# testenv.sh writes the servers' addresses for the tests to read.
set -a
# shellcheck disable=SC1091
. ./.testenv/env
set +a

go vet ./...
# Every journal write checks that replaying it gives the ledger being
# written: a change made without the tracking accessors fails loudly.
export DRSCTL_STATE_VERIFY=1
# Everything under the race detector (the scenario suite runs a few
# histories there, for races in the whole loop)...
go test -race -count=1 -timeout 40m ./...
# ...and the scenario suite's 200 random histories at full speed: it checks
# the reconciler's logic, which the race detector only slows (about 2.5x).
go test -count=1 -timeout 10m ./internal/scenario -scenario.histories=200
# The storage drivers again, three times under the race detector: a race
# between two transfers shows only now and then, and must not hide.
go test -race -count=3 -timeout 30m -run 'Conformance|SharedSession|Pool_|HungServer' ./internal/blob/...
# Ten more crash trials (seeds the race run above does not use), at full
# speed; make stress runs a hundred.
go test -count=1 -timeout 15m ./internal/stress -run TestCrash -stress.trials=10 -stress.first=1001
# Every fuzz target for a few seconds over its committed corpus and beyond
# (make fuzz runs them longer).
FUZZTIME=3s ./scripts/fuzz.sh
