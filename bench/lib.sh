# Shared by the benchmarks: timing a command, a removal's own cost, and
# quantiles; the scratch directories. Sourced after tests/lib.sh; uses
# KH, T, SOCK (and RT, UUID as defaults).

# tests/lib.sh's qmp (a paused VM is made with it): the one make builds
QMPCMD=${QMPCMD:-$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)/build/qmpcmd}

# bench_scratch: T, a directory on disk, and RUN, a tmpfs of its own
# (Ganeti keeps runtime files in /run, a tmpfs on Debian, where an fsync
# costs next to nothing; /run is not a tmpfs everywhere, so one is
# mounted), both removed with the VMs when the benchmark ends.
bench_scratch() {
	T=$(mktemp -d /tmp/kh-bench.XXXXXX)
	RUN=$T/run
	mkdir "$RUN"
	mount -t tmpfs -o size=64m,mode=0700 kh-bench "$RUN" || fail "cannot mount a tmpfs on $RUN"
	trap bench_cleanup EXIT
}

# bench_cleanup: the VMs, the tmpfs and the scratch directory gone
bench_cleanup() {
	stop_vms
	umount "$RUN" 2>/dev/null || true
	rm -rf "$T"
}

# bench_out DIR: where the samples go (OUT), one figure a line in a file
# per series, for bench/report.sh; DIR is made if missing.
bench_out() {
	mkdir -p "$1"
	OUT=$(realpath "$1")
}

# fstype DIR: the file system DIR is on, as the report names it
fstype() { df --output=fstype "$1" | tail -1; }

# elapsed microseconds of a command, from bash's own clock (no fork)
timed() {
	local t0=$EPOCHREALTIME
	"$@" >/dev/null
	local t1=$EPOCHREALTIME
	echo $(( ${t1/./} - ${t0/./} ))
}

# kh_remove KIND FILE [RUNTIME [UUID]]: times a verbose removal (of
# $UUID from $RT by default) into FILE; FILE.overhead gets the time minus
# the guest's own DEVICE_DELETED latency that -v reports.
kh_remove() {
	local t0 t1 us guest
	t0=$EPOCHREALTIME
	"$KH" -v -r "${3:-$RT}" -m "$SOCK" "$1" remove --uuid "${4:-$UUID}" >/dev/null 2>"$T/kh.err"
	t1=$EPOCHREALTIME
	us=$(( ${t1/./} - ${t0/./} ))
	guest=$(sed -n 's/.*released by the guest after \([0-9.]*\) ms/\1/p' "$T/kh.err")
	echo "$us" >>"$2"
	awk -v us="$us" -v g="$guest" 'BEGIN { print int(us - g * 1000) }' >>"$2.overhead"
}

# quantile Q: the Q-th quantile (0..1) of the numbers on stdin
quantile() {
	sort -n | awk -v q="$1" '{ v[NR] = $1 } END { i = int(q * (NR - 1) + 1.5); if (i > NR) i = NR; print v[i] }'
}
ms() { awk -v us="$1" 'BEGIN { printf "%.2f", us / 1000 }'; }
