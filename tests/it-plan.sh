#!/usr/bin/env bash
# Integration tests, plans and --dry-run: a dry run prints the QMP
# commands an add, removal or modify would send (fds by name) and the
# runtime file as it would be written, and changes nothing: not the file,
# not QEMU's devices, nodes or fds, not the host's interfaces. The real
# run that follows sends exactly what was printed (read back from -v) and
# writes exactly the file shown.
# Usage: KH=... QMPCMD=... GUEST=... tests/it-plan.sh [TEST...]; it runs
# alone, or tests/integration.sh runs it with the other areas.
set -u
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=tests/lib.sh
. "$HERE/lib.sh"
test_tools

# dry_plan: the steps a dry run printed, one JSON line each; sent_plan:
# what the last run sent, from its -v lines. A fallback (sent only if the
# step before found nothing to remove) is left out of both.
dry_plan() {
	grep '^{' "$T/out" | grep -v '"fallback":true'
}

sent_plan() {
	sed -n 's/^kvm-hotplug: -> //p' "$T/err" | grep -v '"fallback":true'
}

# dry_file: the runtime file as the dry run showed it.
dry_file() {
	sed -n '/^--- .* as it would be written:$/,$p' "$T/out" | tail -n +2
}

# commands FILE: the plan's commands, space-separated.
commands() {
	jq -r '.execute // ("run " + .run)' "$1" | tr '\n' ' '
}

# qemu_files: what QEMU's fds open besides sockets, pipes and eventfds
# (which come and go with our connection and the guest's drivers): the
# images and taps a run may pass it.
qemu_files() {
	local f
	for f in /proc/"$PID"/fd/*; do
		readlink "$f"
	done | grep -v -e '^socket:' -e '^pipe:' -e '^anon_inode:' | sort
}

# dry_then_real NAME ARGS...: the dry run of kvm-hotplug ARGS (nothing
# changed, its plan in $T/NAME.plan, its file in $T/NAME.rt), then the
# real run with -v, which must send that plan and write that file.
dry_then_real() {
	local name=$1 links
	shift
	snapshot "$name"
	qemu_files >"$T/$name.files"
	links=$(in_ns ip -o link show | wc -l)
	kh "$@" --dry-run
	expect_rc 0
	[ -z "$ERR" ] || fail "the dry run of $* said: $ERR"
	same_as "$name"
	qemu_files | diff "$T/$name.files" - >"$T/diff" ||
		fail "the dry run of $* passed QEMU files: $(cat "$T/diff")"
	[ "$(in_ns ip -o link show | wc -l)" -eq "$links" ] ||
		fail "the dry run of $* changed the host's interfaces"
	dry_plan >"$T/$name.plan"
	dry_file >"$T/$name.rt"
	kh -v "$@"
	expect_rc 0
	sent_plan | diff -u "$T/$name.plan" - >"$T/diff" ||
		fail "$* sent other commands than its dry run printed: $(cat "$T/diff")"
	diff -u "$T/$name.rt" "$RT" >"$T/diff" ||
		fail "$* wrote another file than its dry run showed: $(cat "$T/diff")"
}

t_dry_run_disk() {
	start_guest g
	disk_image "$T/d1.img"
	dry_then_real add -r "$RT" -m "$SOCK" disk add --uuid "$UUID1" --path "$T/d1.img"
	[ "$(commands "$T/add.plan")" = "blockdev-add device_add " ] ||
		fail "add plan: $(cat "$T/add.plan")"
	jq -e -s --arg p "$T/d1.img" '.[0].arguments["node-name"] == "hotdisk-003fc157-pci-4" and
		.[0].arguments.file.filename == $p and .[1].arguments.addr == "0x4"' "$T/add.plan" >/dev/null ||
		fail "add plan: $(cat "$T/add.plan")"
	[ "$(slot_of hotdisk-003fc157-pci-4)" = 4 ] || fail "the real add did not happen"
	# --json: one object, the plan and the file
	disk_image "$T/d2.img"
	snapshot json
	kh -j -r "$RT" -m "$SOCK" disk add --uuid "$UUID2" --path "$T/d2.img" -n
	expect_rc 0
	[ "$(wc -l <"$T/out")" -eq 1 ] || fail "not one JSON object: $OUT"
	jq -e --arg rt "$RT" --arg u "$UUID2" '.["dry-run"] == true and .runtime == $rt and
		([.plan[].execute] == ["blockdev-add", "device_add"]) and
		(.file | contains($u)) and (.plan[1].arguments.addr == "0x5")' "$T/out" >/dev/null ||
		fail "JSON plan: $OUT"
	same_as json
	# -n before the command, as make -n and rsync -n are typed: the same
	kh -j -r "$RT" -m "$SOCK" -n disk add --uuid "$UUID2" --path "$T/d2.img"
	expect_rc 0
	jq -e '.["dry-run"] == true and ([.plan[].execute] == ["blockdev-add", "device_add"])' \
		"$T/out" >/dev/null || fail "-n before the command: $OUT"
	same_as json
	dry_then_real remove -r "$RT" -m "$SOCK" disk remove --uuid "$UUID1"
	[ "$(commands "$T/remove.plan")" = "device_del blockdev-del " ] ||
		fail "removal plan: $(cat "$T/remove.plan")"
	[ -z "$(slot_of hotdisk-003fc157-pci-4)" ] || fail "the real removal did not happen"
}

t_dry_run_nic() {
	make_netns
	GUEST_APPEND=kh.nomodules start_guest g
	in_ns ip link add br1 type bridge
	dry_then_real add -r "$RT" -m "$SOCK" nic add --uuid "$UUID1" --mac "$MAC1" \
		--link br0 --queues 2
	[ "$(commands "$T/add.plan")" = "getfd getfd netdev_add device_add " ] ||
		fail "add plan: $(cat "$T/add.plan")"
	local tap
	tap=$(sed -n 's/^  tap: //p' "$RT")
	jq -e -s --arg t "tap $tap queue 1" '.[1].fd == $t and
		.[2].arguments.fds == "hotnic-003fc157-pci-4-tap0:hotnic-003fc157-pci-4-tap1"' \
		"$T/add.plan" >/dev/null || fail "fds not named: $(cat "$T/add.plan")"
	[ "$(tap_fds "$tap")" -eq 2 ] || fail "the real add did not happen"
	dry_then_real modify -r "$RT" -m "$SOCK" nic modify --uuid "$UUID1" --link br1 --queues 1
	[ "$(commands "$T/modify.plan")" = "device_del netdev_del getfd netdev_add device_add " ] ||
		fail "modify plan: $(cat "$T/modify.plan")"
	grep -q "slot: 4" "$T/modify.rt" || fail "the modify moved the NIC: $(cat "$T/modify.rt")"
	in_ns ip -d link show "$tap" | grep -q "master br1" || fail "the real modify did not happen"
	dry_then_real remove -r "$RT" -m "$SOCK" nic remove --uuid "$UUID1"
	[ "$(commands "$T/remove.plan")" = "device_del netdev_del " ] ||
		fail "removal plan: $(cat "$T/remove.plan")"
	no_nic_left "$tap" hotnic-003fc157-pci-4
}

# A dry run refuses what the real run's tap refuses, with the same exit
# and message: a tap name another interface has, given or made from the
# NIC's uuid (the same uuid on a second VM of this host, with a hint)
# (issue 17).
t_dry_run_tap_taken() {
	make_netns
	start_vm a -name a
	local a=$SOCK
	start_vm b -name b
	in_ns ip link add taken type bridge
	local n
	for n in -n ""; do
		kh -r "$T/b.runtime" -m "$SOCK" nic add --uuid "$UUID1" --mac "$MAC1" --link br0 --tap taken $n
		expect_rc 1
		expect_err "interface taken already exists$"
	done
	kh -r "$T/a.runtime" -m "$a" nic add --uuid "$UUID2" --mac "$MAC1" --link br0
	expect_rc 0
	for n in -n ""; do
		kh -r "$T/b.runtime" -m "$SOCK" nic add --uuid "$UUID2" --mac "$MAC2" --link br0 $n
		expect_rc 1
		expect_err "interface kh[0-9a-f]* already exists (the tap name made from the NIC's uuid: does a NIC of this uuid run on another VM here? give --tap NAME)"
	done
	[ ! -e "$T/b.runtime" ] || fail "b's runtime file made: $(cat "$T/b.runtime")"
	kh -r "$T/b.runtime" -m "$SOCK" nic add --uuid "$UUID2" --mac "$MAC2" --link br0 --tap khb -n
	expect_rc 0
}

# A Ganeti file's disk: add-fd with the image, HMP drive_add on a set
# whose number the plan knows in advance, remove-fd whatever drive_add
# says; drive_del (or the fallback for a node) to remove it.
t_dry_run_ganeti_disk() {
	ganeti_file newer
	make_netns
	QMP_SOCK=$T/ganeti/ctrl/vm1.qmp GUEST_APPEND=kh.nomodules start_guest vm1 -name vm1
	disk_image "$T/d1.img"
	dry_then_real add --instance vm1 --ganeti-dir "$T/ganeti" disk add --uuid "$UUID1" \
		--path "$T/d1.img"
	[ "$(commands "$T/add.plan")" = "add-fd human-monitor-command remove-fd device_add " ] ||
		fail "add plan: $(cat "$T/add.plan")"
	jq -e -s --arg f "$T/d1.img (read-write)" '.[0].arguments["fdset-id"] as $set |
		.[0].fd == $f and .[2].arguments["fdset-id"] == $set and
		(.[1].arguments["command-line"] | startswith("drive_add dummy file=/dev/fdset/\($set),"))' \
		"$T/add.plan" >/dev/null || fail "fd set not planned: $(cat "$T/add.plan")"
	has_drive disk-003fc157-66a8-4e6d || fail "the real add did not happen"
	dry_then_real remove --instance vm1 --ganeti-dir "$T/ganeti" disk remove --uuid "$UUID1"
	[ "$(commands "$T/remove.plan")" = "device_del human-monitor-command " ] ||
		fail "removal plan: $(cat "$T/remove.plan")"
	! has_drive disk-003fc157-66a8-4e6d || fail "the real removal did not happen"
}

# sync --dry-run: each change it would make, with its plan and the file
# as that change would write it, in the one JSON object sync prints;
# nothing changes; the real sync then makes those changes.
t_dry_run_sync() {
	sync_hook_vm
	snapshot before
	qemu_files >"$T/before.files"
	local links
	links=$(in_ns ip -o link show | wc -l)
	gkh --json sync --dry-run
	expect_rc 0
	[ "$(wc -l <"$T/out")" -eq 1 ] || fail "not one JSON object: $OUT"
	jq -e '[.actions[] | .action + " " + .kind + " " + (.exit | tostring) + " " +
		([.plan[].execute] | join(","))] ==
		["add nic 0 getfd,netdev_add,device_add",
		 "add disk 0 add-fd,human-monitor-command,remove-fd,device_add"]' \
		"$T/out" >/dev/null || fail "sync's plans: $OUT"
	jq -e --arg u "$UUID1" '.actions[1].file | contains($u)' "$T/out" >/dev/null ||
		fail "the file the disk's add would write: $OUT"
	# one change after the other: the disk's plan knows the NIC's slot
	jq -e '[.actions[].plan[] | select(.execute == "device_add") | .arguments.addr] == ["0xc", "0xd"]' \
		"$T/out" >/dev/null || fail "slots planned: $OUT"
	same_as before
	qemu_files | diff "$T/before.files" - || fail "sync -n passed QEMU files"
	[ "$(in_ns ip -o link show | wc -l)" -eq "$links" ] || fail "sync -n made an interface"
	# text: each plan as JSON lines and its file
	gkh sync -n
	expect_rc 0
	[ "$(grep -c '^{"execute":"device_add"' "$T/out")" -eq 2 ] || fail "sync -n text: $OUT"
	[ "$(grep -c '^--- .* as it would be written:$' "$T/out")" -eq 2 ] || fail "sync -n text: $OUT"
	same_as before
	gkh sync
	expect_rc 0
	[ "$(slot_of nic-1b2c3d4e-0000-4000)" = 12 ] && [ "$(slot_of disk-003fc157-66a8-4e6d)" = 13 ] ||
		fail "the real sync did not make the devices where planned"
}

# A run killed half way left its record: a dry run shows the settling the
# real run does first (its undo, or the prepared file put in place), then
# its own plan, and the real run sends exactly that and writes that file.
t_dry_run_settles_first() {
	start_vm vm
	disk_image "$T/d1.img"
	disk_image "$T/d2.img"
	disk_image "$T/d3.img"
	# QEMU lacks the device: the undo comes first
	KH_FAULT=after-backend kh -r "$RT" -m "$SOCK" disk add --uuid "$UUID1" --path "$T/d1.img"
	[ "$RC" -eq 137 ] || fail "not killed: $RC"
	cp "$RT.intent" "$T/intent1"
	kh -r "$RT" -m "$SOCK" disk add --uuid "$UUID2" --path "$T/d2.img" -n
	expect_rc 0
	expect_err "dry run, not done: an interrupted add of hotdisk-003fc157-pci-4: QEMU does not have it"
	cmp -s "$RT.intent" "$T/intent1" || fail "the dry run settled the record"
	dry_plan >"$T/plan1"
	dry_file >"$T/file1"
	[ "$(commands "$T/plan1")" = "blockdev-del blockdev-add device_add " ] ||
		fail "plan: $(cat "$T/plan1")"
	kh -v -r "$RT" -m "$SOCK" disk add --uuid "$UUID2" --path "$T/d2.img"
	expect_rc 0
	sent_plan | diff -u "$T/plan1" - || fail "the real run sent another plan"
	diff -u "$T/file1" "$RT" || fail "the real run wrote another file"
	# QEMU has the device: the prepared file is the one the plan starts from
	KH_FAULT=after-device_add kh -r "$RT" -m "$SOCK" disk add --uuid "$UUID3" --path "$T/d3.img"
	[ "$RC" -eq 137 ] || fail "not killed: $RC"
	kh -r "$RT" -m "$SOCK" disk remove --uuid "$UUID2" --dry-run
	expect_rc 0
	expect_err "dry run, not done: an interrupted add of hotdisk-2c3d4e5f-pci-5: QEMU has it, recorded"
	dry_plan >"$T/plan2"
	dry_file >"$T/file2"
	grep -q "uuid: $UUID3" "$T/file2" || fail "the file shown lacks the settled add: $(cat "$T/file2")"
	! grep -q "uuid: $UUID2" "$T/file2" || fail "the file shown keeps the removed disk"
	[ "$(commands "$T/plan2")" = "device_del blockdev-del " ] || fail "plan: $(cat "$T/plan2")"
}

# What a real run refuses before it sends anything, a dry run refuses with
# the same exit code and message; an interrupted run's record is left for
# a real run to settle.
t_dry_run_refusals() {
	start_vm vm
	disk_image "$T/d1.img"
	kh -r "$RT" -m "$SOCK" disk add --uuid "$UUID1" --path "$T/d1.img"
	expect_rc 0
	snapshot before
	kh -r "$RT" -m "$SOCK" disk add --uuid "$UUID1" --path "$T/d1.img" --mode ro -n
	expect_rc 1
	expect_err "a device with uuid $UUID1 is already recorded in .*, with other settings"
	kh -r "$RT" -m "$SOCK" disk add --uuid "$UUID2" --path "$T/d1.img" --slot 4 -n
	expect_rc 1
	expect_err "slot 4"
	kh -r "$RT" -m "$SOCK" nic remove --uuid "$UUID1" -n
	expect_rc 1
	expect_err "uuid $UUID1 in .* is a disk's, not a nic's"
	kh -r "$RT" -m "$SOCK" list --dry-run
	expect_rc 2
	expect_err "list does not take '--dry-run'"
	same_as before
	# a run killed half way: the dry repair shows the record's undo and
	# leaves record, node and file; the real repair sends that undo
	KH_FAULT=after-backend kh -r "$RT" -m "$SOCK" disk add --uuid "$UUID2" --path "$T/d1.img" --mode ro
	[ "$RC" -eq 137 ] || fail "not killed: $RC"
	has_node hotdisk-1b2c3d4e-pci-5 || fail "the killed add left no node"
	cp "$RT.intent" "$T/intent"
	jq -e '.undo == [{"execute": "blockdev-del", "arguments": {"node-name": "hotdisk-1b2c3d4e-pci-5"}}]' \
		"$T/intent" >/dev/null || fail "the intent record lacks the plan's undo: $(cat "$T/intent")"
	# (same_as would object to the prepared file the killed run left)
	mkdir "$T/dry"
	cp "$RT" "$T/dry/killed.rt"
	ls -a "$T" >"$T/dry/killed.ls"
	kh -r "$RT" -m "$SOCK" check --repair -n
	expect_rc 0
	expect_err "dry run, not done: an interrupted add of hotdisk-1b2c3d4e-pci-5: QEMU does not have it, its leftovers released"
	dry_plan >"$T/dry/repair.plan"
	[ "$(cat "$T/dry/repair.plan")" = '{"execute":"blockdev-del","arguments":{"node-name":"hotdisk-1b2c3d4e-pci-5"}}' ] ||
		fail "repair plan: $OUT"
	has_node hotdisk-1b2c3d4e-pci-5 || fail "the dry run replayed the undo"
	cmp -s "$RT" "$T/dry/killed.rt" || fail "the dry run changed the runtime file"
	cmp -s "$RT.intent" "$T/intent" || fail "the dry run changed the intent record"
	ls -a "$T" | diff "$T/dry/killed.ls" - || fail "the dry run made or removed files"
	kh -v -r "$RT" -m "$SOCK" check --repair
	expect_rc 0
	sent_plan | diff -u "$T/dry/repair.plan" - >"$T/diff" ||
		fail "the repair sent other commands than its dry run printed: $(cat "$T/diff")"
	! has_node hotdisk-1b2c3d4e-pci-5 || fail "the repair did not replay the undo"
	[ ! -e "$RT.intent" ] || fail "the record stayed"
}

run_tests plan "$@"
