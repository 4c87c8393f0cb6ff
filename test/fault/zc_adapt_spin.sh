#!/usr/bin/env bash
# The adaptive spin of the native API's waits for data (stack/wait.h): a
# zero-copy receiver at the default settings whose messages come at a steady
# pace longer than the plain spin (20 us) learns to spin through the gap
# instead of sleeping for every message; when the pace slows down past the
# cap (200 us) it backs off to the plain spin at once, and an idle receiver
# costs nothing. Receiver (xio_rx) on CPU 0, sender on CPU 1, 64 B messages
# (test/fault/progs/fzcpace.c), phases:
#   fast  80 us apart, 3000 messages: the receiver slept (a voluntary context
#         switch, getrusage) at most half as often as the same receiver with
#         the adaptive spin off (XIO_SPIN_ADAPT_US=0, the spin before it) in
#         the same run, which must have slept at least 100 times (else the
#         pace did not outlast the plain spin here and nothing was shown).
#         Relative, because a loaded machine shifts both (a receiver that
#         lost its CPU finds messages queued and does not wait for them, a
#         spinner that yielded its CPU for a few ms backs off); on a quiet
#         machine it is ~0 against ~3000;
#   slow  2 ms apart, 250 messages: at most 60 ms of the receiver's CPU per
#         second (a 200 us spin before every message would be 100 ms/s; the
#         plain 20 us spin and the wake-ups, ~10-20 ms/s);
#   idle  nothing for 1 s after a fast phase: at most 10 ms of CPU.
# shellcheck source=test/fault/lib_fault.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib_fault.sh"
fault_init zc_adapt_spin

(($(nproc) >= 2)) || fail "needs two CPUs (the receiver spins only for a peer on another CPU)"
ZP=$FAULT_BIN/fzcpace
[[ -x $ZP ]] || fail "$ZP not built"

# run NAME [ENV...]: one receiver and one sender through all phases; the receiver's lines in
# $WORK/NAME.out
run() {
	local name=$1 port rpid spid rc=0
	shift
	port=$(free_port)
	rm -f "$WORK/$name.ready"
	env "$@" taskset -c 0 "${XRUN[@]}" "$ZP" recv "$port" "$WORK/$name.ready" \
		>"$WORK/$name.out" 2>"$WORK/$name.err" &
	rpid=$!
	wait_file "$WORK/$name.ready" 10000
	wait_port "$port" 10 "$rpid"
	timeout 60 env "$@" taskset -c 1 "${XRUN[@]}" "$ZP" send "$port" \
		80x3000 2000x250 80x500 1000000x1 80x10 >"$WORK/$name.send" 2>&1 || rc=$?
	((rc == 0)) || fail "$name: the sender exited $rc: $(tail -n 3 "$WORK/$name.send")"
	rc=0
	wait "$rpid" || rc=$?
	((rc == 0)) || fail "$name: the receiver exited $rc: $(tail -n 3 "$WORK/$name.err")"
	log "$name: $(tr '\n' ';' <"$WORK/$name.out")"
}

# field NAME PHASE KEY: a number from the receiver's line for PHASE
field() {
	awk -v p="$2" -v k="$3" '$1 == "phase" && $2 == p {
		for (i = 3; i <= NF; i++) { split($i, kv, "="); if (kv[1] == k) print kv[2] } }' \
		"$WORK/$1.out"
}

run adaptive
run fixed XIO_SPIN_ADAPT_US=0
(($(xio_field bufs_in_use) == 0)) || fail "buffers still in use after both runs"

msgs=$(field adaptive 0 msgs)
((msgs == 3000)) || fail "fast phase: $msgs messages, not 3000"
a_sleeps=$(field adaptive 0 sleeps) f_sleeps=$(field fixed 0 sleeps)
a_waits=$(field adaptive 0 waits) f_waits=$(field fixed 0 waits)
log "fast phase (80 us apart, 3000 messages): adaptive slept $a_sleeps times in $a_waits waits, with XIO_SPIN_ADAPT_US=0 $f_sleeps times in $f_waits waits"
((f_sleeps >= 100)) ||
	fail "without the adaptive spin the receiver slept only $f_sleeps times: the test shows nothing here"
((a_sleeps * 2 <= f_sleeps)) ||
	fail "the adaptive receiver slept $a_sleeps times, against $f_sleeps without the adaptive spin (at most half allowed)"

slow_cpu=$(field adaptive 1 cpu_ms) slow_wall=$(field adaptive 1 wall_ms)
per_s=$(awk -v c="$slow_cpu" -v w="$slow_wall" 'BEGIN { printf "%d", c * 1000 / w }')
log "slow phase (2 ms apart): $slow_cpu ms of CPU in $slow_wall ms ($per_s ms/s)"
((per_s <= 60)) || fail "slow phase: the receiver used $per_s ms of CPU per second (at most 60): it did not back off"

idle_cpu=$(field adaptive 3 cpu_ms) idle_wall=$(field adaptive 3 wall_ms)
log "idle (1 s after a fast phase): $idle_cpu ms of CPU in $idle_wall ms"
awk -v c="$idle_cpu" 'BEGIN { exit !(c <= 10) }' ||
	fail "an idle receiver used $idle_cpu ms of CPU in its idle second (at most 10)"
figure zc_adapt_spin "fast phase slept $a_sleeps times adaptive vs $f_sleeps fixed (3000 messages); slow $per_s ms CPU/s; idle $idle_cpu ms/s"
log "PASS"
