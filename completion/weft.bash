# bash completion for weft(8). Install as /usr/share/bash-completion/completions/weft.
# The command list comes from `weft help`, so new commands complete without an
# edit here; per-command arguments are completed by _weft_cmd_<command> functions
# (a command without one completes nothing past its name).

_weft_words() { # WORDS...: offer these words for the current one
	COMPREPLY+=($(compgen -W "$*" -- "${COMP_WORDS[COMP_CWORD]}"))
}

_weft_files() {
	local a
	compopt -o filenames 2>/dev/null
	mapfile -t a < <(compgen -f -- "${COMP_WORDS[COMP_CWORD]}")
	COMPREPLY+=("${a[@]}")
}

_weft_interfaces() { weft show interfaces 2>/dev/null; }

_weft_cmd_show() {
	local i words=() n=0
	# the words typed so far, without --json (it may go anywhere)
	for ((i = 2; i < COMP_CWORD; i++)); do
		[[ ${COMP_WORDS[i]} == --json ]] || words+=("${COMP_WORDS[i]}")
	done
	n=${#words[@]}
	if ((n == 0)); then
		_weft_words "$(_weft_interfaces) all interfaces --json"
	elif ((n == 1)) && [[ ${words[0]} != interfaces ]]; then
		_weft_words "public-key private-key listen-port fwmark peers preshared-keys endpoints" \
			"allowed-ips latest-handshakes transfer persistent-keepalive dump --json"
	fi
}

_weft_cmd_showconf() {
	((COMP_CWORD == 2)) && _weft_words "$(_weft_interfaces)"
	((COMP_CWORD == 3)) && _weft_words "--json"
}

_weft_cmd_setconf() {
	((COMP_CWORD == 2)) && _weft_words "$(_weft_interfaces)"
	((COMP_CWORD == 3)) && _weft_files
}
_weft_cmd_addconf() { _weft_cmd_setconf; }
_weft_cmd_syncconf() { _weft_cmd_setconf; }

_weft_cmd_set() {
	local i in_peer=0 prev=${COMP_WORDS[COMP_CWORD - 1]} seen=" "
	if ((COMP_CWORD == 2)); then
		_weft_words "$(_weft_interfaces)"
		return
	fi
	case $prev in
	private-key | preshared-key) _weft_files; return ;;
	peer) _weft_words "$(weft show "${COMP_WORDS[2]}" peers 2>/dev/null)"; return ;;
	listen-port | fwmark | endpoint | persistent-keepalive | allowed-ips) return ;;
	esac
	# Which keywords were used since the interface, or since the last peer?
	for ((i = 3; i < COMP_CWORD; i++)); do
		case ${COMP_WORDS[i]} in
		peer) in_peer=1; seen=" "; ((i++)) ;;
		remove) seen+="remove " ;;
		*) seen+="${COMP_WORDS[i]} "; ((i++)) ;;
		esac
	done
	local w offer=()
	if ((in_peer)); then
		for w in remove endpoint allowed-ips persistent-keepalive preshared-key; do
			[[ $seen == *" $w "* ]] || offer+=("$w")
		done
	else
		for w in listen-port fwmark private-key; do
			[[ $seen == *" $w "* ]] || offer+=("$w")
		done
	fi
	_weft_words "${offer[*]} peer"
}

_weft_cmd_help() {
	((COMP_CWORD == 2)) && _weft_words "$(weft help 2>/dev/null | awk '/^  [a-z]/ { print $1 }')"
}

_weft() {
	COMPREPLY=()
	if ((COMP_CWORD == 1)); then
		_weft_words "help --version $(weft help 2>/dev/null | awk '/^  [a-z]/ { print $1 }')"
		return
	fi
	local fn=_weft_cmd_${COMP_WORDS[1]}
	[[ $(type -t "$fn") == function ]] && "$fn"
}

complete -F _weft weft
