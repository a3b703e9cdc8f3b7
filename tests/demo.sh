#!/usr/bin/env bash
# make demo: a throw-away VM running the tiny guest, in a network namespace
# of its own with a bridge br0 (192.0.2.1/24). Hot-add a disk and a NIC,
# show the runtime file, QEMU's view and packets reaching the guest through
# the new NIC; hot-remove both and show the result.
# Usage: tests/demo.sh KVM-HOTPLUG GUEST-DIR
set -euo pipefail
KH=$(realpath "$1")
GUEST=$(realpath "$2")
T=$(mktemp -d /tmp/kh-demo.XXXXXX)
# shellcheck source=tests/lib.sh
. "$(dirname "$0")/lib.sh"
trap 'stop_vms; rm -rf "$T"' EXIT
RT=$T/vm.runtime
DISK=003fc157-66a8-4e6d-8b7e-ec4f69751396
NIC=5d1f0a2e-7c3b-4e8a-9f10-1a2b3c4d5e6f

say() { printf '\n\033[1m== %s\033[0m\n' "$*"; }
run() { printf '$ %s\n' "$*"; "$@"; }
kh() { run ip netns exec "$NS" "$KH" -r "$RT" -m "$SOCK" "$@"; }

say "a throw-away VM (tiny guest, TCG) in network namespace with bridge br0"
make_netns
GUEST_APPEND=kh.ip=192.0.2.2/24 start_guest vm
echo "guest is up; its first NIC will get 192.0.2.2/24"
truncate -s 64M "$T/disk1.img"

say "first a dry run: the QMP commands the NIC's add would send and the file it would write; nothing changes"
kh nic add --uuid "$NIC" --mac 52:54:00:12:34:56 --link br0 --name lan --dry-run

say "hot-add a disk and a NIC (-v: each QMP exchange)"
kh -v disk add --uuid "$DISK" --path "$T/disk1.img" --name data
kh -v nic add --uuid "$NIC" --mac 52:54:00:12:34:56 --link br0 --name lan
say "the runtime file records both, with their PCI slots"
run cat "$RT"
say "what QEMU has, next to what the file says"
kh list
kh -j list
say "the tap is up on the bridge, and the guest answers through it"
run ip -n "$NS" -br link show master br0
# the guest configures the NIC, then answers (however long it takes)
wait_until "$WAIT_LIMIT" "the guest did not configure its NIC" grep -q KH-GUEST-IP "$T/vm.log"
wait_until "$WAIT_LIMIT" "the guest does not answer ping" answers 192.0.2.2
run ip netns exec "$NS" ping -c 3 -W 2 192.0.2.2

say "hot-remove both (the guest acknowledges each ACPI eject)"
kh -v nic remove --uuid "$NIC"
kh -v disk remove --uuid "$DISK"
run cat "$RT"
kh list
say "the tap is gone and the guest no longer answers"
run ip -n "$NS" -br link show master br0
if ip netns exec "$NS" ping -c 1 -W 1 192.0.2.2 >/dev/null; then
	echo "unexpected: the guest still answers" >&2
	exit 1
fi
echo "no answer from 192.0.2.2"
say "done: the VM, the namespace and $T are removed"
