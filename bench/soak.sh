#!/usr/bin/env bash
# Soak: OPS mixed disk and nic adds and removes on one VM running the tiny
# guest, each device chosen at random and added if absent, removed if
# present; then `check` must find no drift and QEMU's fd count must be
# where it started. Prints the figures.
# Usage: bench/soak.sh KVM-HOTPLUG GUEST-DIR [OPS]
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=tests/lib.sh
. "$HERE/../tests/lib.sh"
# inside a namespace of its own, so that no `ip netns exec` is timed
reexec_in_netns kh-soak "$0" "$@"
KH=$(realpath "$1")
GUEST=$(realpath "$2")
OPS=${3:-1000}
T=$(mktemp -d /tmp/kh-soak.XXXXXX)
trap 'stop_vms; rm -rf "$T"' EXIT
RT=$T/vm.runtime
# without its virtio drivers the guest acknowledges an unplug in ~70 ms
GUEST_APPEND=${SOAK_GUEST_APPEND-kh.nomodules} start_guest vm
fds0=$(fd_count)
declare -A present
failed=0 adds=0 removes=0
t0=$EPOCHREALTIME
for op in $(seq "$OPS"); do
	i=$((RANDOM % 10))
	uuid=00000000-0000-4000-8000-00000000000$i
	if [ "$i" -lt 6 ]; then kind=disk; else kind=nic; fi
	if [ -n "${present[$i]:-}" ]; then
		"$KH" -q -r "$RT" -m "$SOCK" "$kind" remove --uuid "$uuid" 2>>"$T/errors" &&
			unset "present[$i]" && removes=$((removes + 1)) || failed=$((failed + 1))
	else
		if [ "$kind" = disk ]; then
			[ -f "$T/d$i.img" ] || truncate -s 8M "$T/d$i.img"
			args=(--path "$T/d$i.img")
		else
			args=(--mac "52:54:00:00:00:0$i" --link br0 --queues $((i % 3 + 1)))
		fi
		"$KH" -q -r "$RT" -m "$SOCK" "$kind" add --uuid "$uuid" "${args[@]}" 2>>"$T/errors" &&
			present[$i]=1 && adds=$((adds + 1)) || failed=$((failed + 1))
	fi
done
t1=$EPOCHREALTIME
drift=ok
"$KH" -r "$RT" -m "$SOCK" check >"$T/check" 2>&1 || drift="DRIFT: $(cat "$T/check")"
for i in "${!present[@]}"; do
	uuid=00000000-0000-4000-8000-00000000000$i
	if [ "$i" -lt 6 ]; then kind=disk; else kind=nic; fi
	"$KH" -q -r "$RT" -m "$SOCK" "$kind" remove --uuid "$uuid" || failed=$((failed + 1))
done
fds1=$(fd_count)
echo "soak: $OPS operations ($adds adds, $removes removes) in $(awk -v a="${t0/./}" -v b="${t1/./}" 'BEGIN { printf "%.1f", (b - a) / 1e6 }') s, $failed failed"
echo "check after the soak: $drift"
echo "QEMU fds: $fds0 before, $fds1 after all removed; tap fds left: $(tun_fds)"
[ "$failed" -eq 0 ] && [ "$drift" = ok ] && [ "$fds0" -eq "$fds1" ] || {
	head -5 "$T/errors" >&2
	exit 1
}
