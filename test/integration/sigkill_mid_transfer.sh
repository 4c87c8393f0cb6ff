#!/usr/bin/env bash
# A peer killed with SIGKILL in the middle of an X-IO transfer: the other side
# must see EOF or ECONNRESET (or EPIPE) and exit within 1 s, never hang.
#   A: kill the sender,   the receiver (socat TCP-LISTEN -> /dev/null) exits.
#   B: kill the receiver, the sender (socat /dev/zero -> TCP) exits.
# Both ends run under xio-run; the test checks that the bytes went through
# X-IO before the kill.
# shellcheck source=test/integration/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
need_prog socat
xio_test_init sigkill

MIN_BYTES=$((64 * 1024 * 1024)) # carried before the kill
LIMIT_MS=1000

# start_pair LABEL: receiver and sender under xio-run; sets rpid spid.
start_pair() {
	local label=$1 port x0 l0 x1 l1 i
	port=$(free_port)
	"${XRUN[@]}" socat -u "TCP-LISTEN:$port,bind=127.0.0.1,reuseaddr" STDOUT >/dev/null 2>"$WORK/$label-receiver.err" &
	rpid=$!
	wait_port "$port" 10 "$rpid"
	x0=$(xio_bytes)
	l0=$(lo_bytes)
	"${XRUN[@]}" socat -u /dev/zero "TCP:127.0.0.1:$port" 2>"$WORK/$label-sender.err" &
	spid=$!
	# wait until X-IO has carried MIN_BYTES (at most 20 s)
	for ((i = 0; i < 2000; i++)); do
		x1=$(xio_bytes)
		((x1 - x0 >= MIN_BYTES)) && break
		proc_alive "$spid" || fail "$label: sender exited early: $(cat "$WORK/$label-sender.err")"
		proc_alive "$rpid" || fail "$label: receiver exited early: $(cat "$WORK/$label-receiver.err")"
		sleep 0.01
	done
	l1=$(lo_bytes)
	assert_carried "$label: before the kill" "$MIN_BYTES" $((x1 - x0)) $((l1 - l0))
}

# A: SIGKILL the sender, the receiver must exit.
start_pair kill-sender
kill -KILL "$spid"
el=0
el=$(wait_exit "$rpid" 5000) || fail "kill-sender: the receiver still runs ${el} ms after the sender was killed (hang)"
rc=$(job_status "$rpid")
log "kill-sender: receiver exited with status $rc after $el ms ($(head -c 200 "$WORK/kill-sender-receiver.err" | tr '\n' ' '))"
((el <= LIMIT_MS)) || fail "kill-sender: the receiver took $el ms to see EOF/ECONNRESET (limit $LIMIT_MS ms)"
wait "$spid" 2>/dev/null || true

# B: SIGKILL the receiver, the sender must exit (EPIPE/ECONNRESET/SIGPIPE).
start_pair kill-receiver
kill -KILL "$rpid"
el=0
el=$(wait_exit "$spid" 5000) || fail "kill-receiver: the sender still runs ${el} ms after the receiver was killed (hang)"
rc=$(job_status "$spid")
log "kill-receiver: sender exited with status $rc after $el ms ($(head -c 200 "$WORK/kill-receiver-sender.err" | tr '\n' ' '))"
((el <= LIMIT_MS)) || fail "kill-receiver: the sender took $el ms to see EPIPE/ECONNRESET (limit $LIMIT_MS ms)"
((rc != 0)) || fail "kill-receiver: the sender exited 0, but it cannot have sent all of /dev/zero"
wait "$rpid" 2>/dev/null || true
log "PASS"
