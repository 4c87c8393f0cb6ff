#!/usr/bin/env bash
# F21 (test/fault/FINDINGS.md): after a manager restart, a server's listener
# must not look readable to select/poll when no client connects. A server
# that select()s on a blocking listener and then calls accept() (iperf3 -s)
# would block in accept() with a test running: its streams stall and its
# client never finishes (the mixed soak's "HUNG: iperf3").
#   1. A Python server (select, then a blocking accept) under X-IO; one
#      client is carried and accepted.
#   2. The manager is SIGKILLed and restarted; nobody connects for 2 s.
#      Kernel TCP: the listener stays quiet. Every "readable" the server
#      printed must be followed by "accepted".
#   3. The new manager's nudge still re-published the listener: its entry
#      is of the new generation and the next connection is carried.
# shellcheck source=test/fault/lib_fault.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib_fault.sh"
fault_init nudge_readiness

port=$(free_port)
cat >"$WORK/srv.py" <<'PYEOF'
import select, socket, sys
l = socket.socket()
l.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
l.bind(("127.0.0.1", int(sys.argv[1])))
l.listen(8)
print("listening", flush=True)
while True:
    r, _, _ = select.select([l], [], [], 60)
    if r:
        print("readable", flush=True)
        c, _ = l.accept()  # blocking, as iperf3 -s does
        print("accepted", flush=True)
        c.close()
PYEOF
"${XRUN[@]}" "$PY" "$WORK/srv.py" "$port" >"$WORK/server.log" 2>&1 &
spid=$!
wait_port "$port" 10 "$spid"
count() { grep -c "^$1$" "$WORK/server.log" || true; }
# conn: one client connection (no xio-run: no manager started on demand)
conn() { "${PRE[@]}" "$PY" -c 'import socket, sys; socket.create_connection(("127.0.0.1", int(sys.argv[1])), timeout=5).close()' "$port"; }

total0=$(xio_field conns_total)
conn || fail "the server does not answer"
for ((i = 0; i < 200 && $(count accepted) < 1; i++)); do sleep 0.01; done
(($(count accepted) == 1)) || fail "the first connection was not accepted: $(tr '\n' ' ' <"$WORK/server.log")"
(($(xio_field conns_total) == total0 + 1)) || fail "the first connection was not carried by X-IO"

m=$(mgr_pid)
kill -KILL "$m"
wait_exit "$m" 10000 >/dev/null || fail "manager $m still runs 10 s after SIGKILL"
start_manager
sleep 2
r=$(count readable)
a=$(count accepted)
log "after the restart, nobody connecting for 2 s: readable $r, accepted $a"
((r == a)) || finding "F21: after a manager restart the listener looked readable with no client ($r readable, $a accepted): the server is blocked in accept()"
# the nudge still did its work: the entry is of the new generation, and the
# next connection is carried
gen=$(xio_stat_json | sed -n 's/.*"generation":"\([0-9a-f]*\)".*/\1/p')
rv_entries "$port" | grep -q "/$gen-" || fail "the listener was not re-published in generation $gen: $(rv_entries "$port" | tr '\n' ' ')"
total0=$(xio_field conns_total)
conn || fail "the server does not answer after the restart"
for ((i = 0; i < 200 && $(count accepted) < 2; i++)); do sleep 0.01; done
(($(count accepted) == 2)) || fail "the connection after the restart was not accepted: $(tr '\n' ' ' <"$WORK/server.log")"
(($(xio_field conns_total) == total0 + 1)) || fail "the connection after the restart was not carried by X-IO"
log "ok"
