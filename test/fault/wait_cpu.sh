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
#   poll-*/epoll/select-half-closed
#                           the writer-full-half-closed case with a writer
#                           that waits in poll (the X-IO fd alone, or next
#                           to a kernel fd), epoll or select (python3)
#   idle-*-peer-closed      poll/epoll asking nothing of an X-IO fd whose
#                           peer closed (the kernel's HUP cannot be masked)
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
	if [[ ${sargs[0]} == --py ]]; then
		"${XRUN[@]}" /usr/bin/python3 "$WORK/pwriter.py" "${sargs[1]}" "$port" "$WORK/w.ready" \
			>"$WORK/$name-server.log" 2>&1 &
	else
		"${XRUN[@]}" "$FP" server 127.0.0.1 "$port" "${sargs[@]}" --ready "$WORK/w.ready" \
			>"$WORK/$name-server.log" 2>&1 &
	fi
	spid=$!
	wait_file "$WORK/w.ready" 5000
	if [[ ${cargs[0]} == --py ]]; then
		"${XRUN[@]}" /usr/bin/python3 "$WORK/pwriter.py" "${cargs[1]}" "$port" - \
			>"$WORK/$name-client.log" 2>&1 &
	else
		"${XRUN[@]}" "$FP" client 127.0.0.1 "$port" "${cargs[@]}" >"$WORK/$name-client.log" 2>&1 &
	fi
	cpid=$!
	sleep 0.5
	# a loaded machine may take longer to start the client (python)
	for ((i = 0; i < 45 && $(xio_field conns_open) < 1; i++)); do sleep 0.1; done
	(($(xio_field conns_open) >= 1)) || fail "$name: not an X-IO connection"
	if [[ $waiter == server ]]; then wpid=$spid ppid=$cpid; else wpid=$cpid ppid=$spid; fi
	kill -STOP "$ppid"
	sleep 0.3 # spin phase over
	t0=$(cpu_ticks "$wpid")
	sleep 2
	t1=$(cpu_ticks "$wpid")
	used=$((t1 - t0))
	# either may be gone (and reaped) already: not an error under set -e
	kill -KILL "$spid" "$cpid" 2>/dev/null || true
	kill -CONT "$ppid" 2>/dev/null || true
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

# A non-blocking writer that fills the ring and waits for POLLOUT in MODE;
# its peer ("reader") shuts down its sending side at once and reads.
cat >"$WORK/pwriter.py" <<'PY'
import os, select, signal, socket, sys
mode, port, ready = sys.argv[1], int(sys.argv[2]), sys.argv[3]
if mode == "reader":
    c = socket.create_connection(("127.0.0.1", port))
    c.shutdown(socket.SHUT_WR)
    while c.recv(65536):
        pass
    sys.exit(0)
if mode == "closer":
    socket.create_connection(("127.0.0.1", port)).close()
    while True:
        signal.pause()
ls = socket.socket()
ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
ls.bind(("127.0.0.1", port))
ls.listen(1)
open(ready, "w").close()
c, _ = ls.accept()
r, w = os.pipe()  # never written: a kernel fd next to the X-IO one
if mode.startswith("idle-"):
    # the peer closed: TCP says IN|RDHUP (no HUP); nothing asked, nothing comes
    while True:
        if mode == "idle-poll-one":
            p = select.poll()
            p.register(c.fileno(), 0)
            p.poll()
        elif mode == "idle-epoll":
            ep = select.epoll()
            ep.register(c.fileno(), 0)
            ep.register(r, select.EPOLLIN)
            ep.poll()
        else:
            p = select.poll()
            p.register(c.fileno(), 0)
            p.register(r, select.POLLIN)
            p.poll()
if mode == "epoll":
    ep = select.epoll()
    ep.register(c.fileno(), select.EPOLLOUT)
    ep.register(r, select.EPOLLIN)
elif mode.startswith("poll"):
    p = select.poll()
    p.register(c.fileno(), select.POLLOUT)
    if mode == "poll-mixed":
        p.register(r, select.POLLIN)
buf = b"x" * 65536
while True:
    try:
        while True:
            c.send(buf, socket.MSG_DONTWAIT)
    except BlockingIOError:
        pass
    if mode == "epoll":
        ep.poll()
    elif mode == "select":
        select.select([r], [c], [])
    else:
        p.poll()
PY
if [[ -x /usr/bin/python3 ]]; then
	for mode in poll-one poll-mixed epoll select; do
		wait_case "$mode-half-closed" server --py "$mode" -- --py reader
	done
	for mode in idle-poll-one idle-poll idle-epoll; do
		wait_case "$mode-peer-closed" server --py "$mode" -- --py closer
	done
else
	log "no /usr/bin/python3: poll/epoll/select cases skipped"
fi

log "summary:"
for r in "${results[@]}"; do log "  $r"; done
((failures == 0)) || fail "$failures case(s) busy-waited"
log "PASS"
