#!/usr/bin/env bash
# Times kvm-hotplug's disk add/remove and nic add/remove against qmp-floor,
# a minimal client that sends only the QMP commands (and opens the tap),
# in a network namespace of its own with a bridge br0, the VMs named as
# Ganeti names them (-name, -uuid):
#   - on a paused VM (no guest: nothing in QEMU competes with the monitor),
#     ROUNDS adds of each into a fresh VM per series;
#   - on a VM running the tiny guest (removal needs its ACPI
#     acknowledgement; the guest probes each new device while QEMU
#     answers), ROUNDS rounds of add and removal, the series interleaved.
# The runtime file is on tmpfs (where Ganeti keeps it) and on disk. Also
# measures peak RSS (/usr/bin/time) and instructions (callgrind) of one
# run of each command, on the paused VM. Prints medians with quartiles and
# ratios; with OUTDIR, leaves every sample there (one figure a line, a
# file per series) for bench/report.sh. The machines steal CPU now and
# then: compare the columns of one run, not runs with each other.
# Usage: bench/hotplug.sh KVM-HOTPLUG QMP-FLOOR GUEST-DIR [ROUNDS [OUTDIR]]
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=tests/lib.sh
. "$HERE/../tests/lib.sh"
# shellcheck source=bench/lib.sh
. "$HERE/lib.sh"

# inside a namespace of its own, so that no `ip netns exec` is timed
reexec_in_netns kh-bench "$0" "$@"

KH=$(realpath "$1")
FLOOR=$(realpath "$2")
GUEST=$(realpath "$3")
ROUNDS=${4:-30}
# a fresh paused VM takes ROUNDS devices of a series on pci.0
[ "$ROUNDS" -le 24 ] || ROUNDS_PAUSED=24
ROUNDS_PAUSED=${ROUNDS_PAUSED:-$ROUNDS}
bench_scratch
bench_out "${5:-$T/out}"
rm -f "$OUT"/kh.* "$OUT"/floor.* "$OUT"/paused.* "$OUT"/rss.* "$OUT"/ir.* "$OUT"/guest.deleted "$OUT"/fs.*
RT=$RUN/vm.runtime
RT_DISK=$T/vm.runtime
# a Ganeti file (newer style, no devices yet): disks made Ganeti's way
RT_GANETI=$RUN/g.runtime
echo '[["qemu-system-x86_64"], [], {"kvm_pci_reservations": 4}, []]' >"$RT_GANETI"
UUID=003fc157-66a8-4e6d-8b7e-ec4f69751396
# the VMs are named as Ganeti names its instances (-name, -uuid): the
# tool tells a VM by its uuid
VM=(-name bench -uuid 6b1e3f0a-5c2d-4e8f-9a01-00000000be01)
MAC=52:54:00:12:34:56
fstype "$RUN" >"$OUT/fs.tmpfs"
fstype "$T" >"$OUT/fs.disk"

# uuid N: the N-th device's uuid (the paused series)
uuid() { printf '%08x-0000-4000-8000-000000000000' "$1"; }

# floor_remove MODE ID FILE: the same for the floor, which prints its wait.
floor_remove() {
	local t0 t1 us guest
	t0=$EPOCHREALTIME
	guest=$("$FLOOR" "$SOCK" "$1" "$2")
	t1=$EPOCHREALTIME
	us=$(( ${t1/./} - ${t0/./} ))
	echo "$us" >>"$3"
	echo $(( us - guest )) >>"$3.overhead"
	echo "$guest" >>"$OUT/guest.deleted"
}

# paused SERIES COMMAND...: ROUNDS_PAUSED adds into a fresh paused VM;
# COMMAND gets the round's number appended.
paused() {
	local series=$1 i
	shift
	stop_vms
	start_vm p "${VM[@]}"
	rm -f "$RUN"/p.runtime* "$T"/p.runtime*
	for i in $(seq "$ROUNDS_PAUSED"); do
		timed "$@" "$i" >>"$OUT/paused.$series"
	done
}
kh_disk() { "$KH" -q -r "$1" -m "$SOCK" disk add --uuid "$(uuid "$2")" --path "$T/p$2.img"; }
kh_nic() { "$KH" -q -r "$1" -m "$SOCK" nic add --uuid "$(uuid "$2")" --mac "52:54:00:00:00:$(printf %02x "$2")" --link br0; }
floor_disk() { "$FLOOR" "$SOCK" add "fl$1" "$T/p$1.img" $(($1 + 4)); }
floor_nic() { "$FLOOR" "$SOCK" nic-add "fn$1" $(($1 + 4)) "52:54:00:00:01:$(printf %02x "$1")" "fntap$1"; }

for i in $(seq 30); do truncate -s 1M "$T/p$i.img"; done
paused kh.disk.add kh_disk "$RUN/p.runtime"
paused kh.disk.add.ondisk kh_disk "$T/p.runtime"
paused floor.disk.add floor_disk
paused kh.nic.add kh_nic "$RUN/p.runtime"
paused kh.nic.add.ondisk kh_nic "$T/p.runtime"
paused floor.nic.add floor_nic

# peak RSS (KiB) and instructions of one run of each command, with one
# device of each kind present
stop_vms
start_vm p "${VM[@]}"
rm -f "$RUN"/p.runtime*
kh_disk "$RUN/p.runtime" 1
kh_nic "$RUN/p.runtime" 2
# rss NAME COMMAND...: the peak RSS (KiB) of a run of COMMAND, in rss.NAME
rss() {
	local name=$1
	shift
	/usr/bin/time -f %M -o "$OUT/rss.$name" "$@" >/dev/null
}
# ir NAME COMMAND...: the instructions of a run of COMMAND (callgrind), in
# ir.NAME
ir() {
	local name=$1
	shift
	valgrind --tool=callgrind --callgrind-out-file="$T/cg" "$@" \
		>/dev/null 2>"$T/cg.err" || fail "callgrind of $name: $(cat "$T/cg.err")"
	sed -n 's/^summary: //p' "$T/cg" >"$OUT/ir.$name"
}
P=(-q -r "$RUN/p.runtime" -m "$SOCK")
rss disk-add "$KH" "${P[@]}" disk add --uuid "$(uuid 11)" --path "$T/p11.img"
ir disk-add "$KH" "${P[@]}" disk add --uuid "$(uuid 12)" --path "$T/p12.img"
rss nic-add "$KH" "${P[@]}" nic add --uuid "$(uuid 13)" --mac 52:54:00:00:00:13 --link br0
ir nic-add "$KH" "${P[@]}" nic add --uuid "$(uuid 14)" --mac 52:54:00:00:00:14 --link br0
for c in list check; do
	rss "$c" "$KH" "${P[@]}" "$c"
	ir "$c" "$KH" "${P[@]}" "$c"
done
ir floor-disk-add "$FLOOR" "$SOCK" add fl15 "$T/p15.img" 20
stop_vms

start_guest vm "${VM[@]}"
truncate -s 64M "$T/disk.img"
for i in $(seq "$ROUNDS"); do
	timed "$KH" -q -r "$RT" -m "$SOCK" disk add --uuid "$UUID" --path "$T/disk.img" >>"$OUT/kh.disk.add"
	kh_remove disk "$OUT/kh.disk.rm"
	timed "$KH" -q -r "$RT_DISK" -m "$SOCK" disk add --uuid "$UUID" --path "$T/disk.img" >>"$OUT/kh.disk.add.ondisk"
	kh_remove disk "$OUT/kh.disk.rm.ondisk" "$RT_DISK"
	timed "$FLOOR" "$SOCK" add floor"$i" "$T/disk.img" 10 >>"$OUT/floor.disk.add"
	floor_remove remove floor"$i" "$OUT/floor.disk.rm"

	timed "$KH" -q -r "$RT_GANETI" -m "$SOCK" disk add --uuid "$UUID" --path "$T/disk.img" >>"$OUT/kh.drive.add"
	kh_remove disk "$OUT/kh.drive.rm" "$RT_GANETI"
	timed "$FLOOR" "$SOCK" drive-add fdrive"$i" "$T/disk.img" 10 >>"$OUT/floor.drive.add"
	floor_remove drive-remove fdrive"$i" "$OUT/floor.drive.rm"

	timed "$KH" -q -r "$RT" -m "$SOCK" nic add --uuid "$UUID" --mac "$MAC" --link br0 >>"$OUT/kh.nic.add"
	kh_remove nic "$OUT/kh.nic.rm"
	timed "$FLOOR" "$SOCK" nic-add fnic"$i" 11 "$MAC" fltap"$i" >>"$OUT/floor.nic.add"
	floor_remove nic-remove fnic"$i" "$OUT/floor.nic.rm"
done
# the removal's peak RSS, once
"$KH" -q -r "$RT" -m "$SOCK" disk add --uuid "$UUID" --path "$T/disk.img"
/usr/bin/time -f %M -o "$OUT/rss.disk-remove" "$KH" -q -r "$RT" -m "$SOCK" disk remove --uuid "$UUID"

# row LABEL FILE-KH FILE-FLOOR: median (quartiles) of both and the ratio
row() {
	local k f
	k=$(quantile 0.5 <"$OUT/$2"); f=$(quantile 0.5 <"$OUT/$3")
	printf '%-16s %8s ms (%s-%s) %8s ms (%s-%s) %6.2fx\n' "$1" \
		"$(ms "$k")" "$(ms "$(quantile 0.25 <"$OUT/$2")")" "$(ms "$(quantile 0.75 <"$OUT/$2")")" \
		"$(ms "$f")" "$(ms "$(quantile 0.25 <"$OUT/$3")")" "$(ms "$(quantile 0.75 <"$OUT/$3")")" \
		"$(awk -v a="$k" -v b="$f" 'BEGIN { print a / b }')"
}
echo "hotplug, QEMU $(qemu-system-x86_64 --version | head -1 | awk '{print $4}'), TCG; $ROUNDS_PAUSED adds on a paused VM, $ROUNDS rounds on the tiny guest"
echo "median (quartiles)            kvm-hotplug            qmp-floor             ratio"
row paused-disk-add paused.kh.disk.add paused.floor.disk.add
row paused-disk-add-fs paused.kh.disk.add.ondisk paused.floor.disk.add
row paused-nic-add paused.kh.nic.add paused.floor.nic.add
row paused-nic-add-fs paused.kh.nic.add.ondisk paused.floor.nic.add
row disk-add kh.disk.add floor.disk.add
row disk-add-fs kh.disk.add.ondisk floor.disk.add
row disk-rm kh.disk.rm floor.disk.rm
row disk-rm-own kh.disk.rm.overhead floor.disk.rm.overhead
row drive-add kh.drive.add floor.drive.add
row drive-rm-own kh.drive.rm.overhead floor.drive.rm.overhead
row nic-add kh.nic.add floor.nic.add
row nic-rm kh.nic.rm floor.nic.rm
row nic-rm-own kh.nic.rm.overhead floor.nic.rm.overhead
printf 'guest DEVICE_DELETED latency (device_del -> event): %s ms median\n' \
	"$(ms "$(quantile 0.5 <"$OUT/guest.deleted")")"
for f in "$OUT"/rss.*; do
	printf 'peak RSS %-16s %s KiB; instructions %s\n' "${f##*/rss.}" "$(cat "$f")" \
		"$(cat "$OUT/ir.${f##*/rss.}" 2>/dev/null || echo -)"
done
echo "*-add: runtime file on $(cat "$OUT/fs.tmpfs") (a tmpfs of its own, as /run where Ganeti keeps it); *-fs: on $(cat "$OUT/fs.disk")"
echo "*-rm-own: a removal's time minus the guest's own DEVICE_DELETED latency in"
echo "that same removal, i.e. what the tool adds around the guest's wait"
echo "drive-*: a disk in a Ganeti runtime file, made and removed as Ganeti does"
echo "(add-fd, HMP drive_add, remove-fd / HMP drive_del); the floor does the same"
echo "nic-add: kvm-hotplug also brings the tap up and puts it on br0; the floor only opens it"
