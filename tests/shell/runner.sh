#!/bin/bash
# tests/shell/runner.sh: tests/run itself, on a build of fake suites. It must
# count PASS, FAIL and SKIP lines, count a suite that exits non-zero without a
# FAIL line, or prints no result at all, as one failure, print the suites in
# their order whatever order they finish in, and end with exactly
# "N passed, M failed, K skipped" and a non-zero status when anything failed.
cd "$(dirname "$0")/../.." || exit 1
fake=$(mktemp -d /tmp/weft-runner.XXXXXX) || exit 1
trap 'rm -rf "$fake"' EXIT
mkdir -p "$fake/tests" "$fake/asan/tests"
suite() { # name, body
	printf '#!/bin/bash\n%s\n' "$2" >"$fake/tests/$1" && chmod +x "$fake/tests/$1"
}
# test_a finishes last but must be printed first
suite test_a 'sleep 1; echo "PASS: a/one"; echo "SKIP: a/two: needs a unicorn"; echo "PASS: a/three"'
suite test_b 'echo "some chatter"'
suite test_c 'echo "PASS: c/one"; echo "why it broke" >&2; exit 3'
suite test_d 'echo "FAIL: d/one: wrong"; echo "PASS: d/two"; exit 1'
suite test_e 'echo "SKIP: e/all: not here"'

out=$(BUILD=$fake TEST_LANES=2 tests/run unit/ 2>&1)
rc=$?
ok=1
expect() { # what, condition...
	local what=$1
	shift
	if "$@"; then echo "PASS: runner/$what"; else echo "FAIL: runner/$what"; ok=0; fi
}
last=$(tail -n 1 <<<"$out")
expect closing-line [ "$last" = "4 passed, 3 failed, 2 skipped" ]
expect status-on-failure [ "$rc" -ne 0 ]
expect silent-suite-fails grep -qx 'FAIL: unit/test_b: ran no test' <<<"$out"
expect exit-status-counted grep -qx 'FAIL: unit/test_c: exited with status 3' <<<"$out"
expect context-kept grep -q '| why it broke' <<<"$out"
expect fixed-order [ "$(grep '^== ' <<<"$out" | tr '\n' ' ')" = \
	"== unit/test_a == unit/test_b == unit/test_c == unit/test_d == unit/test_e " ]
expect timing-lines [ "$(grep -c '^   ([0-9]* s)$' <<<"$out")" -eq 5 ]

rm "$fake/tests/test_b" "$fake/tests/test_c" "$fake/tests/test_d"
out=$(BUILD=$fake tests/run unit/ 2>&1)
rc=$?
expect green-run [ "$rc" -eq 0 ] && expect green-closing-line [ "$(tail -n 1 <<<"$out")" = "2 passed, 0 failed, 2 skipped" ]
BUILD=$fake tests/run no-such-suite >/dev/null 2>&1
expect no-match-fails [ $? -ne 0 ]
(( ok ))
