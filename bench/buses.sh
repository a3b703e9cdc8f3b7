#!/usr/bin/env bash
# What a VM's size costs an add and a removal: a disk added and removed
# with 1, 30 and 100 devices of ours already present, on q35 with 16 root
# ports (4 of them holding a pcie-pci-bridge, so that 100 fit) and on pc
# with 4 pci-bridges, the tiny guest running without its virtio drivers
# (it acknowledges an unplug in ~70 ms). Prints medians with quartiles
# of ROUNDS adds and removals at each size, and the ratio to the first
# size, and the instructions of one add at each size (callgrind), which
# do not depend on how busy the machine is. With OUTDIR, leaves the
# samples there (buses.MACHINE.SIZE.{add,rm.overhead}, ir.buses.MACHINE.SIZE)
# for bench/report.sh. The machines steal CPU now and then: compare the
# columns of one run, not runs with each other.
# Usage: bench/buses.sh KVM-HOTPLUG GUEST-DIR [ROUNDS [OUTDIR]]
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=tests/lib.sh
. "$HERE/../tests/lib.sh"
# shellcheck source=bench/lib.sh
. "$HERE/lib.sh"

reexec_in_netns kh-bench-buses "$0" "$@"

KH=$(realpath "$1")
GUEST=$(realpath "$2")
ROUNDS=${3:-20}
bench_scratch
bench_out "${4:-$T/out}"
rm -f "$OUT"/buses.* "$OUT"/ir.buses.*
SIZES="1 30 100"

# uuid N: the N-th device's uuid
uuid() { printf '%08x-0000-4000-8000-000000000000' "$1"; }

# machine NAME QEMU-ARGS...: the guest on that machine; for each size,
# the VM filled to it, then ROUNDS timed adds and removals of one more.
machine() {
	local name=$1 n=0 size i first_add first_rm
	shift
	RT=$RUN/$name.runtime
	GUEST_APPEND=kh.nomodules start_guest "$name" -name "$name" \
		-uuid 6b1e3f0a-5c2d-4e8f-9a01-00000000be02 "$@"
	for size in $SIZES; do
		while [ "$n" -lt "$size" ]; do
			n=$((n + 1))
			truncate -s 1M "$T/$name.$n.img"
			"$KH" -q -r "$RT" -m "$SOCK" disk add --uuid "$(uuid "$n")" \
				--path "$T/$name.$n.img"
		done
		truncate -s 1M "$T/$name.extra.img"
		local add=$OUT/buses.$name.$size.add rm=$OUT/buses.$name.$size.rm
		for ((i = 0; i < ROUNDS; i++)); do
			timed "$KH" -q -r "$RT" -m "$SOCK" disk add --uuid "$(uuid 999)" \
				--path "$T/$name.extra.img" >>"$add"
			kh_remove disk "$rm" "$RT" "$(uuid 999)"
		done
		valgrind --tool=callgrind --callgrind-out-file="$T/cg" "$KH" -q -r "$RT" \
			-m "$SOCK" disk add --uuid "$(uuid 999)" --path "$T/$name.extra.img" \
			2>"$T/cg.err" || fail "callgrind of an add: $(cat "$T/cg.err")"
		sed -n 's/^summary: //p' "$T/cg" >"$OUT/ir.buses.$name.$size"
		"$KH" -q -r "$RT" -m "$SOCK" disk remove --uuid "$(uuid 999)"
		local a r
		a=$(quantile 0.5 <"$add"); r=$(quantile 0.5 <"$rm.overhead")
		[ "$size" = 1 ] && first_add=$a && first_rm=$r
		printf '%-4s %4d devices  add %7s ms (%s-%s) %5.2fx   remove-own %7s ms (%s-%s) %5.2fx   add %s instructions\n' \
			"$name" "$size" "$(ms "$a")" "$(ms "$(quantile 0.25 <"$add")")" \
			"$(ms "$(quantile 0.75 <"$add")")" \
			"$(awk -v a="$a" -v b="$first_add" 'BEGIN { print a / b }')" \
			"$(ms "$r")" "$(ms "$(quantile 0.25 <"$rm.overhead")")" \
			"$(ms "$(quantile 0.75 <"$rm.overhead")")" \
			"$(awk -v a="$r" -v b="$first_rm" 'BEGIN { print a / b }')" \
			"$(cat "$OUT/ir.buses.$name.$size")"
	done
	"$KH" -q -r "$RT" -m "$SOCK" check || { echo "check failed on $name" >&2; exit 1; }
	stop_vms
}

q35=(-M q35 -m 256)
for i in $(seq 1 16); do
	q35+=(-device "pcie-root-port,id=rp$i,chassis=$i,slot=$i,bus=pcie.0,addr=$(printf 0x%x $((i + 3)))")
done
for i in 1 2 3 4; do
	q35+=(-device "pcie-pci-bridge,id=pb$i,bus=rp$((12 + i)),addr=0x0")
done
pc=(-m 256)
for i in 1 2 3 4; do
	pc+=(-device "pci-bridge,id=br$i,chassis_nr=$i,bus=pci.0,addr=$(printf 0x%x $((27 + i)))")
done

echo "buses, $ROUNDS rounds per size, QEMU $(qemu-system-x86_64 --version | head -1 | awk '{print $4}'), TCG, tiny guest without virtio drivers"
echo "median (quartiles); ratio to the size-1 median of the same machine"
machine q35 "${q35[@]}"
machine pc "${pc[@]}"
echo "q35: 16 root ports, 4 of them holding a pcie-pci-bridge (12 + 4 x 31 slots);"
echo "pc: pci.0 (28 slots) and 4 pci-bridges (4 x 31); runtime file on tmpfs"
echo "remove-own: a removal's time minus the guest's DEVICE_DELETED latency in it"
