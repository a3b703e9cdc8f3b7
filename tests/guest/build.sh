#!/bin/bash
# Build the tiny Linux guest used by the integration tests:
#   OUTDIR/vmlinux             uncompressed ELF kernel (QEMU boots it via PVH)
#   OUTDIR/initramfs.cpio.gz   busybox + virtio modules + tests/guest/init
# from Debian's own kernel and busybox-static packages (apt-get download,
# dpkg -x into a temp dir; nothing is installed into the host's /boot).
#
# Usage: tests/guest/build.sh OUTDIR
# Does nothing if both outputs are newer than this script and init.
set -euo pipefail

if [ $# -ne 1 ]; then
    echo "usage: $0 OUTDIR" >&2
    exit 2
fi
outdir=$(realpath -m "$1")
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
init_src=$here/init
vmlinux=$outdir/vmlinux
initramfs=$outdir/initramfs.cpio.gz

# Modules copied into the initramfs, in load order (init loads them).
modules="virtio_ring virtio virtio_pci_legacy_dev virtio_pci_modern_dev
virtio_pci virtio_blk failover net_failover virtio_net"

up_to_date() {
    local out src
    for out in "$vmlinux" "$initramfs"; do
        [ -f "$out" ] || return 1
        for src in "$here/build.sh" "$init_src"; do
            [ "$out" -nt "$src" ] || return 1
        done
    done
}

if up_to_date; then
    exit 0
fi

die() {
    echo "build.sh: $*" >&2
    exit 1
}

[ -f "$init_src" ] || die "missing $init_src"
start=$SECONDS

export DEBIAN_FRONTEND=noninteractive
apt_opts=(-q -o DPkg::Lock::Timeout=600)
lists_updated=no

# Run an apt command; on failure run apt-get update once and retry.
apt_retry() {
    if "$@"; then
        return 0
    fi
    [ "$lists_updated" = no ] || return 1
    echo "build.sh: '$*' failed, running apt-get update and retrying" >&2
    apt-get "${apt_opts[@]}" update >&2 || return 1
    lists_updated=yes
    "$@"
}

# Host tools: cpio and xz (gzip, dpkg, apt are essential in Debian).
missing=()
for pkg in cpio xz-utils; do
    dpkg -s "$pkg" >/dev/null 2>&1 || missing+=("$pkg")
done
if [ ${#missing[@]} -gt 0 ]; then
    [ "$(id -u)" -eq 0 ] || die "need root to install: ${missing[*]}"
    apt_retry apt-get "${apt_opts[@]}" install -y --no-install-recommends "${missing[@]}" >&2 \
        || die "cannot install ${missing[*]}"
fi

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
trap 'exit 130' INT   # so that the EXIT trap runs on signals too
trap 'exit 143' TERM
trap 'exit 129' HUP
# Let apt's sandbox user (_apt) write the downloads into the temp dir.
chown _apt "$tmp" 2>/dev/null || chmod 755 "$tmp"

# The concrete kernel package behind the linux-image-amd64 metapackage.
kernel_pkg() {
    apt-cache depends linux-image-amd64 2>/dev/null \
        | awk '$1 == "Depends:" && $2 ~ /^linux-image-/ { print $2; exit }' \
        | grep . >"$tmp/kpkg"
}
apt_retry kernel_pkg || die "cannot resolve linux-image-amd64's kernel package"
kpkg=$(cat "$tmp/kpkg")

cd "$tmp"   # apt-get download writes to the current directory
apt_retry apt-get "${apt_opts[@]}" download "$kpkg" busybox-static >&2 \
    || die "apt-get download $kpkg busybox-static failed"
for deb in "$tmp"/*.deb; do
    dpkg -x "$deb" "$tmp/pkg"
done

# --- vmlinux: the xz payload of vmlinuz, decompressed ------------------------
vmlinuz=$(find "$tmp/pkg/boot" -name 'vmlinuz-*' | head -n 1)
[ -n "$vmlinuz" ] || die "no vmlinuz in $kpkg"
elf_magic=$(printf '\177ELF')
found=no
# Offsets (0-based) of every xz magic FD 37 7A 58 5A 00; try each in turn.
while read -r off; do
    tail -c +"$((off + 1))" "$vmlinuz" | xz -dc --single-stream >"$tmp/vmlinux" 2>/dev/null || true
    if [ "$(head -c 4 "$tmp/vmlinux")" = "$elf_magic" ]; then
        found=yes
        break
    fi
done < <(LC_ALL=C grep -obUaP '\xFD7zXZ\x00' "$vmlinuz" | cut -d: -f1)
[ "$found" = yes ] || die "no xz-compressed ELF kernel found in $vmlinuz"

# --- initramfs ----------------------------------------------------------------
root=$tmp/root
mkdir -p "$root"/{bin,sbin,usr/bin,usr/sbin,dev,proc,sys,tmp,lib/modules}
cp "$tmp/pkg/bin/busybox" "$root/bin/busybox"
# One symlink per applet (paths like /sbin/insmod, /usr/bin/env).
for applet in $("$root/bin/busybox" --list-full); do
    [ -e "$root/$applet" ] || ln -s /bin/busybox "$root/$applet"
done
install -m 755 "$init_src" "$root/init"

moddir=$(find "$tmp/pkg" -path '*/modules/*' -name kernel -type d | head -n 1)
[ -n "$moddir" ] || die "no kernel modules directory in $kpkg"
for m in $modules; do
    f=$(find "$moddir" \( -name "$m.ko" -o -name "$m.ko.xz" \) | head -n 1)
    if [ -z "$f" ]; then
        echo "build.sh: note: module $m not found (built in?)" >&2
        continue
    fi
    case $f in
        *.xz) xz -dc "$f" >"$root/lib/modules/$m.ko" ;;
        *) cp "$f" "$root/lib/modules/$m.ko" ;;
    esac
done

(cd "$root" && find . -mindepth 1 | LC_ALL=C sort | cpio --quiet -o -H newc -R 0:0) \
    | gzip -9n >"$tmp/initramfs.cpio.gz"

# --- install outputs (rename, so an interrupted build leaves no fresh output) -
mkdir -p "$outdir"
mv -f "$tmp/vmlinux" "$vmlinux.tmp.$$"
mv -f "$vmlinux.tmp.$$" "$vmlinux"
mv -f "$tmp/initramfs.cpio.gz" "$initramfs.tmp.$$"
mv -f "$initramfs.tmp.$$" "$initramfs"

size() { du -h --apparent-size "$1" | cut -f1; }
echo "built $vmlinux ($(size "$vmlinux")) and $initramfs ($(size "$initramfs")) from $kpkg in $((SECONDS - start)) s"
