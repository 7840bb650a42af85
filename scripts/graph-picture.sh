#!/usr/bin/env bash
# scripts/graph-picture.sh: docs/graph.svg, the README's picture of
# `drsctl graph | dot -Tsvg`: the quickstart's topology right after its first
# apply. Starts three SQL Server simulators on loopback (as make demo does),
# runs the first apply of examples/quickstart, writes `drsctl graph`'s output
# unchanged to docs/graph.dot and renders it with graphviz's dot to
# docs/graph.svg. Needs Go and graphviz (apt-get install graphviz).
#
# cmd/drsctl/graph_picture_test.go checks that docs/graph.dot is what drsctl
# graph prints after that first apply today (run this script again when
# graph's output changes) and that docs/graph.svg is drawn from it.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
command -v dot >/dev/null || { echo "graph-picture: graphviz's dot is not installed (apt-get install graphviz)" >&2; exit 1; }

# A fixed directory, because the picture shows its backup folder URLs.
work=/tmp/drsctl-quickstart
if ! mkdir "$work" 2>/dev/null; then
  echo "graph-picture: $work exists (another run, or one killed before it cleaned up): remove it and run again" >&2
  exit 1
fi
pids=()
cleanup() {
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  for pid in "${pids[@]}"; do wait "$pid" 2>/dev/null || true; done
  rm -rf "$work"
}
trap cleanup EXIT

mkdir -p "$work/bin"
go build -o "$work/bin/drsctl" ./cmd/drsctl
go build -o "$work/bin/sqlsim" ./cmd/sqlsim
go build -o "$work/bin/sqlq" ./scripts/sqlq
export PATH="$work/bin:$PATH"

port_free() { ! (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
pick_port() { local p=$1; while ! port_free "$p"; do p=$((p + 1)); done; echo "$p"; }
start_sim() { # name port
  mkdir -p "$work/$1-sim"
  sqlsim -addr "127.0.0.1:$2" -data "$work/$1-sim" >"$work/$1-sim.log" 2>&1 &
  pids+=($!)
  for _ in $(seq 1 100); do
    if ! port_free "$2"; then return 0; fi
    sleep 0.1
  done
  echo "graph-picture: simulator $1 did not start on port $2:" >&2
  cat "$work/$1-sim.log" >&2
  exit 1
}
p1=$(pick_port 14331); start_sim primary "$p1"
p2=$(pick_port $((p1 + 1))); start_sim reporting "$p2"
p3=$(pick_port $((p2 + 1))); start_sim dr "$p3"
dsn() { echo "sqlserver://sa:demo@127.0.0.1:$1?database=master&encrypt=disable"; }
export DRS_DEMO_DIR="$work"
export DRS_PRIMARY_DSN=$(dsn "$p1") DRS_REPORTING_DSN=$(dsn "$p2") DRS_DR_DSN=$(dsn "$p3")
mkdir -p "$work/backups" "$work/reporting" "$work/dr" "$work/reporting-data" "$work/dr-data"
sqlq -dsn "$DRS_PRIMARY_DSN" "CREATE DATABASE [Shop]" >/dev/null

drs() { drsctl -chdir "$root/examples/quickstart" -state "$work/drs.state.json" -no-color "$@"; }
drs apply -auto-approve >"$work/apply.log" 2>&1 || { cat "$work/apply.log" >&2; exit 1; }
drs graph >"$root/docs/graph.dot"
dot -Tsvg "$root/docs/graph.dot" -o "$root/docs/graph.svg"
echo "wrote docs/graph.dot and docs/graph.svg ($(dot -V 2>&1))"
