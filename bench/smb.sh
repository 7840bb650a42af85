#!/usr/bin/env bash
# bench/smb.sh — drsctl's SMB shipping against `smbclient put`, PAIRED: the
# runs alternate (drsctl, smbclient, drsctl, smbclient, …) so that whatever
# else loads the machine loads both alike. Reports each run's wall time and
# CPU time (user + system, /usr/bin/time) and the medians.
#
#   scripts/testenv.sh up && bench/smb.sh
#
#   BENCH_RUNS=5        runs of each contender
#   BENCH_SIZE_MB=256   source size (random, read from the page cache)
#   BENCH_BEFORE=FILE   an smbbench binary built from another revision (e.g.
#                       `git stash; go build -o /tmp/smbbench-before
#                       ./bench/smbbench; git stash pop`): run as a third
#                       contender, for before/after figures
#
# drsctl's run is bench/smbbench: internal/blob.Ship to one smb:// sink with
# drsctl's default part size and concurrency, SHA-256 on the way, the write
# flushed (SMB2 FLUSH) and renamed into place. smbclient put writes the file
# under its final name and does not flush it. Every run writes a new name, as
# drsctl's backups do; after each run its file is deleted and the machine's
# dirty pages are written out (`sync`), untimed, so that no run pays for the
# one before it (replacing a big file makes the server's file system free its
# blocks; smbclient's unflushed 256 MiB would be written back during the next
# run). The order of the contenders rotates from round to round.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD

[ -f .testenv/env ] || { echo "bench: no .testenv/env; run scripts/testenv.sh up first" >&2; exit 1; }
set -a
# shellcheck disable=SC1091
. .testenv/env
set +a
[ -x /usr/bin/time ] || { echo "bench: /usr/bin/time missing (apt-get install time)" >&2; exit 1; }
command -v smbclient >/dev/null || { echo "bench: smbclient missing" >&2; exit 1; }

RUNS=${BENCH_RUNS:-5}
SIZE_MB=${BENCH_SIZE_MB:-256}
W=$ROOT/.testenv/bench
mkdir -p "$W"
SRC=$W/src-${SIZE_MB}M.bin
if [ ! -f "$SRC" ]; then
	echo "bench: writing a ${SIZE_MB} MiB random source" >&2
	head -c "$((SIZE_MB << 20))" /dev/urandom >"$SRC.tmp" && mv "$SRC.tmp" "$SRC"
fi
cat "$SRC" >/dev/null # into the page cache
BYTES=$(stat -c %s "$SRC")

go build -o "$W/smbbench" ./bench/smbbench

export DRSCTL_SMB_PASSWORD=$DRSCTL_TEST_SMB_PASSWORD
SMB_HOST=${DRSCTL_TEST_SMB_ADDR%:*} SMB_PORT=${DRSCTL_TEST_SMB_ADDR##*:}
SMB_URL="smb://$DRSCTL_TEST_SMB_USER@$DRSCTL_TEST_SMB_ADDR/$DRSCTL_TEST_SMB_SHARE/bench-smb"
SMBCLIENT=(smbclient "//$SMB_HOST/$DRSCTL_TEST_SMB_SHARE" -p "$SMB_PORT" -m SMB3
	-U "$DRSCTL_TEST_SMB_USER%$DRSCTL_TEST_SMB_PASSWORD")

cleanup() { "${SMBCLIENT[@]}" -c "deltree bench-smb" >/dev/null 2>&1 || true; }
cleanup
trap cleanup EXIT
"${SMBCLIENT[@]}" -c "mkdir bench-smb" >/dev/null

names=("drsctl ship" "smbclient put")
# ROUND in a command is replaced by the round's number.
cmds=("$W/smbbench -src $SRC -key drsctl-ROUND.bin $SMB_URL"
	"${SMBCLIENT[*]} -c 'put $SRC bench-smb\\smbclient-ROUND.bin'")
if [ -n "${BENCH_BEFORE:-}" ]; then
	names+=("drsctl ship (before)")
	cmds+=("$BENCH_BEFORE -src $SRC -key before-ROUND.bin $SMB_URL")
fi

# run I R: one timed run of contender I in round R; appends "wall cpu" to
# $W/smb-I.times.
run() {
	local i=$1 r=$2
	if ! /usr/bin/time -f '%e %U %S' -o "$W/time.out" bash -c "${cmds[$i]//ROUND/$r}" >"$W/run.out" 2>&1; then
		echo "bench: ${names[$i]} failed:" >&2
		tail -n 5 "$W/run.out" >&2
		exit 1
	fi
	awk '{printf "%.2f %.2f\n", $1, $2 + $3}' "$W/time.out" >>"$W/smb-$i.times"
	printf '  %-22s %6.2f s wall %6.2f s CPU\n' "${names[$i]}" $(tail -n 1 "$W/smb-$i.times")
	"${SMBCLIENT[@]}" -c "cd bench-smb; del *-$r.bin" >/dev/null
	sync
}

for i in "${!cmds[@]}"; do rm -f "$W/smb-$i.times"; done
echo "$(date -u +%FT%TZ) $(nproc) CPUs, load $(cut -d' ' -f1-3 /proc/loadavg); ${SIZE_MB} MiB, $RUNS paired runs"
for r in $(seq "$RUNS"); do
	echo "round $r"
	n=${#cmds[@]}
	for k in $(seq 0 $((n - 1))); do run $(((k + r) % n)) "$r"; done
done

median() { sort -n | awk '{a[NR]=$1} END {print (NR % 2) ? a[(NR+1)/2] : (a[NR/2] + a[NR/2+1]) / 2}'; }
printf '\n%-22s %12s %10s %14s\n' "median of $RUNS" "wall (s)" "MB/s" "CPU (s)"
declare -a walls
for i in "${!cmds[@]}"; do
	walls[$i]=$(cut -d' ' -f1 "$W/smb-$i.times" | median)
	cpu=$(cut -d' ' -f2 "$W/smb-$i.times" | median)
	printf '%-22s %12.2f %10.0f %14.2f\n' "${names[$i]}" "${walls[$i]}" "$(awk -v b="$BYTES" -v s="${walls[$i]}" 'BEGIN{print b/1e6/s}')" "$cpu"
done
awk -v d="${walls[0]}" -v s="${walls[1]}" 'BEGIN{printf "drsctl / smbclient throughput: %.2f×\n", s/d}'
if [ -n "${BENCH_BEFORE:-}" ]; then
	awk -v d="${walls[2]}" -v s="${walls[1]}" 'BEGIN{printf "before / smbclient throughput: %.2f×\n", s/d}'
fi
