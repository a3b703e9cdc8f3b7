#!/usr/bin/env bash
# Runs `make TARGET` RUNS times in a row beside LOAD busy processes (each
# spinning on one core), as a machine busy with other work would: the
# proof that no test's outcome depends on the machine's speed. Stops at
# the first failure; the busy processes are stopped however it ends.
# Usage: tests/loaded.sh TARGET RUNS LOAD
set -u
target=$1 runs=$2 load=$3
hogs=()

stop_hogs() {
	[ ${#hogs[@]} -eq 0 ] || kill "${hogs[@]}" 2>/dev/null
	wait 2>/dev/null
}
trap stop_hogs EXIT
trap 'exit 130' INT TERM

for _ in $(seq "$load"); do
	yes >/dev/null &
	hogs+=($!)
done
echo "== $load busy processes beside $runs run(s) of make $target"
for i in $(seq "$runs"); do
	t0=$SECONDS
	if ! make --no-print-directory "$target"; then
		echo "FAIL: make $target, run $i of $runs, under load ($load busy)"
		exit 1
	fi
	echo "== make $target: run $i of $runs passed under load in $((SECONDS - t0)) s"
done
echo "== make $target passed $runs time(s) in a row beside $load busy processes"
