# Shared by the benchmarks: timing a command, a removal's own cost, and
# quantiles; the scratch directories. Sourced after tests/lib.sh; uses
# KH, T, SOCK (and RT, UUID as defaults).

# bench_scratch: T, a directory on disk, and RUN, one on tmpfs (where
# Ganeti keeps runtime files, and an fsync costs next to nothing), both
# removed with the VMs when the benchmark ends.
bench_scratch() {
	T=$(mktemp -d /tmp/kh-bench.XXXXXX)
	RUN=$(mktemp -d /run/kh-bench.XXXXXX)
	trap 'stop_vms; rm -rf "$T" "$RUN"' EXIT
}

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
