#!/usr/bin/env bash
# Fuzz every Go fuzz target of the module briefly, one target per `go test -fuzz` (Go fuzzes one
# target at a time). Targets are discovered with `go test -list '^Fuzz' ./...`, so a new Fuzz*
# function is picked up without editing this script. Stops at the first failing target; Go then
# has written the failing input to <package>/testdata/fuzz/<FuzzName>/ (it becomes a regression
# seed that `go test ./...` runs: fix the code, or delete the file if the target was wrong).
#
#   FUZZTIME=5s       how long each target runs (any -fuzztime value: 30s, 100000x)
#   FUZZPARALLEL=N    fuzzing workers per target (default: GOMAXPROCS)
#   GO=go             the go command
#
# Prints one line per target: result, name, package, executions and new coverage inputs.
set -euo pipefail
cd "$(dirname "$0")/.."

GO=${GO:-go}
FUZZTIME=${FUZZTIME:-5s}
parallel=()
[ -n "${FUZZPARALLEL:-}" ] && parallel=(-parallel "$FUZZPARALLEL")

if ! list=$("$GO" test -list '^Fuzz' ./... 2>&1); then
	printf '%s\n' "$list" >&2
	echo "fuzz: listing the fuzz targets failed" >&2
	exit 1
fi
# `go test -list` prints a package's test names, then "ok  <package> <time>".
targets=$(awk '/^Fuzz[A-Za-z0-9_]*$/ { names[n++] = $1; next }
	/^ok[ \t]/ { for (i = 0; i < n; i++) print $2, names[i]; n = 0 }' <<<"$list")
if [ -z "$targets" ]; then
	echo "fuzz: no fuzz targets found" >&2
	exit 1
fi

module=$("$GO" list -m)
count=0
start=$SECONDS
while read -r pkg name; do
	t0=$SECONDS
	if out=$("$GO" test -run '^$' -fuzz "^${name}\$" -fuzztime "$FUZZTIME" "${parallel[@]}" "$pkg" </dev/null 2>&1); then
		last=$(grep -E '^fuzz: elapsed: .*execs: ' <<<"$out" | tail -n 1 || true)
		execs=$(sed -nE 's/.*execs: ([0-9]+).*/\1/p' <<<"$last")
		new=$(sed -nE 's/.*new interesting: ([0-9]+).*/\1/p' <<<"$last")
		printf 'ok    %-20s %-18s %4ss  %10s execs  %3s new\n' "$name" "${pkg#"$module"/}" $((SECONDS - t0)) "${execs:-?}" "${new:-?}"
		count=$((count + 1))
	else
		printf 'FAIL  %-20s %-18s %4ss\n' "$name" "${pkg#"$module"/}" $((SECONDS - t0))
		printf '%s\n' "$out"
		exit 1
	fi
done <<<"$targets"
echo "fuzz: $count targets passed in $((SECONDS - start))s (${FUZZTIME} each)"
