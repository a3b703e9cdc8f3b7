#!/usr/bin/env bash
# `make bench`: every benchmark in one run, their samples in one directory
# (OUTDIR, build/bench by default, kept for a look afterwards), and then
# docs/performance.md and its plot from those samples (bench/report.sh).
# Usage: bench/run.sh KVM-HOTPLUG QMP-FLOOR GUEST-DIR [ROUNDS [OUTDIR]]
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
[ $# -ge 3 ] || { echo "usage: $0 KVM-HOTPLUG QMP-FLOOR GUEST-DIR [ROUNDS [OUTDIR]]" >&2; exit 2; }
KH=$(realpath "$1")
FLOOR=$(realpath "$2")
GUEST=$(realpath "$3")
ROUNDS=${4:-20}
OUT=${5:-$HERE/../build/bench}
rm -rf "$OUT"
mkdir -p "$OUT"
OUT=$(realpath "$OUT")
# which source the binaries were built from, for the report
git -C "$HERE/.." describe --always --dirty >"$OUT/version" 2>/dev/null || echo "?" >"$OUT/version"

"$HERE/hotplug.sh" "$KH" "$FLOOR" "$GUEST" "$ROUNDS" "$OUT"
echo
"$HERE/ganeti.sh" "$GUEST" "$ROUNDS" "$OUT"
echo
"$HERE/buses.sh" "$KH" "$GUEST" "$ROUNDS" "$OUT"
echo
"$HERE/ready.sh" "$KH" "$GUEST" "$ROUNDS"
echo
"$HERE/report.sh" "$OUT"
