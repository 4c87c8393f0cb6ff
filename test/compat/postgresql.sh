#!/usr/bin/env bash
# PostgreSQL 15 (Debian's, one backend process forked per connection, as user
# postgres) with its own clients connecting over TCP to 127.0.0.1, all under
# xio-run (the domain admits group postgres: the server is not root):
#  1. psql creates a database, pgbench -i fills it (COPY FROM STDIN through
#     the connection), psql \copy reads pgbench_accounts back out (COPY TO
#     STDOUT): every row arrives, and X-IO carried at least the table's bytes;
#  2. pgbench's default TPC-B-like script (4 clients, 2 s): no failed
#     transaction, at least 300 B per transaction carried;
#  3. pgbench -S -C (a new connection, so a new backend, per transaction):
#     no failed transaction, at least 300 B per transaction carried;
#  4. pg_dump of the database: the dump has the table's rows, carried;
#  5. pg_basebackup -X stream (the replication protocol: a base backup and
#     WAL streamed at once) makes a standby, which then streams (walsender
#     -> walreceiver, both X-IO): after pgbench writes on the primary, the
#     standby replays the same rows.
# lo rx stays below 5 % of what X-IO carried in each.
# shellcheck source=test/compat/compat_lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/compat_lib.sh"
need_prog pgbench psql pg_dump setpriv
# shellcheck source=test/compat/pg_lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/pg_lib.sh"
# the server runs as postgres: the domain must admit its group
pg_need
compat_init postgresql

PGPORT=$(compat_port)
pg_start
# TCP to 127.0.0.1, under X-IO, as every client below
PSQL=(timeout -k 5 30 "${XRUN[@]}" psql -X -v ON_ERROR_STOP=1 -h 127.0.0.1 -p "$PGPORT" -U postgres)
for ((i = 0; i < 300; i++)); do
	"${PSQL[@]}" -Atc 'select 1' postgres >/dev/null 2>&1 && break
	sleep 0.05
done
log "postgres $PGPID on 127.0.0.1:$PGPORT"

compat_mode postgresql "psql, pgbench -i (COPY in), \\copy out, all X-IO"
measure_start
"${PSQL[@]}" -qc 'create database bench' postgres >"$WORK/psql.log" 2>&1 ||
	fail "psql create database: $(tail -n 3 "$WORK/psql.log" | tr '\n' ' ')"
timeout -k 5 60 "${XRUN[@]}" pgbench -q -i -s 1 -h 127.0.0.1 -p "$PGPORT" -U postgres bench \
	>"$WORK/pgbench-init.log" 2>&1 || fail "pgbench -i: $(tail -n 3 "$WORK/pgbench-init.log" | tr '\n' ' ')"
"${PSQL[@]}" -c "\\copy pgbench_accounts to '$WORK/accounts.csv' csv" bench >"$WORK/copy.log" 2>&1 ||
	fail "psql \\copy: $(tail -n 3 "$WORK/copy.log" | tr '\n' ' ')"
measure_end
rows=$(wc -l <"$WORK/accounts.csv")
csv=$(stat -c %s "$WORK/accounts.csv")
log "\\copy out: $rows rows, $csv B ($(cat "$WORK/copy.log"))"
((rows == 100000)) || fail "\\copy pgbench_accounts gave $rows rows, want 100000"
sums=$("${PSQL[@]}" -Atc 'select count(*), sum(aid), sum(bid) from pgbench_accounts' bench)
[[ $(awk -F, '{ n++; a += $1; b += $2 } END { printf "%d|%d|%d\n", n, a, b }' "$WORK/accounts.csv") == "$sums" ]] ||
	fail "the rows \\copy wrote ($WORK/accounts.csv) do not match the table ($sums)"
# the table went in (COPY FROM STDIN: "aid<TAB>bid<TAB>0<TAB>", at least 10 B
# a row) and came out (COPY TO STDOUT: as many bytes as the CSV file)
carried "postgres <-> psql, pgbench -i" $((csv + rows * 10))
compat_pass "$rows rows in and out, $(human_bytes "$XD") carried by X-IO"

# bench MODE MIN_PER_TX ARGS...: pgbench for 2 s, 4 clients, carried
bench() {
	local mode=$1 per=$2 rc=0 tx
	shift 2
	compat_mode postgresql "$mode"
	measure_start
	timeout -k 5 30 "${XRUN[@]}" pgbench -n "$@" -c 4 -j 2 -T 2 -h 127.0.0.1 -p "$PGPORT" \
		-U postgres bench >"$WORK/pgbench.log" 2>&1 || rc=$?
	measure_end
	grep -E 'processed|failed|tps' "$WORK/pgbench.log" || true
	((rc == 0)) || fail "pgbench exited $rc: $(tail -n 3 "$WORK/pgbench.log" | tr '\n' ' ')"
	proc_alive "$PGPID" || fail "postgres died"
	tx=$(sed -n 's/^number of transactions actually processed: *\([0-9]*\).*/\1/p' "$WORK/pgbench.log")
	((${tx:-0} > 0)) || fail "pgbench processed no transaction"
	grep -q '^number of failed transactions: 0 ' "$WORK/pgbench.log" ||
		fail "pgbench: $(grep 'failed transactions' "$WORK/pgbench.log")"
	carried "postgres <-> pgbench ($mode)" $((tx * per))
	compat_pass "$tx transactions, $(human_bytes "$XD") carried by X-IO"
}
# TPC-B-like: BEGIN, 3 UPDATEs, SELECT, INSERT, END (about 600 B a transaction)
bench "pgbench TPC-B-like, 4 clients, all X-IO" 300
# startup, authentication, parameters, the query and its reply (about 600 B)
bench "pgbench -S -C (a backend per transaction), all X-IO" 300 -S -C

compat_mode postgresql "pg_dump, all X-IO"
measure_start
timeout -k 5 30 "${XRUN[@]}" pg_dump -h 127.0.0.1 -p "$PGPORT" -U postgres -t pgbench_accounts bench \
	>"$WORK/dump.sql" 2>"$WORK/dump.err" || fail "pg_dump: $(tail -n 3 "$WORK/dump.err" | tr '\n' ' ')"
measure_end
drows=$(awk '/^COPY public.pgbench_accounts /{ on = 1; next } /^\\\.$/{ on = 0 } on { n++ } END { print n + 0 }' "$WORK/dump.sql")
log "pg_dump: $(stat -c %s "$WORK/dump.sql") B, $drows rows of pgbench_accounts"
((drows == 100000)) || fail "pg_dump has $drows rows of pgbench_accounts, want 100000"
carried "postgres -> pg_dump" "$csv"
compat_pass "$drows rows, $(human_bytes "$XD") carried by X-IO"

compat_mode postgresql "pg_basebackup -X stream, streaming standby, all X-IO"
mkdir -p "$WORK/standby"
chown postgres: "$WORK/standby"
chmod 700 "$WORK/standby"
measure_start
timeout -k 5 60 "${XRUN[@]}" "${AS_PG[@]}" pg_basebackup -h 127.0.0.1 -p "$PGPORT" -U postgres \
	-D "$WORK/standby/data" -X stream -R -c fast >"$WORK/basebackup.log" 2>&1 ||
	fail "pg_basebackup: $(tail -n 3 "$WORK/basebackup.log" | tr '\n' ' ')"
measure_end
bsize=$(du -sb "$WORK/standby/data" | cut -f1)
log "pg_basebackup: $bsize B on disk"
# the relation files and the WAL came over the wire (on disk some are sparse or empty)
carried "postgres -> pg_basebackup" $((bsize / 2))
SPORT=$(compat_port)
"${XRUN[@]}" "${AS_PG[@]}" "$PGBIN/postgres" -D "$WORK/standby/data" -p "$SPORT" \
	-c listen_addresses=127.0.0.1 -c unix_socket_directories="$WORK/pgsock" \
	-c fsync=off >"$WORK/standby.log" 2>&1 &
SPID=$!
compat_track "$SPID"
compat_log "$WORK/standby.log"
wait_port "$SPORT" 30 "$SPID"
state=
for ((i = 0; i < 200; i++)); do
	state=$("${PSQL[@]}" -Atc 'select state from pg_stat_replication' postgres 2>/dev/null || true)
	[[ $state == streaming ]] && break
	sleep 0.05
done
[[ $state == streaming ]] || fail "the standby does not stream (pg_stat_replication: '$state')"
measure_start
timeout -k 5 30 "${XRUN[@]}" pgbench -n -c 2 -T 1 -h 127.0.0.1 -p "$PGPORT" -U postgres bench \
	>"$WORK/pgbench-primary.log" 2>&1 || fail "pgbench on the primary: $(tail -n 3 "$WORK/pgbench-primary.log" | tr '\n' ' ')"
q='select count(*), coalesce(sum(delta), 0) from pgbench_history'
want=$("${PSQL[@]}" -Atc "$q" bench)
for ((i = 0; i < 200; i++)); do
	got=$("${PSQL[@]}" -p "$SPORT" -Atc "$q" bench 2>/dev/null || true)
	[[ $got == "$want" ]] && break
	sleep 0.05
done
measure_end
[[ $got == "$want" ]] || fail "the standby has pgbench_history '$got', the primary '$want'"
log "standby replayed pgbench_history: $got (count|sum)"
tx=$(sed -n 's/^number of transactions actually processed: *\([0-9]*\).*/\1/p' "$WORK/pgbench-primary.log")
((${tx:-0} > 0)) || fail "pgbench on the primary processed no transaction"
# each transaction's WAL (3 UPDATEs and an INSERT) is far above 300 B
carried "walsender -> walreceiver, pgbench" $((tx * 300))
compat_pass "base backup $(human_bytes "$bsize"), the standby streamed and replayed $tx new transactions"
