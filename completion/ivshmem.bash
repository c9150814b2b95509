# bash completion for ivshmem(1)                              -*- shell-script -*-
#
# Commands, subcommands and options come from the program's own --help
# (ivshmem --help, ivshmem COMMAND --help), so they cannot drift from it; an
# option's values from its usage too ("--mode lossless|latest"), or from
# what its placeholder names (USER, GROUP, FILE, DIR, DEV...).  DEV: auto,
# the IVSHMEM PCI devices under sysfs, file: with file names, server: and
# daemon: with socket paths.  A channel or topic NAME: what `ivshmem chan
# list DEV` shows.
#
# Works with or without the bash-completion package: it reads the words
# from COMP_LINE itself, so "file:/x" stays one word whatever
# COMP_WORDBREAKS holds.

# _ivshmem_add CUR <WORDS: add to COMPREPLY each line of stdin that starts
# with CUR, quoted for the command line.  Not compgen -W, which expands its
# word list: channel and topic names come from shared memory that another
# VM may write, and a name like $(cmd) must stay a name
_ivshmem_add() {
	local cur=$1 w
	while IFS= read -r w; do
		[[ -n $w && $w == "$cur"* ]] && COMPREPLY+=("$(printf '%q' "$w")")
	done
	return 0
}

# CLI [COMMAND]: its usage text (cached for the last one asked)
_ivshmem_usage() {
	local key="$1 ${2:-}"
	if [[ $key != "${_ivshmem_usage_key:-}" ]]; then
		_ivshmem_usage_key=$key
		_ivshmem_usage_text=$("$1" ${2:+"$2"} --help 2>/dev/null)
	fi
	printf '%s\n' "$_ivshmem_usage_text"
}

# DEV: auto, IVSHMEM PCI addresses, and the kinds with a path after them
_ivshmem_devs() {
	local cur=$1 d
	case $cur in
	file:* | server:* | daemon:*)
		_ivshmem_paths "${cur%%:*}:" "${cur#*:}"
		return
		;;
	esac
	local sys=${IVSHMEM_SYSFS_ROOT:-/sys}/bus/pci/devices
	local devs=(auto)
	for d in "$sys"/*; do
		[[ -r $d/vendor && -r $d/device ]] || continue
		[[ $(<"$d/vendor") == 0x1af4 && $(<"$d/device") == 0x1110 ]] && devs+=("${d##*/}")
	done
	_ivshmem_add "$cur" < <(printf '%s\n' "${devs[@]}" file: server: daemon:)
	[[ ${#COMPREPLY[@]} -eq 1 && ${COMPREPLY[0]} == *: ]] && compopt -o nospace 2>/dev/null
}

# PREFIX PATH: files and directories (with a /) under PATH, after PREFIX
_ivshmem_paths() {
	local prefix=$1 path=$2 f
	local IFS=$'\n'
	for f in $(compgen -f -- "$path"); do
		[[ -d $f ]] && f=$f/
		COMPREPLY+=("$prefix$f")
	done
	compopt -o nospace -o filenames 2>/dev/null
	[[ ${#COMPREPLY[@]} -eq 1 && ${COMPREPLY[0]} != */ ]] && compopt +o nospace 2>/dev/null
	return 0
}

# the channels and topics of DEV
_ivshmem_names() {
	local cli=$1 dev=$2 cur=$3
	# NAME KIND OFFSET RING MAX-MSG: the name is what is left of a line
	# without its last four columns (it may hold blanks)
	_ivshmem_add "$cur" < <("$cli" chan list "$dev" 2>/dev/null |
		sed -n '2,$s/ \{1,\}[a-z]\{1,\} \{1,\}[0-9]\{1,\} \{1,\}[0-9]\{1,\} \{1,\}[0-9]\{1,\} *$//p')
}

# the values of option OPT ("" if it takes none), from the usage: its
# choices, or the kind its placeholder names
_ivshmem_values() {
	local opt=$1 cur=$2 usage=$3 arg
	arg=$(grep -oE -- "(^|[][ |])$opt [^] |.]+(\|[^] |.]+)*" <<<"$usage" | head -n 1 | sed 's/.* //')
	[[ -n $arg ]] || return 1
	case $arg in
	*'|'*) _ivshmem_add "$cur" <<<"${arg//|/$'\n'}" ;;
	USER) COMPREPLY+=($(compgen -u -- "$cur")) ;;
	GROUP) COMPREPLY+=($(compgen -g -- "$cur")) ;;
	DIR) COMPREPLY+=($(compgen -d -- "$cur")); compopt -o filenames 2>/dev/null ;;
	FILE | PATH | SOCKET | PIDFILE) _ivshmem_paths "" "$cur" ;;
	DEV) _ivshmem_devs "$cur" ;;
	esac
	return 0
}

_ivshmem() {
	COMPREPLY=()
	local line=${COMP_LINE:0:COMP_POINT}
	local -a w
	read -r -a w <<<"$line"
	[[ $line == *[[:space:]] || ${#w[@]} -eq 0 ]] && w+=("")
	local cli=${w[0]} cur=${w[-1]} n=$((${#w[@]} - 1))
	[[ $cli == */* || -z $cli ]] || cli=$(type -P "$cli" 2>/dev/null || echo "$cli")
	local cmd=${w[1]:-} i

	if ((n == 1)); then
		_ivshmem_add "$cur" < <(_ivshmem_usage "$cli" | sed -n '/^commands:/,/^$/s/^  \([a-z][a-z]*\) .*/\1/p'
			printf '%s\n' --help --version)
		_ivshmem_trim "$cur"
		return
	fi
	local usage common
	usage=$(_ivshmem_usage "$cli" "$cmd")
	common=$(_ivshmem_usage "$cli" | sed -n 's/^common options: //p')

	# the value of the option before (the common options first: their
	# line spells out the choices a command's usage writes as B or C)
	local prev=${w[n - 1]}
	if [[ $prev == -* ]] && _ivshmem_values "$prev" "$cur" "$common"$'\n'"$usage"; then
		_ivshmem_trim "$cur"
		return
	fi
	if [[ $cur == -* ]]; then
		local opts
		opts=$(grep -oE -- '(^|[][ |])--?[A-Za-z][A-Za-z0-9-]*' <<<"$usage"$'\n'"$common" | sed 's/^[][ |]//' | sort -u)
		_ivshmem_add "$cur" < <(printf '%s\n' $opts --help)
		return
	fi

	# operands: the words so far that are not options or their values
	local -a ops=()
	for ((i = 2; i < n; i++)); do
		if [[ ${w[i]} == -* ]]; then
			grep -qE -- "(^|[][ |])${w[i]} [^] |]" <<<"$usage"$'\n'"$common" && ((i++))
			continue
		fi
		ops+=("${w[i]}")
	done
	local k=${#ops[@]}
	case $cmd in
	chan | topic | bench)
		if ((k == 0)); then
			_ivshmem_add "$cur" < <(grep -oE "(^|[ |])$cmd [a-z]+( |\$)" <<<"$usage" | awk '{ print $2 }' | sort -u)
		elif ((k == 1)) && [[ $cmd != bench ]]; then
			_ivshmem_devs "$cur"
		elif ((k == 2)) && [[ $cmd != bench && ${ops[0]} != init && ${ops[0]} != list && ${ops[0]} != create ]]; then
			_ivshmem_names "$cli" "${ops[1]}" "$cur"
		fi
		;;
	list | server) ;;
	peers) ((k == 0)) && _ivshmem_devs "$cur" ;;
	bind)
		if ((k == 0)); then
			_ivshmem_devs "$cur"
		elif ((k == 1)); then
			local drv=${IVSHMEM_SYSFS_ROOT:-/sys}/bus/pci/drivers
			_ivshmem_add "$cur" < <({ echo vfio-pci; ls "$drv" 2>/dev/null; } | sort -u)
		fi
		;;
	*) ((k == 0)) && _ivshmem_devs "$cur" ;;
	esac
	_ivshmem_trim "$cur"
}

# Bash replaces only the part of the word after the last character of
# COMP_WORDBREAKS (":" by default): drop what it keeps from each reply
_ivshmem_trim() {
	local cur=$1 i
	[[ $cur == *:* && $COMP_WORDBREAKS == *:* ]] || return 0
	local keep=${cur%"${cur##*:}"}
	for i in "${!COMPREPLY[@]}"; do
		COMPREPLY[i]=${COMPREPLY[i]#"$keep"}
	done
}

complete -F _ivshmem ivshmem
