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
#  3. a relay stops holding a buffer and is SIGKILLed mid-chain (the second,
#     then the first): the stage before it sees ECONNRESET/EPIPE, the stage
#     after it EOF after exactly the messages before the stall, and every
#     buffer (held by the dead relay, in flight on its connections) comes back
#     (xio-stat --json bufs_in_use returns to 0 within 10 s).
# shellcheck source=test/integration/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
MANAGER_ARGS=(--bufs 16 --buf-kb 64)
xio_test_init zc_chain

CH=$XIO_BIN/xio-bench-zc-chain
[[ -x $CH ]] || fail "$CH not built"

# start_chain NAME RUNNER... -- OPTS...: sink and two relays in the background,
# each with OPTS (relay 1 also with "${R1X[@]}", relay 2 with "${R2X[@]}");
# sets P1 (where the source connects), SINK, R1, R2 (pids).
R1X=() R2X=()
start_chain() {
	local name=$1 p3 p2
	shift
	local -a run=()
	while [[ $1 != -- ]]; do
		run+=("$1")
		shift
	done
	shift
	p3=$(free_port)
	"${run[@]}" "$CH" sink "tcp:127.0.0.1:$p3" 2 "$@" >"$WORK/$name-sink.log" 2>&1 &
	SINK=$!
	wait_port "$p3" 10 "$SINK"
	p2=$(free_port)
	"${run[@]}" "$CH" relay "tcp:127.0.0.1:$p2" "tcp:127.0.0.1:$p3" "$@" "${R2X[@]}" \
		>"$WORK/$name-r2.log" 2>&1 &
	R2=$!
	wait_port "$p2" 10 "$R2"
	P1=$(free_port)
	"${run[@]}" "$CH" relay "tcp:127.0.0.1:$P1" "tcp:127.0.0.1:$p2" "$@" "${R1X[@]}" \
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
	start_chain "$name" "${XRUN[@]}" --
	rc=0
	timeout -k 5 30 "${XRUN[@]}" "$CH" source "tcp:127.0.0.1:$P1" "$size" "$COUNT" --offset "$offset" \
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
start_chain copy "${PLAIN[@]}" -- --copy
rc=0
timeout -k 5 60 "${PLAIN[@]}" "$CH" source "tcp:127.0.0.1:$P1" 65536 500 --copy \
	>"$WORK/copy-source.log" 2>&1 || rc=$?
((rc == 0)) || fail "copy: source exited $rc: $(cat "$WORK/copy-source.log")"
finish_chain copy 500
log "read()/write() on kernel TCP, 64 KiB: $LINE"

# A relay killed mid-chain while it holds a buffer and others are in flight to
# and from it: the second relay (its upstream sees the reset), then the first
# (the source sees it; the second relay and the sink see EOF).
for victim in 2 1; do
	name=kill$victim
	R1X=() R2X=()
	if ((victim == 2)); then R2X=(--stall-at 100); else R1X=(--stall-at 100); fi
	start_chain "$name" "${XRUN[@]}" --
	"${XRUN[@]}" "$CH" source "tcp:127.0.0.1:$P1" 65536 1000000 >"$WORK/$name-source.log" 2>&1 &
	SRC=$!
	if ((victim == 2)); then VPID=$R2 UP=$R1 DOWN=$SINK; else VPID=$R1 UP=$SRC DOWN=$R2; fi
	for ((i = 0; i < 1000; i++)); do
		grep -q "stalled at 100" "$WORK/$name-r$victim.log" && break
		proc_alive "$VPID" || fail "relay $victim exited before stalling: $(cat "$WORK/$name-r$victim.log")"
		sleep 0.01
	done
	grep -q "stalled at 100" "$WORK/$name-r$victim.log" || fail "relay $victim never stalled"
	sleep 0.2
	inuse=$(xio_field bufs_in_use)
	((inuse > 0)) || fail "no buffer in use while relay $victim holds one"
	log "relay $victim stalled holding message 100; $inuse buffers in use; SIGKILL to pid $VPID"
	kill -KILL "$VPID"
	for pid in "$SRC" "$R1" "$R2" "$SINK"; do
		[[ $pid == "$VPID" ]] && continue
		wait_exit "$pid" 10000 >/dev/null || fail "pid $pid still running 10 s after relay $victim was killed"
	done
	wait "$VPID" 2>/dev/null || true
	# upstream of the dead relay: a failed send (ECONNRESET or EPIPE), exit status 1
	rc=0
	wait "$UP" || rc=$?
	((rc != 0)) || fail "the stage before relay $victim exited 0 although relay $victim died"
	up_log=$WORK/$name-source.log
	((victim == 2)) && up_log=$WORK/$name-r1.log
	grep -Eq "Connection reset|Broken pipe" "$up_log" ||
		fail "the stage before relay $victim did not see ECONNRESET/EPIPE: $(cat "$up_log")"
	# downstream: EOF after exactly the messages before the stall, exit status 0
	rc=0
	wait "$DOWN" || rc=$?
	((rc == 0)) || fail "the stage after relay $victim exited $rc instead of seeing EOF"
	for pid in "$SRC" "$R1" "$R2" "$SINK"; do
		[[ $pid == "$VPID" || $pid == "$UP" || $pid == "$DOWN" ]] && continue
		wait "$pid" || true # the rest of the chain ends with it, either way
	done
	grep -q '^chain .* msgs=100 ' "$WORK/$name-sink.log" ||
		fail "sink did not get exactly the 100 messages before the stall: $(cat "$WORK/$name-sink.log")"
	t0=$(now_ms)
	for ((i = 0; i < 100; i++)); do
		inuse=$(xio_field bufs_in_use)
		((inuse == 0)) && break
		sleep 0.1
	done
	((inuse == 0)) || fail "$inuse buffers still in use 10 s after relay $victim was killed"
	log "relay $victim killed: every buffer back $(($(now_ms) - t0)) ms after the others exited (reclaimed so far: $(xio_field bufs_reclaimed))"
done
log "PASS"
