#!/bin/bash
# tests/vectors/handshake.sh: cross-checks weft's handshake bytes against an independent
# Python reference (handshake_ref.py, written from the whitepaper with other crypto
# libraries), and proves that reference against a real wireguard-go first when it can.
#
#   tests/vectors/handshake.sh
# For each of initiation, response, transport: runs the reference and
# build/vectors/handshake (weft's engine driven with the same inputs) on
# handshake_inputs.txt and prints PASS: vectors/handshake/<line> or
# FAIL: vectors/handshake/<line>: expected X got Y. Exits non-zero on any failure,
# including a missing or silent weft program.
# As root with wireguard-go, wg and ip installed, wireguard_go_check.py also runs
# (its own PASS:/FAIL: vectors/handshake/wireguard-go/... lines, well under a second).
cd "$(dirname "$0")/../.." || exit 1

PY=/usr/bin/python3          # Debian's, which has python3-cryptography
INPUTS=tests/vectors/handshake_inputs.txt
WEFT=${WEFT_HANDSHAKE:-build/vectors/handshake}   # overridable to test this script
NAMES=(initiation response transport)
TIMEOUT=10

status=0
tmp=$(mktemp -d /tmp/weft-vectors.XXXXXX) || exit 1
trap 'rm -rf "$tmp"' EXIT

# value NAME FILE: the hex after "NAME =" on the first such line, or nothing.
value() {
	sed -n "s/^[[:space:]]*$1[[:space:]]*=[[:space:]]*\\([^[:space:]]*\\)[[:space:]]*\$/\\1/p" "$2" | head -n 1
}

if [[ $EUID -eq 0 ]] && command -v wireguard-go >/dev/null && command -v wg >/dev/null \
	&& command -v ip >/dev/null; then
	timeout "$TIMEOUT" "$PY" tests/vectors/wireguard_go_check.py "$INPUTS" || status=1
else
	echo "SKIP: vectors/handshake/wireguard-go: needs root, wireguard-go, wg and ip"
fi

if ! timeout "$TIMEOUT" "$PY" tests/vectors/handshake_ref.py "$INPUTS" >"$tmp/expected" 2>"$tmp/ref.err"; then
	for name in "${NAMES[@]}"; do
		echo "FAIL: vectors/handshake/$name: the reference failed: $(tail -n 1 "$tmp/ref.err")"
	done
	exit 1
fi

why=
if [[ ! -x $WEFT ]]; then
	why="$WEFT missing"
elif ! timeout "$TIMEOUT" "$WEFT" "$INPUTS" >"$tmp/got" 2>"$tmp/weft.err"; then
	why="$WEFT failed: $(tail -n 1 "$tmp/weft.err")"
fi
[[ -e $tmp/got ]] || : >"$tmp/got"

for name in "${NAMES[@]}"; do
	want=$(value "$name" "$tmp/expected")
	got=$(value "$name" "$tmp/got")
	if [[ -z $want ]]; then
		echo "FAIL: vectors/handshake/$name: the reference printed no $name line"
		status=1
	elif [[ -n $got && $got == "$want" && -z $why ]]; then
		echo "PASS: vectors/handshake/$name"
	else
		echo "FAIL: vectors/handshake/$name: expected $want got ${got:-nothing}${why:+ ($why)}"
		status=1
	fi
done
exit $status
