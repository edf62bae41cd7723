#!/bin/bash
# tests/shell/completion.sh: bash completion (completion/weft.bash), sourced
# into bash and called as bash calls it (COMP_WORDS, COMP_CWORD), against the
# weft of this build and a config directory of its own: every command,
# subcommands and options read from the usage lines, interface names from the
# config files, peer names from `weft peer list`, option values, and files
# for up, down, save and strip.
cd "$(dirname "$0")/../.." || exit 1
ROOT=$PWD
WEFT=${WEFT:-$ROOT/build/weft}
[[ $WEFT == /* ]] || WEFT=$ROOT/$WEFT
if [[ ! -x $WEFT ]]; then
	echo "FAIL: completion/setup: $WEFT is not built"
	exit 1
fi
tmp=$(mktemp -d /tmp/weft-completion.XXXXXX) || exit 1
trap 'rm -rf "$tmp"' EXIT
mkdir -p "$tmp/bin" "$tmp/conf" "$tmp/cwd"
ln -s "$WEFT" "$tmp/bin/weft"
export PATH=$tmp/bin:$PATH WEFT_CONFIG_DIR=$tmp/conf
ok=1
res() { # name, status, [why]
	if [[ $2 == 0 ]]; then echo "PASS: completion/$1"; else echo "FAIL: completion/$1${3:+: $3}"; ok=0; fi
}

# An interface named cq<pid> with peers bob and carol, made by weft itself.
IF=cq$$
key=$(weft genkey)
printf '[Interface]\nPrivateKey = %s\nAddress = 10.66.0.1/24\nListenPort = 51999\n' "$key" >"$tmp/conf/$IF.conf"
chmod 600 "$tmp/conf/$IF.conf"
add_peer() { weft peer add "$IF" --name "$1" --public-key "$(weft genkey | weft pubkey)" >/dev/null 2>&1; }
if ! add_peer bob; then
	# a weft that still needs a public address for the printed config
	printf '\n[Weft]\nPublicIPv4 = 192.0.2.1\n' >>"$tmp/conf/$IF.conf"
	add_peer bob
fi
add_peer carol
res setup-peers "$([[ $(weft peer list "$IF" --json | grep -c '"name": "\(bob\|carol\)"') == 2 ]]; echo $?)" \
	"weft peer add/list did not give two named peers"
touch "$tmp/cwd/local.conf" "$tmp/cwd/notes.txt" "$tmp/cwd/qr.png"

# complete LINE: what the completion offers for the last word of LINE
# (a trailing space starts a new, empty word), one per line, sorted.
complete_line() {
	(cd "$tmp/cwd" && bash --norc --noprofile -c '
		source "$1"
		read -ra COMP_WORDS <<<"$2"
		[[ $2 == *" " ]] && COMP_WORDS+=("")
		COMP_CWORD=$((${#COMP_WORDS[@]} - 1))
		COMP_LINE=$2 COMP_POINT=${#2}
		_weft weft "${COMP_WORDS[COMP_CWORD]}" "${COMP_WORDS[COMP_CWORD - 1]}"
		printf "%s\n" "${COMPREPLY[@]}" | sort -u
	' _ "$ROOT/completion/weft.bash" "$1" 2>"$tmp/stderr")
}
# expect NAME LINE WORD...: every WORD is offered, and bash said nothing on stderr
expect() {
	local name=$1 line=$2 got w missing=
	shift 2
	got=$(complete_line "$line")
	for w; do grep -qxF -- "$w" <<<"$got" || missing+=" $w"; done
	[[ -z $missing && ! -s $tmp/stderr ]]
	res "$name" $? "'$line' offers [$(tr '\n' ' ' <<<"$got")], lacks [$missing] $(head -c 200 "$tmp/stderr")"
}
# expect_not NAME LINE WORD...: no WORD is offered
expect_not() {
	local name=$1 line=$2 got w extra=
	shift 2
	got=$(complete_line "$line")
	for w; do grep -qxF -- "$w" <<<"$got" && extra+=" $w"; done
	res "$name" "$([[ -z $extra ]]; echo $?)" "'$line' offers$extra"
}

mapfile -t commands < <(weft help | awk '/^  [a-z]/ { print $1 }')
(( ${#commands[@]} >= 15 )); res commands-listed $? "weft help lists ${#commands[@]} commands"
expect every-command "weft " help "${commands[@]}"
expect command-prefix "weft pe" peer
expect help-command "weft help " "${commands[@]}"

# every command completes its first argument without an error from bash
for c in "${commands[@]}"; do
	complete_line "weft $c " >/dev/null
	res "no-error/$c" "$([[ ! -s $tmp/stderr ]]; echo $?)" "$(head -c 200 "$tmp/stderr")"
done

# subcommands: the words before each alternative of the usage line
for c in interface peer; do
	mapfile -t subs < <(weft help "$c" | tr '\n' ' ' | sed 's/.*Usage: weft [a-z]* { //' |
		awk -v RS=' [|] ' '{ print $1 }' | grep -E '^[a-z]+$')
	(( ${#subs[@]} >= 3 )); res "subcommands-found/$c" $? "${subs[*]}"
	expect "subcommands/$c" "weft $c " "${subs[@]}"
done

expect interface-names/peer-add "weft peer add " "$IF"
expect interface-names/peer-list "weft peer list c" "$IF"
expect peer-names/remove "weft peer remove $IF " bob carol
expect peer-names/config-prefix "weft peer config $IF c" carol
expect_not peer-names/prefix-filters "weft peer config $IF c" bob
expect options/peer-add "weft peer add $IF --" --name --qr --qr-png --allowed-ips --endpoint-type
expect options/after-positional "weft peer add $IF --name x --" --qr --public-key
expect option-values/endpoint-type "weft peer add $IF --endpoint-type " ipv4 ipv6 domain any
expect option-values/file "weft peer add $IF --qr-png " qr.png local.conf
expect options/peer-config-has-add-options "weft peer config $IF bob --" --qr
expect options/peer-list "weft peer list $IF --" --json
expect options/interface-add "weft interface add x --" --listen-port --address
# commands and options that arrive later complete from their usage alone
if weft help peer | grep -q 'rename <interface>'; then
	expect peer-names/rename "weft peer rename $IF " bob carol
	expect_not new-name-is-not-a-peer "weft peer rename $IF bob " bob carol
fi
if weft help export >/dev/null 2>&1; then
	expect optional-file/export "weft export $IF " local.conf
	expect interface-names/export "weft export " "$IF"
fi
expect quick/up "weft up " "$IF" local.conf
expect_not quick/up-conf-files-only "weft up " notes.txt
expect quick/up-option "weft up --" --userspace
expect quick/strip "weft strip " "$IF" local.conf
expect quick/down-files "weft down " local.conf
expect quick/save-files "weft save " local.conf
expect show "weft show " all interfaces --json
expect show-fields "weft show all " dump endpoints --json
expect set-keywords "weft set wg0 " listen-port fwmark private-key peer
expect setconf-files "weft setconf wg0 " local.conf notes.txt
# a network of servers: the server names come from wg-serve.chain
if weft configure --endpoint 192.0.2.9:51820 --routes 10.9.0.0/16 --server-config "$tmp/s1.conf" >/dev/null 2>&1; then
	expect add-subcommands "weft add " server client
	expect add-server-options "weft add server --" --via --endpoint --routes --name --via-endpoint
	expect add-server-via "weft add server --via " s1
	expect add-client-options "weft add client --" --via --name --dir
	expect ping-servers "weft ping " s1
	expect status-options "weft status --" --json --live
	expect expose-subcommands "weft expose " add remove list
	expect expose-servers "weft expose add " s1
else
	res chain-setup 1 "weft configure failed"
fi
(( ok ))
