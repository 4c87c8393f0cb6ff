#!/usr/bin/env bash
# Domain exhausted: a manager with --slots 8; one process holds 8 X-IO
# connections open; the 9th and the 10th connection (from other processes)
# still succeed over kernel TCP, and xio-stat counts fallback.domain_full >= 2.
# Once the 8 are closed, the slots come back and a new connection is X-IO
# again.
# shellcheck source=test/fault/lib_fault.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib_fault.sh"
MANAGER_ARGS=(--slots 8 --ring-kb 16)
fault_init domain_full

FS=$FAULT_BIN/fshort
port=$(free_port)
"${XRUN[@]}" "$FS" server 127.0.0.1 "$port" --ready "$WORK/ready" >"$WORK/server.log" 2>&1 &
wait_file "$WORK/ready" 5000

# a sink that reads 1 MiB to EOF, for the connection that shows on lo
port2=$(free_port)
"${XRUN[@]}" "$FAULT_BIN/fpeer" server 127.0.0.1 "$port2" --recv 1M --plain --ready "$WORK/ready2" \
	>"$WORK/sink.log" 2>&1 &
spid=$!
wait_file "$WORK/ready2" 5000

SLOTS=$(xio_field slots)
((SLOTS == 8)) || fail "the manager has $SLOTS slots, not 8"

# hold 8 connections until the fifo closes
mkfifo "$WORK/hold"
"${XRUN[@]}" "$FS" hold 127.0.0.1 "$port" 8 --ready "$WORK/held" <"$WORK/hold" >"$WORK/hold.log" 2>&1 &
hpid=$!
exec 3>"$WORK/hold"
wait_file "$WORK/held" 10000
open=$(xio_field conns_open)
used=$(xio_field slots_in_use)
log "holding 8: conns_open=$open slots_in_use=$used"
((open == 8 && used == 8)) || fail "expected 8 X-IO connections in 8 slots, got conns_open=$open slots_in_use=$used"

full0=$(xio_field fallback.domain_full)
x0=$(xio_bytes)
l0=$(lo_bytes)
for k in 9 10; do
	out=$("${XRUN[@]}" "$FS" short 127.0.0.1 "$port" 1 2>&1) || fail "connection $k failed: $out"
	log "connection $k: $out"
done
# one connection that moves more bytes, so the loopback counter shows it
out=$("${XRUN[@]}" "$FAULT_BIN/fpeer" client 127.0.0.1 "$port2" --send 1M --recv 0 --plain 2>&1) ||
	fail "11th connection (1 MiB) failed: $out"
reap "$spid"
((REAP_RC == 0)) || fail "the sink did not receive 1 MiB intact: $(cat "$WORK/sink.log")"
full=$(($(xio_field fallback.domain_full) - full0))
xd=$(($(xio_bytes) - x0))
ld=$(($(lo_bytes) - l0))
log "fallback.domain_full +$full, xio-stat bytes +$xd, lo rx +$ld"
((full >= 2)) || fail "xio-stat counts $full domain_full fallbacks for 3 connections beyond 8 slots (want >= 2)"
((xd == 0)) || fail "X-IO carried $xd bytes although the domain was full"
((ld >= 1 << 20)) || fail "lo saw only $ld bytes: the fallback connections did not use kernel TCP"

# release: the 8 ping again and close; slots come back; X-IO again
exec 3>&-
reap "$hpid"; rc=$REAP_RC
((rc == 0)) || fail "the 8 held connections failed on their second ping: $(cat "$WORK/hold.log")"
t0=$(now_ms)
while (($(xio_field slots_in_use) != 0)); do
	(($(now_ms) - t0 > 10000)) && fail "slots not reclaimed 10 s after the 8 closed"
	sleep 0.05
done
total0=$(xio_field conns_total)
out=$("${XRUN[@]}" "$FS" short 127.0.0.1 "$port" 20 2>&1) || fail "after release: $out"
((($(xio_field conns_total) - total0) == 20)) || fail "after release the connections did not use X-IO again"
log "PASS"
