#!/usr/bin/env bash
# Waiting costs nothing: a thread blocked in send() on a full ring, or in
# recv() on an empty one, sleeps (spin-then-block) like with kernel TCP,
# also when the peer has shut down its sending side (half-close: its socket
# then reads EOF forever, which a naive poll() loop turns into a busy loop).
# Each case stops the peer (SIGSTOP) and measures the waiting process's CPU
# time over 2 s: at most 0.1 s is allowed.
#   writer-full             server sends, client reads nothing yet (stopped)
#   writer-full-half-closed the same after the client's shutdown(SHUT_WR)
#   reader-empty            client waits for data, server stopped
# shellcheck source=test/fault/lib_fault.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib_fault.sh"
fault_init wait_cpu

FP=$FAULT_BIN/fpeer
LIMIT_TICKS=10 # of 100 per second, over 2 s
failures=0
results=()

cpu_ticks() { awk '{ sub(/^.*\) /, ""); print $12 + $13 }' "/proc/$1/stat"; }

# case NAME WAITER(server|client) SERVER_ARGS -- CLIENT_ARGS
wait_case() {
	local name=$1 waiter=$2 port spid cpid wpid ppid t0 t1 used
	shift 2
	local sargs=() cargs=()
	while [[ $1 != -- ]]; do sargs+=("$1"); shift; done
	shift
	cargs=("$@")
	port=$(free_port)
	rm -f "$WORK/w.ready"
	"${XRUN[@]}" "$FP" server 127.0.0.1 "$port" "${sargs[@]}" --ready "$WORK/w.ready" >"$WORK/$name-server.log" 2>&1 &
	spid=$!
	wait_file "$WORK/w.ready" 5000
	"${XRUN[@]}" "$FP" client 127.0.0.1 "$port" "${cargs[@]}" >"$WORK/$name-client.log" 2>&1 &
	cpid=$!
	sleep 0.5
	(($(xio_field conns_open) >= 1)) || fail "$name: not an X-IO connection"
	if [[ $waiter == server ]]; then wpid=$spid ppid=$cpid; else wpid=$cpid ppid=$spid; fi
	kill -STOP "$ppid"
	sleep 0.3 # spin phase over
	t0=$(cpu_ticks "$wpid")
	sleep 2
	t1=$(cpu_ticks "$wpid")
	used=$((t1 - t0))
	kill -KILL "$spid" "$cpid" 2>/dev/null
	kill -CONT "$ppid" 2>/dev/null
	wait "$spid" "$cpid" 2>/dev/null || true
	if ((used > LIMIT_TICKS)); then
		echo "FAIL [$TEST_NAME] $name: the waiting $waiter used $used/100 s of CPU in 2 s (busy wait)" >&2
		results+=("$name: FAIL ($used ticks in 2 s)")
		failures=$((failures + 1))
	else
		log "$name: waiting $waiter used $used ticks in 2 s"
		results+=("$name: ok ($used ticks)")
	fi
}

# the client reads slowly: --chunk/--delay on its (empty) sender keep it single-purpose
wait_case writer-full server --send inf --recv 0 -- --recv eof --send 1 --pause-at 0 --resume "$WORK/never"
wait_case writer-full-half-closed server --send inf --recv 0 -- --recv eof
wait_case reader-empty client --recv eof --send 1 --pause-at 0 --resume "$WORK/never" -- --recv eof

log "summary:"
for r in "${results[@]}"; do log "  $r"; done
((failures == 0)) || fail "$failures case(s) busy-waited"
log "PASS"
