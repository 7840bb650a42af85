#!/usr/bin/env bash
# testenv.sh up|down|env|status — the real servers drsctl's integration tests
# talk to, on 127.0.0.1 only, with every byte of data under .testenv/ in the
# repository:
#
#   smbd (Samba)      127.0.0.1:4445   share "drs", user "drsctltest"
#   Azurite 3.35.0    127.0.0.1:10000  (npm, into .testenv/node)
#   versitygw         127.0.0.1:7070   (go install, into .testenv/bin; an S3
#                                       server honouring If-None-Match)
#   PostgreSQL 15     installed only (Debian package postgresql): each test
#                     starts its own clusters as the postgres user on free
#                     ports (internal/testenv/pgtest); none runs here.
#
# `up` installs what is missing (Debian packages samba samba-vfs-modules smbclient
# freetds-bin rclone postgresql; Azurite; versitygw), starts what is not running, waits until each
# server answers its own client and writes .testenv/env (KEY=VALUE lines for
# `set -a; . .testenv/env`). It is idempotent: servers already up are reused.
# It fails, naming the server, when one does not come up.
#
# `down` stops the servers by PID and waits for them to exit. Several test runs
# may share the servers (make test in two terminals of the same checkout): each
# `up` registers its caller (its process group), and a `down` from a
# registered caller only stops the servers when no other caller still uses
# them — one alive, or registered less than DRSCTL_TESTENV_LINGER minutes ago
# (default 60; a manual `up` from a shell that exits keeps them that long). A
# `down` from anyone else (typed by hand) stops them unconditionally; so does
# `down -f`.
#
# `env` prints the environment file; `status` says what runs.
#
# Buckets and containers are not created here: each test creates its own,
# uniquely named, so runs never see each other's objects.
set -euo pipefail

ROOT="$(cd "$(dirname "$0")/.." && pwd)"
TE="${DRSCTL_TESTENV_DIR:-$ROOT/.testenv}"
CACHE="${DRSCTL_TESTENV_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/drsctl-testenv}"
LINGER_MIN="${DRSCTL_TESTENV_LINGER:-60}"

SMB_PORT="${DRSCTL_TESTENV_SMB_PORT:-4445}"
AZ_PORT="${DRSCTL_TESTENV_AZURE_PORT:-10000}"
S3_PORT="${DRSCTL_TESTENV_S3_PORT:-7070}"

SMB_USER=drsctltest
SMB_PASSWORD='drsctl-Test-pw1' # a throwaway account on loopback, for tests only
SMB_SHARE=drs
AZ_ACCOUNT=devstoreaccount1
# The Azure Storage emulator's well-known development key (public).
AZ_KEY='Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=='
S3_ACCESS=drsctltest
S3_SECRET=drsctl-test-secret-key
AZURITE_VERSION=3.35.0
VERSITYGW_VERSION=v1.8.0
PG_BIN=/usr/lib/postgresql/15/bin

log() { printf 'testenv: %s\n' "$*" >&2; }
die() { printf 'testenv: ERROR: %s\n' "$*" >&2; exit 1; }

# ---------------------------------------------------------------- helpers

pid_alive() { [ -n "${1:-}" ] && kill -0 "$1" 2>/dev/null; }
read_pid() { [ -s "$TE/run/$1.pid" ] && cat "$TE/run/$1.pid" || true; }

# port_busy PORT: something listens on 127.0.0.1:PORT.
port_busy() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

# wait_for NAME PID SECONDS CHECK...: polls CHECK until it succeeds; fails,
# naming the server and showing its log, if the process dies or time runs out.
wait_for() {
	local name=$1 pid=$2 secs=$3; shift 3
	local deadline=$((SECONDS + secs))
	until "$@" >/dev/null 2>&1; do
		if ! pid_alive "$pid"; then
			tail -n 30 "$TE/log/$name.log" >&2 || true
			die "$name exited during start-up (log: $TE/log/$name.log)"
		fi
		if ((SECONDS >= deadline)); then
			tail -n 30 "$TE/log/$name.log" >&2 || true
			die "$name did not answer within ${secs}s (log: $TE/log/$name.log)"
		fi
		sleep 0.2
	done
}

# start NAME CMD...: runs CMD in its own session (so it outlives this script
# and `down` can stop it and its children by PID), records its PID.
start() {
	local name=$1; shift
	# 9>&-: the server must not inherit the lock on .testenv/lock.
	setsid "$@" >"$TE/log/$name.log" 2>&1 </dev/null 9>&- &
	echo $! >"$TE/run/$name.pid"
}

# stop NAME: SIGTERM the server's process group, wait for it to exit
# (SIGKILL after 20 s) so its port is free when we return.
stop() {
	local name=$1 pid
	pid=$(read_pid "$name")
	rm -f "$TE/run/$name.pid"
	pid_alive "$pid" || return 0
	log "stopping $name (pid $pid)"
	kill -TERM -- "-$pid" 2>/dev/null || kill -TERM "$pid" 2>/dev/null || true
	local i
	for ((i = 0; i < 200; i++)); do
		pid_alive "$pid" || return 0
		sleep 0.1
	done
	log "$name did not exit after SIGTERM; SIGKILL"
	kill -KILL -- "-$pid" 2>/dev/null || kill -KILL "$pid" 2>/dev/null || true
	for ((i = 0; i < 50; i++)); do
		pid_alive "$pid" || return 0
		sleep 0.1
	done
	die "$name (pid $pid) does not exit"
}

# running NAME PORT: our server of that name is alive and its port answers.
running() {
	local pid
	pid=$(read_pid "$1")
	pid_alive "$pid" && port_busy "$2"
}

# free_port NAME PORT: fails loudly if a stranger holds the port.
free_port() {
	if port_busy "$2"; then
		die "$1: port 127.0.0.1:$2 is taken by another process (not started by testenv.sh); stop it or set DRSCTL_TESTENV_*_PORT"
	fi
}

# ---------------------------------------------------------------- install

install_packages() {
	local missing=()
	command -v smbd >/dev/null || missing+=(samba)
	# streams_xattr: alternate data streams, where the smb driver keeps a blob's
	# attributes (a Windows server has them natively).
	compgen -G '/usr/lib/*/samba/vfs/streams_xattr.so' >/dev/null || missing+=(samba-vfs-modules)
	command -v smbclient >/dev/null || missing+=(smbclient)
	command -v tsql >/dev/null || missing+=(freetds-bin)
	command -v rclone >/dev/null || missing+=(rclone)
	[ -x "$PG_BIN/initdb" ] && [ -x "$PG_BIN/pg_basebackup" ] || missing+=(postgresql)
	((${#missing[@]} == 0)) && return 0
	log "apt-get install ${missing[*]}"
	[ "$(id -u)" = 0 ] || die "packages ${missing[*]} are missing and installing them needs root"
	# The package would create (and, where init scripts may run, start) a
	# "main" cluster on port 5432: the tests start their own clusters, so none.
	mkdir -p /etc/postgresql-common/createcluster.d
	echo 'create_main_cluster = false' >/etc/postgresql-common/createcluster.d/drsctl-testenv.conf
	export DEBIAN_FRONTEND=noninteractive
	apt-get update -qq >"$TE/log/apt.log" 2>&1 || { tail -n 20 "$TE/log/apt.log" >&2; die "apt-get update failed"; }
	apt-get install -y -qq --no-install-recommends "${missing[@]}" >>"$TE/log/apt.log" 2>&1 ||
		{ tail -n 20 "$TE/log/apt.log" >&2; die "apt-get install ${missing[*]} failed"; }
}

install_azurite() {
	local bin="$TE/node/node_modules/.bin/azurite-blob"
	local pkg="$TE/node/node_modules/azurite/package.json"
	if [ -x "$bin" ] && grep -q "\"version\": \"$AZURITE_VERSION\"" "$pkg" 2>/dev/null; then
		return 0
	fi
	command -v npm >/dev/null || die "azurite: npm is not installed (node >= 18 needed)"
	log "npm install azurite@$AZURITE_VERSION"
	mkdir -p "$TE/node"
	(cd "$TE/node" && npm install --no-audit --no-fund --no-save --loglevel=error --prefix "$TE/node" "azurite@$AZURITE_VERSION") \
		>"$TE/log/npm.log" 2>&1 || { tail -n 20 "$TE/log/npm.log" >&2; die "azurite: npm install failed"; }
	[ -x "$bin" ] || die "azurite: $bin missing after npm install"
}

# The versitygw binary is cached outside the repository (one build per
# machine, ~1 min) and copied into .testenv/bin.
install_versitygw() {
	local bin="$TE/bin/versitygw" cached="$CACHE/versitygw-$VERSITYGW_VERSION"
	[ -x "$bin" ] && [ -f "$TE/bin/versitygw.version" ] && [ "$(cat "$TE/bin/versitygw.version")" = "$VERSITYGW_VERSION" ] && return 0
	mkdir -p "$TE/bin" "$CACHE"
	if [ ! -x "$cached" ]; then
		log "go install github.com/versity/versitygw/cmd/versitygw@$VERSITYGW_VERSION (about a minute)"
		local gobin
		gobin=$(mktemp -d "$CACHE/build.XXXXXX")
		# Outside the repository so its go.mod plays no part.
		if ! (cd "$gobin" && GOBIN="$gobin" GOFLAGS=-buildvcs=false GOWORK=off \
			go install "github.com/versity/versitygw/cmd/versitygw@$VERSITYGW_VERSION") >"$TE/log/go-install.log" 2>&1; then
			tail -n 20 "$TE/log/go-install.log" >&2
			rm -rf "$gobin"
			die "versitygw (S3): go install failed"
		fi
		mv "$gobin/versitygw" "$cached"
		rm -rf "$gobin"
	fi
	cp "$cached" "$bin.tmp" && mv "$bin.tmp" "$bin"
	echo "$VERSITYGW_VERSION" >"$TE/bin/versitygw.version"
}

# ---------------------------------------------------------------- servers

smb_check() {
	smbclient "//127.0.0.1/$SMB_SHARE" -p "$SMB_PORT" -U "$SMB_USER%$SMB_PASSWORD" -m SMB3 -c ls
}

smb_conf() {
	local d=$1
	cat <<EOF
[global]
	server role = standalone server
	interfaces = lo
	bind interfaces only = yes
	smb ports = $SMB_PORT
	disable netbios = yes
	server min protocol = SMB2_02
	private dir = $d/private
	lock directory = $d/lock
	state directory = $d/state
	cache directory = $d/cache
	pid directory = $d/run
	ncalrpc dir = $d/ncalrpc
	log file = $TE/log/smbd.%m.log
	max log size = 1000
	passdb backend = tdbsam:$d/private/passdb.tdb
	load printers = no
	printing = bsd
	printcap name = /dev/null
	disable spoolss = yes
	map to guest = never
	# Alternate data streams, as on a Windows file server (the smb blob driver
	# stores attributes in one); case-insensitive like Windows (the default).
	vfs objects = streams_xattr
	ea support = yes

[$SMB_SHARE]
	path = $d/share
	read only = no
	valid users = $SMB_USER
	create mask = 0644
	directory mask = 0755
EOF
}

up_smbd() {
	local d="$TE/smb"
	mkdir -p "$d"
	smb_conf "$d" >"$d/smb.conf.new"
	# A running smbd is reused only if its configuration is still current.
	if running smbd "$SMB_PORT" && cmp -s "$d/smb.conf.new" "$d/smb.conf" && smb_check >/dev/null 2>&1; then
		rm -f "$d/smb.conf.new"
		return 0
	fi
	stop smbd
	free_port smbd "$SMB_PORT"
	mkdir -p "$d"/{private,lock,state,cache,run,ncalrpc,share}
	chmod 755 "$d"
	if ! id -u "$SMB_USER" >/dev/null 2>&1; then
		useradd -M -s /usr/sbin/nologin "$SMB_USER" || die "smbd: useradd $SMB_USER failed"
	fi
	chown "$SMB_USER" "$d/share"
	mv "$d/smb.conf.new" "$d/smb.conf"
	printf '%s\n%s\n' "$SMB_PASSWORD" "$SMB_PASSWORD" |
		smbpasswd -c "$d/smb.conf" -s -a "$SMB_USER" >"$TE/log/smbpasswd.log" 2>&1 ||
		{ cat "$TE/log/smbpasswd.log" >&2; die "smbd: smbpasswd -a $SMB_USER failed"; }
	log "starting smbd on 127.0.0.1:$SMB_PORT"
	start smbd "$(command -v smbd)" --foreground --no-process-group --debug-stdout -s "$d/smb.conf"
	wait_for smbd "$(read_pid smbd)" 30 smb_check
}

az_check() {
	local code
	code=$(curl -s -o /dev/null -w '%{http_code}' --max-time 2 "http://127.0.0.1:$AZ_PORT/$AZ_ACCOUNT?comp=list") || true
	[ -n "$code" ] && [ "$code" != 000 ]
}

up_azurite() {
	if running azurite "$AZ_PORT" && az_check; then
		return 0
	fi
	stop azurite
	free_port azurite "$AZ_PORT"
	mkdir -p "$TE/azurite"
	log "starting Azurite on 127.0.0.1:$AZ_PORT"
	start azurite "$TE/node/node_modules/.bin/azurite-blob" --blobHost 127.0.0.1 --blobPort "$AZ_PORT" \
		--location "$TE/azurite" --skipApiVersionCheck --disableTelemetry --silent
	wait_for azurite "$(read_pid azurite)" 30 az_check
}

s3_check() {
	local code
	code=$(curl -s -o /dev/null -w '%{http_code}' --max-time 2 "http://127.0.0.1:$S3_PORT/") || true
	[ -n "$code" ] && [ "$code" != 000 ]
}

up_versitygw() {
	if running versitygw "$S3_PORT" && s3_check; then
		return 0
	fi
	stop versitygw
	free_port versitygw "$S3_PORT"
	mkdir -p "$TE/s3"
	log "starting versitygw (S3) on 127.0.0.1:$S3_PORT"
	start versitygw env ROOT_ACCESS_KEY_ID="$S3_ACCESS" ROOT_SECRET_ACCESS_KEY="$S3_SECRET" \
		"$TE/bin/versitygw" --port "127.0.0.1:$S3_PORT" --quiet posix "$TE/s3"
	wait_for versitygw "$(read_pid versitygw)" 30 s3_check
}

write_env() {
	local tsql
	tsql=$(command -v tsql) || die "tsql (freetds-bin) is not installed"
	cat >"$TE/env.tmp" <<EOF
DRSCTL_TEST_SMB_ADDR=127.0.0.1:$SMB_PORT
DRSCTL_TEST_SMB_SHARE=$SMB_SHARE
DRSCTL_TEST_SMB_USER=$SMB_USER
DRSCTL_TEST_SMB_PASSWORD=$SMB_PASSWORD
DRSCTL_TEST_SMB_DIR=$TE/smb/share
DRSCTL_TEST_S3_ENDPOINT=http://127.0.0.1:$S3_PORT
DRSCTL_TEST_S3_REGION=us-east-1
DRSCTL_TEST_S3_ACCESS_KEY=$S3_ACCESS
DRSCTL_TEST_S3_SECRET_KEY=$S3_SECRET
DRSCTL_TEST_AZURE_ENDPOINT=http://127.0.0.1:$AZ_PORT/$AZ_ACCOUNT
DRSCTL_TEST_AZURE_DOMAIN=127.0.0.1:$AZ_PORT
DRSCTL_TEST_AZURE_ACCOUNT=$AZ_ACCOUNT
DRSCTL_TEST_AZURE_KEY=$AZ_KEY
DRSCTL_TEST_AZURITE=$TE/node/node_modules/.bin/azurite-blob
DRSCTL_TEST_TSQL=$tsql
DRSCTL_TEST_RCLONE=$(command -v rclone)
DRSCTL_TEST_PG_BIN=$PG_BIN
EOF
	mv "$TE/env.tmp" "$TE/env"
}

# reap_pgtest: PostgreSQL test clusters and directories (internal/testenv/pgtest,
# in $TMPDIR/drsctl-pg-*) whose test process is gone — killed before its
# cleanup ran — are stopped and removed; those of running tests are left alone.
reap_pgtest() {
	local d owner
	for d in "${TMPDIR:-/tmp}"/drsctl-pg-*; do
		[ -d "$d" ] || continue
		owner=$(cat "$d/.drsctl-pgtest-owner" 2>/dev/null || true)
		[ -n "$owner" ] || continue # not made by pgtest (or still being made)
		[ -d "/proc/$owner" ] && continue
		if [ -f "$d/data/postmaster.pid" ]; then
			log "stopping a PostgreSQL test cluster left by a killed test ($d)"
			runuser -u postgres -- "$PG_BIN/pg_ctl" -D "$d/data" -m immediate -w -t 20 stop >/dev/null 2>&1 || true
		fi
		rm -rf "$d"
	done
}

# ---------------------------------------------------------------- holders

# A caller is the process group testenv.sh runs in (scripts/test.sh's, or a
# terminal's job): unlike the parent PID it does not change when bash execs a
# trap's or a `bash -c`'s last command.
caller() { ps -o pgid= -p $$ | tr -d ' '; }
group_alive() { [ -n "${1:-}" ] && kill -0 -- "-$1" 2>/dev/null; }

holder_add() {
	mkdir -p "$TE/holders"
	date +%s >"$TE/holders/$(caller)"
}

# holders_left: callers, other than ours, that still use the servers.
holders_left() {
	local f pid now age left=()
	now=$(date +%s)
	for f in "$TE"/holders/*; do
		[ -e "$f" ] || continue
		pid=${f##*/}
		age=$((now - $(cat "$f" 2>/dev/null || echo 0)))
		if group_alive "$pid" || ((age < LINGER_MIN * 60)); then
			left+=("$pid")
		else
			rm -f "$f"
		fi
	done
	echo "${left[*]}"
}

# ---------------------------------------------------------------- verbs

cmd_up() {
	local t0=$SECONDS
	mkdir -p "$TE"/{run,log,bin}
	exec 9>"$TE/lock"
	flock 9
	# Installs run side by side: apt, npm and the Go build take most of the time.
	local pids=() p rc=0
	install_packages & pids+=($!)
	install_azurite & pids+=($!)
	install_versitygw & pids+=($!)
	for p in "${pids[@]}"; do wait "$p" || rc=1; done
	((rc == 0)) || die "installation failed (see messages above)"
	reap_pgtest
	up_smbd
	up_azurite
	up_versitygw
	write_env
	holder_add
	log "up in $((SECONDS - t0))s; environment in $TE/env"
}

cmd_down() {
	local force=${1:-}
	[ -d "$TE" ] || return 0
	mkdir -p "$TE/run"
	exec 9>"$TE/lock"
	flock 9
	local me
	me=$(caller)
	if [ "$force" != -f ] && [ -e "$TE/holders/$me" ]; then
		rm -f "$TE/holders/$me"
		local left
		left=$(holders_left)
		if [ -n "$left" ]; then
			log "servers still in use by $left; leaving them running (down -f stops them)"
			return 0
		fi
	fi
	stop versitygw
	stop azurite
	stop smbd
	reap_pgtest
	rm -rf "$TE/holders"
}

cmd_status() {
	local n p
	for n in smbd:$SMB_PORT azurite:$AZ_PORT versitygw:$S3_PORT; do
		p=${n#*:}; n=${n%%:*}
		if running "$n" "$p"; then echo "$n: running (pid $(read_pid "$n"), 127.0.0.1:$p)"; else echo "$n: stopped"; fi
	done
}

case "${1:-}" in
up) cmd_up ;;
down) cmd_down "${2:-}" ;;
env) [ -f "$TE/env" ] || die "no $TE/env: run scripts/testenv.sh up"; cat "$TE/env" ;;
status) cmd_status ;;
*) echo "usage: $0 up|down [-f]|env|status" >&2; exit 2 ;;
esac
