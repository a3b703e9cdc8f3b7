# shellcheck shell=bash
# Helpers for the tests against a real Ganeti 3.0 cluster (tests/ganeti.sh).
# Source tests/lib.sh first (fail, kh's conventions).
#
# A cluster of 1 or 2 nodes on this machine: node N has its own network,
# mount and UTS namespaces (hostname nodeN.example.test, bridge gnt-br0 at
# 192.0.2.(9+N)/24; two nodes' bridges are joined by a veth pair). The
# namespaces are bound to files in the scratch directory $GNT_DIR (not in
# /run/netns), and in each node's mount namespace per-node directories of
# $GNT_DIR are bind-mounted over /var/lib/ganeti, /var/run/ganeti,
# /var/log/ganeti, /etc/ganeti and /srv/ganeti (tmpfs over /run, /srv and
# /root first, so that nothing is created on the host: /run/lock, /run/sshd
# and ssh's ~/.ssh land there), plus /etc/hosts, /etc/ssh/ssh_config and a
# fresh /sys (Ganeti finds bridges in /sys/class/net). The host's files,
# mounts and interfaces are never changed; gnt_teardown kills every process
# left in the namespaces by PID, unmounts and removes $GNT_DIR.
#
# Needs: GUEST (dir with vmlinux and initramfs.cpio.gz, absolute).
# Optional: GNT_KERNEL_ARGS (extra guest kernel arguments).

GNT_CLUSTER=cluster.example.test
GNT_DIR=
GNT_NODES=0

gnt_node() { echo "node$1.example.test"; }
gnt_ip() { echo "192.0.2.$((9 + $1))"; }

# gnt_ms: milliseconds since the epoch, for the INFO timings.
gnt_ms() { echo $(($(date +%s%N) / 1000000)); }
gnt_secs() { # START_MS: seconds since then, one decimal
	local d=$(($(gnt_ms) - $1))
	printf '%d.%d' $((d / 1000)) $((d % 1000 / 100))
}

# on_node N COMMAND...: runs COMMAND in node N's namespaces (cwd /).
on_node() {
	local n=$1
	shift
	nsenter --net="$GNT_DIR/n$n.net" --mount="$GNT_DIR/n$n.mnt" \
		--uts="$GNT_DIR/n$n.uts" --wd=/ "$@"
}

# gnt N COMMAND...: runs a command on node N; on failure, fails with its
# output. Its output is in $GOUT.
gnt() {
	local n=$1 rc=0
	shift
	GOUT=$(on_node "$n" "$@" 2>&1) || rc=$?
	[ "$rc" -eq 0 ] || fail "on node$n: $* (exit $rc): $GOUT"
}

# gnt_rc N COMMAND...: as gnt, but only sets GRC and GOUT.
gnt_rc() {
	local n=$1
	shift
	GRC=0
	GOUT=$(on_node "$n" "$@" 2>&1) || GRC=$?
}

# kh_on N ARGS...: the tool on node N, as lib.sh's kh: sets RC, OUT and
# ERR, fails on a sanitizer report or a hang.
kh_on() {
	local n=$1
	shift
	RC=0
	on_node "$n" timeout --foreground --verbose -k 10 "$WAIT_LIMIT" "$KH" "$@" \
		>"$T/out" 2>"$T/err" || RC=$?
	OUT=$(cat "$T/out")
	ERR=$(cat "$T/err")
	if grep -q '^timeout: sending signal' "$T/err"; then
		fail "kvm-hotplug $* (node$n) hung: stopped after $WAIT_LIMIT s: $ERR"
	fi
	if grep -q -e 'Sanitizer' -e 'runtime error' "$T/err"; then
		fail "sanitizer report from: kvm-hotplug $* (node$n): $ERR"
	fi
}

# gnt_node_dir N: node N's directories (lib run log etc srv) on the host.
gnt_node_dir() { echo "$GNT_DIR/n$1"; }

# gnt_make_node N: node N's directories and namespaces.
gnt_make_node() {
	local n=$1 d="$GNT_DIR/n$1" f out
	mkdir -p "$d"/{lib,run,log,srv/os/noop,srv/file-storage,srv/shared-file-storage}
	cp -a /etc/ganeti "$d/etc" || fail "cannot copy /etc/ganeti"
	rm -rf "$d/etc/hooks"
	printf '%s\n' /srv/ganeti/file-storage /srv/ganeti/shared-file-storage \
		>"$d/etc/file-storage-paths"
	echo 20 >"$d/srv/os/noop/ganeti_api_version"
	: >"$d/srv/os/noop/parameters.list"
	for f in create export import rename verify; do
		printf '#!/bin/sh\nexit 0\n' >"$d/srv/os/noop/$f"
		chmod 755 "$d/srv/os/noop/$f"
	done
	for f in net mnt uts; do : >"$GNT_DIR/n$n.$f"; done
	# The new namespaces copy the host's mount tree; everything below
	# happens inside them and stays there (private propagation).
	out=$(unshare --net="$GNT_DIR/n$n.net" --mount="$GNT_DIR/n$n.mnt" \
		--uts="$GNT_DIR/n$n.uts" --propagation private sh -euc '
		d=$1 g=$2 n=$3 ip=$4
		ip link set lo up
		ip link add gnt-br0 type bridge
		ip addr add "$ip/24" dev gnt-br0
		ip link set gnt-br0 up
		hostname "node$n.example.test"
		mount -t tmpfs -o mode=755 kh-gnt-run /run
		mkdir -p /run/ganeti /run/lock /run/sshd
		chmod 1777 /run/lock
		mount --bind "$d/run" /run/ganeti
		mount --bind "$d/lib" /var/lib/ganeti
		mount --bind "$d/log" /var/log/ganeti
		mount --bind "$d/etc" /etc/ganeti
		mount -t tmpfs -o mode=755 kh-gnt-srv /srv
		mkdir /srv/ganeti
		mount --bind "$d/srv" /srv/ganeti
		mount --bind "$g/shared" /srv/ganeti/shared-file-storage
		mount -t tmpfs -o mode=700 kh-gnt-root /root
		mount --bind "$g/hosts" /etc/hosts
		mount --bind "$g/ssh/ssh_config" /etc/ssh/ssh_config
		mount -t sysfs sysfs /sys
	' sh "$d" "$GNT_DIR" "$n" "$(gnt_ip "$n")" 2>&1) ||
		fail "cannot make node$n's namespaces: $out"
}

# gnt_link_nodes: a veth pair joining node1's and node2's gnt-br0 (made in
# node1's network namespace, its peer put in node2's by the namespace's
# file, which only the host's mount namespace shows).
gnt_link_nodes() {
	local out
	out=$(nsenter --net="$GNT_DIR/n1.net" ip link add gv1 type veth \
		peer name gv2 netns "$GNT_DIR/n2.net" 2>&1) ||
		fail "cannot make the veth pair: $out"
	gnt 1 ip link set gv1 master gnt-br0 up
	gnt 2 ip link set gv2 master gnt-br0 up
}

# gnt_ssh_setup: node1's root may ssh to node2 (gnt-node add runs
# node-daemon-setup over ssh): an sshd inside node2's namespaces with its
# own host key, trusted in node1's known_hosts under the cluster name.
gnt_ssh_setup() {
	local s="$GNT_DIR/ssh"
	ssh-keygen -q -t ed25519 -N '' -C kh-gnt-host -f "$s/host_key" ||
		fail "ssh-keygen failed"
	cp "$s/id_ed25519.pub" "$s/authorized_keys"
	cat >"$s/sshd_config" <<-EOF
		ListenAddress $(gnt_ip 2)
		HostKey $s/host_key
		AuthorizedKeysFile $s/authorized_keys
		PermitRootLogin prohibit-password
		StrictModes no
		UsePAM no
		PidFile $s/sshd.pid
		LogLevel ERROR
	EOF
	gnt 2 /usr/sbin/sshd -f "$s/sshd_config" -E "$s/sshd.log"
	# sshd returns before it listens; it writes its pid file once it does
	within "$WAIT_LIMIT" test -s "$s/sshd.pid" ||
		fail "sshd on node2 not listening after $WAIT_LIMIT s: $(cat "$s/sshd.log" 2>/dev/null)"
	echo "$GNT_CLUSTER $(cut -d' ' -f1,2 "$s/host_key.pub")" \
		>>"$GNT_DIR/n1/lib/known_hosts"
}

# gnt_serial_logger N INSTANCE: keeps a connection to the instance's serial
# console socket on node N (reconnecting whenever QEMU restarts) and
# appends what the guest prints to $(gnt_serial_log N INSTANCE). Ganeti
# itself keeps no console log (serial_console=true is a unix socket with
# server,nowait; output without a client is lost).
gnt_serial_log() { echo "$GNT_DIR/serial-n$1-$2.log"; }
gnt_serial_logger() {
	local n=$1 i=$2 log
	log=$(gnt_serial_log "$1" "$2")
	: >>"$log"
	on_node "$n" sh -c '
		sock=/var/run/ganeti/kvm-hypervisor/ctrl/$1.serial
		while :; do
			[ -S "$sock" ] && socat -u "UNIX-CONNECT:$sock" - >>"$2" 2>/dev/null
			sleep 0.05
		done' sh "$i" "$log" </dev/null >/dev/null 2>&1 &
}

# gnt_ready_count N INSTANCE: how many times the guest said it was ready.
gnt_ready_count() {
	grep -c KH-GUEST-READY "$(gnt_serial_log "$1" "$2")" 2>/dev/null
}

# gnt_wait_ready N INSTANCE COUNT: waits until the guest on node N has
# printed its ready line more than COUNT times (booted again).
gnt_wait_ready() {
	local n=$1 i=$2 count=$3
	within "$BOOT_LIMIT" gnt_ready_more "$n" "$i" "$count" ||
		fail "guest $i on node$n not ready after $BOOT_LIMIT s: $(tail -c 400 "$(gnt_serial_log "$n" "$i")")"
}

gnt_ready_more() {
	[ "$(gnt_ready_count "$1" "$2")" -gt "$3" ]
}

# cluster_up N: a cluster of N (1 or 2) nodes, node1 its master, the KVM
# hypervisor under TCG with the test guest as kernel, file and sharedfile
# storage, the noop OS; every daemon running. Uses GNT_DIR if set (an
# empty directory made with gnt_scratch, so that a caller that runs this in
# a subshell can still tear down what it made), else makes one.
gnt_scratch() { GNT_DIR=$(mktemp -d /tmp/kh-gnt.XXXXXX) || fail "mktemp failed"; }
cluster_up() {
	local nodes=$1 n t0
	[ -f "$GUEST/vmlinux" ] && [ -f "$GUEST/initramfs.cpio.gz" ] ||
		fail "no test guest in $GUEST (make build/guest/vmlinux)"
	t0=$(gnt_ms)
	[ -n "$GNT_DIR" ] || gnt_scratch
	GNT_NODES=$nodes
	# namespace files need a private mount to be bound to
	mount --bind "$GNT_DIR" "$GNT_DIR" && mount --make-private "$GNT_DIR" ||
		fail "cannot make $GNT_DIR a private mount"
	mkdir -p "$GNT_DIR/shared" "$GNT_DIR/ssh"
	{
		echo "127.0.0.1 localhost"
		for n in $(seq "$nodes"); do
			echo "$(gnt_ip "$n") $(gnt_node "$n") node$n"
		done
		echo "192.0.2.100 $GNT_CLUSTER cluster"
	} >"$GNT_DIR/hosts"
	ssh-keygen -q -t ed25519 -N '' -C kh-gnt-client -f "$GNT_DIR/ssh/id_ed25519" ||
		fail "ssh-keygen failed"
	cat >"$GNT_DIR/ssh/ssh_config" <<-EOF
		Host *
		    IdentityFile $GNT_DIR/ssh/id_ed25519
		    IdentitiesOnly yes
		    LogLevel ERROR
	EOF
	for n in $(seq "$nodes"); do gnt_make_node "$n"; done
	[ "$nodes" -lt 2 ] || gnt_link_nodes
	# kvm_extra: guest RAM that is not a multiple of 256 KiB (128 MiB +
	# 8 KiB, set after Ganeti's -m by a config file: Ganeti reads every
	# -m value back as whole MiB). With whole MiB, QEMU 7.2 under TCG
	# sometimes completes a live migration with guest pages stale on the
	# target (docs/design.md, "Testing against Ganeti itself").
	printf '[memory]\n  size = "131080k"\n' >"$GNT_DIR/guest-memory.cfg"
	gnt 1 gnt-cluster init --no-ssh-init --no-etc-hosts \
		--master-netdev gnt-br0 --master-netmask 24 \
		--enabled-hypervisors kvm \
		--enabled-disk-templates diskless,file,sharedfile,blockdev \
		--file-storage-dir /srv/ganeti/file-storage \
		--shared-file-storage-dir /srv/ganeti/shared-file-storage \
		--nic-parameters mode=bridged,link=gnt-br0 \
		-H "kvm:kvm_flag=disabled,kvm_path=/usr/bin/qemu-system-x86_64,kernel_path=$GUEST/vmlinux,initrd_path=$GUEST/initramfs.cpio.gz,kernel_args=console=ttyS0 quiet panic=-1${GNT_KERNEL_ARGS:+ $GNT_KERNEL_ARGS},serial_console=true,use_chroot=false,security_model=none,vnc_bind_address=,kvm_extra=-readconfig $GNT_DIR/guest-memory.cfg" \
		"$GNT_CLUSTER"
	gnt 1 gnt-cluster modify --ipolicy-bounds-specs \
		min:disk-size=1,cpu-count=1,disk-count=1,memory-size=32,nic-count=1,spindle-use=1/max:disk-size=1048576,cpu-count=8,disk-count=16,memory-size=32768,nic-count=8,spindle-use=12
	if [ "$nodes" -ge 2 ]; then
		gnt_ssh_setup
		gnt 1 gnt-node add --no-ssh-key-check "$(gnt_node 2)"
	fi
	for n in $(seq "$nodes"); do gnt_serial_logger "$n" inst1; done
	echo "INFO: $nodes-node cluster up in $(gnt_secs "$t0") s"
}

# gnt_instance_add NAME TEMPLATE [NODE]: an instance of the test guest
# with one disk and one NIC on gnt-br0, started, its guest booted.
gnt_instance_add() {
	local name=$1 template=$2 node=${3:-1} t0 c
	t0=$(gnt_ms)
	gnt 1 gnt-instance add -t "$template" --disk 0:size=32M -o noop \
		--no-install --no-start --no-name-check --no-ip-check \
		--net 0:link=gnt-br0 -B memory=128M -n "$(gnt_node "$node")" "$name"
	c=$(gnt_ready_count "$node" "$name")
	gnt 1 gnt-instance start "$name"
	gnt_wait_ready "$node" "$name" "$c"
	echo "INFO: instance $name ($template) added, started and booted in $(gnt_secs "$t0") s"
}

# gnt_ns_pids: every process in one of the cluster's namespaces.
gnt_ns_pids() {
	local n ids=() p id
	for n in $(seq "$GNT_NODES"); do
		for id in net mnt uts; do
			[ -e "$GNT_DIR/n$n.$id" ] || continue
			ids+=("$id:[$(stat -L -c %i "$GNT_DIR/n$n.$id" 2>/dev/null)]")
		done
	done
	[ ${#ids[@]} -gt 0 ] || return 0
	for p in /proc/[0-9]*; do
		for id in net mnt uts; do
			case " ${ids[*]} " in
			*" $(readlink "$p/ns/$id" 2>/dev/null) "*)
				echo "${p#/proc/}"
				break ;;
			esac
		done
	done
}

gnt_ns_empty() { [ -z "$(gnt_ns_pids)" ]; }

# gnt_teardown: kills every process left in the namespaces (by PID: TERM,
# then KILL), unmounts the namespace files and the scratch directory and
# removes it. Safe to call more than once and after a partial setup.
gnt_teardown() {
	[ -n "$GNT_DIR" ] && [ -d "$GNT_DIR" ] || return 0
	local t0 pids n f
	t0=$(gnt_ms)
	pids=$(gnt_ns_pids)
	if [ -n "$pids" ]; then
		# shellcheck disable=SC2086
		kill -TERM $pids 2>/dev/null
		# (5 s for SIGTERM is no bound on anything tested: what is left
		# then is killed)
		within 5 gnt_ns_empty
		pids=$(gnt_ns_pids)
		# shellcheck disable=SC2086
		[ -z "$pids" ] || kill -KILL $pids 2>/dev/null
		within "$WAIT_LIMIT" gnt_ns_empty
	fi
	pids=$(gnt_ns_pids)
	[ -z "$pids" ] || echo "FAIL: processes left in the cluster's namespaces: $pids" >&2
	for n in $(seq "$GNT_NODES"); do
		for f in mnt uts net; do
			umount "$GNT_DIR/n$n.$f" 2>/dev/null
		done
	done
	# anything else still mounted below the scratch directory, deepest first
	awk -v t="$GNT_DIR/" 'index($2, t) == 1 { print $2 }' /proc/mounts | sort -r |
		while read -r f; do umount "$f" || echo "FAIL: cannot unmount $f" >&2; done
	! mountpoint -q "$GNT_DIR" || umount "$GNT_DIR" ||
		echo "FAIL: cannot unmount $GNT_DIR" >&2
	rm -rf "$GNT_DIR"
	echo "INFO: teardown in $(gnt_secs "$t0") s"
	GNT_DIR=
	GNT_NODES=0
}

# gnt_host_state: what a cluster could leave behind on the host (Ganeti's
# directories, ssh's ~/.ssh, Ganeti's locks, mounts, bridges and veths,
# scratch directories), to compare before and after.
gnt_host_state() {
	local d
	for d in /var/lib/ganeti /run/ganeti /etc/ganeti /var/log/ganeti /srv /root/.ssh; do
		[ -e "$d" ] || { echo "absent $d"; continue; }
		find "$d" -maxdepth 3 -printf '%p %y %m %s\n' 2>/dev/null | sort
	done
	find /run/lock -maxdepth 1 -name '*ganeti*' 2>/dev/null | sort
	awk '$2 ~ /^\/(tmp\/kh-gnt|run\/ganeti|var\/lib\/ganeti|etc\/ganeti|var\/log\/ganeti|srv|root|etc\/hosts|etc\/ssh|sys$)/ { print "mount", $1, $2 }' /proc/mounts | sort
	ip -o link show | awk -F': ' '$2 ~ /^(gnt-br0|gv[12])/ { print "link", $2 }'
	ls -d /tmp/kh-gnt.* 2>/dev/null | sed 's/^/scratch /'
}
