#!/bin/bash
# tests/vectors/coord.sh: cross-checks weft's coord protocol bytes (handshake,
# token, sealed blob, transport, cookie reply) against coord_ref.py, an
# independent Python reference written from docs/coord-protocol.md.
#
#   tests/vectors/coord.sh
# prints PASS: vectors/coord/<name> or FAIL: vectors/coord/<name>: expected X
# got Y for each value; exits non-zero on any failure, including a missing
# or silent weft program.
cd "$(dirname "$0")/../.." || exit 1

PY=/usr/bin/python3          # Debian's, which has python3-cryptography
INPUTS=tests/vectors/coord_inputs.txt
WEFT=${WEFT_COORD_VECTORS:-build/vectors/coord}
NAMES=(initiation response token blob transport cookie_reply)
TIMEOUT=10

status=0
tmp=$(mktemp -d /tmp/weft-vectors.XXXXXX) || exit 1
trap 'rm -rf "$tmp"' EXIT

value() {
	sed -n "s/^[[:space:]]*$1[[:space:]]*=[[:space:]]*\\([^[:space:]]*\\)[[:space:]]*\$/\\1/p" "$2" | head -n 1
}

if ! timeout "$TIMEOUT" "$PY" tests/vectors/coord_ref.py "$INPUTS" >"$tmp/expected" 2>"$tmp/ref.err"; then
	for name in "${NAMES[@]}"; do
		echo "FAIL: vectors/coord/$name: the reference failed: $(tail -n 1 "$tmp/ref.err")"
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
		echo "FAIL: vectors/coord/$name: the reference printed no $name line"
		status=1
	elif [[ -n $got && $got == "$want" && -z $why ]]; then
		echo "PASS: vectors/coord/$name"
	else
		echo "FAIL: vectors/coord/$name: expected $want got ${got:-nothing}${why:+ ($why)}"
		status=1
	fi
done
exit $status
