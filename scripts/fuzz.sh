#!/usr/bin/env bash
# Runs every Go fuzz target in the module, one after another (go test -fuzz
# takes one target per run), each for FUZZTIME (default 5s; `make fuzz`
# passes a longer one), and prints each target's executions.
#
#   scripts/fuzz.sh                 every target
#   scripts/fuzz.sh Plan State      only targets whose name matches one of
#                                   these (grep -E patterns)
#   FUZZTIME=10m scripts/fuzz.sh    longer (any -fuzztime value: 90s, 2m, 500x)
#
# FUZZMINIMIZETIME (default 3s) bounds how long go test minimizes each input
# that reaches new code (and a failing one): its default, 60s, can take a
# whole short run, during which nothing else is tried.
#
# Targets are found by their declaration (func FuzzXxx(f *testing.F)) in
# *_test.go files, so a new one is run without editing this script. Each
# target's seed corpus is its f.Add calls and testdata/fuzz/<Target>/ in its
# package. Exits non-zero when any target fails; go test then leaves the
# failing input in testdata/fuzz/<Target>/: fix the cause and commit the
# input with the fix, so it stays a regression test.
set -uo pipefail
cd "$(dirname "$0")/.."

GO=${GO:-go}
FUZZTIME=${FUZZTIME:-5s}
FUZZMINIMIZETIME=${FUZZMINIMIZETIME:-3s}

# go test's -timeout covers the whole run, fuzzing included: the fuzz time
# plus ten minutes for building and the seed corpus (an hour and ten for a
# count of iterations such as 500x).
timeout=70m
if [[ $FUZZTIME =~ ^([0-9]+)([smh])$ ]]; then
	n=${BASH_REMATCH[1]}
	case ${BASH_REMATCH[2]} in
	s) timeout=$((n + 600))s ;;
	m) timeout=$((n * 60 + 600))s ;;
	h) timeout=$((n * 3600 + 600))s ;;
	esac
fi

targets=() # "package-dir target"
while IFS= read -r line; do
	file=${line%%:*}
	name=$(sed -E 's/^[^:]*:func (Fuzz[A-Za-z0-9_]*)\(.*/\1/' <<<"$line")
	if [ $# -gt 0 ]; then
		match=0
		for pat in "$@"; do
			if grep -Eq -- "$pat" <<<"$name"; then match=1; fi
		done
		[ "$match" = 1 ] || continue
	fi
	targets+=("./$(dirname "$file") $name")
done < <(find . -name '*_test.go' -not -path '*/testdata/*' -not -path './.*' -print0 |
	xargs -0 grep -HE '^func Fuzz[A-Za-z0-9_]*\(f \*testing\.F\)' | sed 's|^\./||' | sort)

if [ ${#targets[@]} -eq 0 ]; then
	echo "fuzz: no fuzz targets found" >&2
	exit 1
fi

summary=()
failed=0
for t in "${targets[@]}"; do
	pkg=${t% *}
	name=${t#* }
	echo "=== $name ($pkg, $FUZZTIME)"
	log=$(mktemp)
	corpus="$pkg/testdata/fuzz/$name"
	before=$(ls "$corpus" 2>/dev/null | sort)
	start=$(date +%s)
	"$GO" test -run '^$' -fuzz "^${name}\$" -fuzztime "$FUZZTIME" -fuzzminimizetime "$FUZZMINIMIZETIME" -timeout "$timeout" "$pkg" 2>&1 | tee "$log"
	rc=${PIPESTATUS[0]}
	secs=$(( $(date +%s) - start ))
	execs=$(grep -oE 'execs: [0-9]+' "$log" | tail -1 | grep -oE '[0-9]+' || true)
	new=$(comm -13 <(printf '%s\n' "$before") <(ls "$corpus" 2>/dev/null | sort) | grep -v '^$' || true)
	status=ok
	if [ "$rc" -ne 0 ]; then
		status=FAIL
		# Go's fuzz coordinator (go1.26 and older) can report its own
		# -fuzztime deadline as a failure when a worker is busy as it
		# expires (golang/go#75804, fixed in go1.27): a FAIL whose only
		# message is "context deadline exceeded", no failing input written.
		# That is not a finding; anything else is.
		others=$(grep -E '^\s+\S' "$log" | grep -vE '^\s+context deadline exceeded$' | grep -vE '^fuzz: ' || true)
		if [ -z "$new" ] && grep -qE '^\s+context deadline exceeded$' "$log" && [ -z "$others" ] &&
			! grep -q 'Failing input written' "$log"; then
			status=ok
			echo "fuzz: $name: the fuzz coordinator reported its own deadline (golang/go#75804); no failing input: not a failure" >&2
		fi
	fi
	if [ "$status" = FAIL ]; then
		failed=1
		if [ -n "$new" ]; then
			echo "fuzz: $name: failing input(s) in $corpus: $new" >&2
		fi
	fi
	rm -f "$log"
	summary+=("$(printf '%-4s %-16s %-38s %12s execs  %4ss' "$status" "$name" "$pkg" "${execs:-?}" "$secs")")
done

echo
echo "fuzz summary (FUZZTIME=$FUZZTIME; the time includes building):"
printf '%s\n' "${summary[@]}"
if [ "$failed" -ne 0 ]; then
	echo "fuzz: a target failed; its input is in that package's testdata/fuzz/<Target>/" >&2
	exit 1
fi
