# Helpers for the integration tests (and the demo and benchmark, which use
# the VM part): throw-away QEMUs, the tool under test, and assertions that
# say what the user would see.
# Needs: T (a scratch directory), GUEST (dir with vmlinux and
# initramfs.cpio.gz); the tests also KH (the tool) and QMPCMD (tests/qmpcmd).
# The integration tests' areas (tests/it-*.sh) share the Ganeti file
# helpers and the runner at the end.

UUID1=003fc157-66a8-4e6d-8b7e-ec4f69751396
UUID2=1b2c3d4e-0000-4000-8000-000000000002
UUID3=2c3d4e5f-0000-4000-8000-000000000003
MAC1=52:54:00:12:34:56
MAC2=52:54:00:12:34:57

NS=

# Bounds on waits, generous so that only a hang reaches them, never a slow
# or busy machine: WAIT_LIMIT for what takes well under a second (a state
# QEMU, the guest or the tool reaches, one run of the tool), BOOT_LIMIT
# for a guest's boot (3-5 s under TCG) or a live migration. A test never
# measures how long something took: timings belong in `make bench`.
WAIT_LIMIT=${KH_WAIT_LIMIT:-120}
BOOT_LIMIT=${KH_BOOT_LIMIT:-300}

# test_tools: the tool under test, qmpcmd and the guest, as the test
# runners need them (given as KH, QMPCMD, GUEST), by absolute path; the
# tool's sanitizer reports leaks.
test_tools() {
	: "${KH:?}" "${QMPCMD:?}" "${GUEST:?}"
	KH=$(realpath "$KH")
	QMPCMD=$(realpath "$QMPCMD")
	GUEST=$(realpath "$GUEST")
	export ASAN_OPTIONS=detect_leaks=1:abort_on_error=0
}

# in_ns COMMAND...: runs it in the test's network namespace, if it has one.
in_ns() {
	if [ -n "$NS" ]; then ip netns exec "$NS" "$@"; else "$@"; fi
}

# make_netns: a private network namespace with bridge br0 at 192.0.2.1/24
# (a documentation range); VMs started and tools run after it live in it,
# so tests never touch the host's interfaces.
make_netns() {
	NS=kh-$$-$RANDOM
	netns_create "$NS"
	echo "$NS" >>"$T/netns"
}

# reexec_in_netns PREFIX SCRIPT ARGS...: unless already inside one, runs
# SCRIPT again in a new namespace (with br0) and exits with its status, so
# that a benchmark times no `ip netns exec`.
reexec_in_netns() {
	[ -z "${KH_BENCH_NS:-}" ] || return 0
	export KH_BENCH_NS=$1-$$
	shift
	netns_create "$KH_BENCH_NS"
	local rc=0
	ip netns exec "$KH_BENCH_NS" "$@" || rc=$?
	ip netns del "$KH_BENCH_NS"
	exit "$rc"
}

# netns_create NAME: the namespace itself, lo up, br0 at 192.0.2.1/24.
netns_create() {
	ip netns add "$1" || fail "cannot create network namespace $1"
	ip -n "$1" link set lo up
	ip -n "$1" link add br0 type bridge
	ip -n "$1" addr add 192.0.2.1/24 dev br0
	ip -n "$1" link set br0 up
}

# within SECONDS COMMAND...: polls until COMMAND succeeds; 1 if it has
# not after SECONDS.
within() {
	local end=$((SECONDS + $1))
	shift
	until "$@"; do
		[ "$SECONDS" -lt "$end" ] || return 1
		sleep 0.05
	done
}

# wait_until SECONDS WHAT COMMAND...: polls until COMMAND succeeds; if it
# has not after SECONDS, fails saying that WHAT did not happen.
wait_until() {
	local limit=$1 what=$2
	shift 2
	within "$limit" "$@" || fail "$what: not after $limit s"
}

# proc_state PID: the process's state letter (R, S, T, Z, ...), "" if gone.
proc_state() {
	sed -n 's/^State:[[:space:]]*\(.\).*/\1/p' "/proc/$1/status" 2>/dev/null
}

# gone PID: the process has ended: no such process, or a zombie whose
# other threads have all ended too (until they have, its files may still
# be open: QEMU's listening socket takes connections).
gone() {
	local st
	st=$(awk '$1 == "State:" { s = $2 } $1 == "Threads:" { n = $2 }
		END { print s n }' "/proc/$1/status" 2>/dev/null)
	case $st in "" | Z1) return 0 ;; esac
	return 1
}

# wait_gone PID WHAT: until the process has ended.
wait_gone() {
	wait_until "$WAIT_LIMIT" "$2 did not end" gone "$1"
}

# paused PID: the tool stopped itself (state T); fails if it ended.
paused() {
	case $(proc_state "$1") in
	T) return 0 ;;
	"" | Z) fail "the tool (pid $1) ended before its KH_FAULT_PAUSE point: $(cat "$T/err" 2>/dev/null)" ;;
	esac
	return 1
}

# wait_paused PID: until the tool stopped itself at its KH_FAULT_PAUSE
# point.
wait_paused() {
	wait_until "$WAIT_LIMIT" "the tool did not pause" paused "$1"
}

# waits_for_guest PID ERRFILE: the tool (PID, run with -v, its stderr in
# ERRFILE) sleeps in its wait for the guest's DEVICE_DELETED: it said it
# waits, and it is blocked in poll(2) (syscall 7, or ppoll 271); fails
# if it ended.
waits_for_guest() {
	gone "$1" && fail "the tool (pid $1) ended before it waited for the guest: $(cat "$2")"
	grep -q 'waiting for the guest$' "$2" || return 1
	case $(cut -d' ' -f1 "/proc/$1/syscall" 2>/dev/null) in
	7 | 271) return 0 ;;
	esac
	return 1
}

# wait_guest_wait PID ERRFILE: until the tool waits for the guest.
wait_guest_wait() {
	within "$WAIT_LIMIT" waits_for_guest "$1" "$2" ||
		fail "the tool did not get to its wait for the guest after $WAIT_LIMIT s: $(cat "$2")"
}

# uptime_cs: centiseconds since boot (CLOCK_BOOTTIME, which never jumps).
uptime_cs() {
	local up rest
	read -r up rest </proc/uptime
	echo $((10#${up/./}))
}

# not_before T0 SECONDS WHAT: at least SECONDS (whole) have passed since
# T0 (an uptime_cs): a timeout that fired did not fire before its time. A
# slow machine only adds to it; how much later it fired is not looked at.
not_before() {
	local d=$(($(uptime_cs) - $1))
	[ "$d" -ge $(($2 * 100)) ] ||
		fail "$3 ended after $((d / 100)).$((d % 100 / 10)) s, before its timeout of $2 s"
}

# wait_child PID WHAT: waits for the background child PID to end and sets
# CHILD_RC to its exit status; if it has not ended after WAIT_LIMIT s it
# is killed and the test fails (WHAT hung).
wait_child() {
	if ! within "$WAIT_LIMIT" gone "$1"; then
		kill -KILL "$1" 2>/dev/null
		wait "$1" 2>/dev/null
		fail "$2 did not end within $WAIT_LIMIT s (hung)"
	fi
	local rc=0
	wait "$1" || rc=$?
	# shellcheck disable=SC2034 # the caller's
	CHILD_RC=$rc
}

fail() {
	echo "FAIL: $*" >&2
	exit 1
}

# launch_qemu NAME [QEMU ARGS...]: QEMU (pc, TCG) with a QMP socket
# ($QMP_SOCK, or one in $T), returning once the socket is there; sets SOCK
# and PID.
launch_qemu() {
	local name=$1
	shift
	SOCK=${QMP_SOCK:-$T/$name.qmp}
	in_ns qemu-system-x86_64 -M pc -accel tcg -nodefaults -display none \
		-qmp "unix:$SOCK,server=on,wait=off" \
		-daemonize -pidfile "$T/$name.pid" "$@" ||
		fail "QEMU $name did not start"
	PID=$(cat "$T/$name.pid")
}

# start_vm NAME [QEMU ARGS...]: a paused VM, no guest. It has run for a
# moment (cont, stop): a VM that never ran (prelaunch) takes no removal.
start_vm() {
	local name=$1
	shift
	launch_qemu "$name" -S "$@"
	qmp cont >/dev/null && qmp stop >/dev/null || fail "QEMU $name did not run and stop"
}

# launch_guest NAME [QEMU ARGS...]: QEMU running the tiny guest, not
# waiting for it (a migration target's guest comes with the migration).
launch_guest() {
	local name=$1
	shift
	[ -f "$GUEST/vmlinux" ] || fail "no test guest in $GUEST (make $GUEST/vmlinux)"
	launch_qemu "$name" -m 128 -kernel "$GUEST/vmlinux" \
		-initrd "$GUEST/initramfs.cpio.gz" \
		-append "console=ttyS0 quiet panic=-1 ${GUEST_APPEND:-}" \
		-serial "file:$T/$name.log" "$@"
}

# start_guest NAME [QEMU ARGS...]: the tiny guest booted and ready to
# acknowledge unplugs (ACPI hotplug is up once it prints the ready line).
start_guest() {
	local name=$1
	launch_guest "$@"
	wait_until "$BOOT_LIMIT" "guest $name not ready" guest_booted "$name"
}

# guest_booted NAME: the guest printed its ready line; fails at once if
# its QEMU is gone.
guest_booted() {
	grep -q KH-GUEST-READY "$T/$1.log" 2>/dev/null && return 0
	gone "$PID" && fail "QEMU of guest $1 ended: $(tail -c 300 "$T/$1.log")"
	return 1
}

stop_vms() {
	local f pid pids=() end
	for f in "$T"/*.pid; do
		# QEMU removes its pidfile as it exits (not when killed: a pid
		# is taken for ours only while it is a process given that file)
		pid=$(cat "$f" 2>/dev/null) || continue
		[ -n "$pid" ] || continue
		tr '\0' '\n' 2>/dev/null <"/proc/$pid/cmdline" | grep -qxF -- "$f" || continue
		pids+=("$pid")
		# (CONT: a test may have left it stopped)
		kill -TERM "$pid" 2>/dev/null || true
		kill -CONT "$pid" 2>/dev/null || true
	done
	# QEMU gone before its namespace, so that no tap outlives it
	end=$((SECONDS + WAIT_LIMIT))
	for pid in "${pids[@]}"; do
		within $((end - SECONDS)) gone "$pid" || {
			echo "stop_vms: QEMU $pid did not end on SIGTERM: killed" >&2
			kill -KILL "$pid" 2>/dev/null || true
		}
	done
	# other processes a test started and left running (one pid a line in
	# $T/kill; a test that ends them itself removes the file)
	if [ -f "$T/kill" ]; then
		while read -r pid; do kill -TERM "$pid" 2>/dev/null || true; done <"$T/kill"
		rm -f "$T/kill"
	fi
	# mounts a test made under its directory
	awk -v t="$T/" 'index($2, t) == 1 { print $2 }' /proc/mounts |
		while read -r f; do umount "$f"; done
	if [ -f "$T/netns" ]; then
		while read -r f; do ip netns del "$f" 2>/dev/null; done <"$T/netns"
		rm -f "$T/netns"
	fi
	return 0
}

# qmp COMMAND [ARGS-JSON]: QEMU's answer, seen without kvm-hotplug.
qmp() {
	"$QMPCMD" "$SOCK" "$@"
}

# kh ARGS...: runs the tool; sets RC, OUT and ERR. Fails only if it
# reports a sanitizer error or hangs: a run that has not ended after
# WAIT_LIMIT s (the tool bounds every wait by its --timeout, 10 s unless
# given) is stopped by timeout(1), which says so on stderr.
kh() {
	RC=0
	in_ns timeout --foreground --verbose -k 10 "$WAIT_LIMIT" "$KH" "$@" \
		>"$T/out" 2>"$T/err" || RC=$?
	OUT=$(cat "$T/out")
	ERR=$(cat "$T/err")
	if grep -q '^timeout: sending signal' "$T/err"; then
		fail "kvm-hotplug $* hung: stopped after $WAIT_LIMIT s: $ERR"
	fi
	if grep -q -e 'Sanitizer' -e 'runtime error' "$T/err"; then
		fail "sanitizer report from: kvm-hotplug $*: $ERR"
	fi
}

expect_rc() {
	[ "$RC" -eq "$1" ] || fail "exit $RC, expected $1 (stdout: $OUT; stderr: $ERR)"
}

# expect_err PATTERN: one line on stderr, prefixed, matching PATTERN.
expect_err() {
	[ "$(wc -l <"$T/err")" -eq 1 ] || fail "stderr is not one line: $ERR"
	case $ERR in
	"kvm-hotplug: "*) ;;
	*) fail "stderr lacks the kvm-hotplug: prefix: $ERR" ;;
	esac
	grep -q -e "$1" "$T/err" || fail "stderr does not say '$1': $ERR"
}

# said TEXT: stderr has TEXT, as it is (what -v says, beside the one
# error line expect_err wants).
said() {
	grep -qF -- "$1" "$T/err" || fail "stderr does not say '$1': $ERR"
}

expect_out() {
	grep -q -e "$1" "$T/out" || fail "stdout does not say '$1': $OUT"
}

# snapshot NAME: what QEMU and the runtime file look like now, to compare
# with same_as NAME after an operation that must change nothing.
snapshot() {
	qmp query-pci >"$T/$1.pci"
	qmp query-named-block-nodes | grep -o '"node-name":"[^"]*"' | sort >"$T/$1.nodes"
	if [ -e "$RT" ]; then cp -p "$RT" "$T/$1.rt"; else rm -f "$T/$1.rt"; fi
}

same_as() {
	qmp query-pci | cmp -s - "$T/$1.pci" || fail "QEMU's PCI devices changed"
	qmp query-named-block-nodes | grep -o '"node-name":"[^"]*"' | sort |
		cmp -s - "$T/$1.nodes" || fail "QEMU's block nodes changed"
	if [ -e "$T/$1.rt" ]; then
		cmp -s "$RT" "$T/$1.rt" || fail "the runtime file changed"
	else
		[ ! -e "$RT" ] || fail "a runtime file was created"
	fi
	[ -z "$(find "$(dirname "$RT")" -name '.*.tmp.*')" ] ||
		fail "a temporary runtime file was left behind"
}

# slot_of ID: the slot QEMU shows the device at ("" if absent).
slot_of() {
	qmp query-pci | grep -o "\"qdev_id\":\"$1\",[^}]*\"slot\":[0-9]*" |
		grep -o '"slot":[0-9]*$' | cut -d: -f2
}

# device_gone ID: QEMU has no device ID on its PCI buses.
device_gone() {
	[ -z "$(slot_of "$1")" ]
}

has_node() {
	qmp query-named-block-nodes | grep -q "\"node-name\":\"$1\""
}

# has_drive ID: QEMU has a drive (a BlockBackend, -drive or drive_add) ID.
has_drive() {
	qmp query-block | jq -e --arg d "$1" '.[] | select(.device == $d)' >/dev/null
}

disk_image() {
	truncate -s "${2:-16M}" "$1"
}

# tap_fds NAME: how many of QEMU's fds are queues of tap NAME.
tap_fds() {
	grep -l "^iff:[[:space:]]*$1\$" /proc/"$PID"/fdinfo/* 2>/dev/null | wc -l
}

# tun_fds: how many tap queues QEMU holds at all.
tun_fds() {
	grep -l "^iff:" /proc/"$PID"/fdinfo/* 2>/dev/null | wc -l
}

# fd_count: how many fds QEMU holds, once it has closed the connection of
# the last QMP client (which it does a moment after the client is gone).
fd_count() {
	wait_until "$WAIT_LIMIT" "QEMU did not close the last monitor connection" qmp_idle
	ls /proc/"$PID"/fd | wc -l
}

# qmp_idle: QEMU ($PID) has no client connection on its QMP socket $SOCK
# (an accepted unix socket carries the listening socket's path; state 03).
qmp_idle() {
	! awk -v s="$SOCK" '$6 == "03" && $8 == s { f = 1 } END { exit !f }' "/proc/$PID/net/unix"
}

# answers ADDR: ADDR answers a ping from the test's namespace (within 5 s).
answers() {
	in_ns ping -q -c 1 -W 5 "$1" >/dev/null 2>&1
}

has_link() {
	in_ns ip link show "$1" >/dev/null 2>&1
}

has_netdev() {
	qmp human-monitor-command '{"command-line": "info network"}' | grep -q "$1"
}

# no_nic_left TAP ID: no tap, no netdev, no tap fd in QEMU.
no_nic_left() {
	! has_link "$1" || fail "tap $1 left behind"
	! has_netdev "$2" || fail "netdev $2 left behind"
	[ "$(tun_fds)" -eq 0 ] || fail "QEMU still holds $(tun_fds) tap fds"
}

# ---- Ganeti runtime files (it-ganeti.sh, it-reliability.sh) ----

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

# sync_hook_vm: instance vm1 (a newer Ganeti file without devices) runs
# the guest, and the environment is a post hook's after a NIC ($UUID2,
# $MAC1 on br0) and a disk ($UUID1, $T/d1.img) were added to it.
sync_hook_vm() {
	ganeti_file newer
	jq -c '.[1] = [] | .[3] = []' "$RT" >"$T/x" && mv "$T/x" "$RT"
	make_netns
	QMP_SOCK=$T/ganeti/ctrl/vm1.qmp GUEST_APPEND=kh.nomodules start_guest vm1 -name vm1
	disk_image "$T/d1.img"
	export GANETI_HOOKS_PHASE=post GANETI_INSTANCE_NAME=vm1
	export GANETI_INSTANCE_NIC_COUNT=0 GANETI_INSTANCE_DISK_COUNT=0
	export GANETI_POST_INSTANCE_NIC_COUNT=1 GANETI_POST_INSTANCE_DISK_COUNT=1
	export GANETI_POST_INSTANCE_NIC0_UUID=$UUID2 GANETI_POST_INSTANCE_NIC0_MAC=$MAC1
	export GANETI_POST_INSTANCE_NIC0_MODE=bridged GANETI_POST_INSTANCE_NIC0_LINK=br0
	export GANETI_POST_INSTANCE_DISK0_UUID=$UUID1 GANETI_POST_INSTANCE_DISK0_DEV_TYPE=file
	export GANETI_POST_INSTANCE_DISK0_DRIVER=loop GANETI_POST_INSTANCE_DISK0_ID=$T/d1.img
	export GANETI_POST_INSTANCE_DISK0_MODE=rw GANETI_POST_INSTANCE_DISK0_SIZE=16
}

# gkh ARGS...: the tool on instance vm1 of the test's Ganeti directory.
gkh() {
	kh --instance vm1 --ganeti-dir "$T/ganeti" "$@"
}

# aside_of FILE: where the tool keeps its own files (lock, intent record)
# about a Ganeti runtime file: /run/kvm-hotplug/NAME.DEV-INO, DEV and INO
# its directory's (runtime_aside_path).
aside_of() {
	echo "/run/kvm-hotplug/${1##*/}.$(stat -c %d-%i "${1%/*}")"
}

# forget_aside DIR: the tool's files under /run/kvm-hotplug about runtime
# files anywhere below DIR removed, so that tests leave nothing there.
forget_aside() {
	local d
	find "$1" -type d 2>/dev/null | while read -r d; do
		rm -f /run/kvm-hotplug/*."$(stat -c %d-%i "$d")".*
	done
}

# ---- a scripted QMP peer (it-usage.sh, it-ready.sh) ----

# fake_qmp SOCK [MISSING]: a QMP peer on SOCK (in the background) that
# answers what supported and an add ask as QEMU 7.2 on pc does (a device
# added is shown where it was put), but offers no command MISSING; its
# pid in FAKE.
fake_qmp() {
	python3 - "$1" "${2:-}" <<-'PY' &
	import json, os, socket, sys
	path, missing = sys.argv[1], sys.argv[2]
	names = ["qmp_capabilities", "query-name", "query-uuid", "query-status",
	         "query-migrate", "query-commands", "query-pci", "qom-get", "qom-list",
	         "device_add", "device_del", "blockdev-add", "blockdev-del",
	         "getfd", "closefd", "netdev_add", "netdev_del", "add-fd",
	         "remove-fd", "human-monitor-command", "x-query-virtio-status"]
	answers = {
	    "query-name": {"name": "fake"},
	    "query-uuid": {"UUID": "00000000-0000-0000-0000-000000000000"},
	    "query-status": {"status": "running", "running": True},
	    "query-migrate": {},
	    "query-commands": [{"name": n} for n in names if n != missing],
	    "qom-get": "/machine/i440fx/piix4_pm",
	    "query-pci": [{"bus": 0, "devices": [{"bus": 0, "slot": 0,
	        "function": 0, "qdev_id": "", "class_info": {"class": 1536},
	        "id": {"device": 4663, "vendor": 32902}, "regions": []}]}],
	}
	added = {}
	def answer(m):
	    cmd, args = m["execute"], m.get("arguments", {})
	    if cmd == "device_add":
	        added[args["id"]] = int(args["addr"], 16)
	    if cmd == "qom-get" and args.get("property") == "addr":
	        return added.get(args["path"].rsplit("/", 1)[-1], -1) * 8
	    if cmd == "query-pci":
	        pci = json.loads(json.dumps(answers["query-pci"]))
	        pci[0]["devices"] += [{"bus": 0, "slot": s, "function": 0,
	            "qdev_id": i, "class_info": {"class": 256}, "id": {},
	            "regions": []} for i, s in added.items()]
	        return pci
	    return answers.get(cmd, {})
	s = socket.socket(socket.AF_UNIX)
	s.bind(path)
	s.listen(4)
	while True:
	    c, _ = s.accept()
	    c.sendall((json.dumps({"QMP": {"version": {"qemu": {"major": 7,
	        "minor": 2, "micro": 0}, "package": ""}, "capabilities": []}}) + "\n").encode())
	    buf = b""
	    while True:
	        data = c.recv(65536)
	        if not data:
	            break
	        buf += data
	        while b"\n" in buf:
	            line, buf = buf.split(b"\n", 1)
	            if not line.strip():
	                continue
	            m = json.loads(line)
	            if m["execute"] == missing:
	                out = {"error": {"class": "CommandNotFound", "desc":
	                       "The command %s has not been found" % missing}}
	            else:
	                out = {"return": answer(m)}
	            out["id"] = m.get("id")
	            c.sendall((json.dumps(out) + "\n").encode())
	    c.close()
	PY
	FAKE=$!
	echo "$FAKE" >>"$T/kill"
	wait_until "$WAIT_LIMIT" "the fake QMP peer did not listen" test -S "$1"
}

# ---- live migration (it-ganeti.sh, it-bus.sh, it-confined.sh) ----

# migrate SRC-SOCK DST-SOCK [URI]: live migration over a unix socket (the
# target's -incoming unix:$T/migration.sock, or URI as the source names
# it), waited for until both sides are past it: the source in postmigrate
# (QEMU says "completed" a moment before it gets there) and the target
# out of inmigrate (it may still be loading the last of the state).
migrate() {
	"$QMPCMD" "$1" migrate "{\"uri\": \"${3:-unix:$T/migration.sock}\"}" >/dev/null ||
		fail "migrate refused"
	wait_until "$BOOT_LIMIT" "migration did not complete" migration_completed "$1"
	wait_until "$WAIT_LIMIT" "the source did not get to postmigrate" run_state_is "$1" postmigrate
	wait_until "$WAIT_LIMIT" "the target did not leave inmigrate" run_state_is_not "$2" inmigrate
}

# migration_completed SOCK: the migration from the VM of SOCK completed;
# fails if it failed.
migration_completed() {
	local status
	status=$("$QMPCMD" "$1" query-migrate | jq -r '.status // empty')
	case $status in
	completed) return 0 ;;
	failed | cancelled) fail "migration $status: $(tail -c 300 "$T"/dst.log 2>/dev/null)" ;;
	esac
	return 1
}

# run_state_is SOCK STATE, run_state_is_not SOCK STATE: QEMU's run state.
run_state_is() {
	[ "$("$QMPCMD" "$1" query-status | jq -r .status)" = "$2" ]
}

run_state_is_not() {
	local st
	st=$("$QMPCMD" "$1" query-status | jq -r .status) && [ -n "$st" ] && [ "$st" != "$2" ]
}

# ---- the tool killed at every step (it-reliability.sh, it-bus.sh) ----

# settled WHY: after check --repair the file and the VM agree, and
# nothing half-made is left in QEMU or on the host.
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

# kill_rounds [ADD OPTION...]: the tool (on the guest of $SOCK, br0 in
# its namespace, $T/d1.img) killed at every fault point of a disk's and a
# NIC's add and removal, the adds given the options (a bus), each run
# settled by check --repair and back to no device; n counts the points.
kill_rounds() {
	local p kind uuid add_disk add_nic
	add_disk=(disk add --uuid "$UUID1" --path "$T/d1.img" "$@")
	add_nic=(nic add --uuid "$UUID2" --mac "$MAC1" --link br0 --tap kh0 --queues 2 "$@")
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
}

# ---- runner ----

# run_test NAME: test function NAME in a scratch directory T of its own,
# its VMs and namespaces gone after it; prints PASS (with its INFO lines)
# or FAIL (with all it said).
run_test() {
	T=$(mktemp -d /tmp/kh-it.XXXXXX)
	RT=$T/vm.runtime
	(
		trap stop_vms EXIT
		"$1"
	) >"$T/log" 2>&1
	local rc=$?
	(T=$T stop_vms)
	forget_aside "$T"
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

# run_tests AREA [TEST...]: the named tests, or every t_* function
# defined, then "AREA: N passed, M failed"; fails if any test did. An area
# file ends with it; while tests/integration.sh sources the area files
# (KH_IT_SOURCING set) it does nothing, and integration.sh then calls it
# for all areas' tests at once.
run_tests() {
	[ -z "${KH_IT_SOURCING:-}" ] || return 0
	local area=$1 t passed=0 failed=0
	local -a tests
	shift
	tests=("$@")
	if [ ${#tests[@]} -eq 0 ]; then
		mapfile -t tests < <(declare -F | awk '$3 ~ /^t_/ { print $3 }')
	fi
	for t in "${tests[@]}"; do
		if run_test "$t"; then
			passed=$((passed + 1))
		else
			failed=$((failed + 1))
		fi
	done
	echo "$area: $passed passed, $failed failed"
	[ "$failed" -eq 0 ]
}
