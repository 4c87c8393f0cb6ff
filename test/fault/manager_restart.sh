#!/usr/bin/env bash
# The manager is killed while X-IO connections are open, and restarted.
#   1. An open X-IO connection, paused in the middle of a checksummed 8 MiB
#      stream, resumes after the manager died and completes verified (or
#      fails cleanly: never a hang, never a wrong byte).
#   2. While no manager runs, new connections (new processes, started without
#      xio-run so that no manager is started on demand) fall back to kernel
#      TCP and work; xio-stat cannot reach the manager; lo carries the bytes.
#   3. After the restart (new generation), new connections use X-IO again:
#      to a server started before the restart that is still running (its
#      listener must be usable again: blocking accept, epoll, and a listener
#      that pre-forked workers share), to a new server, and from a client
#      process that was attached before the kill.
#   4. An X-IO connection of the old generation to the server that has since
#      re-attached (and carries new-generation connections next to it)
#      completes verified: the two generations' slots are never confused.
# shellcheck source=test/fault/lib_fault.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib_fault.sh"
fault_init manager_restart

FP=$FAULT_BIN/fpeer
FS=$FAULT_BIN/fshort

# ---- an open connection, paused half way --------------------------------------
pa=$(free_port)
"${XRUN[@]}" "$FP" server 127.0.0.1 "$pa" --recv 8M --ready "$WORK/a.ready" >"$WORK/a-server.log" 2>&1 &
sa=$!
wait_file "$WORK/a.ready" 5000
"${XRUN[@]}" "$FP" client 127.0.0.1 "$pa" --send 8M --recv 0 --pause-at 4M --resume "$WORK/a.go" \
	--progress "$WORK/a.cp" >"$WORK/a-client.log" 2>&1 &
ca=$!
t0=$(now_ms)
until [[ $(progress "$WORK/a.cp") == "4194304 "* ]]; do
	(($(now_ms) - t0 > 10000)) && fail "client A did not reach 4 MiB: $(progress "$WORK/a.cp")"
	sleep 0.01
done
(($(xio_field conns_open) >= 1)) || fail "connection A is not an X-IO connection"

# ---- a long-lived server (checks every byte), published by this manager ------------
pe=$(free_port)
"${XRUN[@]}" "$FP" server 127.0.0.1 "$pe" --multi --recv eof --ready "$WORK/e.ready" >"$WORK/e-server.log" 2>&1 &
se=$!
wait_file "$WORK/e.ready" 5000
# conns K PORT: K new client processes (no xio-run), 256 KiB each
conns() {
	local k
	for ((k = 0; k < $1; k++)); do
		"${PRE[@]}" "$FP" client 127.0.0.1 "$2" --send 256K --recv 0 --plain >/dev/null 2>&1 ||
			return 1
	done
}
total0=$(xio_field conns_total)
conns 5 "$pe" || fail "the long-lived server does not answer"
sleep 0.2
(($(xio_field conns_total) - total0 == 5)) || fail "connections to the long-lived server are not X-IO before the restart"

# ---- an epoll server (non-blocking accept), published by this manager ----------
pp=$(free_port)
cat >"$WORK/epoll_echo.py" <<'PYEOF'
import selectors, socket, sys
port, ready = int(sys.argv[1]), sys.argv[2]
sel = selectors.EpollSelector()
l = socket.socket()
l.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
l.bind(("127.0.0.1", port))
l.listen(64)
l.setblocking(False)
sel.register(l, selectors.EVENT_READ)
open(ready, "w").close()
while True:
    for key, _ in sel.select():
        if key.fileobj is l:
            while True:
                try:
                    c, _ = l.accept()
                except BlockingIOError:
                    break
                c.setblocking(True)
                sel.register(c, selectors.EVENT_READ)
            continue
        c = key.fileobj
        d = c.recv(65536)
        if not d:
            sel.unregister(c)
            c.close()
        else:
            c.sendall(d)
PYEOF
"${XRUN[@]}" "$PY" "$WORK/epoll_echo.py" "$pp" "$WORK/p.ready" >"$WORK/p-server.log" 2>&1 &
sp=$!
wait_file "$WORK/p.ready" 5000
total0=$(xio_field conns_total)
"${PRE[@]}" "$FS" short 127.0.0.1 "$pp" 5 >/dev/null || fail "the epoll server does not answer"
(($(xio_field conns_total) - total0 == 5)) || fail "connections to the epoll server are not X-IO before the restart"

# ---- a pre-forked server: three workers accept on one inherited listener -------
pf=$(free_port)
cat >"$WORK/prefork.py" <<'PYEOF'
import os, socket, sys
port, ready, n = int(sys.argv[1]), sys.argv[2], int(sys.argv[3])
l = socket.socket()
l.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
l.bind(("127.0.0.1", port))
l.listen(64)
for _ in range(n):
    if os.fork() == 0:
        while True:
            c, _ = l.accept()
            while True:
                d = c.recv(65536)
                if not d:
                    break
                c.sendall(d)
            c.close()
open(ready, "w").close()
os.wait()
PYEOF
"${XRUN[@]}" "$PY" "$WORK/prefork.py" "$pf" "$WORK/f.ready" 3 >"$WORK/f-server.log" 2>&1 &
sf=$!
wait_file "$WORK/f.ready" 5000
total0=$(xio_field conns_total)
"${PRE[@]}" "$FS" short 127.0.0.1 "$pf" 10 >/dev/null || fail "the pre-forked server does not answer"
(($(xio_field conns_total) - total0 == 10)) || fail "connections to the pre-forked server are not X-IO before the restart"

# ---- a client process that stays attached across the restart ------------------
# One line on its stdin: one connection to the epoll server (64 B echo); it
# prints "ok" or the error.
cat >"$WORK/client.py" <<'PYEOF'
import socket, sys
port = int(sys.argv[1])
for line in sys.stdin:
    try:
        s = socket.create_connection(("127.0.0.1", port), timeout=10)
        msg = line.strip().encode().ljust(64, b".")
        s.sendall(msg)
        got = b""
        while len(got) < len(msg):
            d = s.recv(64)
            if not d:
                break
            got += d
        s.close()
        print("ok" if got == msg else "bad echo %r" % got, flush=True)
    except OSError as e:
        print("error %s" % e, flush=True)
PYEOF
mkfifo "$WORK/client.in"
"${PRE[@]}" "$PY" "$WORK/client.py" "$pp" <"$WORK/client.in" >"$WORK/client.out" 2>&1 &
sc=$!
exec 7>"$WORK/client.in"
# client_once TAG: one connection from that process; its answer must be "ok"
client_once() {
	local t0 n
	n=$(($(wc -l <"$WORK/client.out") + 1))
	echo "$1" >&7
	t0=$(now_ms)
	while (($(wc -l <"$WORK/client.out") < n)); do
		(($(now_ms) - t0 > 10000)) && fail "the attached client did not answer ($1): $(tail -n 2 "$WORK/client.out")"
		sleep 0.01
	done
	[[ $(sed -n "${n}p" "$WORK/client.out") == ok ]] || fail "the attached client ($1): $(sed -n "${n}p" "$WORK/client.out")"
}
total0=$(xio_field conns_total)
client_once before
(($(xio_field conns_total) - total0 == 1)) || fail "the attached client's connection is not X-IO before the restart"

# ---- an old-generation connection to the long-lived server, paused -------------
total0=$(xio_field conns_total)
"${XRUN[@]}" "$FP" client 127.0.0.1 "$pe" --send 8M --recv 0 --pause-at 2M --resume "$WORK/b.go" \
	--progress "$WORK/b.cp" >"$WORK/b-client.log" 2>&1 7>&- &
cb=$!
t0=$(now_ms)
until [[ $(progress "$WORK/b.cp") == "2097152 "* ]]; do
	(($(now_ms) - t0 > 10000)) && fail "client B did not reach 2 MiB: $(progress "$WORK/b.cp")"
	sleep 0.01
done
(($(xio_field conns_total) - total0 == 1)) || fail "connection B is not an X-IO connection"

# ---- kill the manager ----------------------------------------------------------
gen1=$(xio_stat_json | sed -n 's/.*"generation":"\([0-9a-f]*\)".*/\1/p')
mp=$(mgr_pid)
kill -KILL "$mp"
t0=$(now_ms)
while proc_alive "$mp"; do sleep 0.01; done
log "manager (generation $gen1) killed"

# 1. the open connection goes on
touch "$WORK/a.go"
el=$(wait_exit "$ca" 10000) || fail "client A still runs 10 s after resuming (hang)"
el=$(wait_exit "$sa" 2000) || fail "server A still runs (hang): $(progress "$WORK/a.cp")"
reap "$ca"
rcc=$REAP_RC
reap "$sa"
rcs=$REAP_RC
((rcs != 2 && rcc != 2)) || fail "connection A delivered wrong bytes after the manager died"
if ((rcs == 0 && rcc == 0)); then
	log "1. open connection completed its 8 MiB, verified, after the manager died"
else
	log "1. open connection failed cleanly (server $rcs: $(tail -n 1 "$WORK/a-server.log"); client $rcc)"
fi

# 2. no manager: new connections use TCP and work
if xio_stat_json >/dev/null 2>&1; then
	fail "xio-stat still answers although the manager was killed"
fi
l0=$(lo_bytes)
conns 10 "$pe" || fail "without a manager, connections to the long-lived server fail"
ld=$(($(lo_bytes) - l0))
((ld >= 10 * 256 * 1024)) || fail "without a manager lo carried only $ld bytes for 10 x 256 KiB: where did the connections go?"
log "2. without a manager: 10 new connections over kernel TCP (lo +$ld bytes)"
l0=$(lo_bytes)
client_once without-manager
(($(lo_bytes) - l0 >= 128)) || fail "without a manager the attached client's connection did not use lo"
log "2. without a manager: the attached client connects over kernel TCP"

# 3. restart: X-IO again
start_manager
gen2=$(xio_stat_json | sed -n 's/.*"generation":"\([0-9a-f]*\)".*/\1/p')
[[ $gen2 != "$gen1" ]] || fail "the restarted manager kept generation $gen1"
# to a new server
pn=$(free_port)
"${XRUN[@]}" "$FS" server 127.0.0.1 "$pn" --ready "$WORK/n.ready" >"$WORK/n-server.log" 2>&1 &
wait_file "$WORK/n.ready" 5000
total0=$(xio_field conns_total)
"${PRE[@]}" "$FS" short 127.0.0.1 "$pn" 10 >/dev/null || fail "new server after the restart does not answer"
n_new=$(($(xio_field conns_total) - total0))
log "3a. new server after the restart: $n_new of 10 connections over X-IO"
((n_new == 10)) || fail "after the restart, connections to a new server are not X-IO ($n_new of 10)"
# to the server that was already running
total0=$(xio_field conns_total)
fb0=$(xio_field fallback_total)
conns 10 "$pe" || fail "after the restart, connections to the old server fail"
sleep 0.5 # the client's connects do not wait for the server; let accepts happen
n_old=$(($(xio_field conns_total) - total0))
log "3b. server from before the restart: $n_old of 10 connections over X-IO (fallbacks +$(($(xio_field fallback_total) - fb0)): $(xio_stat_json | grep -o '"fallback":{[^}]*}'))"
((n_old == 10)) || finding "after a manager restart, a server that was listening before never gets X-IO connections again ($n_old of 10; its rendezvous entry is of generation $gen1, clients look for $gen2: $(rv_entries "$pe" | xargs -n1 basename 2>/dev/null | tr '\n' ' '))"
# to the epoll server that was already running
total0=$(xio_field conns_total)
"${PRE[@]}" "$FS" short 127.0.0.1 "$pp" 10 >/dev/null || fail "after the restart, the epoll server does not answer"
n_ep=$(($(xio_field conns_total) - total0))
log "3c. epoll server from before the restart: $n_ep of 10 connections over X-IO"
((n_ep == 10)) || fail "after the restart, connections to the epoll server from before it are not X-IO ($n_ep of 10)"
# to the pre-forked server: one worker reads the nudge and re-publishes the
# shared listener; the others attach when an offer of the new generation
# reaches them
total0=$(xio_field conns_total)
"${PRE[@]}" "$FS" short 127.0.0.1 "$pf" 30 >/dev/null || fail "after the restart, the pre-forked server does not answer"
n_pf=$(($(xio_field conns_total) - total0))
log "3d. pre-forked server from before the restart: $n_pf of 30 connections over X-IO"
((n_pf == 30)) || fail "after the restart, connections to the pre-forked server are not X-IO ($n_pf of 30)"
# from the client process that was attached to the old generation
total0=$(xio_field conns_total)
client_once after-restart
n_cl=$(($(xio_field conns_total) - total0))
log "3e. client attached before the restart: $n_cl of 1 connection over X-IO"
((n_cl == 1)) || fail "after the restart, the client attached before it does not use X-IO again"
exec 7>&-
kill "$sc" 2>/dev/null || true
reap "$sc"

# 4. the old-generation connection next to new-generation ones
touch "$WORK/b.go"
el=$(wait_exit "$cb" 20000) || fail "client B still runs 20 s after resuming (hang): $(progress "$WORK/b.cp")"
reap "$cb"
((REAP_RC == 0)) || fail "the old-generation connection B failed ($REAP_RC): $(tail -n 2 "$WORK/b-client.log")"
sleep 0.3
log "4. old-generation connection completed its 8 MiB next to new-generation ones"

proc_alive "$se" || fail "the long-lived server exited: $(tail -n 2 "$WORK/e-server.log")"
proc_alive "$sp" || fail "the epoll server exited: $(tail -n 5 "$WORK/p-server.log")"
proc_alive "$sf" || fail "the pre-forked server exited: $(tail -n 5 "$WORK/f-server.log")"
grep -q CORRUPT "$WORK/e-server.log" && fail "the long-lived server saw corruption"
log "PASS"
