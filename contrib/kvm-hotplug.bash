# bash completion for kvm-hotplug(8): objects, verbs, options, their
# values, and for remove and modify the UUIDs recorded in the runtime file
# given with -r (or --instance). Plain bash: no bash-completion helpers.

# The UUIDs of KIND's devices in runtime FILE (native or Ganeti).
_kvm_hotplug_uuids()
{
	local kind=$1 file=$2
	[ -r "$file" ] || return
	if [ "$(head -c 1 "$file")" = "[" ]; then
		# Ganeti: [kvm_cmd, nics, hvparams, disks]; a disk is [entry, path, ...]
		if command -v jq >/dev/null 2>&1; then
			if [ "$kind" = nic ]; then
				jq -r '.[1][]?.uuid // empty' "$file" 2>/dev/null
			else
				jq -r '.[3][]?[0].uuid // empty' "$file" 2>/dev/null
			fi
		fi
	else
		awk -v kind="$kind" '
			/^[-[:space:]]*kind:/ { k = $NF }
			/^[-[:space:]]*uuid:/ && k == kind { print $NF }' "$file"
	fi
}

_kvm_hotplug()
{
	local cur=${COMP_WORDS[COMP_CWORD]} prev=${COMP_WORDS[COMP_CWORD - 1]}
	local i w object= verb= runtime= instance= gdir=/var/run/ganeti/kvm-hypervisor
	local global="-r --runtime -m --monitor -i --instance --ganeti-dir -t --timeout
		-j --json -q --quiet -v --verbose -n --dry-run -h --help -V --version"
	local opts=

	COMPREPLY=()
	for ((i = 1; i < COMP_CWORD; i++)); do
		w=${COMP_WORDS[i]}
		case $w in
		-r | --runtime) runtime=${COMP_WORDS[i + 1]}; i=$((i + 1)); continue ;;
		-i | --instance) instance=${COMP_WORDS[i + 1]}; i=$((i + 1)); continue ;;
		--ganeti-dir) gdir=${COMP_WORDS[i + 1]}; i=$((i + 1)); continue ;;
		-m | --monitor | -t | --timeout) i=$((i + 1)); continue ;;
		-*) continue ;;
		esac
		if [ -z "$object" ]; then
			object=$w
		elif [ -z "$verb" ] && { [ "$object" = disk ] || [ "$object" = nic ]; }; then
			verb=$w
		fi
	done
	[ -z "$runtime" ] && [ -n "$instance" ] && runtime=$gdir/conf/$instance.runtime

	case $prev in
	-r | --runtime | -m | --monitor | --path | --from | --script | --ganeti-dir)
		COMPREPLY=($(compgen -f -- "$cur")); return ;;
	-t | --timeout | -i | --instance | --name | --mac | --link | --tap | --queues | --slot | --bus)
		return ;;
	--cache) COMPREPLY=($(compgen -W "default none writeback writethrough unsafe" -- "$cur")); return ;;
	--discard) COMPREPLY=($(compgen -W "ignore unmap" -- "$cur")); return ;;
	--vhost) COMPREPLY=($(compgen -W "on off auto" -- "$cur")); return ;;
	--fd-pass) COMPREPLY=($(compgen -W "auto always never" -- "$cur")); return ;;
	--wait) COMPREPLY=($(compgen -W "plugged ready" -- "$cur")); return ;;
	--dev-type) COMPREPLY=($(compgen -W "plain drbd file sharedfile blockdev rbd ext gluster" -- "$cur")); return ;;
	--mode)
		if [ "$object" = nic ]; then
			COMPREPLY=($(compgen -W "bridged routed openvswitch" -- "$cur"))
		else
			COMPREPLY=($(compgen -W "rw ro" -- "$cur"))
		fi
		return ;;
	--format)
		if [ "$object" = cmdline ]; then
			COMPREPLY=($(compgen -W "lines shell json" -- "$cur"))
		else
			COMPREPLY=($(compgen -W "raw qcow2" -- "$cur"))
		fi
		return ;;
	--uuid)
		if [ "$verb" = remove ] || [ "$verb" = modify ]; then
			COMPREPLY=($(compgen -W "$(_kvm_hotplug_uuids "$object" "$runtime")" -- "$cur"))
		fi
		return ;;
	esac

	if [ -z "$object" ]; then
		if [[ $cur == -* ]]; then
			COMPREPLY=($(compgen -W "$global" -- "$cur"))
		else
			COMPREPLY=($(compgen -W "disk nic list check cmdline sync supported" -- "$cur"))
		fi
		return
	fi
	case $object/$verb in
	disk/) COMPREPLY=($(compgen -W "add remove" -- "$cur")); return ;;
	nic/) COMPREPLY=($(compgen -W "add remove modify" -- "$cur")); return ;;
	disk/add) opts="--uuid --path --format --cache --mode --discard --name --bus --slot
		--fd-pass --wait --dev-type --dry-run" ;;
	nic/add) opts="--uuid --mac --link --mode --script --tap --queues --vhost --name
		--bus --slot --wait --dry-run" ;;
	nic/modify) opts="--uuid --mac --link --mode --script --tap --queues --vhost
		--name --wait --dry-run" ;;
	*/remove) opts="--uuid --dry-run" ;;
	check/) opts="--repair --dry-run" ;;
	cmdline/) opts="--format" ;;
	sync/) opts="--prune --from --again --wait --dry-run" ;;
	supported/)
		[[ $cur == -* ]] || { COMPREPLY=($(compgen -W "disk nic" -- "$cur")); return; } ;;
	esac
	COMPREPLY=($(compgen -W "$opts --help" -- "$cur"))
}

complete -F _kvm_hotplug kvm-hotplug
