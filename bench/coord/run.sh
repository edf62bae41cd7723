#!/bin/bash
# bench/coord/run.sh: the coord's benchmark (docs/performance.md, "weft
# coord"). Starts a `weft coord` on 127.0.0.1 pinned to one core (taskset
# -c 0) with its per-source rate limit off (every session of the load
# generator comes from one address), the load generator on the other core,
# and prints one JSON line per measurement (with the coord's CPU seconds
# over the measurement: on a machine others share, the rate per CPU second
# of the server is what one core sustains):
#   announce   announcements per second answered (CLIENTS sessions)
#   memory     resident memory per registered client (MEMORY_CLIENTS)
#   relay      relayed Gbit/s, 1400-byte datagrams, no per-pair limit
#   bench/coord/run.sh [announce|memory|relay]...   (default: all three)
# Environment: BUILD (default build), CLIENTS (10000), MEMORY_CLIENTS
# (100000), SECONDS_EACH (10), STORE (default: an SQLite file in the
# scratch directory; "none" for memory only).
set -u
cd "$(dirname "$0")/../.." || exit 1
BUILD=${BUILD:-build}
WEFT=$BUILD/weft
LOAD=$BUILD/bench/coord_load
CLIENTS=${CLIENTS:-10000}
MEMORY_CLIENTS=${MEMORY_CLIENTS:-100000}
SECONDS_EACH=${SECONDS_EACH:-10}
PORT=${PORT:-45819}
[[ -x $WEFT && -x $LOAD ]] || { echo "run.sh: build first (make)" >&2; exit 1; }
TMP=$(mktemp -d /tmp/weft-coord-bench.XXXXXX) || exit 1
STORE=${STORE:-sqlite:$TMP/coord.db}
PID=
stop() { [[ -n $PID ]] && kill "$PID" 2>/dev/null && wait "$PID" 2>/dev/null; PID=; }
trap 'stop; rm -rf "$TMP"' EXIT

start() { # extra coord arguments...
	rm -f "$TMP/coord.db"
	taskset -c 0 "$WEFT" coord --listen "127.0.0.1:$PORT" --key-file "$TMP/coord.key" --store "$STORE" \
		--rate 0 --handshake-rate 10000000 --max-clients 1000000 --status-file "$TMP/status" "$@" \
		>"$TMP/coord.log" 2>&1 &
	PID=$!
	for _ in $(seq 50); do [[ -s $TMP/coord.key ]] && break; sleep 0.1; done
	"$WEFT" coord --show-public-key --key-file "$TMP/coord.key" >"$TMP/pub" || exit 1
	sleep 0.3
	kill -0 "$PID" 2>/dev/null || { cat "$TMP/coord.log" >&2; exit 1; }
}

run() {
	case $1 in
	announce)
		start
		COORD_PID=$PID taskset -c 1 "$LOAD" announce "127.0.0.1:$PORT" "$TMP/pub" "$CLIENTS" "$SECONDS_EACH"
		stop ;;
	memory)
		start
		taskset -c 1 "$LOAD" memory "127.0.0.1:$PORT" "$TMP/pub" "$MEMORY_CLIENTS" "$PID"
		stop ;;
	relay)
		start --relay-rate 0
		COORD_PID=$PID taskset -c 1 "$LOAD" relay "127.0.0.1:$PORT" "$TMP/pub" 1400 "$SECONDS_EACH"
		stop ;;
	*) echo "run.sh: announce, memory or relay" >&2; exit 2 ;;
	esac
}

(($#)) || set -- announce memory relay
for m; do run "$m"; done
