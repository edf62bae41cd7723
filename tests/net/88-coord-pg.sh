#!/bin/bash
# tests/net/88-coord-pg.sh: `weft coord` replicas sharing one PostgreSQL.
# A real server, started for this run only (lib_pg.sh: initdb in a temp
# directory as the postgres user, a unix socket there, no TCP at all),
# serves:
#   store      the store's own cases against it (build/tests/test_store_pg:
#              queued writes, SQL expiry, two stores scanning each other,
#              a late commit not missed)
#   replicas   two weft coord on one database, in netns c<tag>:
#                127.0.0.1:51819 (replica 1)    127.0.0.1:51829 (replica 2)
#              one client announces to replica 1, its peer to replica 2:
#              each gets a PEER with the other's address (coord_load pair)
#   no-keys    the database, dumped whole (pg_dump), holds records but
#              neither client's public key, in base64 or hex
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/lib_pg.sh"
TEST_NAME=coord-pg
require_weft python3
BUILD_DIR=$(dirname "$WEFT")
LOAD=$BUILD_DIR/bench/coord_load
STORE_TEST=$BUILD_DIR/tests/test_store_pg
[[ -x $LOAD && -x $STORE_TEST ]] || { fail build "$LOAD or $STORE_TEST is missing (run make)"; exit 1; }
# (in this shell, not a $(...): its variables and clean-up are ours)
if ! pg_start 2>"$WEFT_TMP/pg.err"; then
	skip all "no PostgreSQL server can run here: $(tail -1 "$WEFT_TMP/pg.err")"
	exit 0
fi
pass server-started
check no-tcp-listener [ -z "$(pg_tcp_listeners)" ]

# --- the store against the server ------------------------------------------------
# (tests/run leaves test_store_pg out of its unit lanes: it is run here, with
# a server, in the build under test and in the sanitizer build when there is one)
run_store_cases() { # label, binary
	local label=$1 bin=$2 rc
	WEFT_PG_URL=$PG_URL ASAN_OPTIONS=detect_leaks=1 "$bin" >"$WEFT_TMP/store.out" 2>&1
	rc=$?
	sed "s/^\(PASS\|FAIL\|SKIP\): store_pg\//\1: coord-pg\/$label-/" "$WEFT_TMP/store.out" | grep -E '^(PASS|FAIL|SKIP):'
	grep -q '^SKIP' "$WEFT_TMP/store.out" && fail "$label-ran" "the store test skipped with a server at hand"
	((rc == 0)) || fail "$label" "$bin exited $rc: $(grep -v '^PASS' "$WEFT_TMP/store.out" | tail -3)"
}
run_store_cases store "$STORE_TEST"
ASAN_STORE_TEST=$BUILD_DIR/asan/tests/test_store_pg
[[ -x $ASAN_STORE_TEST ]] && run_store_cases asan-store "$ASAN_STORE_TEST"
pg_sql "DELETE FROM coord_records" || fail store-cleanup "cannot empty the table"

# --- two replicas ------------------------------------------------------------------
C=c$TAG
make_ns "$C" || { fail netns "cannot create $C"; exit 1; }
KEY=$WEFT_TMP/coord.key
start_replica() { # N PORT
	ip netns exec "$C" "$WEFT" coord --listen "127.0.0.1:$2" --key-file "$KEY" --store "$PG_URL" \
		--no-relay >"$WEFT_TMP/replica$1.log" 2>&1 &
	eval "REPLICA_PID$1=$!"
}
start_replica 1 51819
wait_until 5 test -s "$KEY" || { fail replicas "replica 1 does not start: $(tail -3 "$WEFT_TMP/replica1.log")"; exit 1; }
# the second shares the first's key: clients pin one public key, and the
# client tags in the table are keyed by it
start_replica 2 51829
"$WEFT" coord --show-public-key --key-file "$KEY" >"$WEFT_TMP/coord.pub" 2>/dev/null
sleep 0.5
for n in 1 2; do
	eval "pid=\$REPLICA_PID$n"
	kill -0 "$pid" 2>/dev/null || { fail "replica$n-alive" "$(tail -3 "$WEFT_TMP/replica$n.log")"; exit 1; }
done
pass replicas-started

out=$(ip netns exec "$C" "$LOAD" pair 127.0.0.1:51819 127.0.0.1:51829 "$WEFT_TMP/coord.pub" 20 2>&1)
echo "# $out"
field() { python3 -c 'import json,sys; d=json.loads(sys.argv[1]); v=d[sys.argv[2]]; print(json.dumps(v) if not isinstance(v,str) else v)' "$out" "$1" 2>/dev/null; }
if [[ $(field first_got_peer) == true && $(field second_got_peer) == true ]]; then
	pass replicas-match
else
	fail replicas-match "$out"; tail -3 "$WEFT_TMP"/replica*.log
fi
# each saw the other's address as its own replica's peer saw it (both on loopback)
check replicas-peer-address [ "$(field first_saw | cut -d: -f1)" == 127.0.0.1 ]

# --- what the database holds --------------------------------------------------------
rows=$(pg_sql "SELECT count(*) FROM coord_records")
if [[ $rows =~ ^[0-9]+$ ]] && ((rows >= 2)); then pass db-has-records; else fail db-has-records "rows: '$rows'"; fi
pg_dump_all >"$WEFT_TMP/dump.sql" || fail db-dump "pg_dump failed"
leak=0
for k in $(python3 -c 'import json,sys; print(" ".join(json.loads(sys.argv[1])["keys"]))' "$out" 2>/dev/null); do
	hex=$(python3 -c 'import base64,sys; print(base64.b64decode(sys.argv[1]).hex())' "$k")
	# base64 as is, hex as bytea prints it, and the first half alone
	for needle in "$k" "${k%=}" "$hex" "${hex:0:32}"; do
		grep -qiF -- "$needle" "$WEFT_TMP/dump.sql" && { leak=1; echo "# found $needle in the dump"; }
	done
done
if [[ -z $(field keys) ]]; then fail db-no-public-key "no keys to look for"
elif ((leak)); then fail db-no-public-key "a client's public key is in the database"
else pass db-no-public-key; fi
check db-tokens-hashed grep -q "coord_records" "$WEFT_TMP/dump.sql"
exit $FAILED
