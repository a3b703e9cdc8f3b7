#!/usr/bin/env bash
# Integration tests, whether the guest uses a device (issue 20): --wait
# ready on adds, modify and sync; list's guest column.
# Usage: KH=... QMPCMD=... GUEST=... tests/it-ready.sh [TEST...]; it runs
# alone, or tests/integration.sh runs it with the other areas.
set -u
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=tests/lib.sh
. "$HERE/lib.sh"
test_tools

# guest_said LINE: the guest printed LINE on its console (guest g).
guest_said() {
	grep -q "$1" "$T/g.log"
}

# With the guest's virtio drivers: --wait ready returns once the guest's
# driver has set each device up (the guest then shows the disk as a
# block device and the NIC as an interface), and list says ready.
t_wait_ready_with_drivers() {
	make_netns
	GUEST_APPEND=kh.ip=192.0.2.2/24 start_guest g
	disk_image "$T/d1.img"
	kh -v -r "$RT" -m "$SOCK" disk add --uuid "$UUID1" --path "$T/d1.img" --wait ready
	expect_rc 0
	said "the guest uses hotdisk-003fc157-pci-4: ready"
	wait_until "$WAIT_LIMIT" "the guest shows no block device" guest_said "KH-GUEST-BLK vda"
	kh -r "$RT" -m "$SOCK" nic add --uuid "$UUID2" --mac "$MAC1" --link br0 --tap kh1 --wait ready
	expect_rc 0
	expect_out "added nic $UUID2"
	wait_until "$WAIT_LIMIT" "the guest shows no interface" guest_said "KH-GUEST-IP eth0"
	kh -j -r "$RT" -m "$SOCK" list
	expect_rc 0
	jq -e '[.devices[].guest] == ["ready", "ready"]' <<<"$OUT" >/dev/null || fail "list: $OUT"
	kh -r "$RT" -m "$SOCK" list
	expect_out "hotnic-1b2c3d4e-pci-5 .* yes  *ready  *$MAC1 kh1 br0$"
	# a modify waits for the NIC made again
	kh -r "$RT" -m "$SOCK" nic modify --uuid "$UUID2" --mac "$MAC2" --wait ready
	expect_rc 0
	expect_out "modified nic $UUID2"
}

# Without them: exit 4 once the timeout is over, the device added and
# recorded all the same; list says it is not picked up.
t_wait_ready_without_drivers() {
	GUEST_APPEND=kh.nomodules start_guest g -name vm1
	disk_image "$T/d1.img"
	kh -t 2 -r "$RT" -m "$SOCK" disk add --uuid "$UUID1" --path "$T/d1.img" --wait ready
	expect_rc 4
	expect_err "disk $UUID1 is added and recorded but not ready: the guest has not started using hotdisk-003fc157-pci-4 within 2.0 s"
	grep -q "uuid: $UUID1" "$RT" || fail "not recorded: $(cat "$RT")"
	[ "$(slot_of hotdisk-003fc157-pci-4)" = 4 ] || fail "QEMU lacks the disk"
	kh -j -r "$RT" -m "$SOCK" list
	jq -e '.devices[0].guest == "not picked up"' <<<"$OUT" >/dev/null || fail "list: $OUT"
	kh -r "$RT" -m "$SOCK" check
	expect_rc 0
}

# A paused VM: no guest runs, the wait ends at the timeout (exit 4).
t_wait_ready_paused() {
	start_vm vm -name vm1
	disk_image "$T/d1.img"
	kh -t 1 -r "$RT" -m "$SOCK" disk add --uuid "$UUID1" --path "$T/d1.img" --wait ready
	expect_rc 4
	expect_err "the guest has not started using hotdisk-003fc157-pci-4 within 1.0 s"
	grep -q "uuid: $UUID1" "$RT" || fail "not recorded"
}

# A QEMU without x-query-virtio-status cannot tell: exit 3 with the
# reason, the device added and recorded; list says unknown.
t_wait_ready_cannot_tell() {
	fake_qmp "$T/fake.qmp" x-query-virtio-status
	disk_image "$T/d1.img"
	kh -r "$RT" -m "$T/fake.qmp" disk add --uuid "$UUID1" --path "$T/d1.img" --wait ready
	expect_rc 3
	expect_err "disk $UUID1 is added and recorded but not ready: QEMU cannot tell whether the guest uses hotdisk-003fc157-pci-4: it has no x-query-virtio-status"
	grep -q "uuid: $UUID1" "$RT" || fail "not recorded"
	kh -j -r "$RT" -m "$T/fake.qmp" list
	expect_rc 0
	jq -e '.devices[0] | .present and .guest == "unknown"' <<<"$OUT" >/dev/null || fail "list: $OUT"
}

# sync --wait ready waits for each device it adds.
t_wait_ready_sync() {
	make_netns
	GUEST_APPEND=kh.ip=192.0.2.2/24 start_guest g
	disk_image "$T/d1.img"
	printf 'version: 1\ndevices:\n- kind: disk\n  uuid: %s\n  id: x\n  bus: pci.0\n  slot: 9\n  driver: virtio-blk-pci\n  path: %s\n  format: raw\n  cache: default\n  mode: rw\n  discard: ignore\n' \
		"$UUID1" "$T/d1.img" >"$T/want.yaml"
	kh -v -r "$RT" -m "$SOCK" sync --from "$T/want.yaml" --wait ready
	expect_rc 0
	said "the guest uses hotdisk-003fc157-pci-4: ready"
}

run_tests ready "$@"
