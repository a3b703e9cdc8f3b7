#!/usr/bin/env bash
# Integration tests, NICs: tap fd passing, add, modify, multiqueue, vhost, ifup
# scripts, packets to the guest, fds over many cycles.
# Usage: KH=... QMPCMD=... GUEST=... tests/it-nic.sh [TEST...]; it runs
# alone, or tests/integration.sh runs it with the other areas.
set -u
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=tests/lib.sh
. "$HERE/lib.sh"
test_tools

# ---- fd passing ----

# getfd with a real tap fd (the NIC path), then closefd: QEMU's open fds
# go up by one and back.
t_getfd_closefd_tap() {
	local ns=kh-test-$$
	ip netns add "$ns" || fail "cannot create a network namespace"
	start_vm vm
	local before after
	# (fd_count: once QEMU closed qmpcmd's connection)
	before=$(fd_count)
	ip netns exec "$ns" "$QMPCMD" -T khtap0 "$SOCK" getfd '{"fdname":"tap0"}' >/dev/null ||
		{ ip netns del "$ns"; fail "getfd with a tap fd failed"; }
	after=$(fd_count)
	[ "$after" -eq $((before + 1)) ] || { ip netns del "$ns"; fail "QEMU fds $before -> $after"; }
	ls -l "/proc/$PID/fd" | grep -q "net/tun" || { ip netns del "$ns"; fail "QEMU holds no tun fd"; }
	qmp closefd '{"fdname":"tap0"}' >/dev/null || { ip netns del "$ns"; fail "closefd failed"; }
	after=$(fd_count)
	ip netns del "$ns"
	[ "$after" -eq "$before" ] || fail "QEMU fds did not go back: $before -> $after"
}

# ---- NICs, each test in a network namespace of its own ----

t_nic_add_paused() {
	make_netns
	start_vm vm
	kh -r "$RT" -m "$SOCK" nic add --uuid "$UUID1" --mac "$MAC1" --link br0 --name eth-data
	expect_rc 0
	expect_out "added nic $UUID1: hotnic-003fc157-pci-4 at pci.0 slot 4"
	kh -j -r "$RT" -m "$SOCK" list
	expect_out '"present":true,"name":"eth-data","mac":"52:54:00:12:34:56","tap":"kh[0-9a-f]\{13\}","link":"br0"'
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
# each refusal must come before it (exit 1 or 3 with the reason, not 4
# from the wait), with nothing changed.
t_nic_modify_checks_first() {
	[ ! -e /dev/vhost-net ] || fail "this test expects a machine without /dev/vhost-net"
	make_netns
	start_vm vm
	kh -r "$RT" -m "$SOCK" nic add --uuid "$UUID1" --mac "$MAC1" --link br0 --tap kh1
	expect_rc 0
	kh -r "$RT" -m "$SOCK" nic add --uuid "$UUID2" --mac "$MAC2" --link br0 --tap kh2
	expect_rc 0
	snapshot before
	kh -r "$RT" -m "$SOCK" nic modify --uuid "$UUID1" --mac "$MAC2"
	expect_rc 1
	expect_err "mac $MAC2 is already used by nic $UUID2"
	same_as before
	kh -r "$RT" -m "$SOCK" nic modify --uuid "$UUID1" --tap kh2
	expect_rc 1
	expect_err "interface kh2 already exists"
	same_as before
	kh -r "$RT" -m "$SOCK" nic modify --uuid "$UUID1" --vhost on
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

# An ifup script's exit status decides: one that leaves a child in the
# background holding its output is done when it exits. The child outlives
# any wait: a run that waited for it (for the end of the output) would
# end at its own timeout with exit 4, or hang without one (kh stops it
# and fails).
t_nic_script_background_child() {
	make_netns
	start_vm vm
	# (the child's pid in $T/kill: stop_vms ends it should the test fail)
	printf '#!/bin/sh\nip link set "$1" master br0 up\nsleep 3600 &\necho "$!" >>%s\necho started\n' \
		"$T/kill" >"$T/kvm-ifup"
	chmod +x "$T/kvm-ifup"
	kh -r "$RT" -m "$SOCK" nic add --uuid "$UUID1" --mac "$MAC1" --link br0 --script "$T/kvm-ifup"
	kill "$(cat "$T/kill")" 2>/dev/null
	rm -f "$T/kill"
	expect_rc 0
	expect_out "added nic $UUID1"
	grep -q "uuid: $UUID1" "$RT" || fail "NIC not recorded"
}

# The point of it all: packets reach the guest through the hot-added NIC,
# and stop when it is removed.
t_nic_packets_flow() {
	make_netns
	GUEST_APPEND=kh.ip=192.0.2.2/24 start_guest g
	kh -r "$RT" -m "$SOCK" nic add --uuid "$UUID1" --mac "$MAC1" --link br0 --tap kh1
	expect_rc 0
	within "$WAIT_LIMIT" grep -q "KH-GUEST-IP" "$T/g.log"
	grep -q "KH-GUEST-IP eth0 192.0.2.2/24" "$T/g.log" || fail "guest did not configure the NIC: $(tail -c 300 "$T/g.log")"
	# an answer must come, however long the guest takes to give it
	wait_until "$WAIT_LIMIT" "no answer from the guest" answers 192.0.2.2
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
	# a key the tool does not know stays with the NIC it is in
	sed -i "/^  mac: /a\\  note: keep me" "$RT"
	kh -r "$RT" -m "$SOCK" nic modify --uuid "$UUID1" --mac "$MAC2" --link br1 --queues 2
	expect_rc 0
	grep -q "^  note: keep me" "$RT" || fail "the NIC's own key was lost: $(cat "$RT")"
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
	# a script given, then dropped again with --script ''
	printf '#!/bin/sh\nip link set "$1" master br0 up\n' >"$T/ok-ifup"
	chmod +x "$T/ok-ifup"
	kh -r "$RT" -m "$SOCK" nic modify --uuid "$UUID1" --script "$T/ok-ifup"
	expect_rc 0
	grep -q "script: $T/ok-ifup" "$RT" || fail "script not recorded: $(cat "$RT")"
	in_ns ip -d link show kh1 | grep -q "master br0" || fail "the script did not bridge kh1"
	kh -r "$RT" -m "$SOCK" nic modify --uuid "$UUID1" --script '' --link br1
	expect_rc 0
	! grep -q "script:" "$RT" || fail "script still recorded: $(cat "$RT")"
	in_ns ip -d link show kh1 | grep -q "master br1" || fail "kh1 not on br1 without its script"
	kh -r "$RT" -m "$SOCK" nic modify --uuid "$UUID1" --slot 4
	expect_rc 2
	expect_err "nic modify does not take '--slot'"
	kh -r "$RT" -m "$SOCK" disk modify --uuid "$UUID1"
	expect_rc 2
	expect_err "disk: unknown subcommand 'modify'"
}

# A modify whose guest does not let the old NIC go says what finishes it:
# the same modify again (a remove would delete the NIC).
t_nic_modify_guest_does_not_answer() {
	make_netns
	start_vm vm
	kh -r "$RT" -m "$SOCK" nic add --uuid "$UUID1" --mac "$MAC1" --link br0
	expect_rc 0
	local t0
	t0=$(uptime_cs)
	kh -t 1 -r "$RT" -m "$SOCK" nic modify --uuid "$UUID1" --mac "$MAC2"
	expect_rc 4
	expect_err "did not release hotnic-003fc157-pci-4 within 1.0 s.*it stays recorded as unplugging: run the same 'nic modify' again to finish it once the guest is up"
	not_before "$t0" 1 "the modify"
	! grep -q "nic remove" "$T/err" || fail "advises a removal: $ERR"
	# the guest's part done (a reset completes the unplug), the advice works
	qmp system_reset >/dev/null
	wait_until "$WAIT_LIMIT" "the reset did not complete the unplug" device_gone hotnic-003fc157-pci-4
	kh -r "$RT" -m "$SOCK" nic modify --uuid "$UUID1" --mac "$MAC2"
	expect_rc 0
	[ "$(qmp qom-get '{"path": "/machine/peripheral/hotnic-003fc157-pci-4", "property": "mac"}')" = "\"$MAC2\"" ] ||
		fail "QEMU's NIC did not get the new MAC"
	grep -q "mac: '$MAC2'" "$RT" || fail "new MAC not recorded: $(cat "$RT")"
	! grep -q "state:" "$RT" || fail "still marked: $(cat "$RT")"
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

run_tests nic "$@"
