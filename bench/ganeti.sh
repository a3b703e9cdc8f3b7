#!/usr/bin/env bash
# shellcheck disable=SC1091 # the libraries: followed with shellcheck -x
# Times Ganeti 3.0's own hotplug path (hv_kvm's HotAddDevice/HotDelDevice,
# what ganeti-noded runs for `gnt-instance modify --hotplug`) adding and
# removing a disk and a NIC, through bench/ganeti-path.py, on the tiny
# guest (removal needs its ACPI acknowledgement) in a network namespace of
# its own with bridge br0, as bench/hotplug.sh does for kvm-hotplug. The
# QEMU runs as Ganeti would start it for hotplug to work: -name, -uuid, a
# QMP socket, an HMP monitor (Ganeti's drive_add/drive_del go through it)
# and kvmd's second QMP socket, all reached from Ganeti's paths under
# /var/run/ganeti/kvm-hypervisor/ctrl by symlinks; the runtime file is
# Ganeti's own (_SaveKVMRuntime).
#
# Writes into OUTDIR, one microsecond figure a line, ROUNDS lines each:
#   ganeti.{disk,nic}.{add,rm}          a fresh python3 process per call
#                                       (imports included, as a hook pays)
#   ganeti.{disk,nic}.{add,rm}.inproc   the call alone, in one process
#                                       (what noded spends)
# and, besides, ganeti.{disk,nic}.rm.guest[.inproc] (the guest's own
# DEVICE_DELETED latency in each removal), ganeti.*.verify.inproc
# (VerifyHotplugSupport, which noded runs before each call, not in the
# figures above) and ganeti.trace (one call of each, step by step).
# Prints medians with quartiles. Leaves nothing behind: the VM, the
# namespace, and what it made under /var/run/ganeti go, also on failure.
# Usage: bench/ganeti.sh GUEST-DIR ROUNDS OUTDIR
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=tests/lib.sh
. "$HERE/../tests/lib.sh"
# shellcheck source=bench/lib.sh
. "$HERE/lib.sh"

[ $# -eq 3 ] || { echo "usage: $0 GUEST-DIR ROUNDS OUTDIR" >&2; exit 2; }
case $2 in '' | *[!0-9]* | 0) echo "$0: ROUNDS must be a positive number" >&2; exit 2 ;; esac

# inside a namespace of its own, so that no `ip netns exec` is timed
reexec_in_netns kh-gbench "$0" "$@"

# shellcheck disable=SC2034 # start_guest's
GUEST=$(realpath "$1")
ROUNDS=$2
mkdir -p "$3"
OUT=$(realpath "$3")
# Ganeti's daemons run Debian's python3 (not whatever is first in PATH)
PY=${GANETI_PYTHON:-/usr/bin/python3}
GP=$HERE/ganeti-path.py
NAME=kh-gbench-$$
UUID=6b1e3f0a-5c2d-4e8f-9a01-000000000001	# ganeti-path.py's INSTANCE_UUID
declare -A P
CREATED=()

# ganeti_cleanup: our files under Ganeti's run dir by name, then the dirs
# that were not there before, deepest first, each only if empty.
ganeti_cleanup() {
	local d i
	[ -n "${P[RUN_DIR]:-}" ] || return 0
	rm -f "${P[QMP]}" "${P[MONITOR]}" "${P[KVMD]}" "${P[DISK_LINK]}" "${P[RUNTIME]}"
	rm -f "${P[RUNTIME]}"*.new	# a WriteFile temporary, if one was left
	rm -rf "${P[NIC_DIR]}"
	for ((i = ${#CREATED[@]} - 1; i >= 0; i--)); do
		d=${CREATED[i]}
		[ -d "$d" ] || continue
		rmdir "$d" 2>/dev/null || echo "ganeti.sh: $d is not empty, left: $(ls -A "$d")" >&2
	done
}

bench_scratch
# (QEMU waited for until its zombie is reaped too, so that none is seen after)
trap 'rc=$?; bench_cleanup; ganeti_cleanup
	[ -z "${PID:-}" ] || within 10 test ! -e "/proc/$PID" || true; exit $rc' EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# where Ganeti looks for what; which of its dirs we are about to create
while IFS='=' read -r k v; do P[$k]=$v; done < <("$PY" "$GP" paths "$NAME")
[ -n "${P[RUN_DIR]:-}" ] || fail "cannot import Ganeti (ganeti-path.py paths)"
# shellcheck disable=SC2206 # a list of paths without spaces
dirs=("${P[RUN_DIR]}" ${P[KVM_DIRS]} "${P[DISK_LINKS_DIR]}")
for d in "${dirs[@]}"; do
	[ -e "$d" ] || CREATED+=("$d")
done
if [ -e "${P[QMP]}" ] || [ -e "${P[RUNTIME]}" ]; then
	fail "instance $NAME already exists in Ganeti's run dir"
fi

QMP_SOCK=$RUN/vm.qmp start_guest vm -name "$NAME" -uuid "$UUID" \
	-monitor "unix:$RUN/vm.monitor,server=on,wait=off" \
	-qmp "unix:$RUN/vm.kvmd,server=on,wait=off"
truncate -s 64M "$T/disk.img"

"$PY" "$GP" setup "$NAME" "$PID" || fail "could not set up Ganeti's files"
ln -s "$SOCK" "${P[QMP]}"
ln -s "$RUN/vm.monitor" "${P[MONITOR]}"
ln -s "$RUN/vm.kvmd" "${P[KVMD]}"
ln -s "$T/disk.img" "${P[DISK_LINK]}"	# what BlockdevAssemble links

# the guest's DEVICE_DELETED events, on kvmd's monitor
"$PY" "$GP" watch "$RUN/vm.kvmd" "$T/events" &
echo $! >>"$T/kill"
wait_until "$WAIT_LIMIT" "the event watcher did not connect" grep -qs '^# ready' "$T/events"
fds=$(fd_count)

# gtimed FILE WHAT COMMAND...: like lib.sh's timed (bash's clock around the
# command alone), into FILE; a failure ends the benchmark saying what failed.
gtimed() {
	local file=$1 what=$2 t0 t1 rc=0
	shift 2
	t0=$EPOCHREALTIME
	"$@" >/dev/null || rc=$?
	t1=$EPOCHREALTIME
	[ "$rc" -eq 0 ] || fail "$what failed (exit $rc): Ganeti's error is above"
	echo $(( ${t1/./} - ${t0/./} )) >>"$file"
}

for f in disk.add disk.rm nic.add nic.rm; do
	rm -f "$OUT/ganeti.$f" "$OUT/ganeti.$f".*
done
rm -f "$OUT/ganeti.trace"

for i in $(seq "$ROUNDS"); do
	for kind in disk nic; do
		gtimed "$OUT/ganeti.$kind.add" "round $i: $kind add" \
			"$PY" "$GP" one-op "$NAME" "$kind" add "$T/deltimes"
		"$PY" "$GP" check "$NAME" "$kind" present || fail "round $i: $kind add"
		gtimed "$OUT/ganeti.$kind.rm" "round $i: $kind removal" \
			"$PY" "$GP" one-op "$NAME" "$kind" rm "$T/deltimes"
		"$PY" "$GP" check "$NAME" "$kind" absent || fail "round $i: $kind removal"
	done
done
"$PY" "$GP" inproc "$NAME" "$ROUNDS" "$OUT" "$T/deltimes" || fail "the in-process rounds failed"
"$PY" "$GP" trace "$NAME" >"$OUT/ganeti.trace" || fail "the traced calls failed"
"$PY" "$GP" final "$NAME" || fail "Ganeti left something behind"
[ "$(fd_count)" -eq "$fds" ] || fail "QEMU holds $(fd_count) fds, $fds before the rounds"
[ -z "$(ip -o link show type tun)" ] || fail "taps left: $(ip -o link show type tun)"
sleep 0.2	# the last DEVICE_DELETED event written
"$PY" "$GP" latency "$T/deltimes" "$T/events" "$OUT"

# row LABEL FILE: median (quartiles) in ms
row() {
	printf '%-12s %9s ms (%s-%s)\n' "$1" "$(ms "$(quantile 0.5 <"$2")")" \
		"$(ms "$(quantile 0.25 <"$2")")" "$(ms "$(quantile 0.75 <"$2")")"
}
echo "Ganeti $(dpkg-query -W -f '${Version}' ganeti-3.0 2>/dev/null || echo 3.0) hotplug path, $ROUNDS rounds, QEMU $(qemu-system-x86_64 --version | head -1 | awk '{print $4}'), TCG, tiny guest"
echo "median (quartiles)     process (python3 + imports + call)"
for f in disk.add disk.rm nic.add nic.rm; do row "$f" "$OUT/ganeti.$f"; done
echo "median (quartiles)     in-process (HotAddDevice/HotDelDevice only)"
for f in disk.add disk.rm nic.add nic.rm; do row "$f" "$OUT/ganeti.$f.inproc"; done
for f in disk.rm.guest nic.rm.guest disk.rm.guest.inproc nic.rm.guest.inproc; do
	if [ -s "$OUT/ganeti.$f" ]; then row "$f" "$OUT/ganeti.$f"; fi
done
printf 'VerifyHotplugSupport before each call (not included above): disk add %s ms, nic add %s ms\n' \
	"$(ms "$(quantile 0.5 <"$OUT/ganeti.disk.add.verify.inproc")")" \
	"$(ms "$(quantile 0.5 <"$OUT/ganeti.nic.add.verify.inproc")")"
echo "*.rm.guest: device_del -> the guest's DEVICE_DELETED, within those removals"
echo "results and a step-by-step trace of each call (ganeti.trace) in $OUT"
