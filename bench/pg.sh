#!/usr/bin/env bash
# bench/pg.sh — drsctl's PostgreSQL engine on this machine, against a
# throwaway PostgreSQL primary (and the hot standby drsctl builds from it):
#
#   bench/pg.sh lag          commit on the primary → visible on the standby,
#                            log_backup { every = "5s" }, applies cron-style
#   bench/pg.sh basebackup   base backup throughput of a ~1 GB database:
#                            drsctl beside pg_basebackup, paired runs
#   bench/pg.sh              both
#
# Knobs: BENCH_MINUTES (3) how long the lag writer writes; BENCH_EVERY (5)
# seconds, the log backup interval; BENCH_APPLY_EVERY (5) seconds between the starts
# of two applies; BENCH_SCALE (70: pgbench -i scale, ~15 MB each, ~1.1 GB)
# and BENCH_RUNS (3) for the base backups; PG_BIN (the newest
# /usr/lib/postgresql/*/bin); BENCH_KEEP=1 keeps the work directory.
#
# Runs as root (the clusters run as the postgres OS user) or as a user who
# can run PostgreSQL's binaries. Needs Go and PostgreSQL's server binaries
# (scripts/testenv.sh up installs the Debian package). Everything it starts
# is stopped when it ends, whatever happens.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
what=${1:-all}
case $what in lag | basebackup | all) ;; *) echo "usage: bench/pg.sh [lag|basebackup|all]" >&2; exit 2 ;; esac

MINUTES=${BENCH_MINUTES:-3}
EVERY=${BENCH_EVERY:-5} # seconds
APPLY_EVERY=${BENCH_APPLY_EVERY:-5}
SCALE=${BENCH_SCALE:-70}
RUNS=${BENCH_RUNS:-3}

say() { printf '\n== %s\n' "$*" >&2; }
die() { printf 'bench: %s\n' "$*" >&2; exit 1; }
now() { date +%s.%N; }
since() { awk -v a="$1" -v b="$(now)" 'BEGIN { printf "%.2f", b - a }'; }

pg_bin=${PG_BIN:-$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1)}
[ -x "$pg_bin/initdb" ] || die "no PostgreSQL binaries (set PG_BIN, or run scripts/testenv.sh up)"
if [ "$(id -u)" = 0 ]; then
	pg_user=postgres
	as_pg() { (cd / && runuser -u postgres -- "$@"); }
else
	pg_user=$(id -un)
	as_pg() { (cd / && "$@"); }
fi

W=$(mktemp -d "${TMPDIR:-/tmp}/drsctl-pg-bench.XXXXXX")
chmod 755 "$W"
loop_pid=
stop_cluster() {
	[ -f "$1/postmaster.pid" ] || return 0
	as_pg "$pg_bin/pg_ctl" -D "$1" -m fast -w -t 60 stop >/dev/null 2>&1 ||
		as_pg "$pg_bin/pg_ctl" -D "$1" -m immediate -w -t 30 stop >/dev/null 2>&1 || true
}
cleanup() {
	local rc=$?
	trap - EXIT
	if [ -n "$loop_pid" ]; then kill "$loop_pid" 2>/dev/null || true; wait "$loop_pid" 2>/dev/null || true; fi
	stop_cluster "$W/dr"
	stop_cluster "$W/primary"
	if [ "${BENCH_KEEP:-}" = 1 ]; then echo "bench: kept $W" >&2; else rm -rf "$W"; fi
	exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

say "machine"
{
	echo "date:   $(date -u '+%Y-%m-%d %H:%M UTC')"
	echo "cpu:    $(nproc) × $(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -n 1)"
	echo "memory: $(free -g | awk '/^Mem:/ { print $2 " GB" }')"
	echo "disk:   $(df -h "$W" | awk 'NR == 2 { print $1 ", " $4 " free" }')"
	echo "load:   $(cut -d ' ' -f 1-3 /proc/loadavg) (1, 5, 15 min) at the start"
	echo "server: $("$pg_bin/postgres" --version)"
	echo "drsctl: $(git describe --always --dirty 2>/dev/null || echo unknown)"
} | tee "$W/machine.txt"

mkdir -m 755 "$W/bin"
go build -o "$W/bin/drsctl" ./cmd/drsctl
go build -o "$W/bin/pgtool" ./bench/pgtool
drsctl=$W/bin/drsctl

port_free() { ! (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
pick_port() { local p=$1; while ! port_free "$p"; do p=$((p + 1)); done; echo "$p"; }
p_primary=$(pick_port 25432)
p_dr=$(pick_port $((p_primary + 1)))
dsn() { echo "postgres://postgres@127.0.0.1:$1/postgres?sslmode=disable&connect_timeout=5"; }
PRIMARY=$(dsn "$p_primary")
DR=$(dsn "$p_dr")
psql_p() { "$pg_bin/psql" -X -q -v ON_ERROR_STOP=1 -h 127.0.0.1 -p "$p_primary" -U postgres -d postgres "$@"; }

say "primary on 127.0.0.1:$p_primary"
install -d -m 700 -o "$pg_user" "$W/primary" "$W/sock"
install -m 600 -o "$pg_user" /dev/null "$W/primary.log"
as_pg "$pg_bin/initdb" -D "$W/primary" -U postgres -E UTF8 --no-locale --auth=trust >/dev/null
# PostgreSQL's defaults but for the port, the socket and the slot's bound
# (fsync on: the base backups are written durably by both tools).
cat >>"$W/primary/postgresql.conf" <<EOF
port = $p_primary
listen_addresses = '127.0.0.1'
unix_socket_directories = '$W/sock'
max_slot_wal_keep_size = '20GB'
EOF
as_pg "$pg_bin/pg_ctl" -D "$W/primary" -l "$W/primary.log" -w -t 60 start >/dev/null

# ---------------------------------------------------------------- lag
bench_lag() {
	mkdir -p "$W/cfg"
	cat >"$W/cfg/bench.drs.hcl" <<EOF
backup_folder "local" {
  url       = "file://$W/backups"
  retention = "1h"
}

primary "pg" {
  engine        = "postgres"
  connection    = env("BENCH_PRIMARY")
  backup_folder = backup_folder.local
  full_backup { every = "24h" }
  log_backup { every = "${EVERY}s" }
  rpo = "1m"
}

target "dr" {
  primary    = primary.pg
  connection = env("BENCH_DR")
  data_dir   = "$W/dr"
  destination { url = "file://$W/dr-ship" }
}
EOF
	export BENCH_PRIMARY=$PRIMARY BENCH_DR=$DR
	psql_p -c "CREATE TABLE bench_lag (id bigint PRIMARY KEY, committed_at timestamptz NOT NULL)" || die "CREATE TABLE failed"
	say "seeding the standby (apply, then the first log backup makes it consistent)"
	"$drsctl" -chdir "$W/cfg" apply -auto-approve -log-level warn || die "the seeding apply failed"
	sleep "$EVERY"
	"$drsctl" -chdir "$W/cfg" apply -auto-approve -log-level warn || die "the first log backup's apply failed"
	"$pg_bin/psql" -X -qtA -h 127.0.0.1 -p "$p_dr" -U postgres -d postgres -c "SELECT count(*) FROM bench_lag" >/dev/null ||
		die "the standby does not answer after seeding"

	# Cron-style applies: a new drsctl process every APPLY_EVERY seconds on
	# the clock, each planning from the ledger and exiting, never two at
	# once — what a systemd timer (OnCalendar=*:*:0/5, a Type=oneshot
	# service) or cron (every minute, scaled down here) does. A run that
	# overruns its slot delays the next start to the following slot.
	cron_loop() {
		while [ ! -e "$W/stop" ]; do
			local s e rc=0
			s=$(now)
			"$drsctl" -chdir "$W/cfg" apply -auto-approve -log-level warn >>"$W/apply.log" 2>&1 || rc=$?
			e=$(now)
			echo "$s $e $rc" >>"$W/applies.txt"
			sleep "$(awk -v e="$e" -v p="$APPLY_EVERY" 'BEGIN { n = (int(e / p) + 1) * p; printf "%.3f", n - e }')"
		done
	}
	say "lag: a row committed every 200 ms for $MINUTES min, the standby read every 100 ms; log_backup every ${EVERY}s, an apply every ${APPLY_EVERY}s"
	local logs0
	logs0=$(find "$W/backups" -name '*.trn' | wc -l)
	cron_loop &
	loop_pid=$!
	local rc=0
	"$W/bin/pgtool" lag -primary "$PRIMARY" -standby "$DR" -duration "${MINUTES}m" -csv "$W/lag.csv" | tee "$W/lag.txt" || rc=$?
	touch "$W/stop"
	wait "$loop_pid" || true
	loop_pid=
	awk -v logs="$(($(find "$W/backups" -name '*.trn' | wc -l) - logs0))" '
		{ d = $2 - $1; n++; sum += d; if (d > mx) mx = d; if ($3 != 0) bad++ }
		END { printf "applies: %d (%d failed), %.2fs on average, %.2fs at most; log backups taken: %d\n", n, bad, sum / n, mx, logs }' "$W/applies.txt" | tee -a "$W/lag.txt"
	if [ -s "$W/apply.log" ]; then
		echo "what the applies said (stderr and warnings):" >&2
		sort "$W/apply.log" | uniq -c | sort -rn | head -n 20 >&2
	fi
	stop_cluster "$W/dr" # its CPU is not the base backup's
	return "$rc"
}

# ---------------------------------------------------------------- base backup
bench_basebackup() {
	say "a ~$((SCALE * 15)) MB database: pgbench -i -s $SCALE"
	"$pg_bin/pgbench" -i -q -s "$SCALE" -h 127.0.0.1 -p "$p_primary" -U postgres postgres >"$W/pgbench.log" 2>&1 ||
		die "pgbench -i failed: $(tail -n 5 "$W/pgbench.log")"
	psql_p -c "CHECKPOINT"
	psql_p -tA -c "SELECT 'database size: ' || pg_size_pretty(sum(pg_database_size(datname))) FROM pg_database"
	mkdir -p "$W/cfg-full"
	cat >"$W/cfg-full/full.drs.hcl" <<EOF
backup_folder "local" {
  url = "file://$W/full"
}

primary "pg" {
  engine        = "postgres"
  connection    = env("BENCH_PRIMARY")
  backup_folder = backup_folder.local
  full_backup { every = "24h" }
  log_backup { every = "24h" }
  rpo = "48h"
}
EOF
	export BENCH_PRIMARY=$PRIMARY
	mbps() { awk -v b="$1" -v s="$2" 'BEGIN { printf "%.0f", b / s / 1e6 }'; }
	row() { printf '%-40s run %d  %6.0f MB  %6.2f s  %5s MB/s\n' "$1" "$2" "$(awk -v b="$3" 'BEGIN { print b / 1e6 }')" "$4" "$(mbps "$3" "$4")" | tee -a "$W/basebackup.txt"; }
	run_pg_basebackup() { # round [more options]
		local t b round=$1
		shift
		t=$(now)
		"$pg_bin/pg_basebackup" -d "$PRIMARY" -D "$W/pgbb" -X none -c fast "$@" 2>"$W/pg_basebackup.err" ||
			die "pg_basebackup failed: $(cat "$W/pg_basebackup.err")"
		t=$(since "$t")
		b=$(du -sb "$W/pgbb" | cut -f 1)
		rm -rf "$W/pgbb"
		row "pg_basebackup -X none -c fast${1:+ (SHA-256 manifest)}" "$round" "$b" "$t"
	}
	# The server computing SHA-256 for the manifest, as drsctl asks it to.
	run_pg_basebackup_sha() { run_pg_basebackup "$1" --manifest-checksums=SHA256; }
	run_take() {
		local t b
		t=$(now)
		"$W/bin/pgtool" basebackup -primary "$PRIMARY" -out "$W/take.tar" >/dev/null || die "pgtool basebackup failed"
		t=$(since "$t")
		b=$(stat -c %s "$W/take.tar")
		rm -f "$W/take.tar"
		row "drsctl basebackup.Take to a file" "$1" "$b" "$t"
	}
	run_take_folder() {
		local t b
		t=$(now)
		"$W/bin/pgtool" basebackup -primary "$PRIMARY" -folder "file://$W/folder" -key "pg/base-$1.tar" >/dev/null || die "pgtool basebackup -folder failed"
		t=$(since "$t")
		b=$(stat -c %s "$W/folder/pg/base-$1.tar")
		rm -rf "$W/folder"
		row "drsctl Take into a file:// folder" "$1" "$b" "$t"
	}
	run_apply() {
		local t b rc=0
		t=$(now)
		# Each line of progress stamped with the time it arrived: the
		# stream into the folder ends at "backup full: 100%", the action
		# (the folder's copy read back for its SHA-256, the ledger) at
		# "backup full: done".
		"$drsctl" -chdir "$W/cfg-full" -state "$W/full-$1.state.json" -no-color apply -auto-approve 2>&1 |
			while IFS= read -r line; do printf '%s %s\n' "$(now)" "$line"; done >"$W/apply-full.log" || rc=$?
		t=$(since "$t")
		((rc == 0)) && grep -q 'Apply complete' "$W/apply-full.log" || die "drsctl apply failed: $(tail -n 5 "$W/apply-full.log")"
		# The base backup is the biggest file the run wrote (beside it:
		# attributes and drsctl's markers).
		b=$(find "$W/full" -type f -printf '%s\n' | sort -n | tail -n 1)
		rm -rf "$W/full"
		row "drsctl apply (full backup action)" "$1" "$b" "$t"
		awk -v t0="$(awk '/backup full: started/ { print $1; exit }' "$W/apply-full.log")" '
			/backup full: 100%/ { streamed = $1 } /backup full: done/ { done = $1 }
			END { printf "    of which: streamed into the folder %.2f s; read back and recorded %.2f s\n", streamed - t0, done - streamed }' \
			"$W/apply-full.log" | tee -a "$W/basebackup.txt"
	}
	say "base backups, $RUNS paired rounds (the order rotates each round)"
	local i k order
	for ((i = 1; i <= RUNS; i++)); do
		order=(run_pg_basebackup run_take run_pg_basebackup_sha run_take_folder run_apply)
		for ((k = 0; k < ${#order[@]}; k++)); do
			sync
			"${order[$(((k + i - 1) % ${#order[@]}))]}" "$i"
		done
	done
	echo "load at the end: $(cut -d ' ' -f 1-3 /proc/loadavg)" | tee -a "$W/basebackup.txt"
}

rc=0
case $what in
lag) bench_lag || rc=$? ;;
basebackup) bench_basebackup || rc=$? ;;
all)
	bench_lag || rc=$?
	bench_basebackup || rc=$?
	;;
esac
say "results"
cat "$W/machine.txt" "$W"/lag.txt "$W"/basebackup.txt 2>/dev/null || true
exit "$rc"
