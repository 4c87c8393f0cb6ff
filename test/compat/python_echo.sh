#!/usr/bin/env bash
# python3 (Debian's /usr/bin/python3) echo server and client of one kind,
# both under xio-run: python_echo.sh asyncio|threading|selectors
#   asyncio   : asyncio streams (start_server / open_connection)
#   threading : socketserver.ThreadingTCPServer / a thread per connection
#   selectors : selectors.DefaultSelector non-blocking loops
# 8 connections x 4 MiB each way: every echo matches (sha256), and X-IO
# carried both directions (lo rx < 5 %).
# shellcheck source=test/compat/compat_lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/compat_lib.sh"
kind=${1:?usage: python_echo.sh asyncio|threading|selectors}
script=$COMPAT_DIR/py_${kind}_echo.py
[[ -f $script ]] || fail "no $script"
compat_init "py_$kind"

conns=8
size=$((4 * 1024 * 1024))
port=$(compat_port)
"${XRUN[@]}" "$PY" "$script" server "$port" >"$WORK/server.log" 2>&1 &
spid=$!
compat_track "$spid"
wait_port "$port" 15 "$spid"

compat_mode "python3 $kind" "echo server + client, both X-IO"
measure_start
rc=0
timeout -k 5 30 "${XRUN[@]}" "$PY" "$script" client "$port" "$conns" "$size" >"$WORK/client.log" 2>&1 || rc=$?
measure_end
cat "$WORK/client.log"
((rc != 124)) || fail "client did not finish in 30 s (kernel TCP: < 1 s)"
((rc == 0)) || fail "client exited $rc: $(tail -n 3 "$WORK/client.log" | tr '\n' ' ')"
proc_alive "$spid" || fail "server died: $(tail -n 3 "$WORK/server.log" | tr '\n' ' ')"
read -r word n total <"$WORK/client.log"
[[ $word == ok && $n == "$conns" && $total == $((conns * size)) ]] || fail "client said: $(cat "$WORK/client.log")"
carried "python3 $kind echo" $((2 * conns * size))
compat_pass "$conns connections x $(human_bytes "$size") echoed, sha256 ok, $(human_bytes "$XD") carried"
