#!/usr/bin/env bash
# make deb-check: the Debian package built from a copy of the tree with
# dpkg-buildpackage -us -uc -b, lintian without errors or warnings (at
# --pedantic), installed with dpkg -i, the installed tool and its man page
# run, and purged again, nothing of it left. As root, on a machine where
# no kvm-hotplug package is installed already (it would be purged).
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
fail() { echo "deb-check: FAIL: $*" >&2; exit 1; }

[ "$(id -u)" -eq 0 ] || fail "needs root (dpkg -i)"
if dpkg -s kvm-hotplug >/dev/null 2>&1; then
	fail "a kvm-hotplug package is installed here already; deb-check would purge it"
fi
version=$(dpkg-parsechangelog -l "$ROOT/debian/changelog" -S Version)
T=$(mktemp -d /tmp/kh-deb.XXXXXX)
trap 'dpkg --purge kvm-hotplug >/dev/null 2>&1 || true; rm -rf "$T"' EXIT
src=$T/kvm-hotplug-$version
mkdir "$src"
# the tree as it is, without what a build made
tar -C "$ROOT" --exclude=./build --exclude=./kvm-hotplug --exclude=./.git \
	--exclude=./bench/qmp-floor -cf - . | tar -C "$src" -xf -
(cd "$src" && dpkg-buildpackage -us -uc -b >"$T/build.log" 2>&1) ||
	fail "dpkg-buildpackage: $(tail -20 "$T/build.log")"
deb=$T/kvm-hotplug_${version}_$(dpkg --print-architecture).deb
[ -f "$deb" ] || fail "no $deb"
lintian --pedantic --fail-on error,warning "$T"/kvm-hotplug_*.changes >"$T/lintian" 2>&1 ||
	fail "lintian: $(grep -v 'root privileges' "$T/lintian")"
dpkg -i "$deb" >"$T/dpkg.log" 2>&1 || fail "dpkg -i: $(cat "$T/dpkg.log")"
/usr/sbin/kvm-hotplug --version | grep -qx "kvm-hotplug $version" ||
	fail "the installed kvm-hotplug --version: $(/usr/sbin/kvm-hotplug --version)"
MANPAGER=cat man kvm-hotplug 2>&1 | grep -q "kvm-hotplug .*hot-add" || fail "man kvm-hotplug"
MANPAGER=cat man 5 kvm-hotplug-runtime 2>&1 | grep -q "instance runtime file" ||
	fail "man 5 kvm-hotplug-runtime"
[ -f /usr/share/bash-completion/completions/kvm-hotplug ] || fail "no bash completion"
grep -q '^exec /usr/sbin/kvm-hotplug' /usr/share/doc/kvm-hotplug/examples/instance-modify-post ||
	fail "the example hook does not run /usr/sbin/kvm-hotplug"
files=$(dpkg -L kvm-hotplug | while read -r f; do [ -f "$f" ] && echo "$f"; done)
dpkg --purge kvm-hotplug >"$T/dpkg.log" 2>&1 || fail "dpkg --purge: $(cat "$T/dpkg.log")"
for f in $files; do
	[ ! -e "$f" ] || fail "$f left after the purge"
done
echo "deb-check: kvm-hotplug $version built, lintian clean, installed, run, purged"
