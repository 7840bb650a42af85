#!/usr/bin/env bash
# make demo: drsctl's main job end to end on this machine, with nothing but Go.
# Starts three SQL Server simulators (a primary and two standbys) on loopback,
# runs validate, plan and apply on examples/quickstart, writes rows on the
# primary, applies again, reads the rows on the read-only standby, runs a
# restore drill, switches over to the other standby without losing the row
# written just before, and stops everything it started.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
demo=$(mktemp -d "${TMPDIR:-/tmp}/drsctl-demo.XXXXXX")
pids=()
cleanup() {
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  for pid in "${pids[@]}"; do wait "$pid" 2>/dev/null || true; done
  rm -rf "$demo"
}
trap cleanup EXIT

say() { printf '\n\033[1m==> %s\033[0m\n' "$*"; }
run() { printf '$ %s\n' "$*"; "$@"; }

say "Building drsctl and the SQL Server simulator"
mkdir -p "$demo/bin"
go build -o "$demo/bin/drsctl" ./cmd/drsctl
go build -o "$demo/bin/sqlsim" ./cmd/sqlsim
go build -o "$demo/bin/sqlq" ./scripts/sqlq
export PATH="$demo/bin:$PATH"

port_free() { ! (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
pick_port() { local p=$1; while ! port_free "$p"; do p=$((p + 1)); done; echo "$p"; }

start_sim() { # name port
  mkdir -p "$demo/$1-sim"
  sqlsim -addr "127.0.0.1:$2" -data "$demo/$1-sim" >"$demo/$1-sim.log" 2>&1 &
  pids+=($!)
  for _ in $(seq 1 100); do
    if ! port_free "$2"; then return 0; fi
    sleep 0.1
  done
  echo "simulator $1 did not start on port $2:" >&2
  cat "$demo/$1-sim.log" >&2
  exit 1
}

p1=$(pick_port 14331); start_sim primary "$p1"
p2=$(pick_port $((p1 + 1))); start_sim reporting "$p2"
p3=$(pick_port $((p2 + 1))); start_sim dr "$p3"
dsn() { echo "sqlserver://sa:demo@127.0.0.1:$1?database=master&encrypt=disable"; }
export DRS_DEMO_DIR="$demo"
export DRS_PRIMARY_DSN=$(dsn "$p1") DRS_REPORTING_DSN=$(dsn "$p2") DRS_DR_DSN=$(dsn "$p3")
mkdir -p "$demo/backups" "$demo/reporting" "$demo/dr" "$demo/reporting-data" "$demo/dr-data"
echo "primary on :$p1, standbys 'reporting' on :$p2 and 'dr' on :$p3 (SQL Server simulators)"

# sql SERVER QUERY: runs T-SQL on one of the simulators (the DSN, which holds
# a password, is not echoed).
sql() {
  local var="DRS_$(echo "$1" | tr a-z A-Z)_DSN"
  printf '%s> %s\n' "$1" "$2"
  sqlq -dsn "${!var}" "$2"
}

say "A database on the primary, with three rows"
sql primary "CREATE DATABASE [Shop]"
sql primary "INSERT INTO [Shop].dbo.drs_probe(id, note) VALUES (1, N'first'), (2, N'second'), (3, N'third')"

drs() { run drsctl -chdir "$root/examples/quickstart" -state "$demo/drs.state.json" "$@"; }

say "Validate the configuration"
drs validate

say "Plan: what is due, and why"
drs plan

say "Apply: full backup, ship to both standbys, verify, restore"
drs apply -auto-approve

say "Three more rows on the primary; wait for the next log backup to come due (every 5s)"
sql primary "INSERT INTO [Shop].dbo.drs_probe(id, note) VALUES (4, N'fourth'), (5, N'fifth'), (6, N'sixth')"
sleep 6

say "Apply again: only the log backup and its restores are due"
drs apply -auto-approve

say "The rows are readable on the read-only STANDBY target"
sql reporting "SELECT id, note FROM [Shop].dbo.drs_probe ORDER BY id"

say "A write there is refused (the standby is read-only)"
if sql reporting "INSERT INTO [Shop].dbo.drs_probe(id, note) VALUES (7, N'nope')"; then
  echo "demo: the write on the standby succeeded; it must not" >&2
  exit 1
fi

say "A restore drill: the newest chain restored into a scratch database, checked, dropped"
drs drill reporting

say "Status: how far behind each target is, and the last drill"
drs status

say "A row written just before a planned switchover to 'dr' (tail-log backup first: nothing lost)"
sql primary "INSERT INTO [Shop].dbo.drs_probe(id, note) VALUES (7, N'just before the switchover')"
drs promote dr -planned -auto-approve

say "The promoted database on 'dr' is writable and holds every row"
sql dr "INSERT INTO [Shop].dbo.drs_probe(id, note) VALUES (8, N'written on the new primary')"
sql dr "SELECT id, note FROM [Shop].dbo.drs_probe ORDER BY id"
if ! sqlq -dsn "$DRS_DR_DSN" "SELECT id FROM [Shop].dbo.drs_probe WHERE id = 7" | grep -q '^(1 rows)'; then
  echo "demo: the row written just before the switchover is not on dr" >&2
  exit 1
fi

say "Done: everything started by the demo is being stopped"
