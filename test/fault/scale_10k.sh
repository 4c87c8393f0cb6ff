#!/usr/bin/env bash
# 10,000 concurrent connections on a default manager (issue 15):
#   1. one client process opens 10,000 connections to one epoll server and
#      runs 64 B ping-pong on all of them for a second, then holds them open,
#      idle: every one is carried by X-IO (conns_open, 0 fallbacks);
#   2. idle, the domain's memory in use (reserved memory plus ring pages
#      backed now) is at most 1 GiB, and each idle ring keeps at most a few
#      pages (the sweep gave the rest back);
#   3. a bulk connection (256 MiB, checked) grows its rings meanwhile; once it
#      is closed and the 10,000 are closed, every ring page goes back:
#      rings_in_use returns to 0 and no slot stays in use.
# shellcheck source=test/fault/lib_fault.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib_fault.sh"
fault_init scale_10k

N=10000
MC=$XIO_BIN/xio-bench-manyconn
[[ -x $MC ]] || fail "$MC not built"
# Each client connection is one fd plus at most one port holder (stack/connect.c).
ulimit -n 65536 2>/dev/null || ulimit -n "$(ulimit -Hn)"
(($(ulimit -n) >= N * 2)) || fail "RLIMIT_NOFILE $(ulimit -n) (hard $(ulimit -Hn)) is below $((N * 2)): cannot hold $N connections"

field() { xio_field "$1"; }
slots=$(field slots)
((slots >= N)) || fail "the default manager has $slots slots, fewer than $N"
fb0=$(field fallback_total)
reserved=$(field memory_bytes)
r0=$(field rings_in_use)
log "default manager: $slots slots, $((reserved >> 20)) MiB reserved, rings in use $r0 B"

port=$(free_port)
"${XRUN[@]}" "$MC" server "127.0.0.1:$port" >"$WORK/server.log" 2>&1 &
spid=$!
wait_port "$port" 10 "$spid"

t0=$(now_ms)
"${XRUN[@]}" "$MC" client "127.0.0.1:$port" "$N" 64 1 hold >"$WORK/client.log" 2>&1 &
cpid=$!
until grep -q '^holding' "$WORK/client.log"; do
	proc_alive "$cpid" || fail "the client died: $(tail -n 3 "$WORK/client.log")"
	(($(now_ms) - t0 > 120000)) && fail "$N connections not open after 120 s"
	sleep 0.2
done
log "client: $(head -n 1 "$WORK/client.log") ($(($(now_ms) - t0)) ms)"

open=$(field conns_open)
fbs=$(($(field fallback_total) - fb0))
log "holding $N: conns_open=$open fallbacks=$fbs"
((open == N)) || fail "$open of $N connections are X-IO connections"
((fbs == 0)) || fail "$fbs connections fell back to kernel TCP: $(xio_stat_json | grep -o '"fallback":{[^}]*}')"

# a bulk connection next to them: its rings grow to what it moves
pb=$(free_port)
"${XRUN[@]}" "$FAULT_BIN/fpeer" server 127.0.0.1 "$pb" --recv 256M --ready "$WORK/b.ready" >"$WORK/b-server.log" 2>&1 &
sb=$!
wait_file "$WORK/b.ready" 5000
"${XRUN[@]}" "$FAULT_BIN/fpeer" client 127.0.0.1 "$pb" --send 256M --recv 0 >"$WORK/b-client.log" 2>&1 &
cb=$!
peak=0
while proc_alive "$cb"; do
	r=$(field rings_in_use)
	((r > peak)) && peak=$r
	sleep 0.05
done
reap "$cb"
((REAP_RC == 0)) || fail "bulk client failed: $(cat "$WORK/b-client.log")"
wait_exit "$sb" 10000 >/dev/null || fail "bulk server did not finish"
grep -q 'rx=EOF' "$WORK/b-server.log" || fail "bulk server: $(cat "$WORK/b-server.log")"
log "bulk 256 MiB: $(cat "$WORK/b-client.log"); ring memory peak $((peak >> 20)) MiB"

# idle: two sweeps (1 s each) give the pages of idle rings back
sleep 3
idle=$(field rings_in_use)
inuse=$(field memory_in_use)
limit=$(field memory_limit)
per=$((idle / N))
log "idle $N: memory in use $((inuse >> 20)) MiB (reserved $((reserved >> 20)) MiB, rings $((idle >> 20)) MiB, $per B per connection), limit $((limit >> 20)) MiB"
((inuse <= 1 << 30)) || fail "memory in use with $N idle connections is $((inuse >> 20)) MiB, above 1 GiB"
((per <= 6 * 4096)) || fail "an idle connection keeps $per B of ring pages (want <= 6 pages for its 2 rings)"
((peak > idle)) || fail "the bulk connection's rings never grew (peak $peak, idle $idle)"

# close all: every ring page goes back, no slot stays in use
kill "$cpid"
reap "$cpid"
t1=$(now_ms)
until (($(field slots_in_use) == 0)) && (($(field rings_in_use) == 0)); do
	(($(now_ms) - t1 > 20000)) && fail "20 s after closing: slots_in_use $(field slots_in_use), rings_in_use $(field rings_in_use)"
	sleep 0.2
done
log "closed: slots_in_use 0, rings_in_use 0 after $(($(now_ms) - t1)) ms"
((spid > 0)) && kill "$spid"
figure scale_10k "$N connections carried, 0 fallbacks, idle memory in use $((inuse >> 20)) MiB ($per B of ring pages per idle connection), bulk ring peak $((peak >> 20)) MiB, all ring pages back after close"
log "PASS"
