#!/usr/bin/env bash
# Integration tests, reliability: QEMU killed or hung, the lock held, the tool
# killed or signalled at every step, full and read-only storage, concurrent
# invocations, valgrind.
# Usage: KH=... QMPCMD=... GUEST=... tests/it-reliability.sh [TEST...]; it runs
# alone, or tests/integration.sh runs it with the other areas.
set -u
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=tests/lib.sh
. "$HERE/lib.sh"
test_tools

# ---- QEMU killed or hung, the lock held ----

t_killed_qemu() {
	start_vm vm
	disk_image "$T/d1.img"
	kh -r "$RT" -m "$SOCK" disk add --uuid "$UUID1" --path "$T/d1.img"
	expect_rc 0
	cp -p "$RT" "$T/rt.before"
	kill -9 "$PID"
	wait_gone "$PID" "QEMU, killed,"
	kh -r "$RT" -m "$SOCK" disk add --uuid "$UUID2" --path "$T/d1.img"
	expect_rc 1
	expect_err "cannot connect to monitor"
	cmp -s "$RT" "$T/rt.before" || fail "runtime file changed"
	kh -r "$RT" -m "$SOCK" disk remove --uuid "$UUID1"
	expect_rc 1
	cmp -s "$RT" "$T/rt.before" || fail "runtime file changed"
}

# QEMU dies with a NIC half made: the tool fails, nothing stays behind.
t_nic_killed_qemu() {
	make_netns
	start_vm vm
	kill -9 "$PID"
	wait_gone "$PID" "QEMU, killed,"
	kh -r "$RT" -m "$SOCK" nic add --uuid "$UUID1" --mac "$MAC1" --link br0 --tap kh1
	expect_rc 1
	expect_err "cannot connect to monitor"
	! has_link kh1 || fail "tap kh1 left behind"
	[ ! -e "$RT" ] || fail "runtime file created"
}

# QEMU dies while the tool waits for the guest: exit 1 at once, file kept.
# QEMU is killed once the tool waits (it said so, -v, and sleeps in
# poll); the wait's timeout is far beyond the bound on the run, so a tool
# that did not notice QEMU's end would hang, not exit 4.
t_qemu_killed_during_remove() {
	start_vm vm
	disk_image "$T/d1.img"
	kh -r "$RT" -m "$SOCK" disk add --uuid "$UUID1" --path "$T/d1.img"
	expect_rc 0
	cp -p "$RT" "$T/rt.before"
	"$KH" -v -t 3600 -r "$RT" -m "$SOCK" disk remove --uuid "$UUID1" >"$T/out" 2>"$T/err" &
	local tool=$!
	wait_guest_wait "$tool" "$T/err"
	kill -9 "$PID"
	wait_child "$tool" "the removal, after QEMU died,"
	[ "$CHILD_RC" -eq 1 ] || fail "exit $CHILD_RC, expected 1: $(cat "$T/err")"
	grep -q "^kvm-hotplug: .*QEMU closed the monitor connection" "$T/err" ||
		fail "message: $(cat "$T/err")"
	! grep -q -e Sanitizer -e 'runtime error' "$T/err" || fail "sanitizer: $(cat "$T/err")"
	cmp -s "$RT" "$T/rt.before" || fail "runtime file changed"
}

# A QEMU that stops answering: every wait ends at --timeout. A stopped
# QEMU never greets: a run that did not bound its wait would hang (kh
# stops it and fails); the message names the bound it used, and the run
# ended not before it.
t_hung_qemu() {
	start_vm vm
	disk_image "$T/d1.img"
	kill -STOP "$PID"
	local t0
	t0=$(uptime_cs)
	kh -t 1 -r "$RT" -m "$SOCK" disk add --uuid "$UUID1" --path "$T/d1.img"
	expect_rc 4
	expect_err "no greeting from the QEMU monitor within 1000 ms"
	not_before "$t0" 1 "the add"
	[ ! -e "$RT" ] || fail "runtime file created"
	# a signal while it waits for the greeting is said as such
	local tool
	"$KH" -t 60 -r "$RT" -m "$SOCK" disk add --uuid "$UUID1" --path "$T/d1.img" >"$T/out" 2>"$T/err" &
	tool=$!
	within "$WAIT_LIMIT" in_ppoll "$tool" || { kill -CONT "$PID"; fail "the tool did not wait for the greeting"; }
	kill -TERM "$tool"
	wait_child "$tool" "the add, after SIGTERM,"
	kill -CONT "$PID"
	[ "$CHILD_RC" -eq 4 ] || fail "exit $CHILD_RC after SIGTERM: $(cat "$T/err")"
	grep -q "interrupted by signal 15 (greeting)" "$T/err" || fail "SIGTERM in the greeting: $(cat "$T/err")"
	[ ! -e "$RT" ] || fail "runtime file created"
}

# in_ppoll PID: the tool PID is blocked in ppoll(2) (syscall 271): a wait
# on the monitor.
in_ppoll() {
	gone "$1" && fail "the tool (pid $1) ended: $(cat "$T/err")"
	[ "$(cut -d' ' -f1 "/proc/$1/syscall" 2>/dev/null)" = 271 ]
}

# A hung QEMU's listen queue fills with the runs that gave up on it:
# every later run waits for its turn up to its timeout and exits 4, never
# 1 at once (a full queue refuses connect() with EAGAIN: no connection
# was made); once QEMU runs again, so does the tool (issue 17).
t_monitor_queue_full() {
	start_vm vm
	disk_image "$T/d1.img"
	kill -STOP "$PID"
	local i t0
	for i in 1 2 3 4; do
		t0=$(uptime_cs)
		kh -t 1 -r "$RT" -m "$SOCK" disk add --uuid "$UUID1" --path "$T/d1.img"
		[ "$RC" -eq 4 ] || { kill -CONT "$PID"; fail "run $i on a hung QEMU: exit $RC, expected 4: $ERR"; }
		not_before "$t0" 1 "run $i"
	done
	# the queue is full now: said so
	expect_err "monitor $SOCK is busy: its queue of waiting clients stayed full for 1.0 s"
	kill -CONT "$PID"
	kh -r "$RT" -m "$SOCK" disk add --uuid "$UUID1" --path "$T/d1.img"
	expect_rc 0
}

# QEMU stops answering in the middle of an add: the tool gives up at its
# timeout (exit 4) and keeps its intent record, because QEMU may still
# carry the command out once resumed (or drop it with the closed
# connection); the next run settles whichever happened. QEMU stays
# stopped until the tool has ended: a tool that did not bound its wait
# would hang (wait_child stops it and fails).
t_qemu_stops_mid_add() {
	start_vm vm
	disk_image "$T/d1.img"
	KH_FAULT_PAUSE=after-backend "$KH" -t 1 -r "$RT" -m "$SOCK" \
		disk add --uuid "$UUID1" --path "$T/d1.img" >"$T/out" 2>"$T/err" &
	local tool=$!
	wait_paused "$tool"
	kill -STOP "$PID"
	local t0
	t0=$(uptime_cs)
	kill -CONT "$tool"
	wait_child "$tool" "the add, with QEMU stopped,"
	kill -CONT "$PID"
	[ "$CHILD_RC" -eq 4 ] || fail "exit $CHILD_RC, expected 4: $(cat "$T/err")"
	grep -q "the outcome is unknown, the next run settles it: QEMU monitor did not answer in time (device_add)" "$T/err" ||
		fail "message: $(cat "$T/err")"
	not_before "$t0" 1 "the add"
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

# The lock held by another process: exit 4 at the timeout. The holder
# keeps it far longer than any bound here: a run that did not bound its
# wait would hang (kh stops it and fails); the message names the bound,
# and the run ended not before it.
t_lock_timeout() {
	start_vm vm
	disk_image "$T/d1.img"
	# the holder: a process that has the lock (it says so), until killed
	(
		exec 9>>"$RT.lock"
		flock 9 || exit 1
		touch "$T/locked"
		exec sleep 3600
	) &
	local holder=$!
	echo "$holder" >>"$T/kill"
	wait_until "$WAIT_LIMIT" "the holder did not take the lock" test -e "$T/locked"
	local t0
	t0=$(uptime_cs)
	kh -t 1 -r "$RT" -m "$SOCK" disk add --uuid "$UUID1" --path "$T/d1.img"
	expect_rc 4
	expect_err "locked by another process (waited 1.0 s)"
	not_before "$t0" 1 "the add"
	[ ! -e "$RT" ] || fail "runtime file created"
	kill "$holder"
	wait "$holder" 2>/dev/null
	rm "$T/kill"
	kh -r "$RT" -m "$SOCK" disk add --uuid "$UUID1" --path "$T/d1.img"
	expect_rc 0
}

# ---- the tool killed or interrupted ----

# The tool killed at every step of every operation (kill_rounds, lib.sh):
# after check --repair the file and the VM agree, and nothing half-made
# is left in QEMU or on the host.
t_kill_at_every_step() {
	make_netns
	GUEST_APPEND=kh.nomodules start_guest vm
	disk_image "$T/d1.img"
	local n=0
	kill_rounds
	# the next ordinary run settles it too, and says what it did
	KH_FAULT=after-backend kh -r "$RT" -m "$SOCK" disk add --uuid "$UUID1" --path "$T/d1.img"
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

# ganeti_vm_with_disk IMG: instance vm1 of a newer Ganeti file, paused
# with no guest (an unplug is never acknowledged), with a file disk
# ($UUID1 on IMG) the tool added.
ganeti_vm_with_disk() {
	ganeti_file newer
	jq -c '.[1] = [] | .[3] = []' "$RT" >"$T/x" && mv "$T/x" "$RT"
	QMP_SOCK=$T/ganeti/ctrl/vm1.qmp start_vm vm1 -name vm1
	disk_image "$1"
	gkh disk add --uuid "$UUID1" --path "$1" --dev-type file
	expect_rc 0
}

# A signal during a removal's wait (a hook's caller timing it out, ^C)
# leaves the removal recorded as pending, as a timeout does, and check
# (the gate before migration) fails while it is; so it does while any
# interrupted run is not settled. The signal comes once the tool waits
# (it said so, -v, and sleeps in poll); a signal that did not end the
# wait would let it run into its timeout, which the message tells.
t_signal_during_removal() {
	start_vm vm	# no guest: the unplug is never acknowledged
	disk_image "$T/d1.img"
	kh -r "$RT" -m "$SOCK" disk add --uuid "$UUID1" --path "$T/d1.img"
	expect_rc 0
	local sig tool rc
	for sig in TERM INT HUP; do
		"$KH" -v -t 30 -r "$RT" -m "$SOCK" disk remove --uuid "$UUID1" >"$T/out" 2>"$T/err" &
		tool=$!
		wait_guest_wait "$tool" "$T/err"
		kill -"$sig" "$tool"
		wait_child "$tool" "the removal, after SIG$sig,"
		rc=$CHILD_RC
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
	ganeti_vm_with_disk "$T/d2.img"
	"$KH" -v -t 30 --instance vm1 --ganeti-dir "$T/ganeti" disk remove --uuid "$UUID1" >"$T/out" 2>"$T/err" &
	tool=$!
	wait_guest_wait "$tool" "$T/err"
	kill -TERM "$tool"
	wait_child "$tool" "the removal, after SIGTERM,"
	rc=$CHILD_RC
	[ "$rc" -eq 4 ] || fail "Ganeti file: exit $rc: $(cat "$T/err")"
	grep -q "the removal stays pending in $(aside_of "$RT").intent" "$T/err" || fail "Ganeti file: $(cat "$T/err")"
	# never beside Ganeti's file, which conf/ would keep for good (issue 16)
	[ -e "$(aside_of "$RT").intent" ] && [ -e "$(aside_of "$RT").lock" ] ||
		fail "no intent record or lock under /run/kvm-hotplug: $(ls /run/kvm-hotplug)"
	[ -z "$(ls "$T/ganeti/conf" | grep -v '^vm1.runtime$')" ] ||
		fail "files of the tool beside Ganeti's: $(ls "$T/ganeti/conf")"
	# list and check show it pending, as for a native file (issue 16)
	gkh --json list
	expect_rc 0
	jq -e '.devices[] | select(.id == "disk-003fc157-66a8-4e6d") | .state == "unplugging"' "$T/out" >/dev/null ||
		fail "list does not show the pending removal: $OUT"
	gkh check --repair
	expect_rc 1
	expect_out "disk-003fc157-66a8-4e6d: a removal is pending ($(aside_of "$RT").intent): remove it again once the guest is up, or reboot the VM"
	! grep -q "run check --repair\|interrupted" "$T/out" || fail "check --repair tells to run itself, or of an interruption: $OUT"
	grep -q "a removal of disk-003fc157-66a8-4e6d is pending: QEMU still has it" "$T/err" ||
		fail "the next run did not say the removal is pending: $ERR"
	qmp system_reset >/dev/null	# completes the pending unplug
	wait_until "$WAIT_LIMIT" "the reset did not complete the unplug" device_gone disk-003fc157-66a8-4e6d
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
	# -j names the device the record is about (issue 17)
	kh -j -r "$RT" -m "$SOCK" check
	expect_rc 1
	jq -e --arg u "$UUID2" '.differences[] | select(.problem | test("interrupted add")) |
		.kind == "disk" and .uuid == $u' <<<"$OUT" >/dev/null ||
		fail "check -j: $OUT"
}

# An intent record belongs to one QEMU process. A removal left pending
# in a Ganeti file's record, then the VM started again from the file (as
# after a reboot, or a migration away and back): the record is another
# process's, stale. check and list ignore it, the next change drops it
# and replays none of it; the device the new QEMU has stays (issue 16).
t_stale_intent_record() {
	ganeti_vm_with_disk "$T/d1.img"
	local id=disk-003fc157-66a8-4e6d tool old=$PID args slot
	slot=$(slot_of "$id")
	"$KH" -v -t 30 --instance vm1 --ganeti-dir "$T/ganeti" disk remove --uuid "$UUID1" >"$T/out" 2>"$T/err" &
	tool=$!
	wait_guest_wait "$tool" "$T/err"
	kill -TERM "$tool"
	wait_child "$tool" "the removal, after SIGTERM,"
	[ "$CHILD_RC" -eq 4 ] || fail "exit $CHILD_RC: $(cat "$T/err")"
	grep -q "\"qemu\":\"$old:" "$(aside_of "$RT").intent" ||
		fail "the record does not name QEMU process $old: $(cat "$(aside_of "$RT").intent")"
	# the VM again, from the file (its disk among them)
	gkh cmdline
	expect_rc 0
	mapfile -t args <<<"$OUT"
	qmp quit >/dev/null
	wait_gone "$old" "the first QEMU"
	QMP_SOCK=$T/ganeti/ctrl/vm1.qmp start_vm vm1 -name vm1 "${args[@]}"
	[ "$(slot_of "$id")" = "$slot" ] || fail "the new QEMU lacks the disk at slot $slot: $(qmp query-pci)"
	gkh check
	expect_rc 0
	gkh --json list
	expect_rc 0
	jq -e --arg id "$id" '.devices[] | select(.id == $id) | .state == "plugged" and .present' \
		<<<"$OUT" >/dev/null || fail "list: $OUT"
	# a dry run says it and keeps it; a change drops it
	gkh check --repair -n
	expect_rc 0
	expect_err "dry run, not done: a stale intent record ($(aside_of "$RT").intent, of QEMU process $old, not the one running the VM now) dropped"
	[ -e "$(aside_of "$RT").intent" ] || fail "the dry run dropped the record"
	gkh check --repair
	expect_rc 0
	expect_err "a stale intent record ($(aside_of "$RT").intent, of QEMU process $old, not the one running the VM now) dropped: it is not replayed"
	[ ! -e "$(aside_of "$RT").intent" ] || fail "the stale record stayed"
	[ "$(slot_of "$id")" = "$slot" ] || fail "the disk went from the new QEMU"
	gkh check
	expect_rc 0
	jq -e --arg u "$UUID1" '.[3] | length == 1 and .[0][0].uuid == $u' "$RT" >/dev/null ||
		fail "the disk went from the file: $(cat "$RT")"
	gkh -t 2 disk remove --uuid "$UUID1"
	expect_rc 4	# the new QEMU's own pending removal: no guest here
	grep -q "\"qemu\":\"$PID:" "$(aside_of "$RT").intent" ||
		fail "the new record does not name QEMU process $PID"
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
	QMP_SOCK=$T/ganeti/ctrl/vm1.qmp GUEST_APPEND=kh.nomodules start_guest vm1 -name vm1
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
		[ ! -e "$(aside_of "$RT").intent" ] || fail "killed at $p: intent left"
		gkh disk remove --uuid "$UUID1"
		! has_drive "$id" || fail "after $p: drive left after removal"
		n=$((n + 1))
	done
	echo "INFO: $n kill points of a Ganeti disk add, each settled"
}

# ---- full disks, crowds, valgrind ----

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

# 16 invocations at once, adds and removes mixed: all succeed, on
# distinct slots, and the file matches the VM. They take the lock one
# after the other: the last waits for all the others (removals wait for
# the guest), so each is given a timeout far beyond what they take
# together.
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
			in_ns "$KH" -q -t 600 -r "$RT" -m "$SOCK" disk remove --uuid "$uuid" 2>"$T/err.$i" &
		elif [ $((i % 2)) -eq 0 ]; then
			disk_image "$T/d$i.img"
			in_ns "$KH" -q -t 600 -r "$RT" -m "$SOCK" disk add --uuid "$uuid" --path "$T/d$i.img" 2>"$T/err.$i" &
		else
			in_ns "$KH" -q -t 600 -r "$RT" -m "$SOCK" nic add --uuid "$uuid" --mac "52:54:00:00:00:$i" --link br0 2>"$T/err.$i" &
		fi
		pids+=($!)
	done
	for i in "${!pids[@]}"; do
		wait_child "${pids[$i]}" "invocation $i"
		[ "$CHILD_RC" -eq 0 ] || fail "invocation $i failed (exit $CHILD_RC): $(cat "$T/err.$((i + 10))")"
	done
	kh -r "$RT" -m "$SOCK" check
	expect_rc 0
	expect_out "matches the VM: 8 devices"
	[ "$(grep -c '^  slot:' "$RT")" -eq 8 ] || fail "not 8 devices"
	[ "$(grep '^  slot:' "$RT" | sort | uniq -d)" = "" ] || fail "a slot twice"
}

# Another writer (Ganeti takes no lock of ours) replaces the runtime file
# while a removal waits for the guest: the removal's outcome is added to
# the new file, and what the other writer recorded stays. The file is
# replaced once the tool waits (it said so, -v, and sleeps in poll); the
# wait then ends as a hook's caller would end it, with SIGTERM (the
# pending removal recorded as at a timeout), so that the replacement
# comes before the tool writes, however long it takes.
t_file_replaced_during_removal() {
	start_vm vm
	disk_image "$T/d1.img"
	kh -r "$RT" -m "$SOCK" disk add --uuid "$UUID1" --path "$T/d1.img"
	expect_rc 0
	"$KH" -v -t 600 -r "$RT" -m "$SOCK" disk remove --uuid "$UUID1" >"$T/out" 2>"$T/err" &
	local pid=$!
	wait_guest_wait "$pid" "$T/err"
	{
		cat "$RT"
		printf '%s\n' "- kind: disk" "  uuid: $UUID3" "  id: other-disk" "  bus: pci.0" \
			"  slot: 9" "  driver: virtio-blk-pci" "  path: /srv/other.img" "  format: raw" \
			"  cache: none" "  mode: rw" "  discard: ignore"
	} >"$T/new.runtime"
	mv "$T/new.runtime" "$RT"
	kill -TERM "$pid"
	wait_child "$pid" "the removal, after SIGTERM,"
	local rc=$CHILD_RC
	[ "$rc" -eq 4 ] || fail "removal exit $rc, not 4: $(cat "$T/err")"
	grep -q "^kvm-hotplug: waiting for the guest to release hotdisk-003fc157-pci-4: interrupted by signal" "$T/err" ||
		fail "removal: $(cat "$T/err")"
	grep -q "uuid: $UUID3" "$RT" || fail "the other writer's device was lost: $(cat "$RT")"
	grep -q "state: unplugging" "$RT" || fail "the pending removal was lost: $(cat "$RT")"
	[ "$(ls "$T" | grep -c '\.tmp\.')" -eq 0 ] || fail "temporary file left: $(ls "$T")"
}

# A run killed right after it merged another writer's file into its own
# change (its intent record names the merged file) is settled with both.
t_kill_after_merge() {
	# settled counts the taps of the test's own namespace, not the host's
	make_netns
	start_vm vm
	disk_image "$T/d1.img"
	KH_FAULT_PAUSE=before-commit KH_FAULT=after-merge "$KH" -r "$RT" -m "$SOCK" \
		disk add --uuid "$UUID1" --path "$T/d1.img" >"$T/out" 2>"$T/err" &
	local tool=$! rc=0
	wait_paused "$tool"
	# meanwhile another writer puts a file of its own there
	printf '%s\n' "version: 1" "owner: another tool" "devices: []" >"$T/new.runtime"
	mv "$T/new.runtime" "$RT"
	kill -CONT "$tool"
	wait_child "$tool" "the add, continued,"
	rc=$CHILD_RC
	[ "$rc" -eq 137 ] || fail "not killed after the merge (exit $rc): $(cat "$T/err")"
	[ -e "$RT.intent" ] || fail "no intent record"
	grep -q "owner: another tool" "$RT" || fail "the other writer's file was replaced"
	kh -r "$RT" -m "$SOCK" check --repair
	expect_rc 0
	grep -q "QEMU has it, recorded" "$T/err" || fail "not settled: $ERR"
	grep -q "owner: another tool" "$RT" || fail "the other writer's change was lost: $(cat "$RT")"
	grep -q "id: hotdisk-003fc157-pci-4" "$RT" || fail "the add was lost: $(cat "$RT")"
	settled "killed after a merge"
}

# A full add and remove of each kind under valgrind: no leak, no error.
# (--timeout 60: valgrind makes the tool many times slower.)
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
		in_ns timeout --foreground --verbose -k 10 "$WAIT_LIMIT" "${vg[@]}" "$KH_PLAIN" -t 60 -r "$RT" -m "$SOCK" $args >"$T/vg.out" 2>"$T/vg.err" ||
			fail "valgrind: $args: $(cat "$T/vg.err")"
		! grep -q "Open file descriptor [3-9]" "$T/vg.err" || fail "fd left open: $(cat "$T/vg.err")"
	done
}

run_tests reliability "$@"
