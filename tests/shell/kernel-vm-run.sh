#!/bin/bash
# tests/shell/kernel-vm-run.sh: the kernel VM harness itself (tests/kernel/vm-run).
# A suite's lines and exit status come back from the guest, the guest runs the
# Debian kernel with WireGuard loaded and sees the host's files, a suite that
# overruns its time is one FAIL line, and nothing is left behind: no qemu, no
# share. Two short boots.
# tests/run: its VMs have a network and a CPU of their own, so it runs beside the other suites
cd "$(dirname "$0")/../.." || exit 1
ok=1
res() { # name, status, [why]
	if [[ $2 == 0 ]]; then echo "PASS: kernel-vm-run/$1"; else echo "FAIL: kernel-vm-run/$1${3:+: $3}"; ok=0; fi
}
[[ $EUID == 0 ]] || { echo "FAIL: kernel-vm-run/root: needs root"; exit 1; }
tmp=$(mktemp -d /tmp/weft-vm-run-test.XXXXXX) || exit 1
trap 'rm -rf "$tmp"' EXIT
# the harness's shares go below $tmp, apart from any other run's
export TMPDIR=$tmp

# a suite in /tmp (the guest sees the host's /tmp) that reports what it sees
echo "seen from the host" >"$tmp/marker"
cat >"$tmp/suite.sh" <<EOF
echo "PASS: inner/one"
echo "release \$(uname -r) \$WEFT_VM_RELEASE"
grep -qw wireguard /proc/modules && echo "module wireguard"
cat "$tmp/marker"
echo "weftd \$("\$WEFTD" --help 2>&1 | head -c 6)"
echo "FAIL: inner/two: on purpose"
exit 3
EOF
out=$(tests/kernel/vm-run "$tmp/suite.sh" 2>&1)
rc=$?
res exit-status-returned "$([[ $rc == 3 ]]; echo $?)" "status $rc, want 3: $(tail -n 5 <<<"$out" | tr '\n' ' ')"
res lines-streamed "$(grep -qx 'PASS: inner/one' <<<"$out" && grep -qx 'FAIL: inner/two: on purpose' <<<"$out"; echo $?)"
rel=$(sed -n 's/^release \([^ ]*\) \([^ ]*\)$/\1 \2/p' <<<"$out")
res debian-kernel "$([[ $rel == 6.1.0-*-amd64\ 6.1.0-*-amd64 && ${rel% *} == "${rel#* }" && $rel != *"$(uname -r)"* ]]; echo $?)" "guest says '$rel'"
res wireguard-loaded "$(grep -qx 'module wireguard' <<<"$out"; echo $?)"
res host-files-seen "$(grep -qx 'seen from the host' <<<"$out"; echo $?)"
res weftd-runs "$(grep -qx 'weftd Usage:' <<<"$out"; echo $?)" "$(grep '^weftd' <<<"$out")"

# a suite that overruns
printf 'echo "PASS: inner/started"\nsleep 600\n' >"$tmp/slow.sh"
start=$SECONDS
out=$(WEFT_VM_TIMEOUT=12 tests/kernel/vm-run "$tmp/slow.sh" 2>&1)
rc=$?
res timeout-fails "$([[ $rc != 0 ]] && grep -q '^FAIL: kernel-vm/slow: no result within 12 s' <<<"$out"; echo $?)" "status $rc: $(head -n 3 <<<"$out" | tr '\n' ' ')"
res timeout-bounded "$( ((SECONDS - start < 30)); echo $?)" "took $((SECONDS - start)) s"

# nothing left: no share directory, no qemu of ours
left=$(ls -d "$tmp"/weft-vm.* 2>/dev/null)
res shares-removed "$([[ -z $left ]]; echo $?)" "left: $left"
left=
for p in $(pgrep -f '^qemu-system-x86_64 ' 2>/dev/null); do
	grep -q "$tmp" "/proc/$p/cmdline" 2>/dev/null && left+=" $p"
done
res no-qemu-left "$([[ -z $left ]]; echo $?)" "still running:$left"
((ok))
