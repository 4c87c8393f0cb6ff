#!/usr/bin/env bash
# A zero-copy service chain of four processes under xio-run (benchmarks/zc_chain.c):
#   source -> relay -> relay -> sink
# Each relay takes a message with xio_rx(), reads its sequence number, bumps
# its hop count in place and forwards the very same buffer with xio_tx().
#  1. 64 B, 64 KiB and a sub-range (--offset): the sink checks every byte and
#     the hop count; each relay relayed every message; X-IO carried the bytes
#     of all three hops (xio-stat bytes >= 3 x payload, lo rx < 5 %); every
#     buffer is back in the pool afterwards (bufs_in_use 0);
#  2. the same chain with read()/write() (--copy) on kernel TCP, as the
#     benchmark's baseline;
#  3. the second relay stops holding a buffer and is SIGKILLed mid-chain: the
#     first relay and the source see ECONNRESET/EPIPE, the sink EOF, and every
#     buffer (held by the dead relay, in flight on its connections) comes back
#     (xio-stat --json bufs_in_use returns to 0 within 10 s).
# shellcheck source=test/integration/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
MANAGER_ARGS=(--bufs 16 --buf-kb 64)
xio_test_init zc_chain

CH=$XIO_BIN/xio-bench-zc-chain
[[ -x $CH ]] || fail "$CH not built"

# start_chain NAME RUNNER... -- SINK_OPTS -- RELAY2_OPTS: sink and two relays in the
# background (relay 1 gets the sink's options); sets P1 (where the source
# connects), SINK, R1, R2 (pids).
start_chain() {
	local name=$1 p3 p2
	shift
	local -a run=() sink_opts=() r2_opts=()
	while [[ $1 != -- ]]; do
		run+=("$1")
		shift
	done
	shift
	while [[ $1 != -- ]]; do
		sink_opts+=("$1")
		shift
	done
	shift
	r2_opts=("$@")
	p3=$(free_port)
	"${run[@]}" "$CH" sink "tcp:127.0.0.1:$p3" 2 "${sink_opts[@]}" >"$WORK/$name-sink.log" 2>&1 &
	SINK=$!
	wait_port "$p3" 10 "$SINK"
	p2=$(free_port)
	"${run[@]}" "$CH" relay "tcp:127.0.0.1:$p2" "tcp:127.0.0.1:$p3" "${r2_opts[@]}" \
		>"$WORK/$name-r2.log" 2>&1 &
	R2=$!
	wait_port "$p2" 10 "$R2"
	P1=$(free_port)
	"${run[@]}" "$CH" relay "tcp:127.0.0.1:$P1" "tcp:127.0.0.1:$p2" "${sink_opts[@]}" \
		>"$WORK/$name-r1.log" 2>&1 &
	R1=$!
	wait_port "$P1" 10 "$R1"
}

# finish_chain NAME COUNT: every stage exited 0; the sink's line checked, in LINE.
finish_chain() {
	local name=$1 count=$2 pid rc line r
	for pid in "$R1" "$R2" "$SINK"; do
		rc=0
		wait "$pid" || rc=$?
		((rc == 0)) || fail "$name: a stage (pid $pid) exited $rc: $(tail -n 3 "$WORK/$name"-*.log)"
	done
	for r in r1 r2; do
		grep -qx "relayed $count" "$WORK/$name-$r.log" ||
			fail "$name: $r did not relay $count messages: $(cat "$WORK/$name-$r.log")"
	done
	line=$(grep '^chain ' "$WORK/$name-sink.log") || fail "$name: no result line from the sink"
	[[ $line == *" msgs=$count "* ]] || fail "$name: sink saw other than $count messages: $line"
	LINE=$line
}

COUNT=2000
for spec in "64 0" "65536 0" "1000 4096"; do
	read -r size offset <<<"$spec"
	name=zc-$size-$offset
	x0=$(xio_bytes)
	l0=$(lo_bytes)
	start_chain "$name" "${XRUN[@]}" -- --
	rc=0
	timeout -k 5 60 "${XRUN[@]}" "$CH" source "tcp:127.0.0.1:$P1" "$size" "$COUNT" --offset "$offset" \
		>"$WORK/$name-source.log" 2>&1 || rc=$?
	((rc == 0)) || fail "$name: source exited $rc: $(cat "$WORK/$name-source.log")"
	finish_chain "$name" "$COUNT"
	x1=$(xio_bytes)
	l1=$(lo_bytes)
	log "zero-copy $size B (offset $offset): $LINE"
	assert_carried "zero-copy chain $size B, 3 hops" $((3 * size * COUNT)) $((x1 - x0)) $((l1 - l0))
	inuse=$(xio_field bufs_in_use)
	((inuse == 0)) || fail "$name: $inuse buffers still in use after the chain ended"
done

# The baseline of the benchmark: read()/write() on kernel TCP.
start_chain copy "${PLAIN[@]}" -- --copy -- --copy
rc=0
timeout -k 5 60 "${PLAIN[@]}" "$CH" source "tcp:127.0.0.1:$P1" 65536 500 --copy \
	>"$WORK/copy-source.log" 2>&1 || rc=$?
((rc == 0)) || fail "copy: source exited $rc: $(cat "$WORK/copy-source.log")"
finish_chain copy 500
log "read()/write() on kernel TCP, 64 KiB: $LINE"

# A relay killed mid-chain while it holds a buffer and others are in flight.
start_chain kill "${XRUN[@]}" -- -- --stall-at 100
"${XRUN[@]}" "$CH" source "tcp:127.0.0.1:$P1" 65536 1000000 >"$WORK/kill-source.log" 2>&1 &
SRC=$!
for ((i = 0; i < 1000; i++)); do
	grep -q "stalled at 100" "$WORK/kill-r2.log" && break
	proc_alive "$R2" || fail "relay 2 exited before stalling: $(cat "$WORK/kill-r2.log")"
	sleep 0.01
done
grep -q "stalled at 100" "$WORK/kill-r2.log" || fail "relay 2 never stalled"
sleep 0.2
inuse=$(xio_field bufs_in_use)
((inuse > 0)) || fail "no buffer in use while relay 2 holds one"
log "relay 2 stalled holding message 100; $inuse buffers in use; SIGKILL to pid $R2"
kill -KILL "$R2"
for pid in "$SRC" "$R1" "$SINK"; do
	wait_exit "$pid" 10000 >/dev/null || fail "pid $pid still running 10 s after relay 2 was killed"
done
rc=0
wait "$R1" || rc=$?
((rc != 0)) || fail "relay 1 exited 0 although its next hop died"
grep -Eq "Connection reset|Broken pipe" "$WORK/kill-r1.log" ||
	fail "relay 1 did not see ECONNRESET/EPIPE: $(cat "$WORK/kill-r1.log")"
rc=0
wait "$SINK" || rc=$?
((rc == 0)) || fail "sink exited $rc instead of seeing EOF: $(cat "$WORK/kill-sink.log")"
grep -q '^chain .* msgs=100 ' "$WORK/kill-sink.log" ||
	fail "sink did not get exactly the 100 messages before the stall: $(cat "$WORK/kill-sink.log")"
rc=0
wait "$SRC" || rc=$?
((rc != 0)) || fail "source exited 0 although the chain broke"
t0=$(now_ms)
for ((i = 0; i < 100; i++)); do
	inuse=$(xio_field bufs_in_use)
	((inuse == 0)) && break
	sleep 0.1
done
((inuse == 0)) || fail "$inuse buffers still in use 10 s after the relay was killed"
log "every buffer back $(($(now_ms) - t0)) ms after the others exited (reclaimed so far: $(xio_field bufs_reclaimed))"
log "PASS"
