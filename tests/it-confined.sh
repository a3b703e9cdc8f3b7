#!/usr/bin/env bash
# Integration tests, a confined QEMU (issue 19): QEMU running as another
# user (-runas nobody) and chrooted into an empty directory (-chroot), as
# Ganeti's security_model and use_chroot run it. Disks it cannot open by
# path go to it as fds (add-fd, /dev/fdset/N, remove-fd), NICs get no
# option ROM it could not load; --fd-pass and the file's fd-pass decide
# otherwise; the tool killed at the new steps.
# Usage: KH=... QMPCMD=... GUEST=... tests/it-confined.sh [TEST...]; it
# runs alone, or tests/integration.sh runs it with the other areas.
set -u
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=tests/lib.sh
. "$HERE/lib.sh"
test_tools

# confined ARGS...: QEMU's options that run it as nobody, and chrooted in
# an empty directory of the test's unless ARGS say "nochroot".
confined() {
	CONFINE=(-runas nobody)
	[ "${1:-}" = nochroot ] && return
	mkdir -p "$T/root"
	CONFINE+=(-chroot "$T/root")
}

# root_image FILE: a raw image only root may open (0600, root's).
root_image() {
	disk_image "$1"
	chmod 600 "$1"
}

# driver_ok ID: the guest's driver has set the device up (virtio status
# DRIVER_OK): the guest uses it.
driver_ok() {
	qmp x-query-virtio-status "{\"path\": \"/machine/peripheral/$1/virtio-backend\"}" |
		grep -q VIRTIO_CONFIG_S_DRIVER_OK
}

# no_fdset_fds: no fd set holds an fd (a set that a node still uses is
# listed with none).
no_fdset_fds() {
	[ "$(qmp query-fdsets | jq '[.[].fds[]] | length')" -eq 0 ] ||
		fail "fd sets hold fds: $(qmp query-fdsets)"
}

# The whole point: QEMU as nobody in an empty root. A root-owned 0600
# image goes to it as an fd and the guest uses the disk; a NIC without
# an option ROM passes packets; both go with the guest acknowledging;
# nothing of ours stays in QEMU's fd sets or fds.
t_chroot_runas_guest() {
	make_netns
	confined
	GUEST_APPEND=kh.ip=192.0.2.2/24 start_guest g "${CONFINE[@]}"
	[ "$(readlink "/proc/$PID/root")" = "$T/root" ] || fail "QEMU is not chrooted"
	grep -q '^Uid:.*65534' "/proc/$PID/status" || fail "QEMU does not run as nobody"
	local fds0
	fds0=$(fd_count)
	root_image "$T/d1.img"
	kh -v -r "$RT" -m "$SOCK" disk add --uuid "$UUID1" --path "$T/d1.img"
	expect_rc 0
	said "the image goes to QEMU as an fd: QEMU runs chrooted in $T/root"
	grep -q '"filename":"/dev/fdset/1004"' "$T/err" || fail "no fd set: $ERR"
	wait_until "$WAIT_LIMIT" "the guest does not use the disk" driver_ok hotdisk-003fc157-pci-4
	no_fdset_fds
	kh -r "$RT" -m "$SOCK" nic add --uuid "$UUID2" --mac "$MAC1" --link br0 --tap kh1
	expect_rc 0
	grep -q "^  rom: 'off'$" "$RT" || fail "the NIC's ROM not recorded: $(cat "$RT")"
	[ "$(qmp qom-get '{"path": "/machine/peripheral/hotnic-1b2c3d4e-pci-5", "property": "romfile"}')" = '""' ] ||
		fail "the NIC has a ROM"
	within "$WAIT_LIMIT" grep -q "KH-GUEST-IP" "$T/g.log"
	wait_until "$WAIT_LIMIT" "no answer from the guest" answers 192.0.2.2
	kh -r "$RT" -m "$SOCK" check
	expect_rc 0
	# a target is made the same: no ROM
	kh -r "$RT" cmdline
	grep -q '"romfile":""' "$T/out" || fail "cmdline: $OUT"
	kh -r "$RT" -m "$SOCK" supported
	expect_out "ok  confinement: QEMU runs as uid 65534, chrooted in $T/root; disks go as fds"
	kh -r "$RT" -m "$SOCK" disk remove --uuid "$UUID1"
	expect_rc 0
	kh -r "$RT" -m "$SOCK" nic remove --uuid "$UUID2"
	expect_rc 0
	[ "$(qmp query-fdsets)" = "[]" ] || fail "fd sets left: $(qmp query-fdsets)"
	[ "$(fd_count)" -eq "$fds0" ] || fail "QEMU holds $(fd_count) fds, $fds0 before"
	no_nic_left kh1 hotnic-1b2c3d4e-pci-5
}

# QEMU as nobody, not chrooted: --fd-pass never is refused by QEMU with
# its permission error and leaves nothing (no node, no fd set, the file
# as it was); auto passes the image; one nobody may read read-only goes
# by path.
t_fd_pass_choice() {
	confined nochroot
	start_vm vm "${CONFINE[@]}"
	root_image "$T/d1.img"
	snapshot before
	kh -r "$RT" -m "$SOCK" disk add --uuid "$UUID1" --path "$T/d1.img" --fd-pass never
	expect_rc 1
	expect_err "Permission denied"
	same_as before
	[ "$(qmp query-fdsets)" = "[]" ] || fail "fd sets left: $(qmp query-fdsets)"
	kh -v -r "$RT" -m "$SOCK" disk add --uuid "$UUID1" --path "$T/d1.img"
	expect_rc 0
	said "the image goes to QEMU as an fd: QEMU runs as uid 65534, which may not open $T/d1.img for writing"
	disk_image "$T/d2.img"
	chmod 644 "$T/d2.img"
	chmod 711 "$T"
	kh -v -r "$RT" -m "$SOCK" disk add --uuid "$UUID2" --path "$T/d2.img" --mode ro
	expect_rc 0
	said "QEMU opens the image by its path: QEMU (uid 65534) may open $T/d2.img itself"
	grep -q "\"filename\":\"$T/d2.img\"" "$T/err" || fail "not by path: $ERR"
	# the file's fd-pass, and --fd-pass over it
	sed -i '1a fd-pass: always' "$RT"
	kh -v -r "$RT" -m "$SOCK" disk add --uuid "$UUID3" --path "$T/d2.img" --mode ro
	expect_rc 0
	said "the image goes to QEMU as an fd: the runtime file's fd-pass says always"
	grep -q '^fd-pass: always$' "$RT" || fail "fd-pass not kept: $(cat "$RT")"
	kh -r "$RT" -m "$SOCK" check
	expect_rc 0
}

# --cache none (O_DIRECT on the fd) and --mode ro through an fd set: QEMU
# has the node as asked, and check agrees. (remove-fd lets go of the fd
# only while the VM runs: the guest runs.)
t_fd_pass_cache_and_mode() {
	confined
	GUEST_APPEND=kh.nomodules start_guest vm "${CONFINE[@]}"
	root_image "$T/d1.img"
	root_image "$T/d2.img"
	kh -r "$RT" -m "$SOCK" disk add --uuid "$UUID1" --path "$T/d1.img" --cache none
	expect_rc 0
	kh -r "$RT" -m "$SOCK" disk add --uuid "$UUID2" --path "$T/d2.img" --mode ro
	expect_rc 0
	qmp query-block | jq -e '[.[] | select(.qdev | test("hotdisk-003fc157")) | .inserted.cache.direct] == [true]' >/dev/null ||
		fail "cache none not direct: $(qmp query-block)"
	qmp query-block | jq -e '[.[] | select(.qdev | test("hotdisk-1b2c3d4e")) | .inserted.ro] == [true]' >/dev/null ||
		fail "mode ro not read-only: $(qmp query-block)"
	kh -r "$RT" -m "$SOCK" check
	expect_rc 0
	no_fdset_fds
}

# A qcow2 image with a backing file cannot go as an fd (QEMU would open
# the backing file by path): exit 3, nothing changed.
t_fd_pass_refuses_backing_file() {
	confined
	start_vm vm "${CONFINE[@]}"
	qemu-img create -q -f qcow2 "$T/base.qcow2" 16M
	qemu-img create -q -f qcow2 -b "$T/base.qcow2" -F qcow2 "$T/top.qcow2"
	snapshot before
	kh -r "$RT" -m "$SOCK" disk add --uuid "$UUID1" --path "$T/top.qcow2" --format qcow2
	expect_rc 3
	expect_err "$T/top.qcow2 has a backing file, which QEMU would open by its path, and it cannot (QEMU runs chrooted in $T/root)"
	same_as before
	# one without goes
	qemu-img create -q -f qcow2 "$T/flat.qcow2" 16M
	kh -r "$RT" -m "$SOCK" disk add --uuid "$UUID1" --path "$T/flat.qcow2" --format qcow2
	expect_rc 0
}

# The tool killed at each step of an add through an fd set (after add-fd,
# after blockdev-add, after remove-fd, ...): check --repair leaves no fd
# set behind and the file and the VM agree.
t_fd_pass_kill_at_every_step() {
	make_netns
	confined
	GUEST_APPEND=kh.nomodules start_guest vm "${CONFINE[@]}"
	root_image "$T/d1.img"
	local p n=0
	for p in add-intent after-add-fd after-blockdev-add after-backend \
		after-device_add before-commit after-commit; do
		KH_FAULT=$p kh -r "$RT" -m "$SOCK" disk add --uuid "$UUID1" --path "$T/d1.img"
		[ "$RC" -eq 137 ] || fail "disk add was not killed at $p (exit $RC)"
		kh -r "$RT" -m "$SOCK" check --repair
		settled "disk add killed at $p"
		no_fdset_fds
		kh -r "$RT" -m "$SOCK" disk remove --uuid "$UUID1"
		[ "$(qmp query-fdsets)" = "[]" ] || fail "fd sets left after $p: $(qmp query-fdsets)"
		n=$((n + 1))
	done
	echo "INFO: $n kill points of an add through an fd set, each settled"
}

# Live migration of a confined VM: the target is started the same way
# (as nobody, chrooted) from the base command line plus cmdline, whose
# paths it can use, since QEMU opens every -blockdev and tap before it
# drops its user and chroots; the NIC has no ROM there either, or the
# migration would not load. The guest runs on at the target, which
# removes both devices. The chrooted source reaches the target's socket
# only inside its own root.
t_chroot_migration() {
	local src dst args
	make_netns
	confined
	GUEST_APPEND=kh.nomodules start_guest src -m 131080k "${CONFINE[@]}"
	src=$SOCK
	root_image "$T/d1.img"
	kh -r "$RT" -m "$src" disk add --uuid "$UUID1" --path "$T/d1.img"
	expect_rc 0
	kh -r "$RT" -m "$src" nic add --uuid "$UUID2" --mac "$MAC1" --link br0 --tap kh1
	expect_rc 0
	kh -r "$RT" cmdline
	expect_rc 0
	mapfile -t args <"$T/out"
	make_netns
	mkdir -p "$T/root2"
	launch_guest dst -m 131080k -runas nobody -chroot "$T/root2" "${args[@]}" \
		-incoming "unix:$T/root/migration.sock"
	dst=$SOCK
	chmod 666 "$T/root/migration.sock"
	in_ns ip link set kh1 master br0 up || fail "target has no tap kh1"
	migrate "$src" "$dst" unix:/migration.sock
	kh -r "$RT" -m "$dst" check
	expect_rc 0
	kh -r "$RT" -m "$dst" disk remove --uuid "$UUID1"
	expect_rc 0
	kh -r "$RT" -m "$dst" nic remove --uuid "$UUID2"
	expect_rc 0
}

# A Ganeti file whose hvparams say use_chroot: its QEMU is chrooted, and
# a NIC goes without a ROM, recorded in its hvinfo (romfile=, which
# Ganeti gives the target and a soft reboot as an option).
t_ganeti_use_chroot() {
	ganeti_file newer
	jq -c '.[1] = [] | .[3] = [] | .[2].use_chroot = true | .[2].security_model = "user"' "$RT" >"$T/x" &&
		mv "$T/x" "$RT"
	make_netns
	confined
	QMP_SOCK=$T/ganeti/ctrl/vm1.qmp start_vm vm1 -name vm1 "${CONFINE[@]}"
	gkh -v nic add --uuid "$UUID2" --mac "$MAC1" --link br0
	expect_rc 0
	said "QEMU runs chrooted: the NIC gets no option ROM"
	jq -e '.[1][0].hvinfo.romfile == ""' "$RT" >/dev/null || fail "hvinfo: $(cat "$RT")"
	root_image "$T/d1.img"
	gkh disk add --uuid "$UUID1" --path "$T/d1.img"
	expect_rc 0
	gkh check
	expect_rc 0
	gkh supported
	expect_out "disks go as fds"
}

run_tests confined "$@"
