#!/usr/bin/env bash
# Integration tests: kvm-hotplug against real qemu-system-x86_64 (TCG),
# with the tiny guest where the guest must acknowledge an unplug. The
# tests live in one file per area, each runnable alone (tests/it-*.sh);
# this runs all of them, or the named ones wherever they live.
# Usage: KH=... QMPCMD=... GUEST=... tests/integration.sh [TEST...]
set -u
HERE=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=tests/lib.sh
. "$HERE/lib.sh"
test_tools

# the areas' tests and helpers, defined but not run (see run_tests)
KH_IT_SOURCING=1
# shellcheck source=tests/it-disk.sh
. "$HERE/it-disk.sh"
# shellcheck source=tests/it-nic.sh
. "$HERE/it-nic.sh"
# shellcheck source=tests/it-ganeti.sh
. "$HERE/it-ganeti.sh"
# shellcheck source=tests/it-reliability.sh
. "$HERE/it-reliability.sh"
# shellcheck source=tests/it-usage.sh
. "$HERE/it-usage.sh"
# shellcheck source=tests/it-plan.sh
. "$HERE/it-plan.sh"
# shellcheck source=tests/it-bus.sh
. "$HERE/it-bus.sh"
# shellcheck source=tests/it-confined.sh
. "$HERE/it-confined.sh"
# shellcheck source=tests/it-ready.sh
. "$HERE/it-ready.sh"
KH_IT_SOURCING=

run_tests integration "$@"
