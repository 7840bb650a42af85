#!/usr/bin/env bash
# bench/state.sh — the ledger's costs, as an apply from cron meets them:
#   - committing one action to a local journaled ledger of 10 and of 1,000
#     databases × 100 artifacts (fsync included, compactions amortized);
#   - reading a 1,000 × 100 ledger, alone and then planning from it;
#   - writing it whole (what every commit cost before the journal; what a
#     compaction costs now);
#   - an apply over 100 databases on SQL Server simulators with nothing due,
#     and with a log backup due everywhere (the share of it spent writing
#     the ledger, and how many writes group commit made of its changes).
#
#   bench/state.sh            # BENCH_TIME=5x by default
#
# Go benchmarks (internal/plan/statebench_test.go,
# internal/cli/apply_bench_test.go); figures go into bench/README.md.
set -euo pipefail
cd "$(dirname "$0")/.."
BENCH_TIME=${BENCH_TIME:-5x}
go test -run '^$' -bench 'Commit_|Read_1000|ReadAndPlan_1000|WholeWrite_1000' -benchtime "$BENCH_TIME" -benchmem ./internal/plan/
go test -run '^$' -bench 'Apply_' -benchtime "$BENCH_TIME" ./internal/cli/
