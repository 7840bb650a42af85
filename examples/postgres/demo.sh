#!/usr/bin/env bash
# make demo-postgres: drsctl's PostgreSQL engine end to end on this machine.
#
# Starts a throwaway PostgreSQL primary on a private port (a temporary
# directory, password authentication from 127.0.0.1, replication allowed
# from there), builds drsctl, and runs validate, plan and apply on
# examples/postgres: drsctl takes a base backup through a replication slot,
# ships it and builds the hot standby "dr" from it, which it starts itself.
# Then it writes rows on the primary, waits for the next log backup to be
# due, applies again, reads the rows on the standby, shows that a write
# there is refused (read-only), prints drsctl status, and stops both
# clusters and removes everything when it ends, whether it worked or not.
#
# Needs Go and PostgreSQL's server binaries (Debian: the postgresql package;
# run as root, the demo installs it with apt-get when it is missing, without
# its default cluster). As root, the clusters run as the postgres OS user
# (PostgreSQL refuses root); otherwise as you. PG_BIN picks the binaries
# (default: the newest /usr/lib/postgresql/*/bin); DRSCTL_DEMO_KEEP=1 keeps
# the directory (clusters stopped) to look at afterwards.
set -euo pipefail
cd "$(dirname "$0")/../.."
root=$PWD
example=$root/examples/postgres

say() { printf '\n\033[1m==> %s\033[0m\n' "$*"; }
run() { printf '$ %s\n' "$*"; "$@"; }
die() { printf 'demo: %s\n' "$*" >&2; exit 1; }

# ---- PostgreSQL binaries
find_pg_bin() {
	local d
	for d in $(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V -r); do
		if [ -x "$d/initdb" ] && [ -x "$d/pg_ctl" ]; then echo "$d"; return 0; fi
	done
	return 1
}
pg_bin=${PG_BIN:-}
if [ -z "$pg_bin" ] && ! pg_bin=$(find_pg_bin); then
	[ "$(id -u)" = 0 ] && command -v apt-get >/dev/null ||
		die "PostgreSQL's server binaries are not installed: apt-get install postgresql (as root), or set PG_BIN to the directory holding initdb and pg_ctl"
	say "Installing PostgreSQL (Debian package postgresql, without its default cluster)"
	# The package would create (and, where init scripts may run, start) a
	# "main" cluster on port 5432: the demo starts its own.
	mkdir -p /etc/postgresql-common/createcluster.d
	echo 'create_main_cluster = false' >/etc/postgresql-common/createcluster.d/drsctl-demo.conf
	export DEBIAN_FRONTEND=noninteractive
	apt-get update -qq && apt-get install -y -qq --no-install-recommends postgresql >/dev/null
	pg_bin=$(find_pg_bin) || die "PostgreSQL installed, but no initdb under /usr/lib/postgresql/*/bin"
fi
[ -x "$pg_bin/initdb" ] || die "no initdb in $pg_bin (PG_BIN)"

if [ "$(id -u)" = 0 ]; then
	id postgres >/dev/null 2>&1 || die "running as root, the clusters run as the postgres OS user, which does not exist (the postgresql package creates it)"
	pg_user=postgres
	as_pg() { (cd / && runuser -u postgres -- "$@"); }
else
	pg_user=$(id -un)
	as_pg() { (cd / && "$@"); }
fi

# ---- a private directory, and cleanup whatever happens
demo=$(mktemp -d "${TMPDIR:-/tmp}/drsctl-pg-demo.XXXXXX")
# The clusters' user must reach the data directories and run drsctl (the
# standby's restore_command is `drsctl wal-fetch`).
chmod 755 "$demo"
stop_cluster() { # data directory
	[ -f "$1/postmaster.pid" ] || return 0
	as_pg "$pg_bin/pg_ctl" -D "$1" -m fast -w -t 30 stop >/dev/null 2>&1 ||
		as_pg "$pg_bin/pg_ctl" -D "$1" -m immediate -w -t 30 stop >/dev/null 2>&1 || true
}
cleanup() {
	local rc=$?
	trap - EXIT
	if [ "$rc" != 0 ]; then
		printf '\ndemo: FAILED (exit %s); the servers last said:\n' "$rc" >&2
		for log in "$demo/primary.log" "$demo/dr.drsctl/postgres.log"; do
			[ -f "$log" ] && { echo "--- $log" >&2; tail -n 20 "$log" >&2; }
		done
	fi
	stop_cluster "$demo/dr"
	stop_cluster "$demo/primary"
	if [ "${DRSCTL_DEMO_KEEP:-}" = 1 ]; then
		echo "demo: kept $demo (clusters stopped)"
	else
		rm -rf "$demo"
	fi
	exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

say "Building drsctl"
mkdir -m 755 "$demo/bin"
go build -o "$demo/bin/drsctl" ./cmd/drsctl
drsctl=$demo/bin/drsctl

port_free() { ! (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
pick_port() { local p=$1; while ! port_free "$p"; do p=$((p + 1)); done; echo "$p"; }
p_primary=$(pick_port 15432)
p_dr=$(pick_port $((p_primary + 1)))

say "A PostgreSQL primary on 127.0.0.1:$p_primary ($("$pg_bin/postgres" --version), as $pg_user)"
# A password for the superuser: drsctl reads it from PGPASSWORD, as psql does.
PGPASSWORD=$(head -c 12 /dev/urandom | od -An -tx1 | tr -d ' \n')
export PGPASSWORD
install -d -m 700 -o "$pg_user" "$demo/primary" "$demo/sock"
install -m 600 -o "$pg_user" /dev/null "$demo/pwfile"
install -m 600 -o "$pg_user" /dev/null "$demo/primary.log"
printf '%s\n' "$PGPASSWORD" >"$demo/pwfile"
as_pg "$pg_bin/initdb" -D "$demo/primary" -U postgres -E UTF8 --no-locale \
	--auth-local=trust --auth-host=scram-sha-256 --pwfile="$demo/pwfile" >"$demo/initdb.log"
rm -f "$demo/pwfile"
# Nothing here is for drsctl but max_slot_wal_keep_size, the bound on the WAL
# its replication slot may hold (wal_level replica and the WAL senders and
# slots are PostgreSQL's defaults, written out to be seen).
cat >>"$demo/primary/postgresql.conf" <<EOF

# drsctl demo
port = $p_primary
listen_addresses = '127.0.0.1'
unix_socket_directories = '$demo/sock'
wal_level = replica
max_wal_senders = 10
max_replication_slots = 10
max_slot_wal_keep_size = '1GB'
EOF
echo "pg_hba.conf, as initdb wrote it (replication from 127.0.0.1 with a password):"
grep -E '^host.*127\.0\.0\.1' "$demo/primary/pg_hba.conf" | sed 's/^/  /'
as_pg "$pg_bin/pg_ctl" -D "$demo/primary" -l "$demo/primary.log" -w -t 60 start >/dev/null

dsn() { echo "postgres://postgres@127.0.0.1:$1/postgres?sslmode=disable&connect_timeout=5"; }
export DRS_DEMO_DIR=$demo DRS_PRIMARY_DSN=$(dsn "$p_primary") DRS_DR_DSN=$(dsn "$p_dr")
echo "the standby 'dr' will listen on 127.0.0.1:$p_dr, from $demo/dr (drsctl builds and starts it)"

# sql primary|dr QUERY: runs SQL with psql (password from PGPASSWORD).
sql() {
	local port=$p_primary
	[ "$1" = dr ] && port=$p_dr
	printf '%s> %s\n' "$1" "$2"
	"$pg_bin/psql" -X -q -v ON_ERROR_STOP=1 -h 127.0.0.1 -p "$port" -U postgres -d postgres -c "$2"
}
count() { "$pg_bin/psql" -X -qtA -h 127.0.0.1 -p "$p_dr" -U postgres -d postgres -c "SELECT count(*) FROM orders"; }

say "A table on the primary, with three rows"
sql primary "CREATE TABLE orders (id int PRIMARY KEY, note text, at timestamptz NOT NULL DEFAULT now())"
sql primary "INSERT INTO orders (id, note) VALUES (1, 'first'), (2, 'second'), (3, 'third')"

drs() { run "$drsctl" -chdir "$example" -state "$demo/drs.state.json" "$@"; }

say "Validate the configuration"
drs validate

say "Plan: what is due, and why"
drs plan

say "Apply: base backup through the slot, ship, verify, build and start the standby"
drs apply -auto-approve

say "The replication slot drsctl keeps on the primary (held until the ledger records the WAL)"
sql primary "SELECT slot_name, slot_type, restart_lsn, wal_status, pg_size_pretty(safe_wal_size) AS safe_wal_size FROM pg_replication_slots"

say "Three more rows on the primary; wait for the next log backup to come due (every 5s)"
sql primary "INSERT INTO orders (id, note) VALUES (4, 'fourth'), (5, 'fifth'), (6, 'sixth')"
sleep 6

say "Apply again: the log backup (the WAL since the base backup), shipped and replayed on the standby"
drs apply -auto-approve

say "The rows are readable on the standby"
sql dr "SELECT id, note, pg_is_in_recovery() AS standby FROM orders ORDER BY id"
n=$(count)
[ "$n" = 6 ] || die "the standby has $n rows, want 6"
echo "demo: all 6 rows, the 3 written after the base backup included, arrived on the standby"

say "A write there is refused (the standby is read-only)"
if sql dr "INSERT INTO orders (id, note) VALUES (7, 'nope')"; then
	die "the write on the standby succeeded; it must not"
fi
echo "demo: the write on the standby was refused: it is read-only"

say "Status: how far behind the standby is, and what it has replayed"
drs status

say "Done: both clusters are being stopped and the demo's directory removed"
