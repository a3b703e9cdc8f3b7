#!/usr/bin/env bash
# Integration tests, disks: add on a paused VM and slot choice, what QEMU or the
# input refuses (nothing changed), remove with and without a guest.
# Usage: KH=... QMPCMD=... GUEST=... tests/it-disk.sh [TEST...]; it runs
# alone, or tests/integration.sh runs it with the other areas.
set -u
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=tests/lib.sh
. "$HERE/lib.sh"
test_tools

# ---- add on a paused VM ----

t_add_disk_paused() {
	start_vm vm
	disk_image "$T/d1.img"
	kh -r "$RT" -m "$SOCK" disk add --uuid "$UUID1" --path "$T/d1.img"
	expect_rc 0
	expect_out "added disk $UUID1: hotdisk-003fc157-pci-4 at pci.0 slot 4"
	[ "$(slot_of hotdisk-003fc157-pci-4)" = 4 ] || fail "QEMU lacks the disk at slot 4"
	has_node hotdisk-003fc157-pci-4 || fail "no block node"
	grep -q "slot: 4" "$RT" || fail "runtime file lacks slot 4: $(cat "$RT")"
	grep -q "id: hotdisk-003fc157-pci-4" "$RT" || fail "runtime file lacks the id"
	[ "$(stat -c %a "$RT")" = 600 ] || fail "new runtime file is not 0600"
	# a second disk goes to the next free slot; JSON output for hooks
	disk_image "$T/d2.img"
	kh -j -r "$RT" -m "$SOCK" disk add --uuid "$UUID2" --path "$T/d2.img" --name data
	expect_rc 0
	[ "$OUT" = '{"result":"added","kind":"disk","uuid":"'"$UUID2"'","id":"hotdisk-1b2c3d4e-pci-5","bus":"pci.0","slot":5}' ] ||
		fail "unexpected JSON: $OUT"
	[ "$(slot_of hotdisk-1b2c3d4e-pci-5)" = 5 ] || fail "second disk not at slot 5"
	# a rewrite keeps the file's mode and owner
	chown nobody:nogroup "$RT"
	chmod 640 "$RT"
	disk_image "$T/d3.img"
	kh -r "$RT" -m "$SOCK" disk add --uuid "$UUID3" --path "$T/d3.img"
	expect_rc 0
	[ "$(stat -c '%a %U %G' "$RT")" = "640 nobody nogroup" ] ||
		fail "mode/owner not kept: $(stat -c '%a %U %G' "$RT")"
}

t_add_disk_options() {
	start_vm vm
	qemu-img create -q -f qcow2 "$T/d.qcow2" 16M
	kh -r "$RT" -m "$SOCK" disk add --uuid "$UUID1" --path "$T/d.qcow2" \
		--format qcow2 --cache none --mode ro --discard unmap
	expect_rc 0
	local blk
	blk=$(qmp query-block)
	echo "$blk" | grep -q '"node-name":"hotdisk-003fc157-pci-4"' || fail "no node: $blk"
	echo "$blk" | grep -q '"drv":"qcow2"' || fail "not qcow2: $blk"
	echo "$blk" | grep -q '"ro":true' || fail "not read-only: $blk"
	echo "$blk" | grep -q '"direct":true' || fail "cache=none is not O_DIRECT: $blk"
	for kv in "format: qcow2" "cache: none" "mode: ro" "discard: unmap"; do
		grep -q "$kv" "$RT" || fail "runtime file lacks '$kv'"
	done
}

# Devices QEMU has that the runtime file does not know about are avoided.
t_slot_choice_with_unknown_devices() {
	disk_image "$T/boot.img"
	start_vm vm -blockdev "driver=raw,node-name=boot,file.driver=file,file.filename=$T/boot.img" \
		-device virtio-blk-pci,drive=boot,id=boot,bus=pci.0,addr=0x4 \
		-device e1000,id=legacy,bus=pci.0,addr=0x6
	disk_image "$T/d1.img"
	disk_image "$T/d2.img"
	disk_image "$T/d3.img"
	kh -r "$RT" -m "$SOCK" disk add --uuid "$UUID1" --path "$T/d1.img"
	expect_rc 0
	[ "$(slot_of hotdisk-003fc157-pci-5)" = 5 ] || fail "not at slot 5"
	kh -r "$RT" -m "$SOCK" disk add --uuid "$UUID2" --path "$T/d2.img"
	expect_rc 0
	[ "$(slot_of hotdisk-1b2c3d4e-pci-7)" = 7 ] || fail "not at slot 7"
	# a slot the file records is taken even when QEMU does not show it
	sed -i 's/slot: 7/slot: 8/; s/pci-7/pci-8/' "$RT"
	kh -r "$RT" -m "$SOCK" disk add --uuid "$UUID3" --path "$T/d3.img"
	expect_rc 0
	[ "$(slot_of hotdisk-2c3d4e5f-pci-7)" = "" ] || fail "slot recorded as 8 was ignored"
	[ "$(slot_of hotdisk-2c3d4e5f-pci-9)" = 9 ] || fail "third disk not at slot 9"
}

t_requested_slot_and_taken_slot() {
	start_vm vm
	disk_image "$T/d1.img"
	disk_image "$T/d2.img"
	kh -r "$RT" -m "$SOCK" disk add --uuid "$UUID1" --path "$T/d1.img" --slot 9
	expect_rc 0
	[ "$(slot_of hotdisk-003fc157-pci-9)" = 9 ] || fail "not at slot 9"
	snapshot before
	kh -r "$RT" -m "$SOCK" disk add --uuid "$UUID2" --path "$T/d2.img" --slot 9
	expect_rc 1
	expect_err "slot 9 on pci.0 is already in use"
	same_as before
	kh -r "$RT" -m "$SOCK" disk add --uuid "$UUID2" --path "$T/d2.img" --slot 2
	expect_rc 1
	expect_err "slot 2 on pci.0 is reserved (reserved-slots)"
	same_as before
}

t_all_slots_busy() {
	local s args=()
	for s in $(seq 4 31); do
		args+=(-device "e1000,bus=pci.0,addr=$(printf 0x%x "$s")")
	done
	start_vm vm "${args[@]}"
	disk_image "$T/d1.img"
	snapshot before
	kh -r "$RT" -m "$SOCK" disk add --uuid "$UUID1" --path "$T/d1.img"
	expect_rc 1
	expect_err "no free PCI slot left on pci.0"
	same_as before
}

# ---- refusals: runtime file and QEMU as before ----

# The same add again succeeds and changes nothing (a hook may rerun it);
# the same uuid with other settings is refused; so is one recorded that
# QEMU does not have where recorded.
t_duplicate_uuid() {
	start_vm vm
	disk_image "$T/d1.img"
	kh -r "$RT" -m "$SOCK" disk add --uuid "$UUID1" --path "$T/d1.img"
	expect_rc 0
	snapshot before
	kh -r "$RT" -m "$SOCK" disk add --uuid "${UUID1^^}" --path "$T/d1.img"
	expect_rc 0
	expect_out "unchanged disk $UUID1: hotdisk-003fc157-pci-4 at pci.0 slot 4"
	same_as before
	kh -r "$RT" -m "$SOCK" disk add --uuid "$UUID1" --path "$T/d1.img" --mode ro
	expect_rc 1
	expect_err "uuid $UUID1 is already recorded in .*, with other settings"
	same_as before
	sed -i 's/slot: 4/slot: 9/' "$RT"
	snapshot moved
	kh -r "$RT" -m "$SOCK" disk add --uuid "$UUID1" --path "$T/d1.img"
	expect_rc 1
	expect_err "disk $UUID1 is recorded in .* but QEMU does not have it at pci.0 slot 9"
	same_as moved
}

t_missing_disk_file() {
	start_vm vm
	snapshot before
	kh -r "$RT" -m "$SOCK" disk add --uuid "$UUID1" --path "$T/nosuch.img"
	expect_rc 2
	expect_err "nosuch.img: No such file or directory"
	same_as before
	kh -r "$RT" -m "$SOCK" disk add --uuid "$UUID1" --path relative.img
	expect_rc 2
	expect_err "is not absolute"
	kh -r "$RT" -m "$SOCK" disk add --uuid "$UUID1" --path "$T"
	expect_rc 2
	expect_err "not a regular file or block device"
	same_as before
}

# blockdev-add refused: QEMU's reason reaches the user.
t_qemu_refuses_blockdev() {
	start_vm vm
	disk_image "$T/raw.img"
	snapshot before
	kh -r "$RT" -m "$SOCK" disk add --uuid "$UUID1" --path "$T/raw.img" --format qcow2
	expect_rc 1
	expect_err "QEMU refused blockdev-add: Image is not in qcow2 format"
	same_as before
}

# device_add refused after blockdev-add: the block node is rolled back.
t_qemu_refuses_device_add() {
	start_vm vm -device pvpanic,id=hotdisk-003fc157-pci-4
	disk_image "$T/d1.img"
	snapshot before
	kh -r "$RT" -m "$SOCK" disk add --uuid "$UUID1" --path "$T/d1.img"
	expect_rc 1
	expect_err "QEMU refused device_add: Duplicate device ID 'hotdisk-003fc157-pci-4'"
	same_as before
}

t_hotplug_impossible() {
	disk_image "$T/d1.img"
	start_vm q35 -M q35
	snapshot before
	kh -r "$RT" -m "$SOCK" disk add --uuid "$UUID1" --path "$T/d1.img"
	expect_rc 3
	expect_err "no bus of this VM takes hotplug: pcie.0 (PCI Express's root takes none: a q35 VM needs pcie-root-port devices)"
	same_as before
	start_vm nohp -global PIIX4_PM.acpi-root-pci-hotplug=off
	snapshot before
	kh -r "$RT" -m "$SOCK" disk add --uuid "$UUID1" --path "$T/d1.img"
	expect_rc 3
	expect_err "does not support hotplug"
	same_as before
}

# An image whose content says qcow2 is never attached as raw unless asked
# for by name: the guest would see the container and could overwrite its
# header.
t_qcow2_not_taken_for_raw() {
	start_vm vm
	qemu-img create -q -f qcow2 "$T/d.qcow2" 16M
	snapshot before
	kh -r "$RT" -m "$SOCK" disk add --uuid "$UUID1" --path "$T/d.qcow2"
	expect_rc 2
	expect_err "holds a qcow2 image: give --format qcow2, or --format raw"
	same_as before
	kh -r "$RT" -m "$SOCK" disk add --uuid "$UUID1" --path "$T/d.qcow2" --format qcow2
	expect_rc 0
	kh -r "$RT" -m "$SOCK" disk add --uuid "$UUID2" --path "$T/d.qcow2" --format raw
	[ "$RC" -ne 2 ] || fail "--format raw asked for by name was refused: $ERR"
	# QEMU's own refusal of a second writer names the disk that has it
	expect_rc 1
	expect_err "disk $UUID1 uses $T/d.qcow2 already: .*write\" lock"
}

# ---- remove ----

t_remove_with_guest() {
	start_guest g
	disk_image "$T/d1.img"
	kh -r "$RT" -m "$SOCK" disk add --uuid "$UUID1" --path "$T/d1.img"
	expect_rc 0
	kh -r "$RT" -m "$SOCK" disk remove --uuid "$UUID1"
	expect_rc 0
	expect_out "removed disk $UUID1: hotdisk-003fc157-pci-4 at pci.0 slot 4"
	[ -z "$(slot_of hotdisk-003fc157-pci-4)" ] || fail "QEMU still has the device"
	! has_node hotdisk-003fc157-pci-4 || fail "block node left behind"
	! grep -q "$UUID1" "$RT" || fail "runtime file still has the disk"
	# the slot is free again and reused
	kh -r "$RT" -m "$SOCK" disk add --uuid "$UUID2" --path "$T/d1.img"
	expect_rc 0
	expect_out "slot 4"
}

# Without a guest nothing acknowledges: exit 4 at the timeout, the entry
# stays marked; a later run finishes once QEMU let the device go. Without
# a guest the wait could only end by the timeout: a run that did not
# honour it would hang (kh stops it and fails), and the message names the
# timeout the wait was given; the run ended not before it.
t_remove_guest_does_not_answer() {
	start_vm vm
	disk_image "$T/d1.img"
	kh -r "$RT" -m "$SOCK" disk add --uuid "$UUID1" --path "$T/d1.img"
	expect_rc 0
	local t0
	t0=$(uptime_cs)
	kh -t 1 -r "$RT" -m "$SOCK" disk remove --uuid "$UUID1"
	expect_rc 4
	expect_err "did not release hotdisk-003fc157-pci-4 within 1.0 s.*run 'disk remove --uuid $UUID1' again"
	not_before "$t0" 1 "the removal"
	grep -q "state: unplugging" "$RT" || fail "entry not marked unplugging"
	[ "$(slot_of hotdisk-003fc157-pci-4)" = 4 ] || fail "device vanished early"
	# asking again while QEMU still has it: waits again, still pending
	t0=$(uptime_cs)
	kh -t 1 -r "$RT" -m "$SOCK" disk remove --uuid "$UUID1"
	expect_rc 4
	expect_err "did not release hotdisk-003fc157-pci-4 within 1.0 s"
	not_before "$t0" 1 "the second removal"
	grep -q "state: unplugging" "$RT" || fail "entry lost its mark"
	kh -r "$RT" -m "$SOCK" list
	expect_rc 0
	expect_out "unplugging"
	# a reset completes pending ACPI unplugs while nobody listens
	qmp system_reset >/dev/null
	wait_until "$WAIT_LIMIT" "the reset did not complete the unplug" device_gone hotdisk-003fc157-pci-4
	kh -r "$RT" -m "$SOCK" disk remove --uuid "$UUID1"
	expect_rc 0
	! has_node hotdisk-003fc157-pci-4 || fail "block node left behind"
	! grep -q "$UUID1" "$RT" || fail "runtime file still has the disk"
}

# A bus without hotplug refuses device_del too: exit 3, nothing changed.
t_remove_hotplug_impossible() {
	disk_image "$T/d1.img"
	start_vm vm -global PIIX4_PM.acpi-root-pci-hotplug=off \
		-blockdev "driver=raw,node-name=hotdisk-003fc157-pci-5,file.driver=file,file.filename=$T/d1.img" \
		-device virtio-blk-pci,drive=hotdisk-003fc157-pci-5,id=hotdisk-003fc157-pci-5,bus=pci.0,addr=0x5
	printf 'version: 1\ndevices:\n- kind: disk\n  uuid: %s\n  id: hotdisk-003fc157-pci-5\n  bus: pci.0\n  slot: 5\n  driver: virtio-blk-pci\n  path: %s\n  format: raw\n  cache: default\n  mode: rw\n  discard: ignore\n' \
		"$UUID1" "$T/d1.img" >"$RT"
	snapshot before
	kh -r "$RT" -m "$SOCK" disk remove --uuid "$UUID1"
	expect_rc 3
	expect_err "does not support hotplugging"
	same_as before
}

# A removal of a uuid the file does not record has nothing to do: a retry
# of one that succeeded is safe, exit 0, and says which result it was
# (issue 17).
t_remove_unknown_uuid() {
	start_vm vm
	disk_image "$T/d1.img"
	kh -r "$RT" -m "$SOCK" disk add --uuid "$UUID1" --path "$T/d1.img"
	snapshot before
	kh -r "$RT" -m "$SOCK" disk remove --uuid "$UUID2"
	expect_rc 0
	expect_out "absent disk $UUID2: not recorded in $RT, nothing to remove"
	same_as before
	kh -j -r "$RT" -m "$SOCK" nic remove --uuid "$UUID2"
	expect_rc 0
	jq -e --arg u "$UUID2" '.result == "absent" and .kind == "nic" and .uuid == $u' <<<"$OUT" >/dev/null ||
		fail "-j: $OUT"
	same_as before
	# no guest here: the removal stays pending until a reset finishes it
	kh -t 1 -r "$RT" -m "$SOCK" disk remove --uuid "$UUID1"
	expect_rc 4
	qmp system_reset >/dev/null
	wait_until "$WAIT_LIMIT" "the reset did not complete the unplug" device_gone hotdisk-003fc157-pci-4
	kh -r "$RT" -m "$SOCK" disk remove --uuid "$UUID1"
	expect_rc 0
	expect_out "removed disk $UUID1"
	kh -r "$RT" -m "$SOCK" disk remove --uuid "$UUID1"
	expect_rc 0
	expect_out "absent disk $UUID1"
	rm -f "$T/none.runtime"
	kh -r "$T/none.runtime" -m "$SOCK" disk remove --uuid "$UUID1"
	expect_rc 2
	expect_err "no such runtime file"
	[ ! -e "$T/none.runtime" ] || fail "remove created a runtime file"
}

# A removal of a device QEMU does not have, and that is not pending, is
# an error where the file names no VM: it may not be this VM's (it once
# said "removed", exit 0, and dropped the record).
t_remove_device_qemu_lacks() {
	start_vm vm
	disk_image "$T/d1.img"
	kh -r "$RT" -m "$SOCK" disk add --uuid "$UUID1" --path "$T/d1.img"
	expect_rc 0
	start_vm other
	snapshot before
	kh -r "$RT" -m "$SOCK" disk remove --uuid "$UUID1" -n
	expect_rc 1
	kh -r "$RT" -m "$SOCK" disk remove --uuid "$UUID1"
	expect_rc 1
	expect_err "QEMU has no device hotdisk-003fc157-pci-4, which the runtime file records as plugged, and the file names no VM to tell whether this is its"
	same_as before
}

# Where the file names its VM, a device that went outside the tool (an
# unplug by hand) is removed from the file by a removal, dry run and real
# run alike, its backend released (issue 17).
t_remove_device_gone_outside() {
	start_vm vm -name vm1
	disk_image "$T/d1.img"
	kh -r "$RT" -m "$SOCK" disk add --uuid "$UUID1" --path "$T/d1.img"
	expect_rc 0
	qmp device_del '{"id": "hotdisk-003fc157-pci-4"}' >/dev/null
	qmp system_reset >/dev/null	# completes the unplug: no guest here
	wait_until "$WAIT_LIMIT" "the reset did not complete the unplug" device_gone hotdisk-003fc157-pci-4
	kh -r "$RT" -m "$SOCK" check
	expect_rc 1
	kh -r "$RT" -m "$SOCK" disk remove --uuid "$UUID1" -n
	expect_rc 0
	has_node hotdisk-003fc157-pci-4 || fail "the dry run released the node"
	kh -r "$RT" -m "$SOCK" disk remove --uuid "$UUID1"
	expect_rc 0
	expect_out "removed disk $UUID1"
	! has_node hotdisk-003fc157-pci-4 || fail "the node stayed"
	grep -q "$UUID1" "$RT" && fail "the entry stayed: $(cat "$RT")"
	kh -r "$RT" -m "$SOCK" check
	expect_rc 0
}

run_tests disk "$@"
