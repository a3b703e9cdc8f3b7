#!/usr/bin/env bash
# Integration tests, Ganeti runtime files, sync and migration: the runtime
# file recreates the PCI layout (native and Ganeti files, cmdline), Ganeti's
# JSON files round-tripped, sync from a hook's environment or a file.
# Usage: KH=... QMPCMD=... GUEST=... tests/it-ganeti.sh [TEST...]; it runs
# alone, or tests/integration.sh runs it with the other areas.
set -u
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=tests/lib.sh
. "$HERE/lib.sh"
test_tools

# ---- migration: the runtime file recreates the PCI layout ----

# Hot-add two disks and a NIC, hot-remove a disk, then boot the target from
# the base command line plus `cmdline`, migrate, and use the guest there.
# migration_round TOOL: with TOOL (kh or gkh) on the source, hot-add two
# disks and a NIC and hot-remove a disk; boot the target in a second
# namespace from the base command line plus `cmdline`; migrate; unplug
# there. The NIC's tap is TAP (given, or the one a Ganeti file derives).
migration_round() {
	local tool=$1 src dst args tap tapopt=(--tap ktap1) vm=()
	make_netns
	# a Ganeti file's VM is the one its kvm_cmd names
	[ "$tool" = gkh ] && tapopt=() && vm=(-name vm1)
	# RAM not a multiple of 256 KiB: QEMU 7.2 under TCG can leave guest
	# pages stale on the target with one that is (docs/design.md)
	start_guest src -m 131080k "${vm[@]}"
	src=$SOCK
	disk_image "$T/d1.img"
	disk_image "$T/d2.img"
	$tool -m "$src" disk add --uuid "$UUID1" --path "$T/d1.img"
	expect_rc 0
	$tool -m "$src" disk add --uuid "$UUID2" --path "$T/d2.img" --slot 9
	expect_rc 0
	$tool -m "$src" nic add --uuid "$UUID3" --mac "$MAC1" --link br0 "${tapopt[@]}"
	expect_rc 0
	$tool -m "$src" disk remove --uuid "$UUID1"
	expect_rc 0
	$tool -m "$src" check
	expect_rc 0
	$tool cmdline
	expect_rc 0
	mapfile -t args <"$T/out"
	[ "${#args[@]}" -eq 8 ] || fail "cmdline gave ${#args[@]} arguments, not 8: $OUT"
	# the target's tap is the one cmdline names: the given one, or for a
	# Ganeti NIC (the kernel's tapN on the source) one made for the NIC,
	# which the target's Ganeti names in its nic file
	tap=$(grep -o '"ifname":"[^"]*"' "$T/out" | cut -d'"' -f4)
	[ "$tool" = gkh ] && echo "$tap" >"$T/ganeti/nic/vm1/0"
	# the target host: a namespace of its own
	make_netns
	launch_guest dst "${args[@]}" -m 131080k "${vm[@]}" -incoming "unix:$T/migration.sock"
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
	# a VM that never ran (-S, prelaunch): QEMU 7.2 would keep a removal
	# asked now pending for good once the guest boots; no guest has run
	# since the last reset, and one more reset finishes the unplug
	# (issue 17)
	launch_qemu pre -S
	kh -r "$T/pre.runtime" -m "$SOCK" disk add --uuid "$UUID1" --path "$T/d1.img"
	expect_rc 0
	kh -v -r "$T/pre.runtime" -m "$SOCK" disk remove --uuid "$UUID1"
	expect_rc 0
	expect_out "removed disk $UUID1"
	grep -q "QEMU is in prelaunch: system_reset finishes the unplug" "$T/err" || fail "no reset said: $ERR"
	[ -z "$(slot_of hotdisk-003fc157-pci-4)" ] || fail "the disk is still in QEMU"
	! has_node hotdisk-003fc157-pci-4 || fail "the disk's node stayed"
	[ "$(qmp query-status | jq -r .status)" = prelaunch ] || fail "not in prelaunch after the removal"
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

t_migration_ganeti() {
	ganeti_file newer
	sed -i 's/"kvm_pci_reservations": 12/"kvm_pci_reservations": 4/' "$RT"
	jq -c '.[1] = [] | .[3] = []' "$RT" >"$T/x" && mv "$T/x" "$RT"
	migration_round gkh
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
	# --json: one object, as every command's (issue 17)
	kh -j -r "$RT" cmdline
	expect_rc 0
	[ "$(wc -l <"$T/out")" -eq 1 ] || fail "-j cmdline: not one line: $OUT"
	jq -e --arg r "$RT" '.runtime == $r and (.argv | length == 4) and .argv[0] == "-blockdev"' <<<"$OUT" >/dev/null ||
		fail "-j cmdline: $OUT"
	kh -j -r "$RT" cmdline --format shell
	expect_rc 2
	expect_err "cmdline: --json prints JSON, --format shell does not: not both"
	jq -e '.exit == 2' <<<"$OUT" >/dev/null || fail "-j cmdline's error is not JSON: $OUT"
	kh -r "$RT" cmdline --format yaml
	expect_rc 2
	expect_err "format: 'yaml' is not one of lines|shell|json"
	kh cmdline
	expect_rc 2
	expect_err "runtime FILE is required"
}

# A migration target never opens a tap that was not made for the NIC: a
# NIC added without --tap gets a name made from its uuid, and a recorded
# name the source's kernel handed out (tapN) is not given to the target,
# where another VM's multiqueue tap of that name would be shared silently.
t_cmdline_never_names_kernel_tap() {
	make_netns
	start_vm src
	kh -r "$RT" -m "$SOCK" nic add --uuid "$UUID1" --mac "$MAC1" --link br0 --queues 2
	expect_rc 0
	local own
	own=$(sed -n 's/^  tap: //p' "$RT")
	case $own in kh?????????????) ;; *) fail "tap '$own' is not one made for the NIC" ;; esac
	# an older record: the kernel's name
	sed -i "s/^  tap: .*/  tap: tap0/" "$RT"
	kh -r "$RT" cmdline
	expect_rc 0
	! grep -q '"ifname":"tap0"' "$T/out" || fail "cmdline names the kernel's tap0: $OUT"
	grep -q "\"ifname\":\"$own\"" "$T/out" || fail "cmdline does not name $own: $OUT"
	local args
	mapfile -t args <"$T/out"
	# the target host, where tap0 is another VM's multiqueue tap
	make_netns
	in_ns ip tuntap add tap0 mode tap multi_queue || fail "cannot make the other VM's tap0"
	launch_qemu dst "${args[@]}" -S -incoming defer
	[ "$(tap_fds tap0)" -eq 0 ] || fail "the target opened another VM's tap0"
	[ "$(tap_fds "$own")" -eq 2 ] || fail "the target's NIC has not its own tap $own"
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

# ---- Ganeti runtime files ----

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
	QMP_SOCK=$T/ganeti/ctrl/vm1.qmp GUEST_APPEND=kh.nomodules start_guest vm1 -name vm1
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
	jq -e --arg u "$UUID2" '.[1][] | select(.uuid == $u) | .mac == "'"$MAC1"'" and .nicparams == {"mode": "bridged", "link": "br0", "kvm_hotplug_added_by": "hand"} and .name == "lan"' "$RT" >/dev/null ||
		fail "nic entry not Ganeti-shaped: $(cat "$RT")"
	# what Ganeti reads whenever it starts the VM from the file (in
	# params, besides the keys Ganeti knows, the mark of a hand's add)
	jq -e --arg u "$UUID1" '.[3][] | select(.[0].uuid == $u) | .[0].params == {"kvm_hotplug_added_by": "hand"} and .[0].mode == "rw"' "$RT" >/dev/null ||
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

# ganeti_vm_with_nic: instance vm1 (a newer Ganeti file) runs the guest,
# with NIC $UUID1 ($MAC1) added on br0, and bridge br1 there too.
ganeti_vm_with_nic() {
	ganeti_file newer
	jq -c '.[1] = [] | .[3] = []' "$RT" >"$T/x" && mv "$T/x" "$RT"
	make_netns
	in_ns ip link add br1 type bridge
	QMP_SOCK=$T/ganeti/ctrl/vm1.qmp GUEST_APPEND=kh.nomodules start_guest vm1 -name vm1
	gkh nic add --uuid "$UUID1" --mac "$MAC1" --link br0
	expect_rc 0
}

# nic modify on a Ganeti file keeps what Ganeti has in the NIC's entry.
t_ganeti_modify_keeps_entry() {
	ganeti_vm_with_nic
	# what Ganeti itself keeps in the entry
	jq -c '.[1][0].ip = "192.0.2.9" | .[1][0].nicparams.vlan = ""' "$RT" >"$T/x" && mv "$T/x" "$RT"
	gkh nic modify --uuid "$UUID1" --mac "$MAC2" --link br1
	expect_rc 0
	jq -e '.[1] | length == 1' "$RT" >/dev/null || fail "entries: $(cat "$RT")"
	jq -e '.[1][0] | .mac == "'"$MAC2"'" and .ip == "192.0.2.9" and .nicparams == {"link": "br1", "mode": "bridged", "vlan": "", "kvm_hotplug_added_by": "hand"} and .hvinfo.addr == "0xc"' "$RT" >/dev/null ||
		fail "modified entry: $(cat "$RT")"
}

# Ganeti rewrites its file while a modify waits for the guest (the old
# NIC released, the removal not yet recorded): the modified NIC is
# recorded all the same, in an entry of its own since the one it had
# belongs to the file as it was, and Ganeti's change is kept.
t_ganeti_file_replaced_during_modify() {
	ganeti_vm_with_nic
	# (ip netns exec execs the tool: its pid is the tool's)
	KH_FAULT_PAUSE=after-release ip netns exec "$NS" "$KH" --instance vm1 --ganeti-dir "$T/ganeti" \
		nic modify --uuid "$UUID1" --mac "$MAC2" --link br1 >"$T/out" 2>"$T/err" &
	local tool=$!
	wait_paused "$tool"
	jq -c '.[2].ratio = 2.5' "$RT" >"$T/x" && mv "$T/x" "$RT"
	kill -CONT "$tool"
	wait_child "$tool" "the modify, continued,"
	[ "$CHILD_RC" -eq 0 ] || fail "modify exit $CHILD_RC: $(cat "$T/err")"
	! grep -q -e Sanitizer -e 'runtime error' "$T/err" || fail "sanitizer: $(cat "$T/err")"
	jq -e '.[2].ratio == 2.5' "$RT" >/dev/null || fail "Ganeti's change was lost: $(cat "$RT")"
	jq -e '.[1] | length == 1 and .[0].mac == "'"$MAC2"'" and .[0].nicparams.link == "br1"' \
		"$RT" >/dev/null || fail "the modified NIC is not recorded: $(cat "$RT")"
	[ -n "$(slot_of nic-003fc157-66a8-4e6d)" ] || fail "QEMU lacks the modified NIC"
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
	QMP_SOCK=$T/ganeti/ctrl/vm1.qmp GUEST_APPEND=kh.nomodules start_guest vm1 -name vm1
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
	wait_until "$WAIT_LIMIT" "the guest did not release $id" device_gone "$id"
	# QEMU lets go of the drive and its file a moment after the device:
	# all must go, however long that moment is
	within "$WAIT_LIMIT" disk_released "$id" "$fds" || fail "$WHY"
}

# disk_released ID FDS: QEMU has no drive ID, no node opens d1.img, QEMU
# does not hold d1.img open and has FDS fds again; WHY says what is left.
disk_released() {
	WHY=
	if has_drive "$1"; then WHY="drive $1 left"
	elif qmp query-named-block-nodes | grep -q d1.img; then WHY="a node still opens d1.img"
	elif ls -l /proc/"$PID"/fd | grep -q "$T/d1.img"; then WHY="QEMU still holds d1.img"
	elif [ "$(fd_count)" -ne "$2" ]; then WHY="QEMU has $(fd_count) fds, had $2"
	fi
	[ -z "$WHY" ]
}

# A Ganeti file gives every NIC its hvparams' queues and vhost: a NIC
# added without --queues or --vhost gets them, as Ganeti's own would,
# instead of being refused as one the file cannot record.
t_ganeti_nic_follows_hvparams() {
	[ ! -e /dev/vhost-net ] || fail "this test expects a machine without /dev/vhost-net"
	ganeti_file newer
	jq -c '.[1] = [] | .[3] = [] | .[2].virtio_net_queues = 2' "$RT" >"$T/x" && mv "$T/x" "$RT"
	make_netns
	QMP_SOCK=$T/ganeti/ctrl/vm1.qmp start_vm vm1 -name vm1
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

# Two NICs whose uuids share the first group: each gets a tap of its own
# (the kernel's names), each named in its nic file.
t_ganeti_nics_share_uuid_group() {
	ganeti_file newer
	jq -c '.[1] = [] | .[3] = []' "$RT" >"$T/x" && mv "$T/x" "$RT"
	make_netns
	QMP_SOCK=$T/ganeti/ctrl/vm1.qmp start_vm vm1 -name vm1
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
	QMP_SOCK=$T/ganeti/ctrl/vm1.qmp start_vm vm1 -name vm1 \
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
	QMP_SOCK=$T/ganeti/ctrl/vm1.qmp start_vm vm1 -name vm1
	disk_image "$T/d1.img"
	snapshot before
	gkh disk add --uuid "$UUID1" --path "$T/d1.img" --mode ro
	expect_rc 2
	expect_err "Ganeti starts no VM with a read-only disk"
	same_as before
}

# A Ganeti drive's image is handed over in an fd set (/dev/fdset/N): check
# compares its recorded path with the files QEMU has open, and its format
# and mode as for any disk (issue 17).
t_check_ganeti_drive_fields() {
	ganeti_file newer
	jq -c '.[1] = [] | .[3] = []' "$RT" >"$T/x" && mv "$T/x" "$RT"
	QMP_SOCK=$T/ganeti/ctrl/vm1.qmp start_vm vm1 -name vm1
	disk_image "$T/d1.img"
	disk_image "$T/d2.img"
	gkh disk add --uuid "$UUID1" --path "$T/d1.img" --dev-type file
	expect_rc 0
	gkh check
	expect_rc 0
	cp "$RT" "$T/good"
	jq -c --arg p "$T/d2.img" '.[3][0][1] = $p' "$T/good" >"$RT"
	gkh check
	expect_rc 1
	expect_out "disk disk-003fc157-66a8-4e6d: path: recorded $T/d2.img, which QEMU does not have open"
	jq -c '.[3][0][0].mode = "ro"' "$T/good" >"$RT"
	gkh check
	expect_rc 1
	expect_out "disk disk-003fc157-66a8-4e6d: mode: recorded ro, QEMU has it read-write"
	cp "$T/good" "$RT"
	gkh check
	expect_rc 0
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
	# inside a Ganeti hook, which runs on several nodes, that is no
	# failure: nothing to do here (the README's migrate hook)
	GANETI_HOOKS_PHASE=pre kh --instance vm9 --ganeti-dir "$T/ganeti" check --repair
	expect_rc 0
	[ "$OUT" = "vm9 does not run on this node: nothing to do" ] || fail "check in a hook: $OUT"
	GANETI_HOOKS_PHASE=pre kh --json --instance vm9 --ganeti-dir "$T/ganeti" list
	expect_rc 0
	[ "$OUT" = '{"instance":"vm9","runs_here":false}' ] || fail "list --json in a hook: $OUT"
	GANETI_HOOKS_PHASE=post kh --instance vm9 --ganeti-dir "$T/ganeti" -m "$SOCK" disk add --uuid "$UUID1" --path "$T/d1.img"
	expect_rc 0
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
	QMP_SOCK=$T/ganeti/ctrl/vm1.qmp start_vm vm1 -name vm1
	disk_image "$T/d1.img"
	gkh disk add --uuid "$UUID1" --path "$T/d1.img"
	expect_rc 0
	jq -e --argjson d "$scsi" '.[3][0] == $d and (.[3] | length) == 2' "$RT" >/dev/null ||
		fail "the SCSI disk's entry changed: $(cat "$RT")"
	gkh list
	expect_rc 0
	gkh disk remove --uuid 44444444-5555-4666-8777-888888888888
	expect_rc 1
	expect_err "disk 44444444-5555-4666-8777-888888888888 is in .* on a bus kvm-hotplug does not manage: it is left alone"
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

# ---- sync ----

# sync from a Ganeti hook's environment: what the configuration has after
# the change (the POST set) is added, idempotently; --prune removes what
# it no longer has; what cannot be made here is told, with exit 3.
t_sync_hook_env() {
	sync_hook_vm
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
	# the configuration moves the NIC to another bridge with another MAC
	# (gnt-instance modify --net 0:modify,link=...,mac=... without
	# --hotplug): sync applies it as nic modify does, at the same slot
	in_ns ip link add br1 type bridge
	in_ns ip link set br1 up
	local nslot
	nslot=$(slot_of nic-1b2c3d4e-0000-4000)
	GANETI_POST_INSTANCE_NIC0_LINK=br1 GANETI_POST_INSTANCE_NIC0_MAC=$MAC2 gkh sync --prune
	expect_rc 0
	expect_out "modified nic $UUID2: nic-1b2c3d4e-0000-4000.* at pci.0 slot $nslot"
	jq -e --arg m "$MAC2" '.[1][0] | .mac == $m and .nicparams.link == "br1"' "$RT" >/dev/null ||
		fail "the NIC's entry after the modify: $(cat "$RT")"
	qmp query-rx-filter | grep -q "\"main-mac\":\"$MAC2\"" || fail "QEMU's NIC lacks the new MAC: $(qmp query-rx-filter)"
	gkh check
	expect_rc 0
	GANETI_POST_INSTANCE_NIC0_LINK=br1 GANETI_POST_INSTANCE_NIC0_MAC=$MAC2 gkh --json sync --prune
	expect_rc 0
	jq -e '.actions == []' "$T/out" >/dev/null || fail "sync after the modify did something: $OUT"
	# a NIC with a VLAN is not added untagged: refused, exit 3
	GANETI_POST_INSTANCE_NIC_COUNT=2 GANETI_POST_INSTANCE_NIC1_UUID=$UUID3 \
		GANETI_POST_INSTANCE_NIC1_MAC=52:54:00:12:34:58 GANETI_POST_INSTANCE_NIC1_MODE=bridged \
		GANETI_POST_INSTANCE_NIC1_LINK=br0 GANETI_POST_INSTANCE_NIC1_VLAN=.100 \
		GANETI_POST_INSTANCE_NIC0_LINK=br1 GANETI_POST_INSTANCE_NIC0_MAC=$MAC2 gkh sync --prune
	expect_rc 3
	expect_out "not done: add nic $UUID3: vlan .100: Ganeti's own kvm-ifup tags it"
	[ -z "$(slot_of nic-2c3d4e5f-0000-4000)" ] || fail "the VLAN NIC was added untagged"
	# a NIC added by hand (a uuid Ganeti never had) is no change of the
	# configuration's: --prune leaves it (issue 16); the file says so,
	# in the NIC's own parameters, which travel with it
	local hand=4d5e6f70-0000-4000-8000-000000000004
	gkh nic add --uuid "$hand" --mac 52:54:00:12:34:59 --link br0
	expect_rc 0
	jq -e --arg u "$hand" '.[1][] | select(.uuid == $u) | .nicparams.kvm_hotplug_added_by == "hand"' "$RT" >/dev/null ||
		fail "the NIC added by hand is not marked: $(cat "$RT")"
	jq -e --arg u "$UUID2" '.[1][] | select(.uuid == $u) | .nicparams | has("kvm_hotplug_added_by") | not' "$RT" >/dev/null ||
		fail "sync's NIC is marked as added by hand: $(cat "$RT")"
	GANETI_POST_INSTANCE_NIC0_LINK=br1 GANETI_POST_INSTANCE_NIC0_MAC=$MAC2 gkh sync --prune
	expect_rc 0
	expect_out "vm1: the VM has what the configuration says"
	[ -n "$(slot_of nic-4d5e6f70-0000-4000)" ] || fail "sync --prune removed the NIC added by hand"
	# the NIC is gone from the configuration; a drbd disk came
	export GANETI_POST_INSTANCE_NIC_COUNT=0 GANETI_POST_INSTANCE_DISK_COUNT=2
	export GANETI_POST_INSTANCE_DISK1_UUID=$UUID3 GANETI_POST_INSTANCE_DISK1_DEV_TYPE=drbd
	gkh sync --prune
	expect_rc 3
	expect_out "removed nic $UUID2"
	expect_out "not done: add disk $UUID3: disk type drbd"
	grep -q "1 of 2 changes take effect at the next reboot" "$T/err" || fail "stderr: $ERR"
	[ -z "$(slot_of nic-1b2c3d4e-0000-4000)" ] || fail "the NIC is still in QEMU"
	[ -n "$(slot_of nic-4d5e6f70-0000-4000)" ] || fail "sync --prune removed the NIC added by hand"
	gkh nic remove --uuid "$hand"
	expect_rc 0
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
	# and --prune never removes it: the configuration still has it, whatever
	# its template (drbd without its minors, rbd, ext: not mappable here)
	for type in drbd rbd ext; do
		GANETI_POST_INSTANCE_DISK0_DEV_TYPE=$type gkh sync --prune
		expect_rc 0
		expect_out "vm1: the VM has what the configuration says"
		[ -n "$(slot_of disk-003fc157-66a8-4e6d)" ] || fail "sync --prune removed a $type disk the configuration has"
		grep -q "$UUID1" "$RT" || fail "sync --prune dropped the $type disk from the file"
	done
	# a blockdev disk is served from DISKn_ID, the adopted device's path
	disk_image "$T/bd1.img"
	export GANETI_POST_INSTANCE_DISK_COUNT=2 GANETI_POST_INSTANCE_DISK1_UUID=$UUID3
	export GANETI_POST_INSTANCE_DISK1_DEV_TYPE=blockdev GANETI_POST_INSTANCE_DISK1_DRIVER=manual
	export GANETI_POST_INSTANCE_DISK1_ID=$T/bd1.img GANETI_POST_INSTANCE_DISK1_SIZE=16
	gkh sync --prune
	expect_rc 0
	expect_out "added disk $UUID3"
	[ -n "$(slot_of disk-2c3d4e5f-0000-4000)" ] || fail "QEMU lacks the blockdev disk"
	jq -e --arg p "$T/bd1.img" --arg u "$UUID3" '.[3][] | select(.[0].uuid == $u) | .[0] | .dev_type == "blockdev" and .logical_id == ["manual", $p]' "$RT" >/dev/null ||
		fail "blockdev entry: $(cat "$RT")"
	gkh check
	expect_rc 0
	export GANETI_POST_INSTANCE_DISK_COUNT=1
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

# A hook's sync that failed (the guest did not release a NIC in time)
# keeps its environment and says how to repeat it; the operator runs
# that by hand, outside any hook, once the guest is back (issue 16).
t_sync_again() {
	sync_hook_vm
	gkh sync --prune
	expect_rc 0
	# the NIC removed from the configuration while the guest is paused
	export GANETI_POST_INSTANCE_NIC_COUNT=0
	qmp stop >/dev/null
	gkh -t 2 sync --prune
	expect_rc 4
	local again kept
	kept="$(aside_of "$RT").hook-env"
	again="kvm-hotplug --instance vm1 --ganeti-dir $T/ganeti sync --again"
	grep -qF "once the cause is fixed, run '$again' on this node (the hook's environment is kept in $kept)" "$T/err" ||
		fail "the failure does not say how to repeat it: $ERR"
	[ "$(stat -c %a "$kept")" = 600 ] || fail "the kept environment is not 0600"
	jq -e '.prune == true and .env.GANETI_POST_INSTANCE_NIC_COUNT == "0" and .env.GANETI_HOOKS_PHASE == "post"' \
		"$kept" >/dev/null || fail "kept: $(cat "$kept")"
	[ -z "$(ls "$T/ganeti/conf" | grep -v -e '^vm1.runtime$')" ] ||
		fail "files of the tool beside Ganeti's: $(ls "$T/ganeti/conf")"
	qmp cont >/dev/null
	wait_until "$WAIT_LIMIT" "the guest did not release the NIC after cont" device_gone nic-1b2c3d4e-0000-4000
	# by hand: no hook environment at all
	local vars
	vars=$(env | sed -n 's/^\(GANETI_[A-Z0-9_]*\)=.*/\1/p')
	# shellcheck disable=SC2086 # one name each
	unset $vars
	gkh sync --again
	expect_rc 0
	expect_out "removed nic $UUID2"
	[ ! -e "$kept" ] || fail "the kept environment stayed after the run succeeded"
	jq -e '.[1] == []' "$RT" >/dev/null || fail "the NIC is still recorded: $(cat "$RT")"
	[ -n "$(slot_of disk-003fc157-66a8-4e6d)" ] || fail "the disk went"
	gkh check
	expect_rc 0
	gkh sync --again
	expect_rc 2
	expect_err "sync --again: no failed hook run to repeat ($kept): the last one succeeded, or none ran on this node"
	gkh sync --again --from "$RT"
	expect_rc 2
	expect_err "not both"
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

run_tests ganeti "$@"
