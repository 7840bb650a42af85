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
go test -race -count=1 -timeout 20m ./...
