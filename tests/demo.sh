#!/usr/bin/env bash
# make demo: a throw-away VM running the tiny guest; hot-add a disk, show
# the runtime file and QEMU's view, hot-remove it, show the result.
# Usage: tests/demo.sh KVM-HOTPLUG GUEST-DIR
set -euo pipefail
KH=$(realpath "$1")
GUEST=$(realpath "$2")
T=$(mktemp -d /tmp/kh-demo.XXXXXX)
# shellcheck source=tests/lib.sh
. "$(dirname "$0")/lib.sh"
trap 'stop_vms; rm -rf "$T"' EXIT
RT=$T/vm.runtime
UUID=003fc157-66a8-4e6d-8b7e-ec4f69751396

say() { printf '\n\033[1m== %s\033[0m\n' "$*"; }
run() { printf '$ %s\n' "$*"; "$@"; }

say "starting a throw-away VM (tiny guest, TCG) in $T"
start_guest vm
echo "guest is up"
truncate -s 64M "$T/disk1.img"

say "hot-add a disk"
run "$KH" -v -r "$RT" -m "$SOCK" disk add --uuid "$UUID" --path "$T/disk1.img" --name data
say "the runtime file now records it"
run cat "$RT"
say "what QEMU has, next to what the file says"
run "$KH" -r "$RT" -m "$SOCK" list
run "$KH" -j -r "$RT" -m "$SOCK" list

say "hot-remove it (the guest acknowledges the ACPI eject)"
run "$KH" -v -r "$RT" -m "$SOCK" disk remove --uuid "$UUID"
run cat "$RT"
run "$KH" -r "$RT" -m "$SOCK" list
say "done: the VM is stopped and $T removed"
