# bash completion for weft(8). Install as /usr/share/bash-completion/completions/weft.
# The command list and, for commands without a function of their own, the
# subcommands, options and arguments come from the usage line `weft help CMD`
# prints, so new commands and options complete without an edit here:
#   { add <interface> [--name <name>] [--qr-png <file>] | remove <interface> <name|public key> }
# gives subcommands add and remove, their options, and for each <...> slot:
# interface names, peer names (a <name> or <name|...> slot), files
# (<file>, <config file>), or the listed values (--endpoint-type ipv4|ipv6).
# Commands whose grammar is not of that shape have _weft_cmd_<command> below.

_weft_cur() { printf '%s' "${COMP_WORDS[COMP_CWORD]}"; }

_weft_words() { # WORDS...: offer these words for the current one
	local IFS=$' \t\n'
	COMPREPLY+=($(compgen -W "$*" -- "$(_weft_cur)"))
}

_weft_files() { # [GLOB]: file names, or only those matching GLOB (and directories)
	local a
	compopt -o filenames 2>/dev/null
	if [[ -n ${1:-} ]]; then
		mapfile -t a < <(compgen -f -X "!$1" -- "$(_weft_cur)"; compgen -d -- "$(_weft_cur)")
	else
		mapfile -t a < <(compgen -f -- "$(_weft_cur)")
	fi
	COMPREPLY+=("${a[@]}")
}

# Interfaces that run now (kernel or userspace).
_weft_running() { weft show interfaces 2>/dev/null; }

# Interfaces that have a config file: WEFT_CONFIG_DIR, else /etc/weft and
# /etc/wireguard (those readable by this user).
_weft_configured() {
	local d f
	for d in ${WEFT_CONFIG_DIR:-/etc/weft /etc/wireguard}; do
		for f in "$d"/*.conf; do
			[[ -f $f ]] || continue
			f=${f##*/}
			printf '%s\n' "${f%.conf}"
		done
	done
}

_weft_interfaces() { { _weft_running; _weft_configured; } | sort -u; }

# Peer names of interface $1, from `weft peer list IFACE --json`.
_weft_peer_names() {
	[[ -n ${1:-} ]] || return
	weft peer list "$1" --json 2>/dev/null |
		sed -n 's/^ *"name": *"\(\([^"\\]\|\\.\)*\)",\{0,1\}$/\1/p'
}

# Server names of the default network (wg-serve.chain), from `weft status --json`:
# a "name" line followed by its "kind": "server" line.
_weft_chain_servers() {
	weft status --json 2>/dev/null |
		sed -n 's/^ *"\(name\|kind\)": *"\([^"]*\)",\{0,1\}$/\1 \2/p' |
		awk '$1 == "name" { n = $2 } $1 == "kind" && $2 == "server" { print n }'
}

# ---- usage-driven completion ----

# The usage grammar of CMD on one line, without "Usage: weft CMD".
declare -gA _weft_usage_cache
_weft_usage() {
	if [[ -z ${_weft_usage_cache[$1]+set} ]]; then
		_weft_usage_cache[$1]=$(weft help "$1" 2>/dev/null | awk -v cmd="$1" '
			NR == 1 && /^Usage:/ { u = $0; next }
			u != "" && /^[ \t]/ { u = u " " $0; next }
			{ exit }
			END { sub("^Usage: *weft +" cmd " *", "", u); gsub(/[ \t]+/, " ", u); print u }')
	fi
	printf '%s\n' "${_weft_usage_cache[$1]}"
}

# _weft_segments USAGE: one alternative per line. "{ a ... | b ... }" around
# the whole grammar means subcommands; otherwise the grammar is one segment.
# Inside <...> spaces become "_" so that a slot stays one token.
_weft_segments() {
	awk '{
		s = $0; out = ""; angle = 0
		for (i = 1; i <= length(s); i++) {
			c = substr(s, i, 1)
			if (c == "<") angle++
			else if (c == ">") angle--
			else if (c == " " && angle > 0) c = "_"
			out = out c
		}
		s = out
		if (s !~ /^\{ [a-z]/) { print s; exit }
		s = substr(s, 3); sub(/ \}$/, "", s)
		depth = 0; seg = ""
		for (i = 1; i <= length(s); i++) {
			c = substr(s, i, 1)
			if (c == "[" || c == "{") depth++
			else if (c == "]" || c == "}") depth--
			if (depth == 0 && substr(s, i, 3) == " | ") { print seg; seg = ""; i += 2; continue }
			seg = seg c
		}
		print seg
	}' <<<"$1"
}

# _weft_slots SEGMENT: "pos SLOT" for each <slot> that is not an option's
# value (optional ones like [<file>] too), in order, and "opt --name VALUE"
# for each option (VALUE: "-" for a flag, the <slot> or the a|b|c list that
# follows it).
_weft_slots() {
	awk '{
		n = split($0, t, " "); value = 0
		for (i = 1; i <= n; i++) {
			w = t[i]
			if (value) { value = 0; continue }
			if (match(w, /^[\[{]*<[^>]*>/)) {
				slot = substr(w, RSTART, RLENGTH); sub(/^[\[{]*/, "", slot)
				print "pos", slot
				continue
			}
			if (match(w, /--[a-z0-9][a-z0-9-]*/)) {
				name = substr(w, RSTART, RLENGTH); v = "-"
				rest = substr(w, RSTART + RLENGTH)
				if (rest !~ /\]/ && i < n) {
					nx = t[i + 1]
					if (nx ~ /^</) v = nx
					else if (nx ~ /^[a-z0-9-]+(\|[a-z0-9-]+)+\]*$/) { v = nx; gsub(/\]/, "", v) }
					value = v != "-"
				}
				print "opt", name, v
			}
		}
	}' <<<"$1"
}

# _weft_complete_value SLOT IFACE POSITIONAL: completion for one <slot>.
_weft_complete_value() {
	local slot=$1
	if [[ $slot != \<* && $slot == *\|* ]]; then
		_weft_words "${slot//|/ }"
		return
	fi
	case $slot in
	*interface*) _weft_words "$(_weft_interfaces)" ;;
	"<name>" | "<name|"*) [[ $3 == 1 ]] && _weft_words "$(_weft_peer_names "$2")" ;;
	"<server"*) _weft_words "$(_weft_chain_servers)" ;;
	*file* | *path*) _weft_files ;;
	*directory*) compopt -o filenames 2>/dev/null; COMPREPLY+=($(compgen -d -- "$(_weft_cur)")) ;;
	esac
}

# Completes the words from index $1 on against the usage of command $2.
_weft_usage_complete() {
	local first=$1 cmd=$2 usage segs seg line sub= i w iface= npos=0
	usage=$(_weft_usage "$cmd")
	[[ -n $usage ]] || return
	mapfile -t segs < <(_weft_segments "$usage")
	if [[ $usage == "{ "[a-z]* ]]; then
		if ((COMP_CWORD == first)); then
			for seg in "${segs[@]}"; do sub+=" ${seg%% *}"; done
			_weft_words "$sub"
			return
		fi
		sub=${COMP_WORDS[first]}
		seg=
		for line in "${segs[@]}"; do [[ ${line%% *} == "$sub" ]] && seg=${line#* }; done
		[[ -n $seg ]] || return
		first=$((first + 1))
	else
		seg=${segs[0]}
	fi
	# "the X options": the options of subcommand X as well
	if [[ $seg =~ the\ ([a-z]+)\ options ]]; then
		for line in "${segs[@]}"; do
			[[ ${line%% *} == "${BASH_REMATCH[1]}" ]] && seg+=" ${line#* }"
		done
	fi
	local -a pos=() optname=() optval=()
	while read -r kind a b; do
		if [[ $kind == pos ]]; then pos+=("$a"); else optname+=("$a") optval+=("$b"); fi
	done < <(_weft_slots "$seg")
	# walk the words typed so far: options (and their values) and positionals
	local prev_val=
	for ((i = first; i < COMP_CWORD; i++)); do
		w=${COMP_WORDS[i]}
		if [[ -n $prev_val ]]; then prev_val=; continue; fi
		if [[ $w == --* ]]; then
			local k
			for k in "${!optname[@]}"; do
				[[ ${optname[k]} == "$w" && ${optval[k]} != - ]] && prev_val=1
			done
			continue
		fi
		[[ ${pos[npos]:-} == *interface* ]] && iface=$w
		npos=$((npos + 1))
	done
	if [[ -n $prev_val ]]; then
		for k in "${!optname[@]}"; do
			[[ ${optname[k]} == "${COMP_WORDS[COMP_CWORD - 1]}" ]] &&
				_weft_complete_value "${optval[k]}" "$iface" 0
		done
		return
	fi
	if [[ $(_weft_cur) == -* ]] || ((npos >= ${#pos[@]})); then
		_weft_words "$(printf '%s\n' "${optname[@]}" | sort -u)"
		return
	fi
	_weft_complete_value "${pos[npos]}" "$iface" 1
}

# ---- commands whose grammar needs its own function ----

_weft_cmd_show() {
	local i words=() n=0
	# the words typed so far, without --json (it may go anywhere)
	for ((i = 2; i < COMP_CWORD; i++)); do
		[[ ${COMP_WORDS[i]} == --json ]] || words+=("${COMP_WORDS[i]}")
	done
	n=${#words[@]}
	if ((n == 0)); then
		_weft_words "$(_weft_running) all interfaces --json"
	elif ((n == 1)) && [[ ${words[0]} != interfaces ]]; then
		_weft_words "public-key private-key listen-port fwmark peers preshared-keys endpoints" \
			"allowed-ips latest-handshakes transfer persistent-keepalive dump --json"
	fi
}

_weft_cmd_showconf() {
	((COMP_CWORD == 2)) && _weft_words "$(_weft_running)"
	((COMP_CWORD == 3)) && _weft_words "--json"
}

_weft_cmd_setconf() {
	((COMP_CWORD == 2)) && _weft_words "$(_weft_running)"
	((COMP_CWORD == 3)) && _weft_files
}
_weft_cmd_addconf() { _weft_cmd_setconf; }
_weft_cmd_syncconf() { _weft_cmd_setconf; }

# up, strip: a configured interface or a config file; down, save: a running
# interface or a config file. Options come from the usage line.
_weft_quick() { # interface list function
	if [[ $(_weft_cur) == -* ]]; then
		_weft_usage_complete 2 "${COMP_WORDS[1]}"
		return
	fi
	local i
	for ((i = 2; i < COMP_CWORD; i++)); do [[ ${COMP_WORDS[i]} == -* ]] || return; done
	_weft_words "$("$1")"
	_weft_files '*.conf'
}
_weft_cmd_up() { _weft_quick _weft_configured; }
_weft_cmd_strip() { _weft_quick _weft_configured; }
_weft_cmd_down() { _weft_quick _weft_interfaces; }
_weft_cmd_save() { _weft_quick _weft_interfaces; }

_weft_cmd_set() {
	local i in_peer=0 prev=${COMP_WORDS[COMP_CWORD - 1]} seen=" "
	if ((COMP_CWORD == 2)); then
		_weft_words "$(_weft_running)"
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

_weft_commands() { weft help 2>/dev/null | awk '/^  [a-z]/ { print $1 }'; }

_weft_cmd_help() {
	((COMP_CWORD == 2)) && _weft_words "$(_weft_commands)"
}

# Commands that read no argument.
_weft_cmd_genkey() { :; }
_weft_cmd_genpsk() { :; }
_weft_cmd_pubkey() { :; }

_weft() {
	COMPREPLY=()
	if ((COMP_CWORD == 1)); then
		_weft_words "help --help --version $(_weft_commands)"
		return
	fi
	local fn=_weft_cmd_${COMP_WORDS[1]}
	if [[ $(type -t "$fn") == function ]]; then
		"$fn"
	else
		_weft_usage_complete 2 "${COMP_WORDS[1]}"
	fi
}

complete -F _weft weft
