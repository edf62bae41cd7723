#!/bin/bash
# tests/net/77-cli-files.sh: the files `weft configure` writes where the user
# says (--server-config, --client-config) hold private keys and may sit in a
# directory others can write to: they are 0600, never written through a
# symbolic link (not even with --force), and a refused write leaves nothing
# behind.
#
#   no namespace, no device, no traffic: configure only writes files
#
# Checks:
#   configure-mode          both files 0600, each with a private key
#   server-symlink          --force over a symlinked --server-config: refused,
#                           the link's target unchanged
#   client-symlink          the same for --client-config; the server file
#                           written before it is removed again
#   dangling-symlink        a link to a file not there yet is not created
#                           through
. "$(dirname "$0")/lib.sh"
TEST_NAME=cli-files

require_weft
TMP=$WEFT_TMP
cd "$TMP" || exit 1
conf() { "$WEFT" configure --endpoint 192.0.2.77:51977 --routes 10.77.0.0/16 "$@"; }

if conf --server-config s.conf --client-config c.conf >/dev/null 2>"$TMP/err" &&
	[[ $(stat -c %a s.conf) == 600 && $(stat -c %a c.conf) == 600 ]] &&
	grep -q '^PrivateKey' s.conf && grep -q '^PrivateKey' c.conf; then
	pass configure-mode
else
	fail configure-mode "$(cat "$TMP/err"; ls -l s.conf c.conf 2>&1)"
fi

echo keep >target
ln -s "$TMP/target" s1.conf
if ! conf --force --server-config s1.conf --client-config c1.conf >/dev/null 2>"$TMP/err" &&
	[[ $(cat target) == keep && -L s1.conf && ! -e c1.conf ]] && grep -q 'symbolic link' "$TMP/err"; then
	pass server-symlink
else
	fail server-symlink "target now: $(head -c 11 target); $(cat "$TMP/err")"
fi

ln -s "$TMP/target" c2.conf
if ! conf --force --server-config s2.conf --client-config c2.conf >/dev/null 2>"$TMP/err" &&
	[[ $(cat target) == keep && -L c2.conf && ! -e s2.conf ]] && grep -q 'symbolic link' "$TMP/err"; then
	pass client-symlink
else
	fail client-symlink "target now: $(head -c 11 target); s2.conf: $(ls s2.conf 2>&1); $(cat "$TMP/err")"
fi

ln -s "$TMP/absent" s3.conf
if ! conf --server-config s3.conf --client-config c3.conf >/dev/null 2>&1 && [[ ! -e absent ]]; then
	pass dangling-symlink
else
	fail dangling-symlink "$TMP/absent was created through the link"
fi
exit $FAILED
