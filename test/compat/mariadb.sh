#!/usr/bin/env bash
# MariaDB 10.11 (Debian's; a thread per connection, as user mysql, root
# logging in over TCP with the native password method) and its own clients
# connecting to 127.0.0.1, all under xio-run (the domain admits group mysql:
# the server drops to that user before it listens):
#  1. the mariadb client loads 200 rows of 10 kB (a 4 MB SQL script) and
#     reads them back: what it reads is what it sent (sha256), carried;
#  2. mariadb-slap (4 concurrent clients, auto-generated SQL) completes,
#     carried;
#  3. mariadb-dump of the table has the 200 rows, carried.
# lo rx stays below 5 % of what X-IO carried in each.
# shellcheck source=test/compat/compat_lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/compat_lib.sh"
need_prog mariadbd mariadb mariadb-install-db mariadb-slap mariadb-dump
id mysql >/dev/null 2>&1 || fail "no user mysql (Debian package mariadb-server)"
MANAGER_ARGS=(--group mysql)
compat_init mariadb

PORT=$(compat_port)
mkdir -p "$WORK/db"
chown mysql: "$WORK/db"
"${PLAIN[@]}" mariadb-install-db --no-defaults --datadir="$WORK/db" --user=mysql \
	--auth-root-authentication-method=normal >"$WORK/install-db.log" 2>&1 ||
	fail "mariadb-install-db: $(tail -n 3 "$WORK/install-db.log" | tr '\n' ' ')"
"${XRUN[@]}" mariadbd --no-defaults --datadir="$WORK/db" --user=mysql --port="$PORT" \
	--bind-address=127.0.0.1 --socket="$WORK/db/mysqld.sock" --pid-file="$WORK/db/mysqld.pid" \
	--log-error="$WORK/mariadbd.log" --innodb-buffer-pool-size=32M --skip-name-resolve \
	>"$WORK/mariadbd.out" 2>&1 &
MPID=$!
compat_track "$MPID"
compat_log "$WORK/mariadbd.out"
wait_port "$PORT" 30 "$MPID"
# TCP to 127.0.0.1, under X-IO, as every client below
CONN=(--no-defaults --protocol=tcp -h 127.0.0.1 -P "$PORT" -u root)
SQL=(timeout -k 5 30 "${XRUN[@]}" mariadb "${CONN[@]}")
ver=$("${SQL[@]}" -N -e 'select version()' 2>"$WORK/sql.err") ||
	fail "mariadb: $(tail -n 3 "$WORK/sql.err" | tr '\n' ' ')"
log "mariadbd $MPID ($ver) on 127.0.0.1:$PORT"

rows=200 width=10000
compat_mode mariadb "mariadb client, 200 x 10 kB in and out, all X-IO"
"$PY" -c '
import os, sys
n, w = int(sys.argv[1]), int(sys.argv[2])
with open(sys.argv[3], "w") as sql, open(sys.argv[4], "w") as want:
    sql.write("create database t;\ncreate table t.x (id int primary key, b mediumtext);\n")
    for i in range(n):
        v = os.urandom(w // 2).hex()
        sql.write("insert into t.x values (%d, \x27%s\x27);\n" % (i, v))
        want.write(v + "\n")' "$rows" "$width" "$WORK/load.sql" "$WORK/want.txt"
measure_start
"${SQL[@]}" <"$WORK/load.sql" 2>"$WORK/sql.err" || fail "loading: $(tail -n 3 "$WORK/sql.err" | tr '\n' ' ')"
"${SQL[@]}" -N -e 'select b from t.x order by id' >"$WORK/got.txt" 2>"$WORK/sql.err" ||
	fail "select: $(tail -n 3 "$WORK/sql.err" | tr '\n' ' ')"
measure_end
[[ $(sha "$WORK/got.txt") == "$(sha "$WORK/want.txt")" ]] ||
	fail "the rows read back differ from those sent ($(wc -l <"$WORK/got.txt") lines)"
carried "mariadb <-> mariadbd" $((2 * rows * width))
compat_pass "$rows rows, sha256 ok, $(human_bytes "$XD") carried by X-IO"

compat_mode mariadb "mariadb-slap, 4 clients, all X-IO"
measure_start
rc=0
timeout -k 5 60 "${XRUN[@]}" mariadb-slap "${CONN[@]}" --concurrency=4 --iterations=1 \
	--number-of-queries=400 --auto-generate-sql >"$WORK/slap.log" 2>&1 || rc=$?
measure_end
grep -E 'seconds|clients' "$WORK/slap.log" || true
((rc == 0)) || fail "mariadb-slap exited $rc: $(tail -n 3 "$WORK/slap.log" | tr '\n' ' ')"
grep -q 'Number of clients running queries: 4' "$WORK/slap.log" ||
	fail "mariadb-slap did not report its 4 clients: $(tr '\n' ' ' <"$WORK/slap.log")"
# 400 queries, a third inserts of ~700 B, two thirds selects of ~100 rows
carried "mariadb-slap <-> mariadbd" $((1024 * 1024))
compat_pass "400 queries, $(human_bytes "$XD") carried by X-IO"

compat_mode mariadb "mariadb-dump, all X-IO"
measure_start
timeout -k 5 30 "${XRUN[@]}" mariadb-dump "${CONN[@]}" --skip-extended-insert t x \
	>"$WORK/dump.sql" 2>"$WORK/dump.err" || fail "mariadb-dump: $(tail -n 3 "$WORK/dump.err" | tr '\n' ' ')"
measure_end
drows=$(grep -c "^INSERT INTO \`x\` VALUES" "$WORK/dump.sql" || true)
log "mariadb-dump: $(stat -c %s "$WORK/dump.sql") B, $drows rows"
((drows == rows)) || fail "mariadb-dump has $drows rows, want $rows"
carried "mariadbd -> mariadb-dump" $((rows * width))
compat_pass "$drows rows, $(human_bytes "$XD") carried by X-IO"
proc_alive "$MPID" || fail "mariadbd died"
