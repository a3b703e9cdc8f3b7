#!/usr/bin/env bash
# The unit tests, each program twice: under ASan+UBSan (check forks a
# child per test, with its own bound on a hang) and under valgrind
# (CK_FORK=no: one process, which valgrind follows whole).
# Usage: tests/unit.sh BUILD_DIR TEST...
#
# What a reader sees first when a test fails is its failing assertion:
# valgrind writes to a file, and when a test failed, what its aborted run
# left allocated is named, not printed. Valgrind's report is printed when
# the tests passed and valgrind found an error. Each run is bounded
# (UNIT_HANG_S): a hang is a failure that says so, never the thing
# measured.
set -u
B=$1
shift
HANG_S=${UNIT_HANG_S:-600}

# bounded NAME COMMAND...: runs it, killed after HANG_S s; says so if it
# was, and returns its status.
bounded() {
	local name=$1 rc=0
	shift
	timeout -k 10 "$HANG_S" "$@" || rc=$?
	[ "$rc" -ne 124 ] && [ "$rc" -ne 137 ] ||
		echo "FAIL: $name did not end within $HANG_S s (a hang)"
	return "$rc"
}

# under_valgrind TEST: the test without sanitizers, under valgrind.
under_valgrind() {
	local t=$1 log="$B/vg/$1.valgrind" out="$B/vg/$1.out" rc=0
	CK_FORK=no bounded "$t (valgrind)" valgrind -q --log-file="$log" \
		--child-silent-after-fork=yes --leak-check=full \
		--show-leak-kinds=all --errors-for-leak-kinds=all \
		--error-exitcode=1 "$B/vg/$t" >"$out" 2>&1 || rc=$?
	cat "$out"
	[ "$rc" -ne 0 ] || return 0
	# check's summary: "NN%: Checks: N, Failures: F, Errors: E"
	if ! grep -q '^100%: Checks: ' "$out"; then
		echo "FAIL: $t failed under valgrind (see above); what the failed" \
			"tests left allocated, as valgrind saw it: $log"
	else
		grep -v 'noted but unhandled ioctl\|could cause spurious\|README_MISSING' "$log"
		echo "FAIL: $t: valgrind found the errors above ($log)"
	fi
	return 1
}

for t in "$@"; do
	echo "== $t (ASan+UBSan)"
	bounded "$t (ASan+UBSan)" "$B/$t" || exit 1
	echo "== $t (valgrind)"
	under_valgrind "$t" || exit 1
done
