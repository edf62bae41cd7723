# tests/net/lib_pg.sh: a throw-away PostgreSQL server for one test run
# (source it after lib.sh). pg_start makes a cluster in a fresh temporary
# directory owned by the unprivileged `postgres` user, with trust
# authentication, listening on a unix socket in that directory and on no TCP
# address at all; the cleanup of lib.sh stops it and removes the directory.
# One server per suite: start it once, make a database per case if needed.
#
#   pg_start || { skip ...; exit 0; }   (in the test's own shell, never in
#                          a $(...) subshell: it sets variables and a clean-up)
#   PG_URL                 postgresql:///weft?host=DIR&user=postgres
#   pg_sql SQL...          runs SQL in the weft database, prints rows unaligned
#   pg_dump_all            the whole database as SQL text (pg_dump)

PG_DIR=
PG_URL=
PG_BIN=

# pg_bin: the newest installed server's bin directory (Debian keeps one per
# major version under /usr/lib/postgresql)
pg_bin() {
	local d
	d=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1)
	[[ -n $d && -x $d/initdb && -x $d/pg_ctl && -x $d/postgres ]] || return 1
	echo "$d"
}

# pg_as_postgres COMMAND...: COMMAND as the postgres user, in a directory it can read
pg_as_postgres() { (cd "$PG_DIR" && runuser -u postgres -- "$@"); }

# pg_start: 0 when the server answers, 1 (with the reason on stderr) when it
# cannot run here
pg_start() {
	PG_BIN=$(pg_bin) || { echo "PostgreSQL server programs are not installed" >&2; return 1; }
	id postgres >/dev/null 2>&1 || { echo "no postgres user" >&2; return 1; }
	PG_DIR=$(mktemp -d /tmp/weft-pg.XXXXXX) || return 1
	on_exit "pg_stop"
	chown postgres: "$PG_DIR" && chmod 700 "$PG_DIR" || return 1
	pg_as_postgres "$PG_BIN/initdb" -D "$PG_DIR/data" -U postgres --auth=trust \
		-E UTF8 --no-sync >"$PG_DIR/initdb.log" 2>&1 ||
		{ cat "$PG_DIR/initdb.log" >&2; return 1; }
	# listen_addresses='': no TCP socket at all, only the unix one in PG_DIR;
	# fsync off: the data lives as long as the test
	pg_as_postgres "$PG_BIN/pg_ctl" -D "$PG_DIR/data" -l "$PG_DIR/server.log" -w -t 30 \
		-o "-c listen_addresses='' -k $PG_DIR -c fsync=off -c full_page_writes=off" \
		start >/dev/null 2>&1 || { cat "$PG_DIR/server.log" >&2; return 1; }
	pg_as_postgres "$PG_BIN/createdb" -h "$PG_DIR" -U postgres weft || return 1
	PG_URL="postgresql:///weft?host=$PG_DIR&user=postgres"
}

pg_stop() {
	[[ -n $PG_DIR ]] || return 0
	[[ -f $PG_DIR/data/postmaster.pid ]] &&
		pg_as_postgres "$PG_BIN/pg_ctl" -D "$PG_DIR/data" -m immediate -w stop >/dev/null 2>&1
	rm -rf "$PG_DIR"
	PG_DIR=
}

# pg_sql SQL...: runs the statements in the weft database (rows unaligned, no headers)
pg_sql() { "$PG_BIN/psql" -X -q -At -v ON_ERROR_STOP=1 "$PG_URL" -c "$*"; }

# pg_dump_all: the weft database, schema and data, as SQL text
pg_dump_all() { "$PG_BIN/pg_dump" --no-owner "$PG_URL"; }

# pg_tcp_listeners: the server's TCP sockets (there must be none)
pg_tcp_listeners() {
	local pid
	pid=$(head -n 1 "$PG_DIR/data/postmaster.pid" 2>/dev/null) || return 0
	ss -Htlnp 2>/dev/null | grep "pid=$pid," || true
}
