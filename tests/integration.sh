#!/usr/bin/env bash
# Integration tests: kvm-hotplug against real qemu-system-x86_64 (TCG),
# with the tiny guest where the guest must acknowledge an unplug.
# Usage: KH=... QMPCMD=... GUEST=... tests/integration.sh [TEST...]
set -u
HERE=$(cd "$(dirname "$0")" && pwd)
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

# ---- failure paths: runtime file and QEMU as before ----

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
	expect_err "no pci.0 bus"
	same_as before
	start_vm nohp -global PIIX4_PM.acpi-root-pci-hotplug=off
	snapshot before
	kh -r "$RT" -m "$SOCK" disk add --uuid "$UUID1" --path "$T/d1.img"
	expect_rc 3
	expect_err "does not support hotplug"
	same_as before
}

t_killed_qemu() {
	start_vm vm
	disk_image "$T/d1.img"
	kh -r "$RT" -m "$SOCK" disk add --uuid "$UUID1" --path "$T/d1.img"
	expect_rc 0
	cp -p "$RT" "$T/rt.before"
	kill -9 "$PID"
	while kill -0 "$PID" 2>/dev/null; do sleep 0.05; done
	kh -r "$RT" -m "$SOCK" disk add --uuid "$UUID2" --path "$T/d1.img"
	expect_rc 1
	expect_err "cannot connect to monitor"
	cmp -s "$RT" "$T/rt.before" || fail "runtime file changed"
	kh -r "$RT" -m "$SOCK" disk remove --uuid "$UUID1"
	expect_rc 1
	cmp -s "$RT" "$T/rt.before" || fail "runtime file changed"
}

# A QEMU that stops answering: every wait ends within --timeout.
t_hung_qemu() {
	start_vm vm
	disk_image "$T/d1.img"
	kill -STOP "$PID"
	local t0=$SECONDS
	kh -t 1 -r "$RT" -m "$SOCK" disk add --uuid "$UUID1" --path "$T/d1.img"
	kill -CONT "$PID"
	expect_rc 4
	expect_err "no greeting from the QEMU monitor"
	[ $((SECONDS - t0)) -le 3 ] || fail "took $((SECONDS - t0)) s with --timeout 1"
	[ ! -e "$RT" ] || fail "runtime file created"
}

t_malformed_runtime_file() {
	start_vm vm
	disk_image "$T/d1.img"
	printf 'version: 1\ndevices:\n  - kind: disk\n    slot: [\n' >"$RT"
	snapshot before
	kh -r "$RT" -m "$SOCK" disk add --uuid "$UUID1" --path "$T/d1.img"
	expect_rc 2
	expect_err "$RT: line [0-9]"
	same_as before
	printf 'version: 1\ndevices:\n  - kind: disk\n    uuid: %s\n    id: hotdisk-003fc157-pci-5\n    bus: pci.0\n    slot: five\n' "$UUID1" >"$RT"
	snapshot before
	kh -r "$RT" -m "$SOCK" disk remove --uuid "$UUID1"
	expect_rc 2
	expect_err "$RT: line 7: .*slot"
	same_as before
	kh -r "$RT" -m "$SOCK" list
	expect_rc 2
	same_as before
}

t_lock_timeout() {
	start_vm vm
	disk_image "$T/d1.img"
	touch "$RT.lock"
	flock "$RT.lock" sleep 10 &
	local holder=$! t0=$SECONDS
	sleep 0.2
	kh -t 1 -r "$RT" -m "$SOCK" disk add --uuid "$UUID1" --path "$T/d1.img"
	expect_rc 4
	expect_err "locked by another process"
	[ $((SECONDS - t0)) -le 3 ] || fail "lock wait took $((SECONDS - t0)) s"
	kill "$holder"
	wait "$holder" 2>/dev/null
	[ ! -e "$RT" ] || fail "runtime file created"
	kh -r "$RT" -m "$SOCK" disk add --uuid "$UUID1" --path "$T/d1.img"
	expect_rc 0
}

t_hmp_socket_refused() {
	start_vm vm -monitor "unix:$T/hmp.sock,server=on,wait=off"
	disk_image "$T/d1.img"
	kh -r "$RT" -m "$T/hmp.sock" disk add --uuid "$UUID1" --path "$T/d1.img"
	expect_rc 2
	expect_err "HMP (human) monitor, not QMP"
	[ ! -e "$RT" ] || fail "runtime file created"
	kh -r "$RT" -m "$T/d1.img" disk add --uuid "$UUID1" --path "$T/d1.img"
	expect_rc 2
	expect_err "is not a socket"
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

# Without a guest nothing acknowledges: exit 4 within the timeout, the
# entry stays marked; a later run finishes once QEMU let the device go.
t_remove_guest_does_not_answer() {
	start_vm vm
	disk_image "$T/d1.img"
	kh -r "$RT" -m "$SOCK" disk add --uuid "$UUID1" --path "$T/d1.img"
	expect_rc 0
	local t0=$SECONDS
	kh -t 1 -r "$RT" -m "$SOCK" disk remove --uuid "$UUID1"
	expect_rc 4
	expect_err "did not release hotdisk-003fc157-pci-4 within 1.0 s.*run 'disk remove --uuid $UUID1' again"
	[ $((SECONDS - t0)) -le 3 ] || fail "took $((SECONDS - t0)) s with --timeout 1"
	grep -q "state: unplugging" "$RT" || fail "entry not marked unplugging"
	[ "$(slot_of hotdisk-003fc157-pci-4)" = 4 ] || fail "device vanished early"
	# asking again while QEMU still has it: waits again, still pending
	kh -t 0.5 -r "$RT" -m "$SOCK" disk remove --uuid "$UUID1"
	expect_rc 4
	grep -q "state: unplugging" "$RT" || fail "entry lost its mark"
	kh -r "$RT" -m "$SOCK" list
	expect_rc 0
	expect_out "unplugging"
	# a reset completes pending ACPI unplugs while nobody listens
	qmp system_reset >/dev/null
	local i
	for i in $(seq 50); do
		[ -z "$(slot_of hotdisk-003fc157-pci-4)" ] && break
		sleep 0.1
	done
	kh -r "$RT" -m "$SOCK" disk remove --uuid "$UUID1"
	expect_rc 0
	! has_node hotdisk-003fc157-pci-4 || fail "block node left behind"
	! grep -q "$UUID1" "$RT" || fail "runtime file still has the disk"
}

# QEMU dies while the tool waits for the guest: exit 1 at once, file kept.
t_qemu_killed_during_remove() {
	start_vm vm
	disk_image "$T/d1.img"
	kh -r "$RT" -m "$SOCK" disk add --uuid "$UUID1" --path "$T/d1.img"
	expect_rc 0
	cp -p "$RT" "$T/rt.before"
	local t0=$SECONDS
	(sleep 0.5; kill -9 "$PID") &
	kh -t 20 -r "$RT" -m "$SOCK" disk remove --uuid "$UUID1"
	wait
	expect_rc 1
	expect_err "QEMU closed the monitor connection"
	[ $((SECONDS - t0)) -le 3 ] || fail "took $((SECONDS - t0)) s after QEMU died"
	cmp -s "$RT" "$T/rt.before" || fail "runtime file changed"
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

t_remove_unknown_uuid() {
	start_vm vm
	disk_image "$T/d1.img"
	kh -r "$RT" -m "$SOCK" disk add --uuid "$UUID1" --path "$T/d1.img"
	snapshot before
	kh -r "$RT" -m "$SOCK" disk remove --uuid "$UUID2"
	expect_rc 1
	expect_err "no disk with uuid $UUID2"
	same_as before
	rm -f "$T/none.runtime"
	kh -r "$T/none.runtime" -m "$SOCK" disk remove --uuid "$UUID1"
	expect_rc 2
	expect_err "no such runtime file"
	[ ! -e "$T/none.runtime" ] || fail "remove created a runtime file"
}

# ---- list, usage, fd passing ----

t_list() {
	start_vm vm
	disk_image "$T/d1.img"
	disk_image "$T/d2.img"
	kh -r "$RT" -m "$SOCK" disk add --uuid "$UUID1" --path "$T/d1.img"
	kh -r "$RT" -m "$SOCK" disk add --uuid "$UUID2" --path "$T/d2.img" --name "data disk"
	# a recorded device QEMU does not have
	printf -- '- kind: disk\n  uuid: %s\n  id: hotdisk-2c3d4e5f-pci-9\n  bus: pci.0\n  slot: 9\n  driver: virtio-blk-pci\n  path: /x\n  format: raw\n  cache: default\n  mode: rw\n  discard: ignore\n' "$UUID3" >>"$RT"
	kh -r "$RT" -m "$SOCK" list
	expect_rc 0
	expect_out "^UUID .*KIND .*ID .*BUS .*SLOT .*STATE .*IN-QEMU"
	expect_out "$UUID1 disk hotdisk-003fc157-pci-4 .*pci.0 .* 4 plugged .*yes"
	expect_out "$UUID3 disk hotdisk-2c3d4e5f-pci-9 .*no"
	kh -j -r "$RT" -m "$SOCK" list
	expect_rc 0
	expect_out '"present":true'
	expect_out '"id":"hotdisk-2c3d4e5f-pci-9","bus":"pci.0","slot":9,"driver":"virtio-blk-pci","state":"plugged","present":false'
	expect_out '"name":"data disk"'
}

t_usage_errors() {
	kh --help
	expect_rc 0
	expect_out "exit status: 0 done"
	kh -V
	expect_rc 0
	expect_out "^kvm-hotplug [0-9]"
	kh disk add --help
	expect_rc 0
	expect_out "disk add --uuid UUID --path PATH"
	kh check --help
	expect_rc 0
	expect_out "check \[--repair\]"
	kh sync --help
	expect_rc 0
	expect_out "sync \[--prune\] \[--from FILE\]"
	kh
	expect_rc 2
	kh frobnicate
	expect_rc 2
	expect_err "unknown command 'frobnicate'"
	kh -m /x disk add --uuid "$UUID1" --path /x
	expect_rc 2
	expect_err "runtime FILE is required"
	kh -r /x disk remove --uuid "$UUID1"
	expect_rc 2
	expect_err "monitor SOCK is required"
	kh -r /x -m /x disk add --uuid 003fc157 --path /x
	expect_rc 2
	expect_err "'003fc157' is not a UUID"
	kh -r /x -m /x disk add --uuid "$UUID1" --path /x --format vmdk
	expect_rc 2
	expect_err "format: 'vmdk' is not one of raw|qcow2"
	kh -r /x -m /x disk add --uuid "$UUID1" --path /x --slot 32
	expect_rc 2
	expect_err "slot: '32' is not a number 1-31"
	kh -r /x -m /x disk add --uuid "$UUID1" --path /x --bogus
	expect_rc 2
	expect_err "unknown option '--bogus'"
	kh -r /x -m /x disk remove --uuid "$UUID1" --path /x
	expect_rc 2
	expect_err "disk remove does not take '--path'"
	kh -t 0 disk remove --uuid "$UUID1"
	expect_rc 2
	expect_err "timeout: '0' is not a number of seconds"
	kh -j -r /x -m /x disk add --uuid nope --path /x
	expect_rc 2
	expect_out '"exit":2'
}

# getfd with a real tap fd (the NIC path), then closefd: QEMU's open fds
# go up by one and back.
t_getfd_closefd_tap() {
	local ns=kh-test-$$
	ip netns add "$ns" || fail "cannot create a network namespace"
	start_vm vm
	local before after
	before=$(ls "/proc/$PID/fd" | wc -l)
	ip netns exec "$ns" "$QMPCMD" -T khtap0 "$SOCK" getfd '{"fdname":"tap0"}' >/dev/null ||
		{ ip netns del "$ns"; fail "getfd with a tap fd failed"; }
	after=$(ls "/proc/$PID/fd" | wc -l)
	[ "$after" -eq $((before + 1)) ] || { ip netns del "$ns"; fail "QEMU fds $before -> $after"; }
	ls -l "/proc/$PID/fd" | grep -q "net/tun" || { ip netns del "$ns"; fail "QEMU holds no tun fd"; }
	qmp closefd '{"fdname":"tap0"}' >/dev/null || { ip netns del "$ns"; fail "closefd failed"; }
	after=$(ls "/proc/$PID/fd" | wc -l)
	ip netns del "$ns"
	[ "$after" -eq "$before" ] || fail "QEMU fds did not go back: $before -> $after"
}

# ---- NICs, each test in a network namespace of its own ----

MAC1=52:54:00:12:34:56
MAC2=52:54:00:12:34:57

t_nic_add_paused() {
	make_netns
	start_vm vm
	kh -r "$RT" -m "$SOCK" nic add --uuid "$UUID1" --mac "$MAC1" --link br0 --name eth-data
	expect_rc 0
	expect_out "added nic $UUID1: hotnic-003fc157-pci-4 at pci.0 slot 4"
	kh -j -r "$RT" -m "$SOCK" list
	expect_out '"present":true,"name":"eth-data","mac":"52:54:00:12:34:56","tap":"tap[0-9]*","link":"br0"'
	[ "$(slot_of hotnic-003fc157-pci-4)" = 4 ] || fail "QEMU lacks the NIC at slot 4"
	local tap
	tap=$(sed -n 's/^  tap: //p' "$RT")
	[ -n "$tap" ] || fail "runtime file records no tap: $(cat "$RT")"
	in_ns ip -d link show "$tap" | grep -q "master br0" || fail "tap $tap not on br0"
	in_ns ip link show "$tap" | grep -q ",UP" || fail "tap $tap not up"
	in_ns ip -d link show "$tap" | grep -q "vnet_hdr on" || fail "no vnet_hdr"
	[ "$(tap_fds "$tap")" -eq 1 ] || fail "QEMU holds $(tap_fds "$tap") fds of $tap"
	has_netdev hotnic-003fc157-pci-4 || fail "no netdev"
	[ "$(qmp qom-get '{"path": "/machine/peripheral/hotnic-003fc157-pci-4", "property": "mac"}')" = "\"$MAC1\"" ] ||
		fail "QEMU's NIC has another MAC"
	for kv in "mac: '$MAC1'" "mode: bridged" "link: br0" "queues: 1" "vhost: 'off'" "name: eth-data"; do
		grep -q "$kv" "$RT" || fail "runtime file lacks '$kv': $(cat "$RT")"
	done
	# the tool's own fds are closed: only QEMU keeps the tap alive
	kh -j -r "$RT" -m "$SOCK" nic add --uuid "$UUID2" --mac "$MAC2" --link br0 --tap kh0
	expect_rc 0
	expect_out '"id":"hotnic-1b2c3d4e-pci-5","bus":"pci.0","slot":5,"mac":"52:54:00:12:34:57","tap":"kh0"'
	has_link kh0 || fail "named tap kh0 missing"
}

# nic modify checks what the new settings need before the old NIC is
# unplugged: on a VM without a guest an unplug would never finish, so
# each refusal must come at once, with nothing changed.
t_nic_modify_checks_first() {
	[ ! -e /dev/vhost-net ] || fail "this test expects a machine without /dev/vhost-net"
	make_netns
	start_vm vm
	kh -r "$RT" -m "$SOCK" nic add --uuid "$UUID1" --mac "$MAC1" --link br0 --tap kh1
	expect_rc 0
	kh -r "$RT" -m "$SOCK" nic add --uuid "$UUID2" --mac "$MAC2" --link br0 --tap kh2
	expect_rc 0
	snapshot before
	kh -t 1 -r "$RT" -m "$SOCK" nic modify --uuid "$UUID1" --mac "$MAC2"
	expect_rc 1
	expect_err "mac $MAC2 is already used by nic $UUID2"
	same_as before
	kh -t 1 -r "$RT" -m "$SOCK" nic modify --uuid "$UUID1" --tap kh2
	expect_rc 1
	expect_err "interface kh2 already exists"
	same_as before
	kh -t 1 -r "$RT" -m "$SOCK" nic modify --uuid "$UUID1" --vhost on
	expect_rc 3
	expect_err "vhost-net is not available"
	same_as before
	[ "$(tap_fds kh1)" -eq 1 ] || fail "kh1 lost its fd in QEMU"
}

t_nic_multiqueue() {
	make_netns
	start_vm vm
	kh -r "$RT" -m "$SOCK" nic add --uuid "$UUID1" --mac "$MAC1" --link br0 --tap mq0 --queues 4
	expect_rc 0
	[ "$(tap_fds mq0)" -eq 4 ] || fail "QEMU holds $(tap_fds mq0) queues of mq0, not 4"
	in_ns ip -d link show mq0 | grep -q "multi_queue" || fail "mq0 is not multi-queue"
	local dev='{"path": "/machine/peripheral/hotnic-003fc157-pci-4", "property": "'
	[ "$(qmp qom-get "${dev}mq\"}")" = true ] || fail "mq is not on"
	[ "$(qmp qom-get "${dev}vectors\"}")" = 10 ] || fail "vectors is not 2*4+2"
	grep -q "queues: 4" "$RT" || fail "runtime file lacks queues: 4"
}

# No /dev/vhost-net here: auto goes without, on is impossible (exit 3).
t_nic_vhost() {
	[ ! -e /dev/vhost-net ] || fail "this test expects a machine without /dev/vhost-net"
	make_netns
	start_vm vm
	kh -r "$RT" -m "$SOCK" nic add --uuid "$UUID1" --mac "$MAC1" --link br0 --vhost auto
	expect_rc 0
	grep -q "vhost: 'off'" "$RT" || fail "vhost recorded as on"
	snapshot before
	kh -r "$RT" -m "$SOCK" nic add --uuid "$UUID2" --mac "$MAC2" --link br0 --tap kh1 --vhost on
	expect_rc 3
	expect_err "vhost-net is not available"
	same_as before
	! has_link kh1 || fail "tap kh1 left behind"
}

t_nic_bad_input_and_conflicts() {
	make_netns
	start_vm vm
	kh -r "$RT" -m "$SOCK" nic add --uuid "$UUID1" --mac "$MAC1" --link br0 --slot 7
	expect_rc 0
	snapshot before
	kh -r "$RT" -m "$SOCK" nic add --uuid "$UUID2" --mac "$MAC2" --link nosuchbr --tap kh1
	expect_rc 2
	expect_err "bridge nosuchbr does not exist"
	kh -r "$RT" -m "$SOCK" nic add --uuid "$UUID2" --mac "$MAC1" --link br0 --tap kh1
	expect_rc 1
	expect_err "mac $MAC1 is already used by nic $UUID1"
	kh -r "$RT" -m "$SOCK" nic add --uuid "$UUID1" --mac "$MAC2" --link br0 --tap kh1
	expect_rc 1
	expect_err "uuid $UUID1 is already recorded"
	kh -r "$RT" -m "$SOCK" nic add --uuid "$UUID2" --mac "$MAC2" --link br0 --tap kh1 --slot 7
	expect_rc 1
	expect_err "slot 7 on pci.0 is already in use"
	kh -r "$RT" -m "$SOCK" nic add --uuid "$UUID2" --mac 01:00:5e:00:00:01 --link br0
	expect_rc 2
	expect_err "not a unicast MAC"
	kh -r "$RT" -m "$SOCK" nic add --uuid "$UUID2" --mac "$MAC2" --link br0 --queues 17
	expect_rc 2
	expect_err "queues: '17' is not a number 1-16"
	kh -r "$RT" -m "$SOCK" nic add --uuid "$UUID2" --mac "$MAC2" --mode routed
	expect_rc 2
	expect_err "mode routed needs --script"
	kh -r "$RT" -m "$SOCK" nic add --uuid "$UUID2" --mac "$MAC2" --link br0 --tap "bad/name"
	expect_rc 2
	expect_err "is not an interface name"
	kh -r "$RT" -m "$SOCK" nic add --uuid "$UUID2" --mac "$MAC2" --link br0 --tap br0
	expect_rc 1
	expect_err "interface br0 already exists"
	same_as before
	! has_link kh1 || fail "tap kh1 left behind"
}

# QEMU refuses device_add after the fds and the netdev went in: all of it
# is taken back.
t_nic_qemu_refuses_device_add() {
	make_netns
	start_vm vm -device pvpanic,id=hotnic-003fc157-pci-4
	local fds
	fds=$(fd_count)
	snapshot before
	kh -r "$RT" -m "$SOCK" nic add --uuid "$UUID1" --mac "$MAC1" --link br0 --tap kh1 --queues 2
	expect_rc 1
	expect_err "QEMU refused device_add: Duplicate device ID 'hotnic-003fc157-pci-4'"
	same_as before
	no_nic_left kh1 hotnic-003fc157-pci-4
	[ "$(fd_count)" -eq "$fds" ] || fail "QEMU's fds went from $fds to $(fd_count)"
}

# The ifup script gets Ganeti's environment and does the bridging; a
# failing one aborts the add and leaves nothing behind; the ifdown
# counterpart runs when the NIC is removed.
t_nic_script() {
	make_netns
	start_guest g
	mkdir "$T/etc"
	cat >"$T/etc/kvm-ifup-test" <<-'EOS'
	#!/bin/sh
	env | sort > "$(dirname "$0")/up.env"
	echo "$1" > "$(dirname "$0")/up.arg"
	ip link set "$1" master "$BRIDGE" up
	EOS
	cat >"$T/etc/kvm-ifdown-test" <<-'EOS'
	#!/bin/sh
	echo "down $1 $INTERFACE_UUID" > "$(dirname "$0")/down.log"
	EOS
	printf '#!/bin/sh\necho "cannot plug $1" >&2\nexit 3\n' >"$T/etc/failing-ifup"
	chmod +x "$T/etc/"*
	kh -r "$RT" -m "$SOCK" nic add --uuid "$UUID1" --mac "$MAC1" --link br0 --tap kh1 \
		--script "$T/etc/kvm-ifup-test" --name data
	expect_rc 0
	[ "$(cat "$T/etc/up.arg")" = kh1 ] || fail "script got '$(cat "$T/etc/up.arg")', not kh1"
	for kv in INSTANCE=vm INTERFACE=kh1 INTERFACE_UUID="$UUID1" INTERFACE_NAME=data \
		MAC="$MAC1" MODE=bridged LINK=br0 BRIDGE=br0; do
		grep -qx "$kv" "$T/etc/up.env" || fail "script env lacks $kv: $(cat "$T/etc/up.env")"
	done
	! grep -q '^HOME=' "$T/etc/up.env" || fail "script inherited the caller's environment"
	in_ns ip -d link show kh1 | grep -q "master br0" || fail "script's bridging did not happen"
	grep -q "script: $T/etc/kvm-ifup-test" "$RT" || fail "script not recorded"
	snapshot before
	kh -r "$RT" -m "$SOCK" nic add --uuid "$UUID2" --mac "$MAC2" --link br0 --tap kh2 \
		--script "$T/etc/failing-ifup"
	expect_rc 1
	expect_err "failing-ifup failed (exit 3): cannot plug kh2"
	same_as before
	! has_link kh2 || fail "tap kh2 left behind"
	kh -r "$RT" -m "$SOCK" nic remove --uuid "$UUID1"
	expect_rc 0
	[ "$(cat "$T/etc/down.log")" = "down kh1 $UUID1" ] || fail "ifdown did not run"
	! has_link kh1 || fail "tap kh1 left behind"
}

# The point of it all: packets reach the guest through the hot-added NIC,
# and stop when it is removed.
t_nic_packets_flow() {
	make_netns
	GUEST_APPEND=kh.ip=192.0.2.2/24 start_guest g
	kh -r "$RT" -m "$SOCK" nic add --uuid "$UUID1" --mac "$MAC1" --link br0 --tap kh1
	expect_rc 0
	local i
	for i in $(seq 100); do
		grep -q "KH-GUEST-IP" "$T/g.log" && break
		sleep 0.1
	done
	grep -q "KH-GUEST-IP eth0 192.0.2.2/24" "$T/g.log" || fail "guest did not configure the NIC: $(tail -c 300 "$T/g.log")"
	in_ns ping -c 3 -W 2 192.0.2.2 >"$T/ping" || fail "no answer from the guest: $(cat "$T/ping")"
	kh -r "$RT" -m "$SOCK" nic remove --uuid "$UUID1"
	expect_rc 0
	! in_ns ping -c 2 -W 1 192.0.2.2 >/dev/null || fail "the guest still answers"
	no_nic_left kh1 hotnic-003fc157-pci-4
}

# modify = remove + add at the same slot; new settings that fail put the
# old NIC back.
t_nic_modify() {
	make_netns
	GUEST_APPEND=kh.nomodules start_guest g
	in_ns ip link add br1 type bridge
	kh -r "$RT" -m "$SOCK" nic add --uuid "$UUID1" --mac "$MAC1" --link br0 --tap kh1 --slot 9
	expect_rc 0
	kh -r "$RT" -m "$SOCK" nic modify --uuid "$UUID1" --mac "$MAC2" --link br1 --queues 2
	expect_rc 0
	expect_out "modified nic $UUID1: hotnic-003fc157-pci-9 at pci.0 slot 9"
	[ "$(qmp qom-get '{"path": "/machine/peripheral/hotnic-003fc157-pci-9", "property": "mac"}')" = "\"$MAC2\"" ] ||
		fail "QEMU's NIC did not get the new MAC"
	in_ns ip -d link show kh1 | grep -q "master br1" || fail "tap not moved to br1"
	[ "$(tap_fds kh1)" -eq 2 ] || fail "not 2 queues"
	for kv in "mac: '$MAC2'" "link: br1" "queues: 2" "slot: 9" "tap: kh1"; do
		grep -q "$kv" "$RT" || fail "runtime file lacks '$kv': $(cat "$RT")"
	done
	printf '#!/bin/sh\necho "no such network" >&2\nexit 1\n' >"$T/failing-ifup"
	chmod +x "$T/failing-ifup"
	cp "$RT" "$T/rt.before"
	kh -r "$RT" -m "$SOCK" nic modify --uuid "$UUID1" --mode routed --script "$T/failing-ifup"
	expect_rc 1
	expect_err "nic $UUID1 is back as it was: .*failing-ifup failed (exit 1): no such network"
	cmp -s "$RT" "$T/rt.before" || fail "runtime file differs: $(diff "$T/rt.before" "$RT")"
	[ "$(slot_of hotnic-003fc157-pci-9)" = 9 ] || fail "the old NIC is not back at slot 9"
	in_ns ip -d link show kh1 | grep -q "master br1" || fail "the old NIC's tap is not back on br1"
	kh -r "$RT" -m "$SOCK" nic modify --uuid "$UUID1" --slot 4
	expect_rc 2
	expect_err "nic modify does not take '--slot'"
	kh -r "$RT" -m "$SOCK" disk modify --uuid "$UUID1"
	expect_rc 2
	expect_err "disk: unknown subcommand 'modify'"
}

# QEMU dies with a NIC half made: the tool fails, nothing stays behind.
t_nic_killed_qemu() {
	make_netns
	start_vm vm
	kill -9 "$PID"
	while kill -0 "$PID" 2>/dev/null; do sleep 0.05; done
	kh -r "$RT" -m "$SOCK" nic add --uuid "$UUID1" --mac "$MAC1" --link br0 --tap kh1
	expect_rc 1
	expect_err "cannot connect to monitor"
	! has_link kh1 || fail "tap kh1 left behind"
	[ ! -e "$RT" ] || fail "runtime file created"
}

# Many adds and removes leave QEMU's fds where they started.
t_nic_cycles_keep_fds() {
	make_netns
	GUEST_APPEND=kh.nomodules start_guest g
	local fds i n=${NIC_CYCLES:-200}
	fds=$(fd_count)
	for i in $(seq "$n"); do
		kh -q -r "$RT" -m "$SOCK" nic add --uuid "$UUID1" --mac "$MAC1" --link br0
		[ "$RC" -eq 0 ] || fail "cycle $i: add: $ERR"
		kh -q -r "$RT" -m "$SOCK" nic remove --uuid "$UUID1"
		[ "$RC" -eq 0 ] || fail "cycle $i: remove: $ERR"
	done
	[ "$(fd_count)" -eq "$fds" ] || fail "QEMU's fds went from $fds to $(fd_count) in $n cycles"
	[ "$(tun_fds)" -eq 0 ] || fail "QEMU still holds tap fds"
	echo "INFO: $n nic add/remove cycles, QEMU fds $fds -> $(fd_count)"
}

# ---- migration: the runtime file recreates the PCI layout ----

# migrate SRC-SOCK DST-SOCK: live migration over a unix socket, waited for.
migrate() {
	local i status
	"$QMPCMD" "$1" migrate "{\"uri\": \"unix:$T/migration.sock\"}" >/dev/null ||
		fail "migrate refused"
	for i in $(seq 300); do
		status=$("$QMPCMD" "$1" query-migrate | grep -o '"status":"[a-z-]*"' | head -1)
		case $status in
		*completed*) return 0 ;;
		*failed* | *cancelled*) fail "migration $status: $(cat "$T"/dst.log 2>/dev/null | tail -c 300)" ;;
		esac
		sleep 0.1
	done
	fail "migration did not complete in 30 s ($status)"
}

# Hot-add two disks and a NIC, hot-remove a disk, then boot the target from
# the base command line plus `cmdline`, migrate, and use the guest there.
# migration_round TOOL: with TOOL (kh or gkh) on the source, hot-add two
# disks and a NIC and hot-remove a disk; boot the target in a second
# namespace from the base command line plus `cmdline`; migrate; unplug
# there. The NIC's tap is TAP (given, or the one a Ganeti file derives).
migration_round() {
	local tool=$1 src dst args tap=ktap1 tapopt=(--tap ktap1)
	make_netns
	[ "$tool" = gkh ] && tapopt=()
	# RAM not a multiple of 256 KiB: QEMU 7.2 under TCG can leave guest
	# pages stale on the target with one that is (docs/design.md)
	start_guest src -m 131080k
	src=$SOCK
	disk_image "$T/d1.img"
	disk_image "$T/d2.img"
	$tool -m "$src" disk add --uuid "$UUID1" --path "$T/d1.img"
	expect_rc 0
	$tool -m "$src" disk add --uuid "$UUID2" --path "$T/d2.img" --slot 9
	expect_rc 0
	$tool -m "$src" nic add --uuid "$UUID3" --mac "$MAC1" --link br0 "${tapopt[@]}"
	expect_rc 0
	# a Ganeti file's NIC has the kernel's tap, named in Ganeti's nic file
	[ "$tool" = gkh ] && tap=$(cat "$T/ganeti/nic/vm1/0")
	$tool -m "$src" disk remove --uuid "$UUID1"
	expect_rc 0
	$tool -m "$src" check
	expect_rc 0
	$tool cmdline
	expect_rc 0
	mapfile -t args <"$T/out"
	[ "${#args[@]}" -eq 8 ] || fail "cmdline gave ${#args[@]} arguments, not 8: $OUT"
	# the target host: a namespace of its own, where the tap name is free
	make_netns
	launch_guest dst "${args[@]}" -m 131080k -incoming "unix:$T/migration.sock"
	dst=$SOCK
	in_ns ip link set "$tap" master br0 up || fail "target has no tap $tap"
	migrate "$src" "$dst"
	"$QMPCMD" "$dst" query-status | grep -q '"status":"running"' || fail "target not running"
	$tool -m "$dst" check
	expect_rc 0
	# the guest runs on the target: it answers unplugs there
	$tool -m "$dst" disk remove --uuid "$UUID2"
	expect_rc 0
	$tool -m "$dst" nic remove --uuid "$UUID3"
	expect_rc 0
	! has_link "$tap" || fail "target's tap left behind"
}

# Only the VM's live copy is changed: a source left in postmigrate (the VM
# runs on the target now) refuses every change; a target waiting for its
# state takes adds (that is how one is built) but has no guest to
# acknowledge a removal.
t_run_state() {
	disk_image "$T/d1.img"
	start_vm src
	local src=$SOCK
	launch_qemu dst -S -incoming defer
	local dst=$SOCK
	kh -r "$T/dst.runtime" -m "$dst" disk add --uuid "$UUID1" --path "$T/d1.img"
	expect_rc 0
	kh -r "$T/dst.runtime" -m "$dst" disk remove --uuid "$UUID1"
	expect_rc 1
	expect_err "QEMU is in state inmigrate: a migration target has no guest yet"
	grep -q "uuid: $UUID1" "$T/dst.runtime" || fail "the refused removal changed the file"
	launch_qemu dst2 -S -incoming "unix:$T/migration.sock"
	migrate "$src" "$SOCK"
	SOCK=$src
	[ "$(qmp query-status | jq -r .status)" = postmigrate ] || fail "source not in postmigrate"
	snapshot before
	kh -r "$RT" -m "$src" disk add --uuid "$UUID2" --path "$T/d1.img"
	expect_rc 1
	expect_err "QEMU is in state postmigrate: the VM was migrated away and runs elsewhere; nothing changed"
	same_as before
}

t_migration_native() {
	migration_round native_kh
}

# native_kh ARGS: the tool on the test's native runtime file.
native_kh() {
	kh -r "$RT" "$@"
}

# A slot that does not match makes the migration fail: check says so
# first, naming the device; so does a device hot-plugged behind our back.
t_check_finds_differences() {
	start_vm vm
	disk_image "$T/d1.img"
	disk_image "$T/d2.img"
	kh -r "$RT" -m "$SOCK" disk add --uuid "$UUID1" --path "$T/d1.img"
	expect_rc 0
	kh -r "$RT" -m "$SOCK" check
	expect_rc 0
	cp "$RT" "$T/rt.good"
	sed -i 's/slot: 4/slot: 6/' "$RT"
	kh -r "$RT" -m "$SOCK" check
	expect_rc 1
	expect_out "disk hotdisk-003fc157-pci-4: recorded at pci.0 slot 6, QEMU has it at bus 0 slot 4"
	expect_err "1 difference between"
	cp "$T/rt.good" "$RT"
	qmp blockdev-add "{\"driver\": \"raw\", \"node-name\": \"stray\", \"file\": {\"driver\": \"file\", \"filename\": \"$T/d2.img\"}}" >/dev/null
	qmp device_add '{"driver": "virtio-blk-pci", "drive": "stray", "id": "stray", "bus": "pci.0", "addr": "0x8"}' >/dev/null
	kh -j -r "$RT" -m "$SOCK" check
	expect_rc 1
	expect_out '"match":false'
	expect_out '"id":"stray","problem":"hot-plugged, but not recorded"'
	# one JSON object per run, the verdict in it
	[ "$(wc -l <"$T/out")" -eq 1 ] || fail "check --json printed more than one object: $OUT"
	jq -e '.exit == 1 and (.error | test("1 difference between"))' "$T/out" >/dev/null ||
		fail "no verdict in check's object: $OUT"
	# a device hot-plugged without an id lands in peripheral-anon
	disk_image "$T/d3.img"
	qmp blockdev-add "{\"driver\": \"raw\", \"node-name\": \"anon\", \"file\": {\"driver\": \"file\", \"filename\": \"$T/d3.img\"}}" >/dev/null
	qmp device_add '{"driver": "virtio-blk-pci", "drive": "anon", "bus": "pci.0", "addr": "0x9"}' >/dev/null
	kh -r "$RT" -m "$SOCK" check
	expect_rc 1
	expect_out "device /machine/peripheral-anon/device\[[0-9]*\]: hot-plugged without an id, not recorded"
	sed -i '/^- kind: disk/,$d; s/^devices:$/devices: []/' "$RT"
	kh -r "$RT" -m "$SOCK" check
	expect_rc 1
	expect_out "device hotdisk-003fc157-pci-4: hot-plugged, but not recorded"
}

t_cmdline_formats() {
	disk_image "$T/it's.img"
	start_vm vm
	kh -r "$RT" -m "$SOCK" disk add --uuid "$UUID1" --path "$T/it's.img" --mode ro
	expect_rc 0
	kh -r "$RT" cmdline --format shell
	expect_rc 0
	# the shell line is one command line again, quotes and all
	eval "set -- $OUT"
	[ "$#" -eq 4 ] && [ "$1" = -blockdev ] && [ "$3" = -device ] || fail "shell format: $OUT"
	case $2 in *"it's.img"*'"read-only":true'*) ;; *) fail "blockdev: $2" ;; esac
	kh -r "$RT" cmdline --format json
	expect_rc 0
	expect_out '^\["-blockdev","{'
	kh -r "$RT" cmdline --format yaml
	expect_rc 2
	expect_err "format: 'yaml' is not one of lines|shell|json"
	kh cmdline
	expect_rc 2
	expect_err "runtime FILE is required"
}

# ---- Ganeti runtime files ----

GUUID_NIC=11111111-2222-4333-8444-555555555555
GUUID_DISK=22222222-3333-4444-8555-666666666666

# ganeti_file STYLE: a runtime file as Ganeti writes it, in its conf dir.
# newer: hvinfo placement and 12 reserved slots; older: "pci" slots;
# three: an older file without the disks entry.
ganeti_file() {
	local kvm_cmd='["qemu-system-x86_64", "-m", 128, "-name", "vm1", "-S"]'
	local hv='{"disk_cache": "default", "vhost_net": false, "ratio": 1.5, "big": 12345678901234, "kernel_args": "ro"}'
	local nic disk
	mkdir -p "$T/ganeti/conf" "$T/ganeti/ctrl"
	case $1 in
	newer)
		hv='{"disk_cache": "default", "kvm_pci_reservations": 12, "vhost_net": false, "ratio": 1.5}'
		nic='{"mac": "aa:00:00:11:22:33", "nicparams": {"link": "br0", "mode": "bridged", "vlan": ""}, "uuid": "'$GUUID_NIC'", "name": "eth0", "ip": null, "hvinfo": {"driver": "virtio-net-pci", "id": "nic-11111111-2222-4333", "bus": "pci.0", "addr": "0xc"}}'
		disk='[{"uuid": "'$GUUID_DISK'", "dev_type": "plain", "iv_name": "disk/0", "mode": "rw", "size": 1024, "name": null, "hvinfo": {"driver": "virtio-blk-pci", "id": "disk-22222222-3333-4444", "bus": "pci.0", "addr": "0xd"}}, "/dev/xenvg/disk0", null]'
		echo "[$kvm_cmd, [$nic], $hv, [$disk]]" ;;
	older)
		nic='{"mac": "aa:00:00:11:22:33", "nicparams": {"link": "br0", "mode": "bridged"}, "uuid": "'$GUUID_NIC'", "pci": 6}'
		disk='[{"uuid": "'$GUUID_DISK'", "dev_type": "plain", "mode": "rw", "size": 1024, "pci": 7}, "/dev/xenvg/disk0", null]'
		echo "[$kvm_cmd, [$nic], $hv, [$disk]]" ;;
	three)
		nic='{"mac": "aa:00:00:11:22:33", "nicparams": {"link": "br0", "mode": "bridged"}, "uuid": "'$GUUID_NIC'", "pci": 6}'
		echo "[$kvm_cmd, [$nic], $hv]" ;;
	esac >"$T/ganeti/conf/vm1.runtime"
	RT=$T/ganeti/conf/vm1.runtime
}

# gkh ARGS...: the tool on instance vm1 of the test's Ganeti directory.
gkh() {
	kh --instance vm1 --ganeti-dir "$T/ganeti" "$@"
}

# one_json_line FILE: one line, valid JSON, four entries.
one_json_line() {
	[ "$(wc -l <"$1")" -eq 1 ] || fail "$1 is not one line"
	jq -e 'length == 4' "$1" >/dev/null || fail "$1 is not [kvm_cmd, nics, hvparams, disks]: $(cat "$1")"
}

# ganeti_round_trip STYLE NIC-ID DISK-ID: add a disk and a NIC, check their
# entries, remove them: what is left equals the original as JSON.
ganeti_round_trip() {
	local style=$1 nic_id=$2 disk_id=$3
	ganeti_file "$style"
	cp "$RT" "$T/orig.json"
	make_netns
	# where --instance looks for the monitor
	QMP_SOCK=$T/ganeti/ctrl/vm1.qmp GUEST_APPEND=kh.nomodules start_guest vm1
	disk_image "$T/d1.img"
	gkh disk add --uuid "$UUID1" --path "$T/d1.img" --name data
	expect_rc 0
	gkh nic add --uuid "$UUID2" --mac "$MAC1" --link br0 --name lan
	expect_rc 0
	one_json_line "$RT"
	[ "$(slot_of "$disk_id")" != "" ] || fail "QEMU lacks $disk_id"
	[ "$(slot_of "$nic_id")" != "" ] || fail "QEMU lacks $nic_id"
	jq -e --arg u "$UUID1" --arg p "$T/d1.img" '.[3][] | select(.[0].uuid == $u) | .[1] == $p and .[2] == null and .[0].name == "data"' "$RT" >/dev/null ||
		fail "disk entry not Ganeti-shaped: $(cat "$RT")"
	jq -e --arg u "$UUID2" '.[1][] | select(.uuid == $u) | .mac == "'"$MAC1"'" and .nicparams == {"mode": "bridged", "link": "br0"} and .name == "lan"' "$RT" >/dev/null ||
		fail "nic entry not Ganeti-shaped: $(cat "$RT")"
	# what Ganeti reads whenever it starts the VM from the file
	jq -e --arg u "$UUID1" '.[3][] | select(.[0].uuid == $u) | .[0].params == {} and .[0].mode == "rw"' "$RT" >/dev/null ||
		fail "disk entry lacks what Ganeti starts from: $(cat "$RT")"
	# the disk made as Ganeti makes it: a drive named by the id, no node
	has_drive "$disk_id" || fail "no drive $disk_id: $(qmp query-block)"
	! has_node "$disk_id" || fail "a blockdev-add node $disk_id"
	# an fd set stays listed, empty, while the drive holds its own copy
	qmp query-fdsets | jq -e '[.[].fds[]] | length == 0' >/dev/null ||
		fail "fds left in fd sets: $(qmp query-fdsets)"
	# the tap the kernel named, where Ganeti keeps it: NIC 1's nic file
	local tap
	tap=$(cat "$T/ganeti/nic/vm1/1") || fail "no nic file for NIC 1"
	in_ns ip link show "$tap" | grep -q "master br0" || fail "tap '$tap' missing or off br0"
	gkh --json list
	jq -e --arg u "$UUID2" --arg t "$tap" '.devices[] | select(.uuid == $u) | .tap == $t' "$T/out" >/dev/null ||
		fail "list does not show tap $tap: $OUT"
	gkh disk remove --uuid "$UUID1"
	expect_rc 0
	! has_drive "$disk_id" || fail "drive $disk_id left behind"
	gkh nic remove --uuid "$UUID2"
	expect_rc 0
	[ ! -e "$T/ganeti/nic/vm1/1" ] || fail "nic file of the removed NIC left"
	! has_link "$tap" || fail "tap $tap left behind"
	one_json_line "$RT"
	if [ "$style" = three ]; then
		jq -e --slurpfile o "$T/orig.json" '. == $o[0] + [[]]' "$RT" >/dev/null
	else
		jq -e --slurpfile o "$T/orig.json" '. == $o[0]' "$RT" >/dev/null
	fi || fail "not the original again: $(diff <(jq -S . "$T/orig.json") <(jq -S . "$RT"))"
}

t_ganeti_newer_file() {
	ganeti_round_trip newer nic-1b2c3d4e-0000-4000 disk-003fc157-66a8-4e6d
	# placement and ids as newer Ganeti writes them, after the reserved 12
	gkh disk add --uuid "$UUID1" --path "$T/d1.img"
	expect_rc 0
	expect_out "disk-003fc157-66a8-4e6d at pci.0 slot 14"
	jq -e '.[3][1][0].hvinfo == {"driver": "virtio-blk-pci", "id": "disk-003fc157-66a8-4e6d", "bus": "pci.0", "addr": "0xe"}' "$RT" >/dev/null ||
		fail "hvinfo: $(cat "$RT")"
	# what the file cannot hold is refused before QEMU changes
	snapshot before
	gkh disk add --uuid "$UUID3" --path "$T/d1.img" --cache none
	expect_rc 2
	expect_err "Ganeti runtime file cannot record cache 'none'"
	gkh nic add --uuid "$UUID3" --mac "$MAC2" --link br0 --queues 2
	expect_rc 2
	expect_err "cannot record queues '2'"
	same_as before
	[ -z "$(in_ns ip tuntap show)" ] || fail "tap left behind: $(in_ns ip tuntap show)"
}

t_ganeti_older_file() {
	ganeti_round_trip older hotnic-1b2c3d4e-pci-5 hotdisk-003fc157-pci-4
	gkh disk add --uuid "$UUID1" --path "$T/d1.img"
	expect_rc 0
	jq -e '.[3][1][0].pci == 4' "$RT" >/dev/null || fail "not placed with pci: $(cat "$RT")"
	gkh list
	expect_out "$GUUID_NIC nic  hotnic-11111111-pci-6"
}

# nic modify on a Ganeti file keeps what Ganeti has in the NIC's entry.
t_ganeti_modify_keeps_entry() {
	ganeti_file newer
	jq -c '.[1] = [] | .[3] = []' "$RT" >"$T/x" && mv "$T/x" "$RT"
	make_netns
	in_ns ip link add br1 type bridge
	QMP_SOCK=$T/ganeti/ctrl/vm1.qmp GUEST_APPEND=kh.nomodules start_guest vm1
	gkh nic add --uuid "$UUID1" --mac "$MAC1" --link br0
	expect_rc 0
	# what Ganeti itself keeps in the entry
	jq -c '.[1][0].ip = "192.0.2.9" | .[1][0].nicparams.vlan = ""' "$RT" >"$T/x" && mv "$T/x" "$RT"
	gkh nic modify --uuid "$UUID1" --mac "$MAC2" --link br1
	expect_rc 0
	jq -e '.[1] | length == 1' "$RT" >/dev/null || fail "entries: $(cat "$RT")"
	jq -e '.[1][0] | .mac == "'"$MAC2"'" and .ip == "192.0.2.9" and .nicparams == {"link": "br1", "mode": "bridged", "vlan": ""} and .hvinfo.addr == "0xc"' "$RT" >/dev/null ||
		fail "modified entry: $(cat "$RT")"
}

t_ganeti_three_entry_file() {
	ganeti_round_trip three hotnic-1b2c3d4e-pci-5 hotdisk-003fc157-pci-4
}

# Ganeti's own hot-remove of a disk the tool added: device_del and at once
# HMP drive_del (hv_kvm HotDelDevice). Nothing may stay: no drive, no node,
# no fd to the file. A blockdev-add node would answer "in use" and stay.
t_ganeti_removes_tool_disk() {
	ganeti_file newer
	jq -c '.[1] = [] | .[3] = []' "$RT" >"$T/x" && mv "$T/x" "$RT"
	QMP_SOCK=$T/ganeti/ctrl/vm1.qmp GUEST_APPEND=kh.nomodules start_guest vm1
	disk_image "$T/d1.img"
	local fds out id=disk-003fc157-66a8-4e6d
	fds=$(fd_count)
	gkh disk add --uuid "$UUID1" --path "$T/d1.img"
	expect_rc 0
	ls -l /proc/"$PID"/fd | grep -q "$T/d1.img" || fail "QEMU does not hold the file"
	qmp device_del "{\"id\": \"$id\"}" >/dev/null
	# Ganeti ignores the answer: "" if the drive went now, "not found" if
	# the guest was quicker and the drive went with the device
	out=$(qmp human-monitor-command "{\"command-line\": \"drive_del $id\"}")
	echo "INFO: drive_del right after device_del answered $out"
	local i
	for i in $(seq 50); do [ -z "$(slot_of "$id")" ] && break; sleep 0.1; done
	[ -z "$(slot_of "$id")" ] || fail "the guest did not release $id"
	sleep 0.2
	! has_drive "$id" || fail "drive $id left"
	! qmp query-named-block-nodes | grep -q d1.img || fail "a node still opens d1.img"
	! ls -l /proc/"$PID"/fd | grep -q "$T/d1.img" || fail "QEMU still holds d1.img"
	[ "$(fd_count)" -eq "$fds" ] || fail "QEMU has $(fd_count) fds, had $fds"
}

# A Ganeti file gives every NIC its hvparams' queues and vhost: a NIC
# added without --queues or --vhost gets them, as Ganeti's own would,
# instead of being refused as one the file cannot record.
t_ganeti_nic_follows_hvparams() {
	[ ! -e /dev/vhost-net ] || fail "this test expects a machine without /dev/vhost-net"
	ganeti_file newer
	jq -c '.[1] = [] | .[3] = [] | .[2].virtio_net_queues = 2' "$RT" >"$T/x" && mv "$T/x" "$RT"
	make_netns
	QMP_SOCK=$T/ganeti/ctrl/vm1.qmp start_vm vm1
	gkh nic add --uuid "$UUID1" --mac "$MAC1" --link br0
	expect_rc 0
	[ "$(tap_fds "$(cat "$T/ganeti/nic/vm1/0")")" -eq 2 ] || fail "not 2 queues"
	gkh nic add --uuid "$UUID2" --mac "$MAC2" --link br0 --queues 1
	expect_rc 2
	expect_err "cannot record queues '1'"
	# vhost_net: the NIC must have vhost, which this host cannot give
	jq -c '.[2].vhost_net = true' "$RT" >"$T/x" && mv "$T/x" "$RT"
	snapshot before
	gkh nic add --uuid "$UUID2" --mac "$MAC2" --link br0
	expect_rc 3
	expect_err "vhost-net is not available"
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

# Two NICs whose uuids share the first group: each gets a tap of its own
# (the kernel's names), each named in its nic file.
t_ganeti_nics_share_uuid_group() {
	ganeti_file newer
	jq -c '.[1] = [] | .[3] = []' "$RT" >"$T/x" && mv "$T/x" "$RT"
	make_netns
	QMP_SOCK=$T/ganeti/ctrl/vm1.qmp start_vm vm1
	gkh nic add --uuid 1b2c3d4e-0000-4000-8000-000000000002 --mac "$MAC1" --link br0
	expect_rc 0
	gkh nic add --uuid 1b2c3d4e-1111-4000-8000-000000000005 --mac "$MAC2" --link br0
	expect_rc 0
	local t0 t1
	t0=$(cat "$T/ganeti/nic/vm1/0") && t1=$(cat "$T/ganeti/nic/vm1/1") || fail "nic files missing"
	[ "$t0" != "$t1" ] || fail "both NICs name tap $t0"
	[ "$(tap_fds "$t0")" -eq 1 ] && [ "$(tap_fds "$t1")" -eq 1 ] ||
		fail "QEMU does not hold both taps ($t0, $t1)"
}

# A VM Ganeti started has its disks as -drive ...,id=ID: a drive (a
# BlockBackend) named by the id, whose node has an automatic name.
t_check_ganeti_started_vm() {
	ganeti_file newer
	disk_image "$T/boot.img"
	jq -c --arg p "$T/boot.img" '.[1] = [] | .[3][0][1] = $p' "$RT" >"$T/x" && mv "$T/x" "$RT"
	QMP_SOCK=$T/ganeti/ctrl/vm1.qmp start_vm vm1 \
		-drive "file=$T/boot.img,format=raw,if=none,aio=threads,id=disk-22222222-3333-4444,auto-read-only=off" \
		-device virtio-blk-pci,id=disk-22222222-3333-4444,bus=pci.0,addr=0xd,drive=disk-22222222-3333-4444
	gkh check
	expect_rc 0
	expect_out "matches the VM: 1 device$"
	# and one whose drive is gone is told
	qmp human-monitor-command '{"command-line": "drive_del disk-22222222-3333-4444"}' >/dev/null
	gkh check
	expect_rc 1
	expect_out "QEMU has no block node or drive disk-22222222-3333-4444"
}

# Ganeti starts no VM with a read-only disk: one is refused before QEMU
# changes, not recorded for the next soft reboot to fail on.
t_ganeti_refuses_readonly_disk() {
	ganeti_file newer
	jq -c '.[1] = [] | .[3] = []' "$RT" >"$T/x" && mv "$T/x" "$RT"
	QMP_SOCK=$T/ganeti/ctrl/vm1.qmp start_vm vm1
	disk_image "$T/d1.img"
	snapshot before
	gkh disk add --uuid "$UUID1" --path "$T/d1.img" --mode ro
	expect_rc 2
	expect_err "Ganeti starts no VM with a read-only disk"
	same_as before
}

# sync from a Ganeti hook's environment: what the configuration has after
# the change (the POST set) is added, idempotently; --prune removes what
# it no longer has; what cannot be made here is told, with exit 3.
t_sync_hook_env() {
	ganeti_file newer
	jq -c '.[1] = [] | .[3] = []' "$RT" >"$T/x" && mv "$T/x" "$RT"
	make_netns
	QMP_SOCK=$T/ganeti/ctrl/vm1.qmp GUEST_APPEND=kh.nomodules start_guest vm1
	disk_image "$T/d1.img"
	export GANETI_HOOKS_PHASE=post GANETI_INSTANCE_NAME=vm1
	export GANETI_INSTANCE_NIC_COUNT=0 GANETI_INSTANCE_DISK_COUNT=0
	export GANETI_POST_INSTANCE_NIC_COUNT=1 GANETI_POST_INSTANCE_DISK_COUNT=1
	export GANETI_POST_INSTANCE_NIC0_UUID=$UUID2 GANETI_POST_INSTANCE_NIC0_MAC=$MAC1
	export GANETI_POST_INSTANCE_NIC0_MODE=bridged GANETI_POST_INSTANCE_NIC0_LINK=br0
	export GANETI_POST_INSTANCE_DISK0_UUID=$UUID1 GANETI_POST_INSTANCE_DISK0_DEV_TYPE=file
	export GANETI_POST_INSTANCE_DISK0_DRIVER=loop GANETI_POST_INSTANCE_DISK0_ID=$T/d1.img
	export GANETI_POST_INSTANCE_DISK0_MODE=rw GANETI_POST_INSTANCE_DISK0_SIZE=16
	gkh --json sync
	expect_rc 0
	[ "$(wc -l <"$T/out")" -eq 1 ] || fail "not one JSON object: $OUT"
	jq -e '[.actions[] | .action + " " + .kind + " " + (.exit | tostring)] == ["add nic 0", "add disk 0"]' "$T/out" >/dev/null ||
		fail "actions: $OUT"
	[ -n "$(slot_of nic-1b2c3d4e-0000-4000)" ] && [ -n "$(slot_of disk-003fc157-66a8-4e6d)" ] ||
		fail "QEMU lacks the devices"
	# the disk entry has what Ganeti knows of it
	jq -e --arg p "$T/d1.img" '.[3][0][0] | .dev_type == "file" and .logical_id == ["loop", $p] and .iv_name == "disk/0" and .size == 16 and .params == {}' "$RT" >/dev/null ||
		fail "disk entry: $(cat "$RT")"
	cp "$RT" "$T/synced"
	gkh --json sync --prune
	expect_rc 0
	jq -e '.actions == []' "$T/out" >/dev/null || fail "second sync did something: $OUT"
	cmp -s "$RT" "$T/synced" || fail "second sync changed the file"
	gkh check
	expect_rc 0
	# the NIC is gone from the configuration; a drbd disk came
	export GANETI_POST_INSTANCE_NIC_COUNT=0 GANETI_POST_INSTANCE_DISK_COUNT=2
	export GANETI_POST_INSTANCE_DISK1_UUID=$UUID3 GANETI_POST_INSTANCE_DISK1_DEV_TYPE=drbd
	gkh sync --prune
	expect_rc 3
	expect_out "removed nic $UUID2"
	expect_out "not done: add disk $UUID3: disk type drbd"
	grep -q "1 of 2 changes take effect at the next reboot" "$T/err" || fail "stderr: $ERR"
	[ -z "$(slot_of nic-1b2c3d4e-0000-4000)" ] || fail "the NIC is still in QEMU"
	# without --prune nothing is removed; the pre phase changes nothing
	export GANETI_POST_INSTANCE_DISK_COUNT=0
	gkh sync
	expect_rc 0
	[ -n "$(slot_of disk-003fc157-66a8-4e6d)" ] || fail "sync without --prune removed the disk"
	GANETI_HOOKS_PHASE=pre gkh sync --prune
	expect_rc 0
	[ -n "$(slot_of disk-003fc157-66a8-4e6d)" ] || fail "the pre phase removed the disk"
	# a disk that cannot be made here but is recorded already is no change
	export GANETI_POST_INSTANCE_DISK_COUNT=1 GANETI_POST_INSTANCE_DISK0_DEV_TYPE=drbd
	gkh sync
	expect_rc 0
	expect_out "vm1: the VM has what the configuration says"
	# an instance that does not run on this node: nothing to do, no file made
	kh --instance vm2 --ganeti-dir "$T/ganeti" sync --prune
	expect_rc 0
	[ "$OUT" = "vm2 does not run on this node: nothing to do" ] || fail "sync said: $OUT"
	[ -z "$(ls "$T/ganeti/conf" | grep vm2)" ] || fail "files made for vm2: $(ls "$T/ganeti/conf")"
	# no hook environment at all
	env -u GANETI_POST_INSTANCE_NIC_COUNT -u GANETI_POST_INSTANCE_DISK_COUNT \
		-u GANETI_INSTANCE_NIC_COUNT -u GANETI_INSTANCE_DISK_COUNT \
		"$KH" --instance vm1 --ganeti-dir "$T/ganeti" sync >"$T/out" 2>"$T/err" && RC=0 || RC=$?
	ERR=$(cat "$T/err")
	expect_rc 2
	expect_err "no Ganeti hook environment"
}

# sync --from FILE: a desired-state file in the native format.
t_sync_from_file() {
	make_netns
	start_guest vm
	disk_image "$T/d1.img"
	cat >"$T/want.yaml" <<-EOF
	version: 1
	devices:
	- kind: disk
	  uuid: $UUID1
	  id: hotdisk-003fc157-pci-9
	  bus: pci.0
	  slot: 9
	  driver: virtio-blk-pci
	  path: $T/d1.img
	  format: raw
	  cache: default
	  mode: rw
	  discard: ignore
	EOF
	kh -r "$RT" -m "$SOCK" sync --from "$T/want.yaml"
	expect_rc 0
	expect_out "added disk $UUID1"
	kh -r "$RT" -m "$SOCK" sync --from "$T/want.yaml"
	expect_rc 0
	expect_out "the VM has what the configuration says"
	printf 'version: 1\ndevices: []\n' >"$T/none.yaml"
	kh -r "$RT" -m "$SOCK" sync --prune --from "$T/none.yaml"
	expect_rc 0
	expect_out "removed disk $UUID1"
	kh -r "$RT" -m "$SOCK" sync --from "$T/missing.yaml"
	expect_rc 2
	expect_err "from: .*missing.yaml: no such runtime file"
}

# --instance names a Ganeti instance: without its runtime file it does not
# run here, and nothing is written into Ganeti's directory.
t_ganeti_instance_without_file() {
	mkdir -p "$T/ganeti/conf" "$T/ganeti/ctrl"
	start_vm vm
	disk_image "$T/d1.img"
	kh --instance vm9 --ganeti-dir "$T/ganeti" -m "$SOCK" disk add --uuid "$UUID1" --path "$T/d1.img"
	expect_rc 2
	expect_err "instance vm9 has no runtime file .*: it does not run on this node"
	kh --instance vm9 --ganeti-dir "$T/ganeti" -m "$SOCK" nic remove --uuid "$UUID1"
	expect_rc 2
	kh --instance vm9 --ganeti-dir "$T/ganeti" -m "$SOCK" check --repair
	expect_rc 2
	[ -z "$(ls -A "$T/ganeti/conf")" ] || fail "files made in Ganeti's conf: $(ls -A "$T/ganeti/conf")"
	[ -z "$(slot_of hotdisk-003fc157-pci-4)$(slot_of disk-003fc157-66a8-4e6d)" ] || fail "QEMU changed"
}

# A Ganeti file with a SCSI disk (hvinfo bus scsi.0, channel, scsi-id,
# lun: no PCI placement) is not refused: the entry is kept as it is and
# the tool manages the rest.
t_ganeti_scsi_disk_kept() {
	ganeti_file newer
	local scsi='[{"uuid": "44444444-5555-4666-8777-888888888888", "dev_type": "plain", "mode": "rw", "size": 1024, "hvinfo": {"driver": "scsi-hd", "id": "disk-44444444-5555-4666", "bus": "scsi.0", "channel": 0, "scsi-id": 1, "lun": 0}}, "/dev/xenvg/disk9", null]'
	jq -c --argjson d "$scsi" '.[1] = [] | .[3] = [$d]' "$RT" >"$T/x" && mv "$T/x" "$RT"
	QMP_SOCK=$T/ganeti/ctrl/vm1.qmp start_vm vm1
	disk_image "$T/d1.img"
	gkh disk add --uuid "$UUID1" --path "$T/d1.img"
	expect_rc 0
	jq -e --argjson d "$scsi" '.[3][0] == $d and (.[3] | length) == 2' "$RT" >/dev/null ||
		fail "the SCSI disk's entry changed: $(cat "$RT")"
	gkh list
	expect_rc 0
	gkh disk remove --uuid 44444444-5555-4666-8777-888888888888
	expect_rc 1
	expect_err "no disk with uuid 44444444-5555-4666-8777-888888888888"
}

t_ganeti_bad_files() {
	mkdir -p "$T/ganeti/conf"
	RT=$T/ganeti/conf/vm1.runtime
	for bad in '[["kvm"], [], {}' '[["kvm"], [], {}, [], []]' '[["kvm"], {}, {}, []]' \
		'[["kvm"], [{"uuid": "'$GUUID_NIC'", "mac": "aa:00:00:11:22:33", "pci": 40}], {}, []]'; do
		printf '%s\n' "$bad" >"$RT"
		cp "$RT" "$T/bad"
		gkh -m /nonexistent list
		expect_rc 2
		expect_err "vm1.runtime: "
		cmp -s "$RT" "$T/bad" || fail "bad file changed"
	done
	kh --instance ../x disk remove --uuid "$UUID1"
	expect_rc 2
	expect_err "is not an instance name"
}

t_migration_ganeti() {
	ganeti_file newer
	sed -i 's/"kvm_pci_reservations": 12/"kvm_pci_reservations": 4/' "$RT"
	jq -c '.[1] = [] | .[3] = []' "$RT" >"$T/x" && mv "$T/x" "$RT"
	migration_round gkh
}

# ---- hostile input, full disks, crowds (issue 5) ----

# One row per bad input: expected exit, a phrase of the one-line error,
# then the arguments. Each leaves the runtime file and the VM as they were.
bad_input_rows() {
	local x300 ctl
	x300=$(printf 'x%.0s' $(seq 300))
	ctl=$(printf 'a\001b')
	cat <<-ROWS
	2	no command given
	2	unknown command 'frob'	frob
	2	unknown option '--bogus'	--bogus list
	2	missing value for '-r'	-r
	2	timeout: 'abc' is not a number	-t abc list
	2	timeout: '-1' is not a number	-t -1 list
	2	timeout: '0' is not a number	-t 0 list
	2	disk: add or remove?	disk
	2	disk: unknown subcommand 'frob'	disk frob
	2	disk add: --uuid is required	disk add --path $T/d.img
	2	disk add: --path is required	disk add --uuid $UUID2
	2	is not a UUID	disk add --uuid 003fc157 --path $T/d.img
	2	is not a UUID	disk add --uuid $UUID2$UUID2 --path $T/d.img
	2	is not a UUID	disk add --uuid $ctl --path $T/d.img
	2	is not a UUID	disk remove --uuid 003fc157-66a8-4e6d-8b7e-ec4f6975139g
	2	is not absolute	disk add --uuid $UUID2 --path rel.img
	2	No such file or directory	disk add --uuid $UUID2 --path $T/missing.img
	2	not a regular file or block device	disk add --uuid $UUID2 --path $T
	2	not a regular file or block device	disk add --uuid $UUID2 --path /dev/null
	2	--path: too long	disk add --uuid $UUID2 --path /$x300$x300$x300$x300$x300$x300$x300$x300$x300$x300$x300$x300$x300$x300
	2	format: 'vmdk' is not one of raw|qcow2	disk add --uuid $UUID2 --path $T/d.img --format vmdk
	2	cache: 'fast' is not one of	disk add --uuid $UUID2 --path $T/d.img --cache fast
	2	mode: 'rx' is not one of rw|ro	disk add --uuid $UUID2 --path $T/d.img --mode rx
	2	discard: 'yes' is not one of	disk add --uuid $UUID2 --path $T/d.img --discard yes
	2	slot: '0' is not a number 1-31	disk add --uuid $UUID2 --path $T/d.img --slot 0
	2	slot: '32' is not a number 1-31	disk add --uuid $UUID2 --path $T/d.img --slot 32
	2	slot: '4x' is not a number	disk add --uuid $UUID2 --path $T/d.img --slot 4x
	2	name: must be 1-128 characters	disk add --uuid $UUID2 --path $T/d.img --name $x300
	2	control characters are not allowed	disk add --uuid $UUID2 --path $T/d.img --name $ctl
	2	disk remove does not take '--path'	disk remove --uuid $UUID1 --path $T/d.img
	2	unexpected argument 'extra'	disk remove --uuid $UUID1 extra
	2	nic add: --mac is required	nic add --uuid $UUID2 --link br0
	2	not a unicast MAC	nic add --uuid $UUID2 --mac 52:54:00:12:34 --link br0
	2	not a unicast MAC	nic add --uuid $UUID2 --mac 01:00:5e:00:00:01 --link br0
	2	not a unicast MAC	nic add --uuid $UUID2 --mac ff:ff:ff:ff:ff:ff --link br0
	2	not a unicast MAC	nic add --uuid $UUID2 --mac 52-54-00-12-34-56 --link br0
	2	queues: '0' is not a number 1-16	nic add --uuid $UUID2 --mac $MAC1 --link br0 --queues 0
	2	vhost: 'maybe' is not one of on|off|auto	nic add --uuid $UUID2 --mac $MAC1 --link br0 --vhost maybe
	2	--tap: 'a/b' is not an interface name	nic add --uuid $UUID2 --mac $MAC1 --link br0 --tap a/b
	2	--tap: 'kh%d' is not an interface name	nic add --uuid $UUID2 --mac $MAC1 --link br0 --tap kh%d
	2	is not an interface name	nic add --uuid $UUID2 --mac $MAC1 --link br0 --tap abcdefghijklmnop
	2	bridge nosuchbr does not exist	nic add --uuid $UUID2 --mac $MAC1 --link nosuchbr
	2	--mode routed needs --script	nic add --uuid $UUID2 --mac $MAC1 --mode routed
	2	--mode bridged needs --link BRIDGE or --script	nic add --uuid $UUID2 --mac $MAC1
	2	is not an executable with an absolute path	nic add --uuid $UUID2 --mac $MAC1 --script ifup
	2	is not an executable with an absolute path	nic add --uuid $UUID2 --mac $MAC1 --script $T/d.img
	2	is not an executable with an absolute path	nic add --uuid $UUID2 --mac $MAC1 --script $T
	2	--tap: '-x' is not an interface name	nic add --uuid $UUID2 --mac $MAC1 --link br0 --tap -x
	2	nic remove does not take '--mac'	nic remove --uuid $UUID1 --mac $MAC1
	2	list: unexpected argument	list now
	2	format: 'yaml' is not one of	cmdline --format yaml
	2	is not an instance name	--instance ../vm list
	2	--ganeti-dir goes with --instance	--ganeti-dir /tmp list
	2	dev-type: 'zfs' is not one of	disk add --uuid $UUID2 --path $T/d.img --dev-type zfs
	2	timeout: '100000' is not a number of seconds above 0 and up to 86400	-t 100000 list
	2	--ganeti-dir: /nonexistent: No such file or directory	--instance vm --ganeti-dir /nonexistent list
	1	slot 2 on pci.0 is reserved (reserved-slots)	disk add --uuid $UUID2 --path $T/d.img --slot 2
	1	Connection refused (is QEMU running?)	-m $T/dead.sock list
	1	No such file or directory (is QEMU running?)	-m $T/gone.sock list
	2	nic add does not take '--dev-type'	nic add --uuid $UUID2 --mac $MAC1 --link br0 --dev-type file
	2	sync: unexpected argument 'now'	sync now
	2	sync: unexpected argument '--from'	sync --from
	2	no Ganeti hook environment	sync --prune
	2	from: .*nope.yaml: no such runtime file	sync --from $T/nope.yaml
	1	a device with uuid $UUID1 is already recorded	disk add --uuid $UUID1 --path $T/d.img --mode ro
	1	no nic with uuid $UUID1	nic remove --uuid $UUID1
	ROWS
}

t_bad_input_catalogue() {
	make_netns
	start_vm vm
	disk_image "$T/d.img"
	kh -r "$RT" -m "$SOCK" disk add --uuid "$UUID1" --path "$T/d.img"
	expect_rc 0
	# the socket of a QEMU that is gone: nobody listens on it
	python3 -c 'import socket, sys; socket.socket(socket.AF_UNIX).bind(sys.argv[1])' "$T/dead.sock"
	snapshot before
	local rc phrase args n=0
	while IFS=$'\t' read -r rc phrase args; do
		# shellcheck disable=SC2086 # the row's words are the arguments
		case $args in
		--instance* | --ganeti-dir*) kh $args ;;
		*) kh -r "$RT" -m "$SOCK" $args ;;
		esac
		[ "$RC" -eq "$rc" ] || fail "row '$args': exit $RC, expected $rc: $ERR"
		expect_err "$phrase"
		same_as before
		n=$((n + 1))
	done < <(bad_input_rows)
	[ "$n" -ge 40 ] || fail "only $n bad inputs"
	# bad runtime files: exit 2, the file left as it was
	for content in 'garbage: [' '' $'\x7fELF\x01\x02' '[1, 2' 'version: 7'; do
		printf '%s' "$content" >"$T/bad.runtime"
		cp "$T/bad.runtime" "$T/bad.copy"
		kh -r "$T/bad.runtime" -m "$SOCK" disk add --uuid "$UUID2" --path "$T/d.img"
		[ "$RC" -eq 2 ] || fail "runtime file '$content': exit $RC: $ERR"
		expect_err "bad.runtime"
		cmp -s "$T/bad.runtime" "$T/bad.copy" || fail "bad runtime file rewritten"
		same_as before
	done
	mkdir "$T/dir.runtime"
	kh -r "$T/dir.runtime" -m "$SOCK" list
	[ "$RC" -eq 2 ] || fail "directory as runtime file: exit $RC"
	expect_err "not a regular file"
	ln -s "$RT" "$T/link.runtime"
	kh -r "$T/link.runtime" -m "$SOCK" disk add --uuid "$UUID2" --path "$T/d.img"
	[ "$RC" -eq 2 ] || fail "symlink as runtime file: exit $RC"
	expect_err "link.runtime: a symlink, which the rewrite would replace by a file"
	same_as before
	echo "INFO: $n bad inputs and 6 bad runtime files refused, nothing changed"
}

# The runtime file's directory full, or read-only: exit 1, the VM as it
# was, the old file intact.
t_storage_faults() {
	start_vm vm
	mkdir "$T/mnt"
	mount -t tmpfs -o size=64k tmpfs "$T/mnt" || fail "cannot mount a tmpfs"
	RT=$T/mnt/vm.runtime
	disk_image "$T/d1.img"
	disk_image "$T/d2.img"
	kh -r "$RT" -m "$SOCK" disk add --uuid "$UUID1" --path "$T/d1.img"
	expect_rc 0
	dd if=/dev/zero of="$T/mnt/fill" bs=4k 2>/dev/null
	snapshot before
	kh -r "$RT" -m "$SOCK" disk add --uuid "$UUID2" --path "$T/d2.img"
	expect_rc 1
	expect_err "No space left on device"
	same_as before
	rm "$T/mnt/fill"
	mount -o remount,ro "$T/mnt"
	kh -r "$RT" -m "$SOCK" disk add --uuid "$UUID2" --path "$T/d2.img"
	expect_rc 1
	expect_err "Read-only file system"
	same_as before
	umount "$T/mnt"
}

# 16 invocations at once, adds and removes mixed: all finish within the
# timeout, on distinct slots, and the file matches the VM.
t_concurrent_invocations() {
	make_netns
	GUEST_APPEND=kh.nomodules start_guest vm
	local i pids=() uuid
	for i in $(seq 10 17); do
		disk_image "$T/d$i.img"
		kh -r "$RT" -m "$SOCK" disk add --uuid "00000000-0000-4000-8000-0000000000$i" --path "$T/d$i.img"
		expect_rc 0
	done
	for i in $(seq 10 25); do
		uuid=00000000-0000-4000-8000-0000000000$i
		if [ "$i" -le 17 ]; then
			in_ns "$KH" -q -r "$RT" -m "$SOCK" disk remove --uuid "$uuid" 2>"$T/err.$i" &
		elif [ $((i % 2)) -eq 0 ]; then
			disk_image "$T/d$i.img"
			in_ns "$KH" -q -r "$RT" -m "$SOCK" disk add --uuid "$uuid" --path "$T/d$i.img" 2>"$T/err.$i" &
		else
			in_ns "$KH" -q -r "$RT" -m "$SOCK" nic add --uuid "$uuid" --mac "52:54:00:00:00:$i" --link br0 2>"$T/err.$i" &
		fi
		pids+=($!)
	done
	for i in "${!pids[@]}"; do
		wait "${pids[$i]}" || fail "invocation $i failed: $(cat "$T/err.$((i + 10))")"
	done
	kh -r "$RT" -m "$SOCK" check
	expect_rc 0
	expect_out "matches the VM: 8 devices"
	[ "$(grep -c '^  slot:' "$RT")" -eq 8 ] || fail "not 8 devices"
	[ "$(grep '^  slot:' "$RT" | sort | uniq -d)" = "" ] || fail "a slot twice"
}

# A full add and remove of each kind under valgrind: no leak, no error.
t_valgrind_add_remove() {
	[ -x "${KH_PLAIN:-}" ] || fail "KH_PLAIN (the tool without sanitizers) not set"
	make_netns
	GUEST_APPEND=kh.nomodules start_guest vm
	disk_image "$T/d1.img"
	local vg=(valgrind -q --leak-check=full --show-leak-kinds=all
		--errors-for-leak-kinds=all --error-exitcode=99 --track-fds=yes)
	for args in "disk add --uuid $UUID1 --path $T/d1.img" "disk remove --uuid $UUID1" \
		"nic add --uuid $UUID2 --mac $MAC1 --link br0 --queues 2" "nic remove --uuid $UUID2"; do
		# shellcheck disable=SC2086
		in_ns "${vg[@]}" "$KH_PLAIN" -r "$RT" -m "$SOCK" $args >"$T/vg.out" 2>"$T/vg.err" ||
			fail "valgrind: $args: $(cat "$T/vg.err")"
		! grep -q "Open file descriptor [3-9]" "$T/vg.err" || fail "fd left open: $(cat "$T/vg.err")"
	done
}

# The tool killed at every step of every operation: after check --repair
# the file and the VM agree, and nothing half-made is left in QEMU or on
# the host.
settled() {
	local why=$1 nodes ids
	[ ! -e "$RT.intent" ] || fail "$why: intent record left"
	[ -z "$(find "$T" -maxdepth 1 -name '.*.tmp.*')" ] || fail "$why: temporary file left"
	# a first add that died before QEMU had anything leaves no file
	if [ -e "$RT" ]; then
		kh -r "$RT" -m "$SOCK" check
		[ "$RC" -eq 0 ] || fail "$why: check after repair: $OUT $ERR"
	else
		touch "$RT.none"
		RT_SAVED=$RT RT=$RT.none
	fi
	# block nodes: exactly the recorded disks' (and their file children)
	nodes=$(qmp query-named-block-nodes | grep -o '"node-name":"hot[^"]*"' | sort -u | cut -d'"' -f4)
	ids=$(grep -o 'hotdisk-[^ ]*' "$RT" | sort -u)
	[ "$nodes" = "$ids" ] || fail "$why: block nodes '$nodes', recorded '$ids'"
	[ "$(tun_fds)" -eq "$(awk '/^  queues:/ { n += $2 } END { print n + 0 }' "$RT")" ] ||
		fail "$why: QEMU holds $(tun_fds) tap fds"
	if grep -q 'kind: nic' "$RT"; then has_netdev hotnic || fail "$why: netdev missing"
	else ! has_netdev hotnic || fail "$why: netdev left"; fi
	[ "$(in_ns ip -o link show | grep -c ' kh')" -eq "$(grep -c 'kind: nic' "$RT")" ] ||
		fail "$why: taps: $(in_ns ip -o link show | grep ' kh')"
	if [ -n "${RT_SAVED:-}" ]; then
		RT=$RT_SAVED RT_SAVED=
	fi
}

t_kill_at_every_step() {
	make_netns
	GUEST_APPEND=kh.nomodules start_guest vm
	disk_image "$T/d1.img"
	local p n=0 add_disk add_nic
	add_disk=(disk add --uuid "$UUID1" --path "$T/d1.img")
	add_nic=(nic add --uuid "$UUID2" --mac "$MAC1" --link br0 --tap kh0 --queues 2)
	for p in add-intent after-backend after-device_add before-commit after-commit; do
		KH_FAULT=$p kh -r "$RT" -m "$SOCK" "${add_disk[@]}"
		[ "$RC" -eq 137 ] || fail "disk add was not killed at $p (exit $RC)"
		kh -r "$RT" -m "$SOCK" check --repair
		settled "disk add killed at $p"
		kh -r "$RT" -m "$SOCK" disk remove --uuid "$UUID1"	# back to empty, if it got in
		n=$((n + 1))
	done
	for p in add-intent after-getfd after-netdev_add after-device_add before-commit after-commit; do
		KH_FAULT=$p kh -r "$RT" -m "$SOCK" "${add_nic[@]}"
		[ "$RC" -eq 137 ] || fail "nic add was not killed at $p (exit $RC)"
		kh -r "$RT" -m "$SOCK" check --repair
		settled "nic add killed at $p"
		kh -r "$RT" -m "$SOCK" nic remove --uuid "$UUID2"
		n=$((n + 1))
	done
	for p in remove-intent after-unplug after-release after-commit-remove; do
		for kind in disk nic; do
			if [ "$kind" = disk ]; then
				kh -r "$RT" -m "$SOCK" "${add_disk[@]}"
				uuid=$UUID1
			else
				kh -r "$RT" -m "$SOCK" "${add_nic[@]}"
				uuid=$UUID2
			fi
			expect_rc 0
			KH_FAULT=$p kh -r "$RT" -m "$SOCK" "$kind" remove --uuid "$uuid"
			[ "$RC" -eq 137 ] || fail "$kind remove was not killed at $p (exit $RC)"
			kh -r "$RT" -m "$SOCK" check --repair
			settled "$kind remove killed at $p"
			# the next run finishes what is left (it may be done already)
			kh -r "$RT" -m "$SOCK" "$kind" remove --uuid "$uuid"
			n=$((n + 1))
		done
	done
	# the next ordinary run settles it too, and says what it did
	KH_FAULT=after-backend kh -r "$RT" -m "$SOCK" "${add_disk[@]}"
	[ "$RC" -eq 137 ] || fail "not killed"
	disk_image "$T/d2.img"
	kh -r "$RT" -m "$SOCK" disk add --uuid "$UUID3" --path "$T/d2.img"
	expect_rc 0
	grep -q "an interrupted add of hotdisk-003fc157-pci-4: QEMU does not have it, its leftovers released" "$T/err" ||
		fail "the settling was not said: $ERR"
	kh -r "$RT" -m "$SOCK" disk remove --uuid "$UUID3"
	expect_rc 0
	settled "the end"
	echo "INFO: $n kill points exercised, each settled"
	[ "$n" -eq 19 ] || fail "$n kill points, not 19"
}

# A signal during a removal's wait (a hook's caller timing it out, ^C)
# leaves the removal recorded as pending, as a timeout does, and check
# (the gate before migration) fails while it is; so it does while any
# interrupted run is not settled.
t_signal_during_removal() {
	start_vm vm	# no guest: the unplug is never acknowledged
	disk_image "$T/d1.img"
	kh -r "$RT" -m "$SOCK" disk add --uuid "$UUID1" --path "$T/d1.img"
	expect_rc 0
	local sig tool rc
	for sig in TERM INT HUP; do
		"$KH" -t 30 -r "$RT" -m "$SOCK" disk remove --uuid "$UUID1" >"$T/out" 2>"$T/err" &
		tool=$!
		sleep 1
		kill -"$sig" "$tool"
		rc=0
		wait "$tool" || rc=$?
		[ "$rc" -eq 4 ] || fail "SIG$sig: exit $rc, expected 4: $(cat "$T/err")"
		grep -q "waiting for the guest to release hotdisk-003fc157-pci-4: interrupted by signal" "$T/err" ||
			fail "SIG$sig: $(cat "$T/err")"
		grep -q "state: unplugging" "$RT" || fail "SIG$sig: the removal is not recorded as pending"
		[ ! -e "$RT.intent" ] || fail "SIG$sig: intent record left"
		kh -r "$RT" -m "$SOCK" check
		expect_rc 1
		expect_out "a removal is pending"
	done
	# a Ganeti file has no place for the mark: the removal's intent record
	# stands for it until the removal is done
	ganeti_file newer
	jq -c '.[1] = [] | .[3] = []' "$RT" >"$T/x" && mv "$T/x" "$RT"
	QMP_SOCK=$T/ganeti/ctrl/vm1.qmp start_vm vm1
	disk_image "$T/d2.img"
	gkh disk add --uuid "$UUID1" --path "$T/d2.img" --dev-type file
	expect_rc 0
	"$KH" -t 30 --instance vm1 --ganeti-dir "$T/ganeti" disk remove --uuid "$UUID1" >"$T/out" 2>"$T/err" &
	tool=$!
	sleep 1
	kill -TERM "$tool"
	rc=0
	wait "$tool" || rc=$?
	[ "$rc" -eq 4 ] || fail "Ganeti file: exit $rc: $(cat "$T/err")"
	grep -q "the removal stays pending in .*vm1.runtime.intent" "$T/err" || fail "Ganeti file: $(cat "$T/err")"
	gkh check --repair
	expect_rc 1
	expect_out "an interrupted remove is not settled"
	grep -q "a removal of disk-003fc157-66a8-4e6d is pending: QEMU still has it" "$T/err" ||
		fail "the next run did not say the removal is pending: $ERR"
	qmp system_reset >/dev/null	# completes the pending unplug
	local i
	for i in $(seq 50); do [ -z "$(slot_of disk-003fc157-66a8-4e6d)" ] && break; sleep 0.1; done
	# the removal asked for again: the run that finds it done finishes it
	gkh disk remove --uuid "$UUID1"
	expect_rc 0
	expect_out "removed disk $UUID1"
	jq -e '.[3] == []' "$RT" >/dev/null || fail "the removed disk is still recorded: $(cat "$RT")"
	gkh check
	expect_rc 0
	RT=$T/vm.runtime SOCK=$T/vm.qmp
	# a run killed outright leaves its intent record: check says so
	KH_FAULT=after-backend kh -r "$RT" -m "$SOCK" disk add --uuid "$UUID2" --path "$T/d1.img" --mode ro
	[ "$RC" -eq 137 ] || fail "not killed: $RC"
	kh -r "$RT" -m "$SOCK" check
	expect_rc 1
	expect_out "an interrupted add is not settled (.*vm.runtime.intent): run check --repair"
}

# check looks at a NIC's host side too: a tap taken off its bridge, or
# gone, is a difference.
t_check_nic_host_side() {
	make_netns
	start_vm vm
	in_ns ip link add br1 type bridge
	kh -r "$RT" -m "$SOCK" nic add --uuid "$UUID1" --mac "$MAC1" --link br0 --tap kh1
	expect_rc 0
	kh -r "$RT" -m "$SOCK" check
	expect_rc 0
	in_ns ip link set kh1 nomaster
	kh -r "$RT" -m "$SOCK" check
	expect_rc 1
	expect_out "its tap kh1 is not on bridge br0$"
	in_ns ip link set kh1 master br1
	kh -r "$RT" -m "$SOCK" check
	expect_rc 1
	expect_out "its tap kh1 is not on bridge br0 but on br1"
	in_ns ip link del kh1
	kh -r "$RT" -m "$SOCK" check
	expect_rc 1
	expect_out "its tap kh1 is gone"
}

# A removal of a device QEMU does not have, and that is not pending, is
# an error: the file may not be this VM's (it once said "removed", exit 0,
# and dropped the record).
t_remove_device_qemu_lacks() {
	start_vm vm
	disk_image "$T/d1.img"
	kh -r "$RT" -m "$SOCK" disk add --uuid "$UUID1" --path "$T/d1.img"
	expect_rc 0
	start_vm other
	snapshot before
	kh -r "$RT" -m "$SOCK" disk remove --uuid "$UUID1"
	expect_rc 1
	expect_err "QEMU has no device hotdisk-003fc157-pci-4, which the runtime file records as plugged: is it this VM's?"
	same_as before
}

# cmdline gives a disk the driver QEMU opened it with, as recorded: a disk
# added through a symlink to a block device stays host_device once the
# link is gone (Ganeti's instance-disks links come and go).
t_cmdline_records_file_driver() {
	start_vm vm
	disk_image "$T/lo.img"
	local dev
	dev=$(losetup -f --show "$T/lo.img") || fail "no loop device"
	ln -s "$dev" "$T/link"
	kh -r "$RT" -m "$SOCK" disk add --uuid "$UUID1" --path "$T/link"
	losetup -d "$dev"	# let go of it once QEMU does
	expect_rc 0
	grep -q "file-driver: host_device" "$RT" || fail "driver not recorded: $(cat "$RT")"
	rm "$T/link"
	kh -r "$RT" cmdline
	expect_rc 0
	expect_out '"driver":"host_device"'
}

# A relative --runtime path is resolved once: a run killed just before it
# renames the new file into place, settled from another directory, puts
# that file in place (it once looked for it relative to the new directory,
# said "recorded" and lost it).
t_relative_runtime_path() {
	start_vm vm
	disk_image "$T/d1.img"
	(cd "$T" && KH_FAULT=before-commit "$KH" -r vm.runtime -m "$SOCK" disk add \
		--uuid "$UUID1" --path "$T/d1.img") >/dev/null 2>&1
	[ -e "$RT.intent" ] || fail "the killed add left no intent record"
	(cd / && kh -r "${RT#/}" -m "$SOCK" check --repair)
	kh -r "$RT" -m "$SOCK" check
	expect_rc 0
	grep -q "uuid: $UUID1" "$RT" || fail "the file does not record the disk: $(cat "$RT" 2>&1)"
	[ ! -e "$RT.intent" ] || fail "intent record left"
	[ -z "$(find "$T" -maxdepth 1 -name '.*.tmp.*')" ] || fail "temporary file left"
}

# A Ganeti file's disk is made in more steps (add-fd, drive_add,
# remove-fd): killed after each, the next run leaves no drive, no fd set
# with an fd and no record; killed after the device, it is recorded.
t_kill_ganeti_disk_add() {
	ganeti_file newer
	jq -c '.[1] = [] | .[3] = []' "$RT" >"$T/x" && mv "$T/x" "$RT"
	QMP_SOCK=$T/ganeti/ctrl/vm1.qmp GUEST_APPEND=kh.nomodules start_guest vm1
	disk_image "$T/d1.img"
	local p id=disk-003fc157-66a8-4e6d n=0
	for p in add-intent after-add-fd after-backend after-device_add before-commit after-commit; do
		KH_FAULT=$p gkh disk add --uuid "$UUID1" --path "$T/d1.img"
		[ "$RC" -eq 137 ] || fail "disk add was not killed at $p (exit $RC)"
		gkh check --repair
		case $p in
		add-intent | after-add-fd | after-backend)
			expect_rc 0
			! has_drive "$id" || fail "killed at $p: drive $id left"
			[ -z "$(slot_of "$id")" ] || fail "killed at $p: device in QEMU" ;;
		*)
			expect_rc 0
			[ -n "$(slot_of "$id")" ] || fail "killed at $p: device lost"
			jq -e '.[3] | length == 1' "$RT" >/dev/null || fail "killed at $p: not recorded" ;;
		esac
		qmp query-fdsets | jq -e '[.[].fds[]] | length == 0' >/dev/null ||
			fail "killed at $p: fds left in fd sets: $(qmp query-fdsets)"
		[ ! -e "$RT.intent" ] || fail "killed at $p: intent left"
		gkh disk remove --uuid "$UUID1"
		! has_drive "$id" || fail "after $p: drive left after removal"
		n=$((n + 1))
	done
	echo "INFO: $n kill points of a Ganeti disk add, each settled"
}

# Paths QEMU must get as they are: commas (the -drive syntax's separator),
# quotes, a newline, non-ASCII. Typed JSON all the way: no option string
# is ever built by concatenation.
t_hostile_paths() {
	start_vm vm
	local dir=$T/odd\ dir name i=0
	mkdir "$dir"
	for name in 'a,b.img' "it's \"quoted\".img" $'new\nline.img' 'café,file=x.img' 'x,format=qcow2'; do
		i=$((i + 1))
		disk_image "$dir/$name"
		kh -r "$RT" -m "$SOCK" disk add --uuid "00000000-0000-4000-8000-00000000000$i" --path "$dir/$name"
		expect_rc 0
		qmp query-block | jq -e --arg p "$dir/$name" 'any(.[]; .inserted.file == $p)' >/dev/null ||
			fail "QEMU does not have '$name' as it is: $(qmp query-block)"
	done
	# the runtime file holds them exactly, and cmdline gives them back
	kh -r "$RT" cmdline --format json
	expect_rc 0
	[ "$(echo "$OUT" | jq -r '.[] | select(startswith("{\"driver\":\"raw\"")) | fromjson | .file.filename' | grep -c 'odd dir')" -eq 5 ] ||
		fail "cmdline lost a path: $OUT"
	kh -r "$RT" -m "$SOCK" check
	expect_rc 0
	# a path that is not UTF-8 cannot be recorded: refused, nothing done
	snapshot before
	disk_image "$dir/$(printf 'bad\377.img')"
	kh -r "$RT" -m "$SOCK" disk add --uuid "$UUID3" --path "$dir/$(printf 'bad\377.img')"
	[ "$RC" -eq 1 ] || [ "$RC" -eq 2 ] || fail "non-UTF-8 path: exit $RC"
	expect_err "UTF-8"
	same_as before
}

# QEMU stops answering in the middle of an add: the tool gives up within
# its timeout (exit 4) and keeps its intent record, because QEMU may
# still carry the command out once resumed (or drop it with the closed
# connection); the next run settles whichever happened.
t_qemu_stops_mid_add() {
	start_vm vm
	disk_image "$T/d1.img"
	KH_FAULT_PAUSE=after-backend "$KH" -t 1 -r "$RT" -m "$SOCK" \
		disk add --uuid "$UUID1" --path "$T/d1.img" >"$T/out" 2>"$T/err" &
	local tool=$! i rc=0
	for i in $(seq 100); do
		grep -q '^State:.*T' "/proc/$tool/status" 2>/dev/null && break
		sleep 0.05
	done
	grep -q '^State:.*T' "/proc/$tool/status" || fail "the tool did not pause"
	kill -STOP "$PID"
	local t0=$SECONDS
	kill -CONT "$tool"
	wait "$tool" || rc=$?
	kill -CONT "$PID"
	[ "$rc" -eq 4 ] || fail "exit $rc, expected 4: $(cat "$T/err")"
	grep -q "the outcome is unknown, the next run settles it: QEMU monitor did not answer in time (device_add)" "$T/err" ||
		fail "message: $(cat "$T/err")"
	[ $((SECONDS - t0)) -le 3 ] || fail "took $((SECONDS - t0)) s with --timeout 1"
	[ -e "$RT.intent" ] || fail "the intent record was dropped"
	qmp query-status >/dev/null	# QEMU answers again
	kh -r "$RT" -m "$SOCK" check --repair
	expect_rc 0
	if [ -n "$(slot_of hotdisk-003fc157-pci-4)" ]; then
		grep -q "QEMU has it, recorded" "$T/err" || fail "not settled: $ERR"
		grep -q "id: hotdisk-003fc157-pci-4" "$RT" || fail "not recorded: $(cat "$RT")"
	else
		grep -q "QEMU does not have it, its leftovers released" "$T/err" ||
			fail "not settled: $ERR"
		! has_node hotdisk-003fc157-pci-4 || fail "block node left behind"
		[ ! -e "$RT" ] || ! grep -q "hotdisk-003fc157" "$RT" || fail "recorded: $(cat "$RT")"
	fi
	[ ! -e "$RT.intent" ] || fail "intent record left"
	[ -z "$(find "$T" -maxdepth 1 -name '.*.tmp.*')" ] || fail "temporary file left"
}

# ---- runner ----

run_test() {
	T=$(mktemp -d /tmp/kh-it.XXXXXX)
	RT=$T/vm.runtime
	(
		trap stop_vms EXIT
		"$1"
	) >"$T/log" 2>&1
	local rc=$?
	(T=$T stop_vms)
	if [ $rc -eq 0 ]; then
		echo "PASS $1"
		sed -n 's/^INFO: /    /p' "$T/log"
		rm -rf "$T"
		return 0
	fi
	echo "FAIL $1"
	sed 's/^/    /' "$T/log"
	rm -rf "$T"
	return 1
}

tests=("$@")
if [ ${#tests[@]} -eq 0 ]; then
	mapfile -t tests < <(declare -F | awk '$3 ~ /^t_/ { print $3 }')
fi
passed=0
failed=0
for t in "${tests[@]}"; do
	if run_test "$t"; then
		passed=$((passed + 1))
	else
		failed=$((failed + 1))
	fi
done
echo "integration: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
