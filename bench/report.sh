#!/usr/bin/env bash
# Writes docs/performance.md and its plot docs/performance.png from the
# samples one `make bench` run left in OUTDIR (bench/hotplug.sh,
# bench/ganeti.sh, bench/buses.sh): medians with quartiles, the ratios the
# targets are stated in, peak RSS and instructions. Every figure in the
# page comes from OUTDIR; nothing is typed in by hand.
# Usage: bench/report.sh OUTDIR [DOCDIR]
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=bench/lib.sh
. "$HERE/lib.sh"

[ $# -ge 1 ] || { echo "usage: $0 OUTDIR [DOCDIR]" >&2; exit 2; }
OUT=$(realpath "$1")
DOC=$(realpath "${2:-$HERE/../docs}")
need() { [ -s "$OUT/$1" ] || { echo "report.sh: no samples $OUT/$1: run make bench" >&2; exit 1; }; }
for f in paused.kh.disk.add paused.floor.disk.add kh.disk.add floor.disk.add \
	ganeti.disk.add ganeti.disk.add.inproc buses.pc.1.add ir.disk-add rss.disk-add; do
	need "$f"
done

med() { quantile 0.5 <"$OUT/$1"; }
# mqq FILE: the median and the first and third quartiles, in ms
mqq() { printf '%s %s %s' "$(ms "$(med "$1")")" "$(ms "$(quantile 0.25 <"$OUT/$1")")" "$(ms "$(quantile 0.75 <"$OUT/$1")")"; }
# cell FILE: "median (q1-q3)" in ms
cell() { local v; read -ra v <<<"$(mqq "$1")"; printf '%s (%s-%s)' "${v[0]}" "${v[1]}" "${v[2]}"; }
ratio() { awk -v a="$(med "$1")" -v b="$(med "$2")" 'BEGIN { printf "%.2f", a / b }'; }
# exact: the same unrounded, for judging a target (28.7x is not 30x)
exact() { awk -v a="$(med "$1")" -v b="$(med "$2")" 'BEGIN { printf "%.9f", a / b }'; }
n() { wc -l <"$OUT/$1"; }
kib() { awk '{ printf "%.2f MiB (%d KiB)", $1 / 1024, $1 }' "$OUT/$1"; }
mega() { awk '{ printf "%.2f M", $1 / 1e6 }' "$OUT/$1"; }

# target LABEL SHOWN VALUE LIMIT: a row of the targets' table, met when
# VALUE <= LIMIT
target() {
	printf '| %s | %s | %s |\n' "$1" "$2" \
		"$(awk -v v="$3" -v l="$4" 'BEGIN { print (v <= l) ? "met" : "**not met**" }')"
}

# row LABEL KH FLOOR: a table row, the tool against the floor
row() { printf '| %s | %s | %s | %s× |\n' "$1" "$(cell "$2")" "$(cell "$3")" "$(ratio "$2" "$3")"; }

plot() {
	local dat=$OUT/plot.dat buses=$OUT/plot-buses.dat
	# one line per operation: label, then median q1 q3 of each column
	{
		for op in disk.add nic.add disk.rm nic.rm; do
			printf '"%s"' "${op/./ }"
			for f in "floor.$op" "kh.$op" "ganeti.$op.inproc" "ganeti.$op"; do
				printf ' %s' "$(mqq "$f")"
			done
			echo
		done
	} >"$dat"
	{
		for size in 1 30 100; do
			printf '%s' "$size"
			for m in q35 pc; do
				printf ' %s' "$(mqq "buses.$m.$size.add")"
			done
			echo
		done
	} >"$buses"
	gnuplot <<EOF
set terminal pngcairo size 1100,480 font ",10"
set output "$DOC/performance.png"
set multiplot layout 1,2
set title "One operation, median and quartiles (log scale)"
set logscale y
set ylabel "ms"
set style data histogram
set style histogram errorbars gap 1 lw 1
set style fill solid 0.6 border -1
set key top left
set yrange [1:5000]
plot "$dat" using 2:3:4:xtic(1) title "qmp-floor", \
     "" using 5:6:7 title "kvm-hotplug", \
     "" using 8:9:10 title "Ganeti (in noded)", \
     "" using 11:12:13 title "Ganeti (fresh process)"
unset logscale y
set title "Disk add with N devices present, median and quartiles"
set style data linespoints
set xlabel "devices present"
set ylabel "ms"
set yrange [0:*]
set xrange [0:105]
set key top left
plot "$buses" using 1:2:3:4 with yerrorlines title "q35, root ports", \
     "" using 1:5:6:7 with yerrorlines title "pc, pci-bridges"
unset multiplot
EOF
}

plot
qemu=$(qemu-system-x86_64 --version | head -1 | awk '{print $4}')
ganeti=$(dpkg-query -W -f '${Version}' ganeti-3.0 2>/dev/null || echo 3.0)
{
cat <<EOF
# Performance

Written by \`make bench\` (bench/report.sh) from one run on $(date -u +%Y-%m-%d):
$(nproc) cores, $(awk '/MemTotal/ { printf "%d GiB", $2 / 1048576 + 0.5 }' /proc/meminfo),
QEMU $qemu under TCG, kvm-hotplug $(cat "$OUT/version" 2>/dev/null || echo "?"),
Ganeti $ganeti. Each figure is a median with its quartiles, in ms. The
machines steal CPU now and then: compare the columns of this run, not
runs with each other. How each series is made is said in the header of
the bench/ script named beside it. Where an add's time goes, part by
part, and what was changed for it: docs/design.md, "Where an add's time
goes".

![kvm-hotplug, the QMP floor and Ganeti's own path; add cost against devices present](performance.png)

## The targets (issue 21)

| target | measured | |
|---|---|---|
$(target "disk add ≤ 1.5× the floor, file on tmpfs, paused VM" "$(ratio paused.kh.disk.add paused.floor.disk.add)×" "$(exact paused.kh.disk.add paused.floor.disk.add)" 1.5)
$(target "NIC add ≤ 1.5× the floor, file on tmpfs, paused VM" "$(ratio paused.kh.nic.add paused.floor.nic.add)×" "$(exact paused.kh.nic.add paused.floor.nic.add)" 1.5)
$(target "disk add ≤ 1.5× the floor, file on tmpfs, guest running" "$(ratio kh.disk.add floor.disk.add)×" "$(exact kh.disk.add floor.disk.add)" 1.5)
$(target "NIC add ≤ 1.5× the floor, file on tmpfs, guest running" "$(ratio kh.nic.add floor.nic.add)×" "$(exact kh.nic.add floor.nic.add)" 1.5)
$(target "disk add ≤ 2× the floor, file on disk, paused VM" "$(ratio paused.kh.disk.add.ondisk paused.floor.disk.add)×" "$(exact paused.kh.disk.add.ondisk paused.floor.disk.add)" 2)
$(target "NIC add ≤ 2× the floor, file on disk, paused VM" "$(ratio paused.kh.nic.add.ondisk paused.floor.nic.add)×" "$(exact paused.kh.nic.add.ondisk paused.floor.nic.add)" 2)
$(target "disk add ≤ 2× the floor, file on disk, guest running" "$(ratio kh.disk.add.ondisk floor.disk.add)×" "$(exact kh.disk.add.ondisk floor.disk.add)" 2)
$(target "disk add ≥ 30× faster than Ganeti (fresh process)" "$(ratio ganeti.disk.add kh.disk.add)×" "$(exact kh.disk.add ganeti.disk.add)" "$(awk 'BEGIN { print 1 / 30 }')")
$(target "disk add ≥ 30× faster than Ganeti (in noded)" "$(ratio ganeti.disk.add.inproc kh.disk.add)×" "$(exact kh.disk.add ganeti.disk.add.inproc)" "$(awk 'BEGIN { print 1 / 30 }')")
$(target "NIC add ≥ 30× faster than Ganeti (fresh process)" "$(ratio ganeti.nic.add kh.nic.add)×" "$(exact kh.nic.add ganeti.nic.add)" "$(awk 'BEGIN { print 1 / 30 }')")
$(target "NIC add ≥ 30× faster than Ganeti (in noded)" "$(ratio ganeti.nic.add.inproc kh.nic.add)×" "$(exact kh.nic.add ganeti.nic.add.inproc)" "$(awk 'BEGIN { print 1 / 30 }')")
$(target "disk removal within 5 ms of the guest's DEVICE_DELETED latency" "$(ms "$(med kh.disk.rm.overhead)") ms" "$(ms "$(med kh.disk.rm.overhead)")" 5)
$(target "NIC removal within 5 ms of the guest's DEVICE_DELETED latency" "$(ms "$(med kh.nic.rm.overhead)") ms (the floor: $(ms "$(med floor.nic.rm.overhead)") ms)" "$(ms "$(med kh.nic.rm.overhead)")" 5)
$(target "peak RSS < 4 MiB (the largest of the commands below)" "$(cat "$OUT"/rss.* | sort -n | tail -1 | awk '{ printf "%.2f MiB", $1 / 1024 }')" "$(cat "$OUT"/rss.* | sort -n | tail -1 | awk '{ print $1 / 1024 }')" 3.999)
$(target "flat cost: an add with 100 devices present ≤ 1.3× one with 1 (q35)" "$(ratio buses.q35.100.add buses.q35.1.add)×" "$(exact buses.q35.100.add buses.q35.1.add)" 1.3)
$(target "flat cost: an add with 100 devices present ≤ 1.3× one with 1 (pc)" "$(ratio buses.pc.100.add buses.pc.1.add)×" "$(exact buses.pc.100.add buses.pc.1.add)" 1.3)

## Against the floor (bench/hotplug.sh)

The floor is \`bench/qmp-floor\`: a client that connects, negotiates and
sends only the commands that make the device (\`blockdev-add\` and
\`device_add\`; for a NIC it opens the tap, \`getfd\`, \`netdev_add\`,
\`device_add\`), with no runtime file, no checks and no JSON library.
The runtime file is on tmpfs ($(cat "$OUT/fs.tmpfs"), as \`/run\` where Ganeti keeps it) unless
"on disk" ($(cat "$OUT/fs.disk")) is said.

On a paused VM ($(n paused.kh.disk.add) adds each, a fresh VM per series; nothing in QEMU
competes with the monitor):

| operation | kvm-hotplug | floor | ratio |
|---|---|---|---|
$(row "disk add" paused.kh.disk.add paused.floor.disk.add)
$(row "disk add, file on disk" paused.kh.disk.add.ondisk paused.floor.disk.add)
$(row "NIC add" paused.kh.nic.add paused.floor.nic.add)
$(row "NIC add, file on disk" paused.kh.nic.add.ondisk paused.floor.nic.add)

On the tiny guest running ($(n kh.disk.add) rounds of add and removal, the series
interleaved; the guest probes each new device while QEMU answers):

| operation | kvm-hotplug | floor | ratio |
|---|---|---|---|
$(row "disk add" kh.disk.add floor.disk.add)
$(row "disk add, file on disk" kh.disk.add.ondisk floor.disk.add)
$(row "disk add, Ganeti file (add-fd, drive_add)" kh.drive.add floor.drive.add)
$(row "NIC add (the tool also puts the tap on br0)" kh.nic.add floor.nic.add)
$(row "disk removal" kh.disk.rm floor.disk.rm)
$(row "disk removal less the guest's DEVICE_DELETED latency" kh.disk.rm.overhead floor.disk.rm.overhead)
$(row "Ganeti-file disk removal, less the guest's latency" kh.drive.rm.overhead floor.drive.rm.overhead)
$(row "NIC removal" kh.nic.rm floor.nic.rm)
$(row "NIC removal less the guest's DEVICE_DELETED latency" kh.nic.rm.overhead floor.nic.rm.overhead)

The guest's own DEVICE_DELETED latency (\`device_del\` to the event) was
$(cell guest.deleted) ms.

## Against Ganeti's own path (bench/ganeti.sh)

Ganeti $ganeti's \`hv_kvm\` \`HotAddDevice\`/\`HotDelDevice\`, the code
\`gnt-instance modify --hotplug\` runs on the node, driven by
bench/ganeti-path.py against the same kind of VM: "in noded" times the
call alone in a Python that has imported Ganeti already (what the daemon
spends); "fresh process" is a python3 started for the one call, imports
included (what a hook-style caller pays, as kvm-hotplug's figures do).

| operation | kvm-hotplug | Ganeti in noded | Ganeti, fresh process | faster, in noded / fresh |
|---|---|---|---|---|
| disk add | $(cell kh.disk.add) | $(cell ganeti.disk.add.inproc) | $(cell ganeti.disk.add) | $(ratio ganeti.disk.add.inproc kh.disk.add)× / $(ratio ganeti.disk.add kh.disk.add)× |
| NIC add | $(cell kh.nic.add) | $(cell ganeti.nic.add.inproc) | $(cell ganeti.nic.add) | $(ratio ganeti.nic.add.inproc kh.nic.add)× / $(ratio ganeti.nic.add kh.nic.add)× |
| disk removal | $(cell kh.disk.rm) | $(cell ganeti.disk.rm.inproc) | $(cell ganeti.disk.rm) | $(ratio ganeti.disk.rm.inproc kh.disk.rm)× / $(ratio ganeti.disk.rm kh.disk.rm)× |
| NIC removal | $(cell kh.nic.rm) | $(cell ganeti.nic.rm.inproc) | $(cell ganeti.nic.rm) | $(ratio ganeti.nic.rm.inproc kh.nic.rm)× / $(ratio ganeti.nic.rm kh.nic.rm)× |

Ganeti's removal sleeps a whole second before it looks again
(\`_VerifyHotplugCommand\`); kvm-hotplug waits for the DEVICE_DELETED event.

## Devices present (bench/buses.sh)

A disk added and removed with 1, 30 and 100 of our devices already in
the VM, on q35 (16 root ports, 4 holding a pcie-pci-bridge) and on pc
(pci.0 and 4 pci-bridges), with the instructions of one add
(callgrind: repeatable where wall time is not).

| machine | devices | add | ratio to 1 | removal less the guest's latency | add, instructions |
|---|---|---|---|---|---|
EOF
for m in q35 pc; do
	for size in 1 30 100; do
		printf '| %s | %s | %s | %s× | %s | %s |\n' "$m" "$size" "$(cell "buses.$m.$size.add")" \
			"$(ratio "buses.$m.$size.add" "buses.$m.1.add")" "$(cell "buses.$m.$size.rm.overhead")" \
			"$(mega "ir.buses.$m.$size")"
	done
done
cat <<EOF

## Memory and instructions (bench/hotplug.sh)

Peak RSS (\`/usr/bin/time\`) and instructions (\`valgrind --tool=callgrind\`)
of one run of each command on a paused VM holding a disk and a NIC of ours:

| command | peak RSS | instructions |
|---|---|---|
EOF
for c in disk-add nic-add list check; do
	printf '| %s | %s | %s |\n' "$c" "$(kib "rss.$c")" "$(mega "ir.$c")"
done
printf '| disk-remove (on the guest) | %s | |\n' "$(kib rss.disk-remove)"
printf '| qmp-floor disk add | | %s |\n' "$(mega ir.floor-disk-add)"
} >"$DOC/performance.md"
echo "wrote $DOC/performance.md and $DOC/performance.png"
