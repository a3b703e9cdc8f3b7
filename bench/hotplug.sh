#!/usr/bin/env bash
# Times kvm-hotplug's disk add/remove and nic add/remove against qmp-floor,
# a minimal client that sends only the QMP commands (and opens the tap),
# on one VM running the tiny guest (removal needs its ACPI acknowledgement),
# in a network namespace of its own with a bridge br0. Prints medians with
# quartiles and ratios. The machines steal CPU now and then: compare the
# columns of one run, not runs with each other.
# Usage: bench/hotplug.sh KVM-HOTPLUG QMP-FLOOR GUEST-DIR [ROUNDS]
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
# the runtime file on tmpfs, as Ganeti keeps it, and on disk: what the
# fsyncs cost
bench_scratch
RT=$RUN/vm.runtime
RT_DISK=$T/vm.runtime
# a Ganeti file (newer style, no devices yet): disks made Ganeti's way
RT_GANETI=$RUN/g.runtime
echo '[["qemu-system-x86_64"], [], {"kvm_pci_reservations": 4}, []]' >"$RT_GANETI"
UUID=003fc157-66a8-4e6d-8b7e-ec4f69751396
MAC=52:54:00:12:34:56

start_guest vm
truncate -s 64M "$T/disk.img"

# floor_remove MODE ID FILE: the same for the floor, which prints its wait.
floor_remove() {
	local t0 t1 us guest
	t0=$EPOCHREALTIME
	guest=$("$FLOOR" "$SOCK" "$1" "$2")
	t1=$EPOCHREALTIME
	us=$(( ${t1/./} - ${t0/./} ))
	echo "$us" >>"$3"
	echo $(( us - guest )) >>"$3.overhead"
	echo "$guest" >>"$T/guest.deleted"
}

for i in $(seq "$ROUNDS"); do
	timed "$KH" -q -r "$RT" -m "$SOCK" disk add --uuid "$UUID" --path "$T/disk.img" >>"$T/kh.disk.add"
	kh_remove disk "$T/kh.disk.rm"
	timed "$KH" -q -r "$RT_DISK" -m "$SOCK" disk add --uuid "$UUID" --path "$T/disk.img" >>"$T/kh.disk.add.ondisk"
	"$KH" -q -r "$RT_DISK" -m "$SOCK" disk remove --uuid "$UUID"
	timed "$FLOOR" "$SOCK" add floor"$i" "$T/disk.img" 10 >>"$T/floor.disk.add"
	floor_remove remove floor"$i" "$T/floor.disk.rm"

	timed "$KH" -q -r "$RT_GANETI" -m "$SOCK" disk add --uuid "$UUID" --path "$T/disk.img" >>"$T/kh.drive.add"
	kh_remove disk "$T/kh.drive.rm" "$RT_GANETI"
	timed "$FLOOR" "$SOCK" drive-add fdrive"$i" "$T/disk.img" 10 >>"$T/floor.drive.add"
	floor_remove drive-remove fdrive"$i" "$T/floor.drive.rm"

	timed "$KH" -q -r "$RT" -m "$SOCK" nic add --uuid "$UUID" --mac "$MAC" --link br0 >>"$T/kh.nic.add"
	kh_remove nic "$T/kh.nic.rm"
	timed "$FLOOR" "$SOCK" nic-add fnic"$i" 11 "$MAC" fltap"$i" >>"$T/floor.nic.add"
	floor_remove nic-remove fnic"$i" "$T/floor.nic.rm"
done

# row LABEL FILE-KH FILE-FLOOR: median (quartiles) of both and the ratio
row() {
	local k f
	k=$(quantile 0.5 <"$2"); f=$(quantile 0.5 <"$3")
	printf '%-12s %8s ms (%s-%s) %8s ms (%s-%s) %6.2fx\n' "$1" \
		"$(ms "$k")" "$(ms "$(quantile 0.25 <"$2")")" "$(ms "$(quantile 0.75 <"$2")")" \
		"$(ms "$f")" "$(ms "$(quantile 0.25 <"$3")")" "$(ms "$(quantile 0.75 <"$3")")" \
		"$(awk -v a="$k" -v b="$f" 'BEGIN { print a / b }')"
}
echo "hotplug, $ROUNDS rounds, QEMU $(qemu-system-x86_64 --version | head -1 | awk '{print $4}'), TCG, tiny guest"
echo "median (quartiles)        kvm-hotplug            qmp-floor             ratio"
row disk-add "$T/kh.disk.add" "$T/floor.disk.add"
row disk-add-fs "$T/kh.disk.add.ondisk" "$T/floor.disk.add"
row disk-rm "$T/kh.disk.rm" "$T/floor.disk.rm"
row disk-rm-own "$T/kh.disk.rm.overhead" "$T/floor.disk.rm.overhead"
row drive-add "$T/kh.drive.add" "$T/floor.drive.add"
row drive-rm-own "$T/kh.drive.rm.overhead" "$T/floor.drive.rm.overhead"
row nic-add "$T/kh.nic.add" "$T/floor.nic.add"
row nic-rm "$T/kh.nic.rm" "$T/floor.nic.rm"
row nic-rm-own "$T/kh.nic.rm.overhead" "$T/floor.nic.rm.overhead"
printf 'guest DEVICE_DELETED latency (device_del -> event): %s ms median\n' \
	"$(ms "$(quantile 0.5 <"$T/guest.deleted")")"
echo "disk-add: runtime file on tmpfs (/run, where Ganeti keeps it); disk-add-fs: on $(df --output=fstype "$T" | tail -1)"
echo "*-rm-own: a removal's time minus the guest's own DEVICE_DELETED latency in"
echo "that same removal, i.e. what the tool adds around the guest's wait"
echo "drive-*: a disk in a Ganeti runtime file, made and removed as Ganeti does"
echo "(add-fd, HMP drive_add, remove-fd / HMP drive_del); the floor does the same"
echo "nic-add: kvm-hotplug also brings the tap up and puts it on br0; the floor only opens it"
