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
# Everything under the race detector (the scenario suite runs a few
# histories there, for races in the whole loop)...
go test -race -count=1 -timeout 20m ./...
# ...and the scenario suite's 200 random histories at full speed: it checks
# the reconciler's logic, which the race detector only slows (about 2.5x).
go test -count=1 -timeout 10m ./internal/scenario -scenario.histories=200
