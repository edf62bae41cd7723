#!/bin/bash
# tests/shell/make-demo.sh: `make demo` in a build directory of its own runs
# the whole demo (tunnel, then the peer workflow: interface add, peer add
# --qr, peer config brought up with weft up, peer list), and a plain `make`
# afterwards has nothing left to rebuild. The demo needs root (namespaces).
cd "$(dirname "$0")/../.." || exit 1
tmp=$(mktemp -d /tmp/weft-make-demo.XXXXXX) || exit 1
trap 'rm -rf "$tmp"' EXIT
b=$tmp/build
ok=1
res() { # name, status
	if [[ $2 == 0 ]]; then echo "PASS: make-demo/$1"; else echo "FAIL: make-demo/$1"; ok=0; fi
}

if [[ $EUID == 0 ]]; then
	WEFTD=$b/weftd WEFT=$b/weft DEMO_SECONDS=1 make -s BUILD="$b" demo >"$tmp/demo.log" 2>&1
	res demo-runs $?
	for want in 'interface-add|weft interface add' 'peer-add-qr|weft peer add .* --qr' \
		'peer-list|weft peer list' 'peer-handshake|laptop-b .* ago' \
		'ping-through-peer-config|2 received, 0% packet loss' 'done|^Done:'; do
		grep -q -- "${want#*|}" "$tmp/demo.log"
		res "demo-shows/${want%%|*}" $?
	done
	(( ok )) || tail -n 30 "$tmp/demo.log"
else
	echo "SKIP: make-demo/demo-runs: needs root for network namespaces"
	make -s BUILD="$b" all >"$tmp/demo.log" 2>&1
	res build $?
fi
make -q BUILD="$b" all
res nothing-to-rebuild $?
out=$(make BUILD="$b" all 2>&1)
[[ $out == *"Nothing to be done for 'all'."* ]]
res make-says-nothing-to-do $?
[[ $out == *"Nothing to be done"* ]] || echo "$out" | head -5 | sed 's/^/  rebuilt: /'
(( ok ))
