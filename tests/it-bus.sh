#!/usr/bin/env bash
# Integration tests, buses beyond pci.0 (issue 18): q35's root ports,
# pci-bridges on pc, conventional PCI behind a PCIe-to-PCI bridge, the
# file's own list of buses, Ganeti files (pci.0 alone), migration on q35
# with cmdline, the tool killed at every step on a port and behind a
# bridge.
# Usage: KH=... QMPCMD=... GUEST=... tests/it-bus.sh [TEST...]; it runs
# alone, or tests/integration.sh runs it with the other areas.
set -u
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=tests/lib.sh
. "$HERE/lib.sh"
test_tools

UUID4=3d4e5f60-0000-4000-8000-000000000004
UUID5=4e5f6071-0000-4000-8000-000000000005

# q35 with N root ports rp1..rpN (bus pcie.0, slots 4 on), as QEMU
# arguments in PORTS.
q35_ports() {
	local i
	PORTS=(-M q35)
	for ((i = 1; i <= $1; i++)); do
		PORTS+=(-device "pcie-root-port,id=rp$i,chassis=$i,slot=$i,bus=pcie.0,addr=$(printf 0x%x $((i + 3)))")
	done
}

# parent_of ID: the bus QEMU has device ID on (QOM, which knows it
# before the firmware has run too), and at_addr ID: its slot.
parent_of() {
	qmp qom-get "{\"path\": \"/machine/peripheral/$1\", \"property\": \"parent_bus\"}" |
		jq -r 'split("/") | last'
}

slot_at() {
	echo $(($(qmp qom-get "{\"path\": \"/machine/peripheral/$1\", \"property\": \"addr\"}") / 8))
}

# on ID BUS SLOT: QEMU has device ID at BUS, SLOT.
on() {
	[ "$(parent_of "$1")" = "$2" ] && [ "$(slot_at "$1")" = "$3" ] ||
		fail "$1 is on $(parent_of "$1") slot $(slot_at "$1"), not $2 slot $3"
}

# A paused q35 VM that never ran (-S, prelaunch: query-pci sees nothing
# behind its ports): four devices go to the four ports at slot 0, the
# fifth is refused naming the ports; list, check and supported agree.
t_q35_ports_prelaunch() {
	make_netns
	q35_ports 4
	launch_qemu vm -S "${PORTS[@]}"
	local i
	for i in 1 2 3; do disk_image "$T/d$i.img"; done
	kh -r "$RT" -m "$SOCK" disk add --uuid "$UUID1" --path "$T/d1.img"
	expect_rc 0
	expect_out "added disk $UUID1: hotdisk-003fc157-rp1-0 at rp1 slot 0"
	kh -r "$RT" -m "$SOCK" nic add --uuid "$UUID2" --mac "$MAC1" --link br0 --tap kh1
	expect_rc 0
	expect_out "hotnic-1b2c3d4e-rp2-0 at rp2 slot 0"
	kh -r "$RT" -m "$SOCK" disk add --uuid "$UUID3" --path "$T/d2.img"
	expect_rc 0
	kh -r "$RT" -m "$SOCK" nic add --uuid "$UUID4" --mac "$MAC2" --link br0 --tap kh2
	expect_rc 0
	expect_out "hotnic-3d4e5f60-rp4-0 at rp4 slot 0"
	on hotdisk-003fc157-rp1-0 rp1 0
	on hotnic-1b2c3d4e-rp2-0 rp2 0
	on hotdisk-2c3d4e5f-rp3-0 rp3 0
	on hotnic-3d4e5f60-rp4-0 rp4 0
	snapshot before
	kh -r "$RT" -m "$SOCK" disk add --uuid "$UUID5" --path "$T/d3.img"
	expect_rc 1
	expect_err "no free PCI slot left on rp1 (1 slot, all taken), rp2 (1 slot, all taken), rp3 (1 slot, all taken), rp4 (1 slot, all taken)"
	kh -r "$RT" -m "$SOCK" disk add --uuid "$UUID5" --path "$T/d3.img" --bus rp2 --slot 3
	expect_rc 2
	expect_err "slot 3 is not possible on rp2 (a PCIe port holds one device, at slot 0)"
	kh -r "$RT" -m "$SOCK" disk add --uuid "$UUID5" --path "$T/d3.img" --bus pcie.0
	expect_rc 3
	expect_err "bus pcie.0 of this VM does not support hotplug"
	same_as before
	kh -r "$RT" -m "$SOCK" supported disk
	expect_rc 3
	expect_out "^no  bus: no free PCI slot left on rp1"
	# a dry run changes nothing
	kh -r "$RT" -m "$SOCK" disk remove --uuid "$UUID3" -n
	expect_rc 0
	same_as before
	kh -r "$RT" -m "$SOCK" check
	expect_rc 0
	kh -j -r "$RT" -m "$SOCK" list
	expect_rc 0
	jq -e '[.devices[] | select(.present) | .bus] == ["rp1", "rp2", "rp3", "rp4"]' <<<"$OUT" >/dev/null ||
		fail "list: $OUT"
	# a removal in prelaunch (the reset finishes it) frees the port; a
	# dry run shows the bus it would use
	kh -r "$RT" -m "$SOCK" disk remove --uuid "$UUID3"
	expect_rc 0
	snapshot before
	kh -r "$RT" -m "$SOCK" disk add --uuid "$UUID5" --path "$T/d3.img" -n
	expect_rc 0
	grep -q '"execute":"device_add","arguments":{"driver":"virtio-blk-pci","id":"hotdisk-4e5f6071-rp3-0","bus":"rp3","addr":"0x0"' "$T/out" ||
		fail "dry run: $OUT"
	same_as before
	kh -r "$RT" -m "$SOCK" disk add --uuid "$UUID5" --path "$T/d3.img"
	expect_rc 0
	expect_out "hotdisk-4e5f6071-rp3-0 at rp3 slot 0"
}

# With the guest booted on q35: a NIC on a root port passes packets, and
# the guest lets go of a disk and the NIC through ACPI (QEMU 7.2's q35
# default); a port with hotplug=off is never used.
t_q35_ports_guest() {
	make_netns
	q35_ports 2
	GUEST_APPEND=kh.ip=192.0.2.2/24 start_guest g "${PORTS[@]}" \
		-device pcie-root-port,id=rp0,chassis=9,slot=9,bus=pcie.0,addr=0x3,hotplug=off
	disk_image "$T/d1.img"
	kh -r "$RT" -m "$SOCK" nic add --uuid "$UUID1" --mac "$MAC1" --link br0 --tap kh1
	expect_rc 0
	expect_out "at rp1 slot 0"
	within "$WAIT_LIMIT" grep -q "KH-GUEST-IP" "$T/g.log"
	wait_until "$WAIT_LIMIT" "no answer from the guest" answers 192.0.2.2
	kh -r "$RT" -m "$SOCK" disk add --uuid "$UUID2" --path "$T/d1.img"
	expect_rc 0
	expect_out "at rp2 slot 0"
	kh -r "$RT" -m "$SOCK" disk add --uuid "$UUID3" --path "$T/d1.img" --bus rp0
	expect_rc 3
	expect_err "bus rp0 of this VM does not support hotplug"
	kh -r "$RT" -m "$SOCK" check
	expect_rc 0
	kh -r "$RT" -m "$SOCK" disk remove --uuid "$UUID2"
	expect_rc 0
	kh -r "$RT" -m "$SOCK" nic remove --uuid "$UUID1"
	expect_rc 0
	! in_ns ping -c 2 -W 1 192.0.2.2 >/dev/null || fail "the guest still answers"
	no_nic_left kh1 hotnic-003fc157-rp1-0
	[ "$(qmp qom-list '{"path": "/machine/peripheral"}' | jq '[.[] | select(.name | startswith("hot"))] | length')" -eq 0 ] ||
		fail "QEMU still has devices of ours"
}

# pc with one pci-bridge: pci.0 fills first (27 disks: slots 4-29 and
# 31, the bridge at 30), then the bridge takes the next device, never at
# slot 0 or over a device the file does not know (one is cold-plugged at
# its slot 1); the guest lets go of it there.
t_pc_bridge() {
	local i
	make_netns
	GUEST_APPEND=kh.nomodules start_guest g \
		-device pci-bridge,id=br1,chassis_nr=1,bus=pci.0,addr=0x1e \
		-device virtio-net-pci,id=theirs,bus=br1,addr=0x1
	for i in $(seq 1 27); do
		disk_image "$T/f$i.img"
		kh -q -r "$RT" -m "$SOCK" disk add --uuid "$(printf '%08x-0000-4000-8000-000000000000' "$i")" \
			--path "$T/f$i.img"
		expect_rc 0
	done
	[ "$(grep -c 'bus: pci.0' "$RT")" -eq 27 ] || fail "pci.0 not filled: $(grep 'bus:' "$RT" | sort | uniq -c)"
	disk_image "$T/d2.img"
	kh -r "$RT" -m "$SOCK" disk add --uuid "$UUID2" --path "$T/d2.img"
	expect_rc 0
	expect_out "hotdisk-1b2c3d4e-br1-2 at br1 slot 2"
	on hotdisk-1b2c3d4e-br1-2 br1 2
	on theirs br1 1
	kh -r "$RT" -m "$SOCK" disk add --uuid "$UUID3" --path "$T/d2.img" --bus br1 --slot 1
	expect_rc 1
	expect_err "slot 1 on br1 is already in use"
	kh -r "$RT" -m "$SOCK" list
	expect_rc 0
	expect_out "hotdisk-1b2c3d4e-br1-2  *br1  *2 plugged  *yes"
	kh -r "$RT" -m "$SOCK" check
	expect_rc 0
	kh -r "$RT" -m "$SOCK" disk remove --uuid "$UUID2"
	expect_rc 0
	[ -z "$(qmp qom-list '{"path": "/machine/peripheral"}' | jq -r '.[].name' | grep hotdisk-1b2c3d4e)" ] ||
		fail "QEMU still has the disk behind the bridge"
	on theirs br1 1
	kh -r "$RT" -m "$SOCK" check
	expect_rc 0
}

# q35 with conventional PCI behind a PCIe-to-PCI bridge on a root port
# (what QEMU 7.2 accepts: pcie-pci-bridge on a port, a pci-bridge behind
# that): devices go where QEMU says hotplug works, and a port whose
# hotplug is off is refused with exit 3 even when asked for.
t_q35_pcie_pci_bridge() {
	make_netns
	GUEST_APPEND=kh.nomodules start_guest g -M q35 \
		-device pcie-root-port,id=rp1,chassis=1,slot=1,bus=pcie.0,addr=0x4 \
		-device pcie-pci-bridge,id=pb1,bus=rp1,addr=0x0 \
		-device pcie-root-port,id=rp2,chassis=2,slot=2,bus=pcie.0,addr=0x5,hotplug=off
	disk_image "$T/d1.img"
	kh -r "$RT" -m "$SOCK" supported disk
	expect_rc 0
	expect_out "ok  bus: the next device goes to pb1 slot 1 (free slots: rp1 0, pb1 31)"
	kh -r "$RT" -m "$SOCK" disk add --uuid "$UUID1" --path "$T/d1.img"
	expect_rc 0
	expect_out "hotdisk-003fc157-pb1-1 at pb1 slot 1"
	on hotdisk-003fc157-pb1-1 pb1 1
	kh -r "$RT" -m "$SOCK" disk add --uuid "$UUID2" --path "$T/d1.img" --bus rp2
	expect_rc 3
	expect_err "bus rp2 of this VM does not support hotplug"
	kh -r "$RT" -m "$SOCK" disk remove --uuid "$UUID1"
	expect_rc 0
	kh -r "$RT" -m "$SOCK" check
	expect_rc 0
}

# Before the firmware has run, a bridge behind a root port is not in
# query-pci at all: QOM tells that it is there and has a bus of its own,
# which takes the device (the port holds the bridge).
t_q35_bridge_prelaunch() {
	launch_qemu vm -S -M q35 \
		-device pcie-root-port,id=rp1,chassis=1,slot=1,bus=pcie.0,addr=0x4 \
		-device pcie-pci-bridge,id=pb1,bus=rp1,addr=0x0
	disk_image "$T/d1.img"
	kh -r "$RT" -m "$SOCK" disk add --uuid "$UUID1" --path "$T/d1.img"
	expect_rc 0
	expect_out "hotdisk-003fc157-pb1-1 at pb1 slot 1"
	on hotdisk-003fc157-pb1-1 pb1 1
	kh -r "$RT" -m "$SOCK" check
	expect_rc 0
}

# The file names the buses the tool may use, in order, each with its
# reserved slots: pci.0 is left alone though it has room.
t_buses_key() {
	start_vm vm -device pci-bridge,id=br1,chassis_nr=1,bus=pci.0,addr=0x1e \
		-device pci-bridge,id=br2,chassis_nr=2,bus=pci.0,addr=0x1d
	disk_image "$T/d1.img"
	printf 'version: 1\nbuses:\n  - {name: br2, reserved-slots: [1, 2]}\n  - br1\n' >"$RT"
	kh -r "$RT" -m "$SOCK" disk add --uuid "$UUID1" --path "$T/d1.img"
	expect_rc 0
	expect_out "hotdisk-003fc157-br2-3 at br2 slot 3"
	kh -r "$RT" -m "$SOCK" disk add --uuid "$UUID2" --path "$T/d1.img" --bus pci.0
	expect_rc 1
	expect_err "bus pci.0 is not among the buses the runtime file allows"
	kh -r "$RT" -m "$SOCK" disk add --uuid "$UUID2" --path "$T/d1.img" --bus br2 --slot 2
	expect_rc 1
	expect_err "slot 2 on br2 is reserved (reserved-slots)"
	grep -q '^- {name: br2, reserved-slots: \[1, 2\]}$' "$RT" || fail "buses not kept: $(cat "$RT")"
	kh -r "$RT" -m "$SOCK" check
	expect_rc 0
}

# A Ganeti file: Ganeti 3.0 knows pci.0 alone (docs/design.md), so a q35
# instance, or another bus asked for, is refused with exit 3 and why.
t_ganeti_pci0_alone() {
	ganeti_file newer
	jq -c '.[1] = [] | .[3] = []' "$RT" >"$T/x" && mv "$T/x" "$RT"
	q35_ports 2
	QMP_SOCK=$T/ganeti/ctrl/vm1.qmp start_vm vm1 -name vm1 "${PORTS[@]}"
	disk_image "$T/d1.img"
	snapshot before
	gkh disk add --uuid "$UUID1" --path "$T/d1.img"
	expect_rc 3
	expect_err "pci.0, the one bus possible here, takes no hotplug: pci.0 (not in this VM); Ganeti 3.0 knows pci.0 alone"
	same_as before
	stop_vms
	QMP_SOCK=$T/ganeti/ctrl/vm1.qmp start_vm vm1 -name vm1 \
		-device pci-bridge,id=br1,chassis_nr=1,bus=pci.0,addr=0x1e
	gkh disk add --uuid "$UUID1" --path "$T/d1.img" --bus br1
	expect_rc 3
	expect_err "bus br1 is not possible here: Ganeti 3.0 knows pci.0 alone"
	gkh disk add --uuid "$UUID1" --path "$T/d1.img"
	expect_rc 0
	expect_out "at pci.0 slot 12"
}

# Live migration on q35 with devices on root ports and behind a bridge:
# the target is the base command line plus cmdline; the guest runs on,
# check agrees there, and a hot-remove on the target works.
t_q35_migration() {
	local src dst args base
	make_netns
	base=(-M q35 -m 131080k
		-device pcie-root-port,id=rp1,chassis=1,slot=1,bus=pcie.0,addr=0x4
		-device pcie-root-port,id=rp2,chassis=2,slot=2,bus=pcie.0,addr=0x5
		-device pcie-root-port,id=rp3,chassis=3,slot=3,bus=pcie.0,addr=0x6
		-device pcie-pci-bridge,id=pb1,bus=rp3,addr=0x0)
	GUEST_APPEND=kh.nomodules start_guest src "${base[@]}"
	src=$SOCK
	disk_image "$T/d1.img"
	disk_image "$T/d2.img"
	kh -r "$RT" -m "$src" disk add --uuid "$UUID1" --path "$T/d1.img"
	expect_rc 0
	expect_out "at rp1 slot 0"
	kh -r "$RT" -m "$src" nic add --uuid "$UUID2" --mac "$MAC1" --link br0 --tap kh1
	expect_rc 0
	expect_out "at rp2 slot 0"
	kh -r "$RT" -m "$src" disk add --uuid "$UUID3" --path "$T/d2.img" --bus pb1 --slot 5
	expect_rc 0
	kh -r "$RT" cmdline
	expect_rc 0
	grep -q '"bus":"pb1","addr":"0x5"' "$T/out" || fail "cmdline: $OUT"
	grep -q '"bus":"rp1","addr":"0x0"' "$T/out" || fail "cmdline: $OUT"
	expect_err "these devices go on rp1, rp2, pb1: the target's own command line must make those buses before them"
	kh -j -r "$RT" cmdline
	jq -e '.buses == ["rp1", "rp2", "pb1"]' <<<"$OUT" >/dev/null || fail "cmdline -j: $OUT"
	kh -r "$RT" cmdline
	mapfile -t args <"$T/out"
	make_netns
	launch_guest dst "${base[@]}" "${args[@]}" -incoming "unix:$T/migration.sock"
	dst=$SOCK
	in_ns ip link set kh1 master br0 up || fail "target has no tap kh1"
	migrate "$src" "$dst"
	kh -r "$RT" -m "$dst" check
	expect_rc 0
	SOCK=$dst
	on hotdisk-003fc157-rp1-0 rp1 0
	on hotdisk-2c3d4e5f-pb1-5 pb1 5
	kh -r "$RT" -m "$dst" disk remove --uuid "$UUID3"
	expect_rc 0
	kh -r "$RT" -m "$dst" nic remove --uuid "$UUID2"
	expect_rc 0
	kh -r "$RT" -m "$dst" check
	expect_rc 0
}

# The tool killed at every step of an add and a removal on a root port
# and behind a bridge (a pcie-pci-bridge on another port), the guest up:
# check --repair settles each.
t_kill_at_every_step_on_buses() {
	make_netns
	GUEST_APPEND=kh.nomodules start_guest vm -M q35 \
		-device pcie-root-port,id=rp1,chassis=1,slot=1,bus=pcie.0,addr=0x4 \
		-device pcie-root-port,id=rp2,chassis=2,slot=2,bus=pcie.0,addr=0x5 \
		-device pcie-pci-bridge,id=pb1,bus=rp2,addr=0x0
	disk_image "$T/d1.img"
	local n=0
	kill_rounds --bus rp1
	kill_rounds --bus pb1
	echo "INFO: $n kill points exercised on rp1 and pb1, each settled"
	[ "$n" -eq 38 ] || fail "$n kill points, not 38"
	settled "the end"
}

run_tests bus "$@"
