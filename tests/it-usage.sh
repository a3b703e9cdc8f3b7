#!/usr/bin/env bash
# Integration tests, usage: usage errors and help, list, check, the bad-input
# catalogue, malformed runtime files, hostile paths, the messages they give.
# Usage: KH=... QMPCMD=... GUEST=... tests/it-usage.sh [TEST...]; it runs
# alone, or tests/integration.sh runs it with the other areas.
set -u
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=tests/lib.sh
. "$HERE/lib.sh"
test_tools

# ---- usage, list ----

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
	expect_out "-n, --dry-run: print the QMP commands and the file; change nothing"
	kh list --help
	expect_rc 0
	! grep -q -e "--dry-run" "$T/out" || fail "list --help offers --dry-run: $OUT"
	kh check --help
	expect_rc 0
	expect_out "check \[--repair\]"
	kh sync --help
	expect_rc 0
	expect_out "sync \[--prune\] \[--from FILE | --again\]"
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
	expect_err "slot: '32' is not a number 0-31"
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
	expect_out "^UUID .*KIND .*ID .*BUS .*SLOT .*STATE .*IN-QEMU .*GUEST .*WHAT$"
	expect_out "$UUID1 disk hotdisk-003fc157-pci-4 .*pci.0 .* 4 plugged .*yes .*$T/d1.img raw rw$"
	expect_out "$UUID3 disk hotdisk-2c3d4e5f-pci-9 .*no"
	kh -j -r "$RT" -m "$SOCK" list
	expect_rc 0
	expect_out '"present":true'
	expect_out '"id":"hotdisk-2c3d4e5f-pci-9","bus":"pci.0","slot":9,"driver":"virtio-blk-pci","state":"plugged","present":false'
	expect_out '"name":"data disk"'
}

# ---- bad input: one-line messages, nothing changed ----

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

# list, check and cmdline only read: they work where the runtime file's
# directory is read-only (no lock file can be made there), with its lock
# file or without; a change there fails with a clear message.
t_read_only_filesystem() {
	start_vm vm
	disk_image "$T/d1.img"
	mkdir "$T/rw" "$T/ro"
	kh -r "$T/rw/vm.runtime" -m "$SOCK" disk add --uuid "$UUID1" --path "$T/d1.img"
	expect_rc 0
	local lockfile
	for lockfile in kept removed; do
		[ "$lockfile" = removed ] && rm "$T/rw/vm.runtime.lock"
		unshare -m bash -c '
			mount --bind "$1/rw" "$1/ro" && mount -o remount,bind,ro "$1/ro" || exit 99
			for cmd in list check cmdline; do
				"$2" -r "$1/ro/vm.runtime" -m "$3" $cmd >"$1/ro.$cmd.out" 2>&1 || { echo "$cmd: exit $?"; cat "$1/ro.$cmd.out"; }
			done
			"$2" -r "$1/ro/vm.runtime" -m "$3" disk remove --uuid "$4" >"$1/ro.rm.out" 2>&1
			echo "remove: exit $?"
		' - "$T" "$KH" "$SOCK" "$UUID1" >"$T/ro.log" 2>&1
		[ "$(cat "$T/ro.log")" = "remove: exit 1" ] ||
			fail "read-only directory, lock file $lockfile: $(cat "$T/ro.log")"
		grep -q "matches the VM: 1 device" "$T/ro.check.out" || fail "check: $(cat "$T/ro.check.out")"
		grep -q "$UUID1" "$T/ro.list.out" || fail "list: $(cat "$T/ro.list.out")"
		grep -q -- "-blockdev" "$T/ro.cmdline.out" || fail "cmdline: $(cat "$T/ro.cmdline.out")"
		grep -q "vm.runtime.lock: Read-only file system" "$T/ro.rm.out" ||
			fail "remove on a read-only filesystem: $(cat "$T/ro.rm.out")"
	done
	[ "$(slot_of hotdisk-003fc157-pci-4)" = 4 ] || fail "the disk went"
}

# A runtime file belongs to one VM: with another VM's monitor every
# command refuses and nothing changes, in either VM or the file.
t_monitor_of_another_vm() {
	disk_image "$T/d1.img"
	disk_image "$T/d2.img"
	start_vm b -name vm-b -uuid 22222222-2222-4222-8222-222222222222
	local b=$SOCK
	start_vm a -name vm-a -uuid 11111111-1111-4111-8111-111111111111
	kh -r "$RT" -m "$SOCK" disk add --uuid "$UUID1" --path "$T/d1.img"
	expect_rc 0
	grep -q "^vm-name: vm-a" "$RT" || fail "file not bound to vm-a: $(cat "$RT")"
	grep -q "^vm-uuid: 11111111-1111-4111-8111-111111111111" "$RT" || fail "no vm-uuid"
	snapshot before
	local cmd
	for cmd in "disk add --uuid $UUID2 --path $T/d2.img" "disk remove --uuid $UUID1" \
		list check "check --repair"; do
		# shellcheck disable=SC2086
		kh -r "$RT" -m "$b" $cmd
		expect_rc 2
		expect_err "belongs to VM 'vm-a' (uuid 11111111-1111-4111-8111-111111111111), but $b is the monitor of VM 'vm-b' (uuid 22222222-2222-4222-8222-222222222222): wrong --runtime or --monitor"
	done
	same_as before
	[ -z "$(SOCK=$b slot_of hotdisk-1b2c3d4e-pci-4)" ] || fail "vm-b got a disk"
	# a Ganeti file names its VM in kvm_cmd
	ganeti_file newer
	QMP_SOCK=$T/ganeti/ctrl/vm1.qmp start_vm vm1 -name vm2
	gkh disk add --uuid "$UUID2" --path "$T/d2.img"
	expect_rc 2
	expect_err "vm1.runtime belongs to VM 'vm1', but .* is the monitor of VM 'vm2'"
}

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
	2	is not absolute	disk add --uuid $UUID2 --path rel.img --dry-run
	2	list does not take '--dry-run'	list --dry-run
	2	list does not take '--dry-run'	-n list
	2	disk add: '--dry-run' given twice (before and after the command)	-n disk add --uuid $UUID2 --path $T/d.img -n
	2	cmdline does not take '--dry-run'	cmdline -n
	1	a device with uuid $UUID1 is already recorded	disk add --uuid $UUID1 --path $T/d.img --mode ro -n
	2	No such file or directory	disk add --uuid $UUID2 --path $T/missing.img
	2	not a regular file or block device	disk add --uuid $UUID2 --path $T
	2	not a regular file or block device	disk add --uuid $UUID2 --path /dev/null
	2	--path: too long	disk add --uuid $UUID2 --path /$x300$x300$x300$x300$x300$x300$x300$x300$x300$x300$x300$x300$x300$x300
	2	format: 'vmdk' is not one of raw|qcow2	disk add --uuid $UUID2 --path $T/d.img --format vmdk
	2	cache: 'fast' is not one of	disk add --uuid $UUID2 --path $T/d.img --cache fast
	2	mode: 'rx' is not one of rw|ro	disk add --uuid $UUID2 --path $T/d.img --mode rx
	2	discard: 'yes' is not one of	disk add --uuid $UUID2 --path $T/d.img --discard yes
	2	slot 0 is not possible on pci.0 (slots 1-31)	disk add --uuid $UUID2 --path $T/d.img --slot 0
	2	slot: '32' is not a number 0-31	disk add --uuid $UUID2 --path $T/d.img --slot 32
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
	2	--tap: 'tap3' is a name the kernel hands out (tapN)	nic add --uuid $UUID2 --mac $MAC1 --link br0 --tap tap3
	2	nic remove does not take '--mac'	nic remove --uuid $UUID1 --mac $MAC1
	2	list: unexpected argument	list now
	2	format: 'yaml' is not one of	cmdline --format yaml
	2	is not an instance name	--instance ../vm list
	2	--ganeti-dir goes with --instance	--ganeti-dir /tmp list
	2	dev-type: 'zfs' is not one of	disk add --uuid $UUID2 --path $T/d.img --dev-type zfs
	2	timeout: '100000' is not a number of seconds above 0 and up to 86400	-t 100000 list
	2	--ganeti-dir: /nonexistent: No such file or directory	--instance vm --ganeti-dir /nonexistent list
	1	slot 2 on pci.0 is reserved (reserved-slots)	disk add --uuid $UUID2 --path $T/d.img --slot 2
	2	--bus: 'br/1' is not a bus name	disk add --uuid $UUID2 --path $T/d.img --bus br/1
	2	--bus: '' is not a bus name	nic add --uuid $UUID2 --mac $MAC1 --link br0 --bus=
	2	--bus: 'aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa' is not a bus name	disk add --uuid $UUID2 --path $T/d.img --bus $(printf 'a%.0s' {1..40})
	1	this VM has no bus br1	disk add --uuid $UUID2 --path $T/d.img --bus br1
	2	nic modify does not take '--bus'	nic modify --uuid $UUID1 --bus pci.0
	2	fd-pass: 'sometimes' is not one of auto|always|never	disk add --uuid $UUID2 --path $T/d.img --fd-pass sometimes
	2	nic add does not take '--fd-pass'	nic add --uuid $UUID2 --mac $MAC1 --link br0 --fd-pass always
	2	wait: 'soon' is not one of plugged|ready	disk add --uuid $UUID2 --path $T/d.img --wait soon
	2	list does not take '--wait'	list --wait ready
	2	disk remove does not take '--wait'	disk remove --uuid $UUID1 --wait ready
	1	Connection refused (is QEMU running?)	-m $T/dead.sock list
	1	No such file or directory (is QEMU running?)	-m $T/gone.sock list
	2	nic add does not take '--dev-type'	nic add --uuid $UUID2 --mac $MAC1 --link br0 --dev-type file
	2	sync: unexpected argument 'now'	sync now
	2	sync: missing value for '--from'	sync --from
	2	no Ganeti hook environment	sync --prune
	2	from: .*nope.yaml: no such runtime file	sync --from $T/nope.yaml
	2	sync --again: no failed hook run to repeat	sync --again
	2	--again repeats a hook's run, --from does not need one: not both	sync --again --from $T/nope.yaml
	1	a device with uuid $UUID1 is already recorded	disk add --uuid $UUID1 --path $T/d.img --mode ro
	1	uuid $UUID1 in .* is a disk's, not a nic's	nic remove --uuid $UUID1
	2	disk add: '--uuid' given twice	disk add --uuid $UUID2 --uuid $UUID2 --path $T/d.img
	2	disk add: '--path' given twice	disk add --uuid $UUID2 --path $T/d.img --path $T/d.img
	2	slot: '010' is not a number 0-31	disk add --uuid $UUID2 --path $T/d.img --slot 010
	2	slot: '+7' is not a number 0-31	disk add --uuid $UUID2 --path $T/d.img --slot +7
	2	check: --dry-run goes with --repair	check -n
	2	supported: 'usb' is not disk or nic	supported usb
	2	cmdline: --json prints JSON, --format lines does not: not both	-j cmdline --format lines
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
	# a slot with a space: plain decimal only (one argument, not a row's)
	kh -r "$RT" -m "$SOCK" disk add --uuid "$UUID2" --path "$T/d.img" --slot ' 7'
	expect_rc 2
	expect_err "slot: ' 7' is not a number 0-31"
	same_as before
	# a relative disk path means another file from another directory:
	# refused by every command, with its line (issue 17)
	sed 's|^  path: /.*|  path: d.img|' "$RT" >"$T/rel.runtime"
	grep -q '^  path: d.img$' "$T/rel.runtime" || fail "no relative path made: $(cat "$T/rel.runtime")"
	for args in list check cmdline; do
		kh -r "$T/rel.runtime" -m "$SOCK" $args
		[ "$RC" -eq 2 ] || fail "$args on a relative path: exit $RC: $ERR"
		expect_err "rel.runtime: line [0-9]*: invalid path 'd.img' (must be an absolute path)"
	done
	# a failed hook's kept environment that is not one
	printf 'x' >"$RT.hook-env"
	kh -r "$RT" -m "$SOCK" sync --again
	expect_rc 2
	expect_err "sync --again: .*vm.runtime.hook-env: not a saved hook environment"
	same_as before
	rm "$RT.hook-env"
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
	# a byte order mark (an editor's), in either format: named as such
	for content in $'\xef\xbb\xbfversion: 1\n' $'\xef\xbb\xbf[[], [], {}, []]\n'; do
		printf '%s' "$content" >"$T/bom.runtime"
		kh -r "$T/bom.runtime" -m "$SOCK" list
		[ "$RC" -eq 2 ] || fail "runtime file with a byte order mark: exit $RC: $ERR"
		expect_err "bom.runtime: line 1: starts with a UTF-8 byte order mark"
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
	echo "INFO: $n bad inputs and 8 bad runtime files refused, nothing changed"
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

# ---- supported ----

# supported says, each reason on its own, whether hotplug can work and
# why not, changing nothing; exit 0 or 3 (issue 18).
t_supported() {
	make_netns
	start_vm pc
	kh -r "$RT" -m "$SOCK" supported
	expect_rc 0
	[ "$(grep -c '^ok ' "$T/out")" -eq 6 ] || fail "not 6 checks passed: $OUT"
	expect_out "ok  bus: the next device goes to pci.0 slot 4 (free slots: pci.0 28)"
	[ ! -e "$RT" ] || fail "supported made the runtime file"
	# no tun device: NICs cannot be added, disks can
	KH_TEST_TUN_DEV=$T/no-tun kh -r "$RT" -m "$SOCK" supported nic
	expect_rc 3
	expect_err "hotplug is not possible for this VM: host (nic): $T/no-tun: No such file or directory"
	KH_TEST_TUN_DEV=$T/no-tun kh -r "$RT" -m "$SOCK" supported disk
	expect_rc 0
	# every slot reserved by the file
	printf 'version: 1\nreserved-slots: [%s]\ndevices: []\n' "$(seq -s, 0 31)" >"$T/full.runtime"
	kh -j -r "$T/full.runtime" -m "$SOCK" supported disk
	expect_rc 3
	jq -e '.supported == false and (.checks[] | select(.check == "bus") | .ok == false and (.detail | test("no free PCI slot left on pci.0 \\(0 slots, all taken\\)")))' <<<"$OUT" >/dev/null ||
		fail "a full pci.0: $OUT"
	# ACPI hotplug switched off on pc
	start_vm off -global PIIX4_PM.acpi-root-pci-hotplug=off
	kh -r "$T/off.runtime" -m "$SOCK" supported
	expect_rc 3
	expect_out "^no  bus: "
	# q35: no pci.0
	QMP_SOCK=$T/q35.qmp in_ns qemu-system-x86_64 -M q35 -accel tcg -nodefaults -display none \
		-qmp "unix:$T/q35.qmp,server=on,wait=off" -daemonize -pidfile "$T/q35.pid" -S ||
		fail "q35 did not start"
	kh -r "$T/q35.runtime" -m "$T/q35.qmp" supported disk
	expect_rc 3
	expect_out "no  bus: no bus of this VM takes hotplug: pcie.0 (PCI Express's root takes none: a q35 VM needs pcie-root-port devices)"
	# a QEMU that lacks a command the tool sends
	fake_qmp "$T/fake.qmp" blockdev-add
	kh -r "$T/fake.runtime" -m "$T/fake.qmp" supported
	expect_rc 3
	expect_out "no  qmp: QEMU does not offer blockdev-add, which disk add or removal sends"
	kh -r "$T/fake.runtime" -m "$T/fake.qmp" supported nic
	expect_rc 0
	# an add there says the same, exit 3, nothing changed
	disk_image "$T/d1.img"
	kh -r "$T/fake.runtime" -m "$T/fake.qmp" disk add --uuid "$UUID1" --path "$T/d1.img"
	expect_rc 3
	expect_err "QEMU does not offer blockdev-add, which hotplug needs here (see 'supported')"
	[ ! -e "$T/fake.runtime" ] && [ ! -e "$T/fake.runtime.intent" ] ||
		fail "the refused add left files: $(ls "$T")"
	kh -r "$RT" -m "$SOCK" supported usb
	expect_rc 2
	expect_err "supported: 'usb' is not disk or nic"
}

# ---- check ----

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
	expect_out "disk hotdisk-003fc157-pci-4: recorded at pci.0 slot 6, QEMU has it at pci.0 slot 4"
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

# -q: the exit status alone, list included; a VM with no -name or -uuid
# cannot be told apart from another: said once, as its file is made
# (issue 17).
t_quiet_and_unnamed_vm() {
	start_vm vm
	disk_image "$T/d1.img"
	disk_image "$T/d2.img"
	kh -r "$RT" -m "$SOCK" disk add --uuid "$UUID1" --path "$T/d1.img"
	expect_rc 0
	expect_err "warning: QEMU has no -name or -uuid: $RT cannot name its VM"
	kh -r "$RT" -m "$SOCK" disk add --uuid "$UUID2" --path "$T/d2.img"
	expect_rc 0
	[ -z "$ERR" ] || fail "said again: $ERR"
	kh -q -r "$RT" -m "$SOCK" list
	expect_rc 0
	[ -z "$OUT" ] || fail "-q list printed: $OUT"
	start_vm named -name vm-n
	disk_image "$T/d3.img"
	kh -r "$T/n.runtime" -m "$SOCK" disk add --uuid "$UUID1" --path "$T/d3.img"
	expect_rc 0
	[ -z "$ERR" ] || fail "a named VM's file warned: $ERR"
}

# Every field cmdline gives a device is compared with what QEMU has: a
# file edited in any of them fails check, naming the field, so that no
# migration target is built from it (issue 17).
t_check_names_each_field() {
	make_netns
	start_vm vm
	disk_image "$T/d1.img"
	disk_image "$T/d2.img"
	kh -r "$RT" -m "$SOCK" disk add --uuid "$UUID1" --path "$T/d1.img"
	expect_rc 0
	kh -r "$RT" -m "$SOCK" nic add --uuid "$UUID2" --mac "$MAC1" --link br0
	expect_rc 0
	kh -r "$RT" -m "$SOCK" check
	expect_rc 0
	cp "$RT" "$T/rt.good"
	local edit want n=0
	while IFS='|' read -r edit want; do
		cp "$T/rt.good" "$RT"
		sed -i "$edit" "$RT"
		cmp -s "$RT" "$T/rt.good" && fail "the edit '$edit' changed nothing"
		kh -r "$RT" -m "$SOCK" check
		[ "$RC" -eq 1 ] || fail "edit '$edit': check exit $RC, expected 1: $OUT"
		expect_out "$want"
		n=$((n + 1))
	done <<-EDITS
	0,/bus: pci.0/s//bus: pci.1/|disk hotdisk-003fc157-pci-4: recorded at pci.1 slot 4, QEMU has it at pci.0 slot 4
	s/driver: virtio-blk-pci/driver: e1000/|disk hotdisk-003fc157-pci-4: driver: recorded e1000, QEMU has virtio-blk-pci
	s/format: raw/format: qcow2/|disk hotdisk-003fc157-pci-4: format: recorded qcow2, QEMU has raw
	s/cache: default/cache: none/|disk hotdisk-003fc157-pci-4: cache: recorded none, QEMU has direct=off no-flush=off writeback=on
	s/mode: rw/mode: ro/|disk hotdisk-003fc157-pci-4: mode: recorded ro, QEMU has it read-write
	s#d1.img#d2.img#|disk hotdisk-003fc157-pci-4: path: recorded $T/d2.img, QEMU has $T/d1.img
	s/'52:54:00:12:34:56'/'52:54:00:12:34:58'/|nic hotnic-1b2c3d4e-pci-5: mac: recorded 52:54:00:12:34:58, QEMU has 52:54:00:12:34:56
	EDITS
	echo "INFO: $n edited fields, each named by check"
	cp "$T/rt.good" "$RT"
	# two at once: one line, both named
	sed -i 's/format: raw/format: qcow2/; s/mode: rw/mode: ro/' "$RT"
	kh -r "$RT" -m "$SOCK" check
	expect_rc 1
	expect_out "format: recorded qcow2, QEMU has raw; mode: recorded ro, QEMU has it read-write"
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

# ---- installed like a Debian utility (issue 21) ----

# make install into a DESTDIR with PREFIX: the binary runs, both man pages
# read with man -l, the completion and the example hooks are there (the
# hooks naming the binary where it went); make uninstall leaves no file.
t_install_uninstall() {
	local root dest=$T/dest
	root=$(cd "$HERE/.." && pwd)
	make -s -C "$root" install DESTDIR="$dest" PREFIX=/usr >"$T/make.out" 2>&1 ||
		fail "make install: $(cat "$T/make.out")"
	"$dest/usr/sbin/kvm-hotplug" --version | grep -q '^kvm-hotplug ' || fail "the installed binary"
	man -l "$dest/usr/share/man/man8/kvm-hotplug.8" 2>&1 | grep -q 'kvm-hotplug .*hot-add' ||
		fail "man -l kvm-hotplug.8"
	man -l "$dest/usr/share/man/man5/kvm-hotplug-runtime.5" 2>&1 | grep -q 'instance runtime file' ||
		fail "man -l kvm-hotplug-runtime.5"
	[ -f "$dest/usr/share/bash-completion/completions/kvm-hotplug" ] || fail "no completion"
	grep -q '^exec /usr/sbin/kvm-hotplug --instance' \
		"$dest/usr/share/doc/kvm-hotplug/examples/instance-modify-post" ||
		fail "the example hook does not name /usr/sbin/kvm-hotplug"
	[ -x "$dest/usr/share/doc/kvm-hotplug/examples/instance-migrate-pre" ] || fail "hook not executable"
	make -s -C "$root" uninstall DESTDIR="$dest" PREFIX=/usr >"$T/make.out" 2>&1 ||
		fail "make uninstall: $(cat "$T/make.out")"
	[ -z "$(find "$dest" -type f)" ] || fail "left after uninstall: $(find "$dest" -type f)"
}

# The hooks the README shows are the ones installed as examples.
t_readme_hooks_installed() {
	local root d f
	root=$(cd "$HERE/.." && pwd)
	for d in instance-modify-post instance-migrate-pre; do
		f=$(awk -v d="$d.d/kvmhotplug" 'index($0, d) { found = 1 }
			found && /^```sh$/ { on = 1; next } on && /^```$/ { exit }
			on { print }' "$root/README.md")
		[ "$f" = "$(cat "$root/docs/hooks/$d")" ] ||
			fail "README's $d hook is not docs/hooks/$d"
	done
}

# complete WORDS...: what the bash completion offers for the last word.
complete_words() {
	bash -c '. "$1"; shift; COMP_WORDS=("$@"); COMP_CWORD=$(($# - 1))
		_kvm_hotplug; printf "%s\n" "${COMPREPLY[@]}"' \
		sh "$HERE/../contrib/kvm-hotplug.bash" "$@" | sort | tr '\n' ' '
}

# Objects, verbs, options, option values, and the UUIDs of the runtime
# file given with -r for remove and modify (of the kind asked).
t_bash_completion() {
	local got
	expect_completion() {
		got=$(complete_words "${@:2}")
		[ "$got" = "$1" ] || fail "completing '${*:2}': '$got', not '$1'"
	}
	expect_completion "check cmdline disk list nic supported sync " kvm-hotplug ""
	expect_completion "add remove " kvm-hotplug -j disk ""
	expect_completion "add modify remove " kvm-hotplug nic ""
	expect_completion "default none unsafe writeback writethrough " kvm-hotplug disk add --cache ""
	expect_completion "ro rw " kvm-hotplug disk add --mode ""
	expect_completion "bridged openvswitch routed " kvm-hotplug nic add --mode ""
	expect_completion "json lines shell " kvm-hotplug cmdline --format ""
	expect_completion "qcow2 raw " kvm-hotplug disk add --format ""
	expect_completion "auto off on " kvm-hotplug nic add --vhost ""
	expect_completion "plugged ready " kvm-hotplug sync --wait ""
	expect_completion "--fd-pass --format " kvm-hotplug disk add --f
	expect_completion "disk nic " kvm-hotplug supported ""
	printf 'version: 1\ndevices:\n- kind: disk\n  uuid: %s\n- kind: nic\n  uuid: %s\n' \
		"$UUID1" "$UUID2" >"$T/c.runtime"
	expect_completion "$UUID1 " kvm-hotplug -r "$T/c.runtime" disk remove --uuid ""
	expect_completion "$UUID2 " kvm-hotplug -r "$T/c.runtime" nic modify --uuid ""
	# an add's uuid is a new one: nothing offered
	expect_completion " " kvm-hotplug -r "$T/c.runtime" disk add --uuid ""
}

# Every long option the program takes is in its --help and in the man
# page, and the help and the man page name no option it does not take
# (but --hotplug, gnt-instance modify's, which the man page mentions).
t_options_documented() {
	local root src help man
	root=$(cd "$HERE/.." && pwd)
	src=$(grep -ohE '\{ "[a-z-]+", (required|no)_argument' "$root/cmd.c" "$root/hotplug.c" |
		cut -d'"' -f2 | sort -u | tr '\n' ' ')
	help=$( ("$KH" --help; for o in disk nic list check cmdline sync supported; do
		"$KH" "$o" --help; done) 2>&1 | grep -oE -- '--[a-z][a-z-]*' | cut -c3- |
		sort -u | tr '\n' ' ')
	man=$(man -l "$root/docs/kvm-hotplug.8" 2>/dev/null |
		grep -oE -- '(^|[^a-zA-Z0-9-])--[a-z][a-z-]*' | sed 's/^[^-]*--//' |
		grep -vx hotplug | sort -u | tr '\n' ' ')
	[ -n "$src" ] || fail "no options found in the source"
	[ "$help" = "$src" ] || fail "--help: '$help', the program: '$src'"
	[ "$man" = "$src" ] || fail "the man page: '$man', the program: '$src'"
}

# conforms SCHEMA: stdout ($T/out) is one JSON document that
# docs/schema/SCHEMA.json allows.
conforms() {
	python3 "$HERE/json_schema.py" "$HERE/../docs/schema/$1.json" <"$T/out" 2>"$T/schema.err" ||
		fail "not $1.json's: $(cat "$T/schema.err")"
}

# Every command's --json output, success and error (and dry run), is
# what its schema under docs/schema/ says.
t_json_schemas() {
	make_netns
	start_vm vm -name vm1
	disk_image "$T/d1.img"
	local K=(kh -j -r "$RT" -m "$SOCK")
	"${K[@]}" disk add --uuid "$UUID1" --path "$T/d1.img"; expect_rc 0; conforms disk-add
	"${K[@]}" disk add --uuid "$UUID1" --path "$T/d1.img"; expect_rc 0; conforms disk-add
	"${K[@]}" disk add --uuid "$UUID3" --path "$T/d1.img" -n; expect_rc 0; conforms disk-add
	"${K[@]}" disk add --uuid nope --path "$T/d1.img"; expect_rc 2; conforms disk-add
	"${K[@]}" nic add --uuid "$UUID2" --mac "$MAC1" --link br0; expect_rc 0; conforms nic-add
	"${K[@]}" nic add --uuid "$UUID3" --mac "$MAC1" --link br0; expect_rc 1; conforms nic-add
	"${K[@]}" nic modify --uuid "$UUID2" --link br0 -n; expect_rc 0; conforms nic-modify
	"${K[@]}" nic modify --uuid "$UUID3" --link br0; expect_rc 1; conforms nic-modify
	"${K[@]}" list; expect_rc 0; conforms list
	"${K[@]}" check; expect_rc 0; conforms check
	"${K[@]}" check --repair -n; expect_rc 0; conforms check
	"${K[@]}" cmdline; expect_rc 0; conforms cmdline
	"${K[@]}" supported; expect_rc 0; conforms supported
	KH_TEST_TUN_DEV=$T/no-tun "${K[@]}" supported nic; expect_rc 3; conforms supported
	"${K[@]}" sync --from "$RT" -n; expect_rc 0; conforms sync
	"${K[@]}" disk remove --uuid "$UUID3"; expect_rc 0; conforms disk-remove
	"${K[@]}" -t 1 disk remove --uuid "$UUID1"; expect_rc 4; conforms disk-remove
	"${K[@]}" -t 1 nic remove --uuid "$UUID2"; expect_rc 4; conforms nic-remove
	# a difference: a device recorded that QEMU lacks
	printf -- '- kind: disk\n  uuid: %s\n  id: hotdisk-2c3d4e5f-pci-9\n  bus: pci.0\n  slot: 9\n  driver: virtio-blk-pci\n  path: /x\n  format: raw\n  cache: default\n  mode: rw\n  discard: ignore\n' "$UUID3" >>"$RT"
	"${K[@]}" check; expect_rc 1; conforms check
	kh -j -r "$T/none.runtime" list; expect_rc 2; conforms list
	kh -j -r "$RT" -m "$T/gone.sock" cmdline; expect_rc 0; conforms cmdline
	kh -j cmdline; expect_rc 2; conforms cmdline
}

run_tests usage "$@"
