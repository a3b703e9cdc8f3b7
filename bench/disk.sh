#!/usr/bin/env bash
# Times `kvm-hotplug disk add` and `disk remove` against qmp-floor, a
# minimal client sending only the QMP commands, on one VM running the tiny
# guest (removal needs its ACPI acknowledgement). Prints medians and ratios.
# Usage: bench/disk.sh KVM-HOTPLUG QMP-FLOOR GUEST-DIR [ROUNDS]
set -euo pipefail
KH=$(realpath "$1")
FLOOR=$(realpath "$2")
GUEST=$(realpath "$3")
ROUNDS=${4:-30}
T=$(mktemp -d /tmp/kh-bench.XXXXXX)
trap '[ -f "$T/vm.pid" ] && kill "$(cat "$T/vm.pid")" 2>/dev/null; rm -rf "$T"' EXIT
SOCK=$T/vm.qmp
RT=$T/vm.runtime
UUID=003fc157-66a8-4e6d-8b7e-ec4f69751396

qemu-system-x86_64 -M pc -accel tcg -m 128 -nodefaults -display none \
	-kernel "$GUEST/vmlinux" -initrd "$GUEST/initramfs.cpio.gz" \
	-append 'console=ttyS0 quiet panic=-1' -serial "file:$T/console.log" \
	-qmp "unix:$SOCK,server=on,wait=off" -daemonize -pidfile "$T/vm.pid"
for _ in $(seq 600); do
	grep -q KH-GUEST-READY "$T/console.log" && break
	sleep 0.1
done
grep -q KH-GUEST-READY "$T/console.log" || { echo "guest did not boot" >&2; exit 1; }
truncate -s 64M "$T/disk.img"

# elapsed microseconds of a command, from bash's own clock (no fork)
timed() {
	local t0=$EPOCHREALTIME
	"$@" >/dev/null
	local t1=$EPOCHREALTIME
	echo $(( (${t1/./} - ${t0/./}) ))
}

median() {
	sort -n | awk '{ v[NR] = $1 } END { print (NR % 2) ? v[(NR + 1) / 2] : int((v[NR / 2] + v[NR / 2 + 1]) / 2) }'
}

for i in $(seq "$ROUNDS"); do
	timed "$KH" -q -r "$RT" -m "$SOCK" disk add --uuid "$UUID" --path "$T/disk.img" >>"$T/kh.add"
	timed "$KH" -q -r "$RT" -m "$SOCK" disk remove --uuid "$UUID" >>"$T/kh.remove"
	timed "$FLOOR" "$SOCK" add floor"$i" "$T/disk.img" 10 >>"$T/floor.add"
	t0=$EPOCHREALTIME
	"$FLOOR" "$SOCK" remove floor"$i" >>"$T/guest.deleted"
	t1=$EPOCHREALTIME
	echo $(( (${t1/./} - ${t0/./}) )) >>"$T/floor.remove"
done

ms() { awk '{ printf "%.2f", $1 / 1000 }'; }
kh_add=$(median <"$T/kh.add"); fl_add=$(median <"$T/floor.add")
kh_rm=$(median <"$T/kh.remove"); fl_rm=$(median <"$T/floor.remove")
ev=$(median <"$T/guest.deleted")
echo "disk hotplug, $ROUNDS rounds, QEMU $(qemu-system-x86_64 --version | head -1 | awk '{print $4}'), TCG, tiny guest"
printf '%-8s %14s %14s %7s\n' op kvm-hotplug qmp-floor ratio
printf '%-8s %11s ms %11s ms %6.2fx\n' add "$(echo "$kh_add" | ms)" "$(echo "$fl_add" | ms)" \
	"$(awk -v a="$kh_add" -v b="$fl_add" 'BEGIN { print a / b }')"
printf '%-8s %11s ms %11s ms %6.2fx\n' remove "$(echo "$kh_rm" | ms)" "$(echo "$fl_rm" | ms)" \
	"$(awk -v a="$kh_rm" -v b="$fl_rm" 'BEGIN { print a / b }')"
printf 'guest DEVICE_DELETED latency (device_del -> event): %s ms median\n' "$(echo "$ev" | ms)"
printf 'remove overhead over the floor: %s ms\n' "$(awk -v a="$kh_rm" -v b="$fl_rm" 'BEGIN { printf "%.2f", (a - b) / 1000 }')"
