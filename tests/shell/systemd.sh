#!/bin/bash
# tests/shell/systemd.sh: `make install` puts the systemd units in place with
# the programs' real path, and systemd-analyze verify accepts every one of
# them (instantiated for wg0) with the installed programs and man pages. A
# deliberately broken unit must be refused, so a verify that checks nothing
# cannot pass. Needs no running systemd.
cd "$(dirname "$0")/../.." || exit 1
if ! command -v systemd-analyze >/dev/null; then
	echo "SKIP: systemd/verify: systemd-analyze is not installed (package systemd)"
	exit 0
fi
tmp=$(mktemp -d /tmp/weft-systemd.XXXXXX) || exit 1
trap 'rm -rf "$tmp"' EXIT
prefix=$tmp/usr units=$tmp/usr/lib/systemd/system
ok=1
res() { # name, status, [why]
	if [[ $2 == 0 ]]; then echo "PASS: systemd/$1"; else echo "FAIL: systemd/$1${3:+: $3}"; ok=0; fi
}

make -s install PREFIX="$prefix" >"$tmp/install.log" 2>&1
res install $? "$(tail -n 3 "$tmp/install.log")"
n=0
for u in systemd/*; do
	f=$units/${u##*/}
	[[ -f $f ]] || { res "installed/${u##*/}" 1 "missing"; continue; }
	! grep -q '@BINDIR@' "$f" && ! grep -E '^Exec' "$f" | grep -qv "=$prefix/bin/weft "
	res "installed/${u##*/}" $? "Exec lines do not run $prefix/bin/weft"
	n=$((n + 1))
done
(( n >= 3 )); res "units-found" $? "only $n units in systemd/"

verify() { # unit...
	(cd "$units" && MANPATH=$prefix/share/man SYSTEMD_LOG_COLOR=0 \
		systemd-analyze verify "${@/#/./}" >"$tmp/verify.log" 2>&1)
}
for u in "$units"/*; do
	name=${u##*/}
	[[ $name == *@.* ]] && name=${name/@./@wg0.}
	[[ $name == *@wg0.timer ]] && extra=${name%.timer}.service || extra=
	verify "$name" $extra
	res "verify/$name" $? "$(tr '\n' ' ' <"$tmp/verify.log")"
done

# the same check must fail on a unit whose program does not exist
sed 's|^ExecStart=.*|ExecStart=/nonexistent/weft up %i|' "$units/weft@.service" >"$units/broken@.service"
verify broken@wg0.service
[[ $? != 0 ]] && grep -q nonexistent "$tmp/verify.log"
res verify-refuses-broken-unit $?
(( ok ))
