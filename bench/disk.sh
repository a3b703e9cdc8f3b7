#!/usr/bin/env bash
# Times `kvm-hotplug disk add` and `disk remove` against qmp-floor, a
# minimal client sending only the QMP commands, on one VM running the tiny
# guest (removal needs its ACPI acknowledgement). Prints medians with
# quartiles and ratios. The machines steal CPU now and then: compare the
# two columns of one run, not runs with each other.
# Usage: bench/disk.sh KVM-HOTPLUG QMP-FLOOR GUEST-DIR [ROUNDS]
set -euo pipefail
KH=$(realpath "$1")
FLOOR=$(realpath "$2")
GUEST=$(realpath "$3")
ROUNDS=${4:-30}
T=$(mktemp -d /tmp/kh-bench.XXXXXX)
# Ganeti keeps runtime files under /var/run, a tmpfs, where fsync costs
# next to nothing; the same file on disk shows what the fsyncs cost.
RUN=$(mktemp -d /run/kh-bench.XXXXXX)
# shellcheck source=tests/lib.sh
. "$(dirname "$0")/../tests/lib.sh"
trap 'stop_vms; rm -rf "$T" "$RUN"' EXIT
RT=$RUN/vm.runtime
RT_DISK=$T/vm.runtime
UUID=003fc157-66a8-4e6d-8b7e-ec4f69751396

start_guest vm
truncate -s 64M "$T/disk.img"

# elapsed microseconds of a command, from bash's own clock (no fork)
timed() {
	local t0=$EPOCHREALTIME
	"$@" >/dev/null
	local t1=$EPOCHREALTIME
	echo $(( (${t1/./} - ${t0/./}) ))
}

# quantile Q: the Q-th quantile (0..1) of the numbers on stdin
quantile() {
	sort -n | awk -v q="$1" '{ v[NR] = $1 } END { i = int(q * (NR - 1) + 1.5); if (i > NR) i = NR; print v[i] }'
}

for i in $(seq "$ROUNDS"); do
	timed "$KH" -q -r "$RT" -m "$SOCK" disk add --uuid "$UUID" --path "$T/disk.img" >>"$T/kh.add"
	# -v says how long the guest itself took: the rest is the tool's
	t0=$EPOCHREALTIME
	"$KH" -v -r "$RT" -m "$SOCK" disk remove --uuid "$UUID" >/dev/null 2>"$T/kh.err"
	t1=$EPOCHREALTIME
	us=$(( ${t1/./} - ${t0/./} ))
	echo "$us" >>"$T/kh.remove"
	guest=$(sed -n 's/.*released by the guest after \([0-9.]*\) ms/\1/p' "$T/kh.err")
	awk -v us="$us" -v g="$guest" 'BEGIN { print int(us - g * 1000) }' >>"$T/kh.overhead"
	timed "$KH" -q -r "$RT_DISK" -m "$SOCK" disk add --uuid "$UUID" --path "$T/disk.img" >>"$T/kh.add.disk"
	"$KH" -q -r "$RT_DISK" -m "$SOCK" disk remove --uuid "$UUID"
	timed "$FLOOR" "$SOCK" add floor"$i" "$T/disk.img" 10 >>"$T/floor.add"
	t0=$EPOCHREALTIME
	guest=$("$FLOOR" "$SOCK" remove floor"$i")
	t1=$EPOCHREALTIME
	us=$(( ${t1/./} - ${t0/./} ))
	echo "$us" >>"$T/floor.remove"
	echo "$guest" >>"$T/guest.deleted"
	echo $(( us - guest )) >>"$T/floor.overhead"
done

ms() { awk -v us="$1" 'BEGIN { printf "%.2f", us / 1000 }'; }
# row OP FILE-KH FILE-FLOOR: median (quartiles) of both and the ratio
row() {
	local k f
	k=$(quantile 0.5 <"$2"); f=$(quantile 0.5 <"$3")
	printf '%-7s %8s ms (%s-%s) %8s ms (%s-%s) %6.2fx\n' "$1" \
		"$(ms "$k")" "$(ms "$(quantile 0.25 <"$2")")" "$(ms "$(quantile 0.75 <"$2")")" \
		"$(ms "$f")" "$(ms "$(quantile 0.25 <"$3")")" "$(ms "$(quantile 0.75 <"$3")")" \
		"$(awk -v a="$k" -v b="$f" 'BEGIN { print a / b }')"
}
echo "disk hotplug, $ROUNDS rounds, QEMU $(qemu-system-x86_64 --version | head -1 | awk '{print $4}'), TCG, tiny guest"
echo "median (quartiles)   kvm-hotplug            qmp-floor             ratio"
row add "$T/kh.add" "$T/floor.add"
row add-disk "$T/kh.add.disk" "$T/floor.add"
row remove "$T/kh.remove" "$T/floor.remove"
row "rm-guest" "$T/kh.overhead" "$T/floor.overhead"
printf 'guest DEVICE_DELETED latency (device_del -> event): %s ms median\n' "$(ms "$(quantile 0.5 <"$T/guest.deleted")")"
echo "add: runtime file on tmpfs (/run, where Ganeti keeps it); add-disk: on $(df --output=fstype "$T" | tail -1) ($T)"
echo "rm-guest: a removal's time minus the guest's own DEVICE_DELETED latency in"
echo "that same removal (what the tool adds around the guest's wait)"
