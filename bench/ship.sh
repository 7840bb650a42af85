#!/usr/bin/env bash
# bench/ship.sh — ship one file (1 GiB by default) to each kind of destination
# with drsctl's fan-out Ship (bench/shipbench), side by side with `rclone copy`
# and `cp`; then fan-out to 3 destinations at once against 1. Reports wall
# time, throughput and peak RSS (/usr/bin/time -v's "Maximum resident set
# size") for each.
#
#   scripts/testenv.sh up && bench/ship.sh        # BENCH_SIZE_MB=1024 by default
#
# Runs against the loopback servers of scripts/testenv.sh: numbers compare the
# tools with each other on this machine, not with real networks. The source
# is read once first so that every run reads from the page cache. drsctl's
# file:// writes are fsynced before the rename; cp and rclone's are not.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD

[ -f .testenv/env ] || { echo "bench: no .testenv/env; run scripts/testenv.sh up first" >&2; exit 1; }
set -a
# shellcheck disable=SC1091
. .testenv/env
set +a
[ -x /usr/bin/time ] || { echo "bench: /usr/bin/time missing (apt-get install time)" >&2; exit 1; }

SIZE_MB=${BENCH_SIZE_MB:-1024}
W=$ROOT/.testenv/bench
mkdir -p "$W"
SRC=$W/src-${SIZE_MB}M.bin
if [ ! -f "$SRC" ]; then
	echo "bench: writing a ${SIZE_MB} MiB random source" >&2
	head -c "$((SIZE_MB << 20))" /dev/urandom >"$SRC.tmp" && mv "$SRC.tmp" "$SRC"
fi
cat "$SRC" >/dev/null # into the page cache
BYTES=$(stat -c %s "$SRC")

go build -o "$W/shipbench" ./bench/shipbench

# Credentials, set explicitly (whatever the environment says).
export AWS_ACCESS_KEY_ID=$DRSCTL_TEST_S3_ACCESS_KEY AWS_SECRET_ACCESS_KEY=$DRSCTL_TEST_S3_SECRET_KEY AWS_REGION=us-east-1
unset AWS_PROFILE AWS_SESSION_TOKEN AWS_ENDPOINT_URL AWS_ENDPOINT_URL_S3
export AZURE_STORAGE_ACCOUNT=$DRSCTL_TEST_AZURE_ACCOUNT AZURE_STORAGE_KEY=$DRSCTL_TEST_AZURE_KEY
export DRSCTL_SMB_PASSWORD=$DRSCTL_TEST_SMB_PASSWORD

S3Q="endpoint=$DRSCTL_TEST_S3_ENDPOINT&use_path_style=true&region=us-east-1&disable_https=true"
AZQ="protocol=http&domain=$DRSCTL_TEST_AZURE_DOMAIN"
SMB="smb://$DRSCTL_TEST_SMB_USER@$DRSCTL_TEST_SMB_ADDR/$DRSCTL_TEST_SMB_SHARE"

# Buckets and the container, once.
"$W/shipbench" -create -src /dev/null -key .bench-init \
	"s3://drsctl-bench?$S3Q" "s3://drsctl-bench-2?$S3Q" "s3://drsctl-bench-3?$S3Q" "azblob://drsctl-bench?$AZQ" >/dev/null

SAS=$("$W/shipbench" -azure-sas drsctl-bench -endpoint "$DRSCTL_TEST_AZURE_ENDPOINT")
SMB_HOST=${DRSCTL_TEST_SMB_ADDR%:*} SMB_PORT=${DRSCTL_TEST_SMB_ADDR##*:}
cat >"$W/rclone.conf" <<EOF
[s3]
type = s3
provider = Other
access_key_id = $DRSCTL_TEST_S3_ACCESS_KEY
secret_access_key = $DRSCTL_TEST_S3_SECRET_KEY
endpoint = $DRSCTL_TEST_S3_ENDPOINT
region = us-east-1

[az]
type = azureblob
sas_url = $SAS

[smb]
type = smb
host = $SMB_HOST
port = $SMB_PORT
user = $DRSCTL_TEST_SMB_USER
pass = $(rclone obscure "$DRSCTL_TEST_SMB_PASSWORD")
EOF
RCLONE=(env -u AWS_CA_BUNDLE rclone --config "$W/rclone.conf")

printf '%-34s %8s %9s %10s\n' "run (${SIZE_MB} MiB)" "seconds" "MB/s" "peak RSS"
# measure LABEL MULTIPLIER CMD...: MULTIPLIER is how many copies CMD writes.
measure() {
	local label=$1 copies=$2; shift 2
	if ! /usr/bin/time -v -o "$W/time.out" "$@" >"$W/run.out" 2>&1; then
		printf '%-34s FAILED\n' "$label"
		tail -n 5 "$W/run.out" >&2
		return 0
	fi
	local secs rss
	secs=$(awk -F': ' '/Elapsed \(wall clock\)/ {n=split($2,a,":"); s=0; for(i=1;i<=n;i++) s=s*60+a[i]; print s}' "$W/time.out")
	rss=$(awk -F': ' '/Maximum resident set size/ {printf "%.0f MB", $2/1024}' "$W/time.out")
	printf '%-34s %8.2f %9.0f %10s\n' "$label" "$secs" "$(awk -v b="$BYTES" -v c="$copies" -v s="$secs" 'BEGIN{print b*c/1e6/s}')" "$rss"
}

# Copies are large, and rclone would skip ones an interrupted run left:
# remove them before and after (the source stays for the next run).
cleanup() {
	rm -rf "$W/out"
	"${RCLONE[@]}" purge "smb:$DRSCTL_TEST_SMB_SHARE/bench" >/dev/null 2>&1 || true
	for b in drsctl-bench drsctl-bench-2 drsctl-bench-3; do "${RCLONE[@]}" delete "s3:$b" >/dev/null 2>&1 || true; done
	"${RCLONE[@]}" delete az:drsctl-bench >/dev/null 2>&1 || true
}
cleanup
trap cleanup EXIT
mkdir -p "$W/out/cp" "$W/out/rclone" "$W/out/drsctl"
measure "cp (local)" 1 cp "$SRC" "$W/out/cp/dest.bin"
measure "cp + fsync (dd conv=fsync)" 1 dd if="$SRC" of="$W/out/cp/dest-sync.bin" bs=16M conv=fsync status=none
measure "rclone copy (local)" 1 "${RCLONE[@]}" copyto "$SRC" "$W/out/rclone/dest.bin"
measure "drsctl ship file://" 1 "$W/shipbench" -src "$SRC" -key dest.bin "file://$W/out/drsctl"
measure "smbclient put (raw limit)" 1 smbclient "//$SMB_HOST/$DRSCTL_TEST_SMB_SHARE" -p "$SMB_PORT" -m SMB3 \
	-U "$DRSCTL_TEST_SMB_USER%$DRSCTL_TEST_SMB_PASSWORD" -c "mkdir bench; put $SRC bench/smbclient.bin"
measure "rclone copy smb" 1 "${RCLONE[@]}" copyto "$SRC" "smb:$DRSCTL_TEST_SMB_SHARE/bench/rclone.bin"
measure "drsctl ship smb://" 1 "$W/shipbench" -src "$SRC" -key drsctl.bin "$SMB/bench"
measure "gocloud Upload s3 64MiB×4 (raw)" 1 "$W/shipbench" -raw -part $((64 << 20)) -concurrency 4 -src "$SRC" -key raw.bin "s3://drsctl-bench?$S3Q"
measure "rclone copy s3 (versitygw)" 1 "${RCLONE[@]}" copyto "$SRC" "s3:drsctl-bench/rclone.bin"
measure "drsctl ship s3://" 1 "$W/shipbench" -src "$SRC" -key drsctl.bin "s3://drsctl-bench?$S3Q"
measure "drsctl ship s3:// 64MiB×4" 1 "$W/shipbench" -part $((64 << 20)) -concurrency 4 -src "$SRC" -key drsctl64.bin "s3://drsctl-bench?$S3Q"
measure "gocloud Upload az 64MiB×4 (raw)" 1 "$W/shipbench" -raw -part $((64 << 20)) -concurrency 4 -src "$SRC" -key raw.bin "azblob://drsctl-bench?$AZQ"
measure "rclone copy azblob (Azurite)" 1 "${RCLONE[@]}" copyto "$SRC" "az:drsctl-bench/rclone.bin"
measure "drsctl ship azblob://" 1 "$W/shipbench" -src "$SRC" -key drsctl.bin "azblob://drsctl-bench?$AZQ"
measure "drsctl ship az 64MiB×4" 1 "$W/shipbench" -part $((64 << 20)) -concurrency 4 -src "$SRC" -key drsctl64.bin "azblob://drsctl-bench?$AZQ"
echo "fan-out: one read of the source, three destinations at once"
measure "drsctl ship 3 × s3://" 3 "$W/shipbench" -src "$SRC" -key fan.bin \
	"s3://drsctl-bench?$S3Q" "s3://drsctl-bench-2?$S3Q" "s3://drsctl-bench-3?$S3Q"
measure "drsctl ship smb + s3 + azblob" 3 "$W/shipbench" -src "$SRC" -key fan.bin \
	"$SMB/bench" "s3://drsctl-bench?$S3Q" "azblob://drsctl-bench?$AZQ"
measure "rclone smb, s3, azblob in turn" 3 bash -c '"$@" copyto "$0" "smb:'"$DRSCTL_TEST_SMB_SHARE"'/bench/fan.bin" &&
	"$@" copyto "$0" s3:drsctl-bench/fan.bin && "$@" copyto "$0" az:drsctl-bench/fan.bin' "$SRC" "${RCLONE[@]}"

