#!/usr/bin/env bash
# What --wait ready costs and how close it ends to the moment the guest's
# driver set the device up: ROUNDS disk adds and NIC adds with --wait
# ready on the tiny guest with its virtio drivers, each removed again.
# Prints medians (quartiles) of the add's whole time, of the wait (first
# look to DRIVER_OK seen), and of the bound on how late DRIVER_OK was
# seen: the pause before the last look (it came after the look before),
# plus that look's round trip. There is no event to compare with, and a
# second QMP client cannot watch while the tool holds the monitor.
# Usage: bench/ready.sh KVM-HOTPLUG GUEST-DIR [ROUNDS]
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=tests/lib.sh
. "$HERE/../tests/lib.sh"
# shellcheck source=bench/lib.sh
. "$HERE/lib.sh"

reexec_in_netns kh-bench-ready "$0" "$@"

KH=$(realpath "$1")
GUEST=$(realpath "$2")
ROUNDS=${3:-20}
bench_scratch
RT=$RUN/vm.runtime
UUID=003fc157-66a8-4e6d-8b7e-ec4f69751396
MAC=52:54:00:12:34:56

start_guest vm -name bench
truncate -s 64M "$T/disk.img"

# add_ready KIND ARGS...: one timed add with --wait ready into KIND.*,
# then its removal.
add_ready() {
	local kind=$1 t0 t1
	shift
	t0=$EPOCHREALTIME
	"$KH" -v -r "$RT" -m "$SOCK" "$kind" add --uuid "$UUID" "$@" --wait ready \
		>/dev/null 2>"$T/kh.err"
	t1=$EPOCHREALTIME
	echo $(( ${t1/./} - ${t0/./} )) >>"$T/$kind.total"
	sed -n 's/.*: ready \([0-9]*\) ms after the first look (\([0-9]*\) looks, the last \([0-9]*\) ms after.*/\1 \2 \3/p' \
		"$T/kh.err" >"$T/one"
	read -r waited looks last <"$T/one" || { cat "$T/kh.err" >&2; exit 1; }
	echo $((waited * 1000)) >>"$T/$kind.wait"
	echo $((last * 1000)) >>"$T/$kind.late"
	echo "$looks" >>"$T/$kind.looks"
	"$KH" -q -r "$RT" -m "$SOCK" "$kind" remove --uuid "$UUID"
}

for ((i = 0; i < ROUNDS; i++)); do
	add_ready disk --path "$T/disk.img"
	add_ready nic --mac "$MAC" --link br0
done

q() { ms "$(quantile "$1" <"$2")"; }
row() {
	printf '%-5s %8s ms (%s-%s)  %8s ms (%s-%s)  %6s ms (max %s)  %4s\n' "$1" \
		"$(q 0.5 "$T/$1.total")" "$(q 0.25 "$T/$1.total")" "$(q 0.75 "$T/$1.total")" \
		"$(q 0.5 "$T/$1.wait")" "$(q 0.25 "$T/$1.wait")" "$(q 0.75 "$T/$1.wait")" \
		"$(q 0.5 "$T/$1.late")" "$(q 1 "$T/$1.late")" "$(quantile 0.5 <"$T/$1.looks")"
}
echo "--wait ready, $ROUNDS rounds, QEMU $(qemu-system-x86_64 --version | head -1 | awk '{print $4}'), TCG, tiny guest with its virtio drivers"
echo "kind  add --wait ready         wait for DRIVER_OK         seen late by <=      looks"
row disk
row nic
echo "seen late by: the pause before the last look (DRIVER_OK came after the look"
echo "before it), to which that look's round trip (~0.3 ms) adds"
