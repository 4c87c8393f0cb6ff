#!/usr/bin/env bash
# pgbouncer (Debian's, tcp_defer_accept = 1 as it defaults on Linux: it sets
# TCP_DEFER_ACCEPT on its listener, again on every reload) in front of
# PostgreSQL 15, both as user postgres, pgbench through pgbouncer, all under
# xio-run:
#  1. the listener has TCP_DEFER_ACCEPT; pgbench -S (4 clients, 3 s) and
#     pgbench -S -C (a new connection per transaction) complete with no
#     failed transaction, and X-IO carried them (at least 100 B per
#     transaction; lo rx < 5 % of that);
#  2. SIGHUP with tcp_defer_accept = 0, then = 1 again: the option follows
#     (0, then set again), and after each reload pgbench is still carried.
# shellcheck source=test/compat/compat_lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/compat_lib.sh"
need_prog pgbouncer pgbench psql setpriv
# shellcheck source=test/compat/pg_lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/pg_lib.sh"
# both servers run as postgres: the domain must admit its group
pg_need
compat_init pgbouncer

PGPORT=$(compat_port)
BPORT=$(compat_port)
mkdir -p "$WORK/pgb"
chown postgres: "$WORK/pgb"
pg_start
for ((i = 0; i < 300; i++)); do
	"${PLAIN[@]}" psql -h "$WORK/pgsock" -p "$PGPORT" -U postgres -Atc 'select 1' postgres \
		>/dev/null 2>&1 && break
	sleep 0.05
done
"${PLAIN[@]}" psql -h "$WORK/pgsock" -p "$PGPORT" -U postgres -qc 'create database bench' postgres ||
	fail "cannot create the database"
"${PLAIN[@]}" pgbench -q -i -s 1 -h "$WORK/pgsock" -p "$PGPORT" -U postgres bench \
	>"$WORK/pgbench-init.log" 2>&1 || fail "pgbench -i: $(tail -n 3 "$WORK/pgbench-init.log" | tr '\n' ' ')"
log "postgres $PGPID on 127.0.0.1:$PGPORT, database bench ready"

# bouncer_conf DEFER: pgbouncer.ini with tcp_defer_accept = DEFER
bouncer_conf() {
	cat >"$WORK/pgb/pgbouncer.ini" <<INI
[databases]
bench = host=127.0.0.1 port=$PGPORT dbname=bench
[pgbouncer]
listen_addr = 127.0.0.1
listen_port = $BPORT
unix_socket_dir =
auth_type = trust
auth_file = $WORK/pgb/userlist.txt
admin_users = postgres
pool_mode = session
max_client_conn = 100
default_pool_size = 8
logfile = $WORK/pgb/pgbouncer.log
pidfile = $WORK/pgb/pgbouncer.pid
tcp_defer_accept = $1
INI
}
echo '"postgres" ""' >"$WORK/pgb/userlist.txt"
bouncer_conf 1
chown postgres: "$WORK/pgb/pgbouncer.ini" "$WORK/pgb/userlist.txt"
"${XRUN[@]}" "${AS_PG[@]}" pgbouncer "$WORK/pgb/pgbouncer.ini" >"$WORK/pgbouncer.out" 2>&1 &
BPID=$!
compat_track "$BPID"
compat_log "$WORK/pgb/pgbouncer.log"
wait_port "$BPORT" 15 "$BPID"

# bench MODE ARGS...: pgbench -S through pgbouncer, carried
bench() {
	local mode=$1 rc=0 tx
	shift
	compat_mode pgbouncer "$mode"
	measure_start
	timeout -k 5 30 "${XRUN[@]}" pgbench -S -n "$@" -c 4 -j 2 -T 3 -h 127.0.0.1 -p "$BPORT" \
		-U postgres bench >"$WORK/pgbench.log" 2>&1 || rc=$?
	measure_end
	grep -E 'processed|failed|tps' "$WORK/pgbench.log" || true
	((rc == 0)) || fail "pgbench exited $rc: $(tail -n 3 "$WORK/pgbench.log" | tr '\n' ' ')"
	proc_alive "$BPID" || fail "pgbouncer died"
	tx=$(sed -n 's/^number of transactions actually processed: *\([0-9]*\).*/\1/p' "$WORK/pgbench.log")
	((${tx:-0} > 0)) || fail "pgbench processed no transaction"
	grep -q '^number of failed transactions: 0 ' "$WORK/pgbench.log" ||
		fail "pgbench: $(grep 'failed transactions' "$WORK/pgbench.log")"
	# at least 100 B per transaction between pgbench and pgbouncer: the query
	# (SELECT abalance FROM pgbench_accounts WHERE aid = N, 61 B) and its reply
	carried "pgbouncer <- pgbench ($mode)" $((tx * 100))
	compat_pass "$tx transactions, $(human_bytes "$XD") carried by X-IO (pgbench, pgbouncer, postgres)"
}

# reload DEFER WANT: SIGHUP with tcp_defer_accept = DEFER; the listener's
# TCP_DEFER_ACCEPT becomes WANT (0, or more than 0: pgbouncer sets 45 s)
reload() {
	local i d
	bouncer_conf "$1"
	kill -HUP "$BPID"
	for ((i = 0; i < 200; i++)); do
		d=$(listener_defer "$BPID" "$BPORT")
		if (($2 == 0 ? d == 0 : d > 0)); then
			log "reloaded with tcp_defer_accept = $1: TCP_DEFER_ACCEPT $d"
			return 0
		fi
		sleep 0.02
	done
	fail "after SIGHUP with tcp_defer_accept = $1 the listener has TCP_DEFER_ACCEPT $d"
}

defer=$(listener_defer "$BPID" "$BPORT")
log "pgbouncer $BPID on 127.0.0.1:$BPORT: TCP_DEFER_ACCEPT $defer"
((defer > 0)) || fail "pgbouncer's listener has no TCP_DEFER_ACCEPT"
bench "tcp_defer_accept (default), pgbench -S, all X-IO"
bench "tcp_defer_accept (default), pgbench -S -C, all X-IO" -C
reload 0 0
bench "after SIGHUP, tcp_defer_accept = 0, pgbench -S -C, all X-IO" -C
reload 1 1
bench "after SIGHUP, tcp_defer_accept = 1 again, pgbench -S -C, all X-IO" -C
