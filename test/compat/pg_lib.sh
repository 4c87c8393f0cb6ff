# shellcheck shell=bash
# A postgres server for the compat tests that need one (postgresql.sh,
# pgbouncer.sh): Debian's postgresql-15, run as postgres under xio-run.
# Source after compat_lib.sh; pg_need before compat_init (the domain must
# admit the group postgres), pg_start after it.

PGBIN=/usr/lib/postgresql/15/bin
AS_PG=(setpriv --reuid postgres --regid postgres --init-groups)

# The binaries and the user exist; the domain will admit postgres's group.
pg_need() {
	[[ -x $PGBIN/postgres && -x $PGBIN/initdb ]] || fail "$PGBIN missing (Debian package postgresql-15)"
	id postgres >/dev/null 2>&1 || fail "no user postgres (Debian package postgresql-common)"
	# shellcheck disable=SC2034 # read by compat_init (compat_lib.sh)
	MANAGER_ARGS=(--group postgres)
}

# A fresh cluster in $WORK/pg, served under xio-run on 127.0.0.1:$PGPORT
# (its Unix socket in $WORK/pgsock); sets PGPID once the port listens.
pg_start() {
	mkdir -p "$WORK/pg" "$WORK/pgsock"
	chown postgres: "$WORK/pg" "$WORK/pgsock"
	"${PLAIN[@]}" "${AS_PG[@]}" "$PGBIN/initdb" -D "$WORK/pg/data" -A trust -U postgres \
		>"$WORK/initdb.log" 2>&1 || fail "initdb: $(tail -n 3 "$WORK/initdb.log" | tr '\n' ' ')"
	"${XRUN[@]}" "${AS_PG[@]}" "$PGBIN/postgres" -D "$WORK/pg/data" -p "$PGPORT" \
		-c listen_addresses=127.0.0.1 -c unix_socket_directories="$WORK/pgsock" \
		-c fsync=off -c shared_buffers=16MB -c max_connections=40 >"$WORK/postgres.log" 2>&1 &
	PGPID=$!
	compat_track "$PGPID"
	compat_log "$WORK/postgres.log"
	wait_port "$PGPORT" 30 "$PGPID"
}
