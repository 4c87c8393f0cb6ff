#!/usr/bin/env bash
# Our own libevent programs (test/apps/levent_echo.c: bufferevent echo server
# and a client that checks every echoed byte) under xio-run, with one libevent
# backend for both: levent_echo.sh epoll|poll|select
#   epoll  : libevent's default
#   poll   : EVENT_NOEPOLL=1
#   select : EVENT_NOEPOLL=1 EVENT_NOPOLL=1
# 4 connections x 16 MiB each way: the client reports every byte echoed
# correctly with the expected backend, and X-IO carried both directions
# (lo rx < 5 %).
# shellcheck source=test/compat/compat_lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/compat_lib.sh"
backend=${1:?usage: levent_echo.sh epoll|poll|select}
case $backend in
epoll) benv=() ;;
poll) benv=(EVENT_NOEPOLL=1) ;;
select) benv=(EVENT_NOEPOLL=1 EVENT_NOPOLL=1) ;;
*) fail "unknown backend $backend" ;;
esac
need_app levent_echo
compat_init "lev_$backend"
app=$APPS_BIN/levent_echo

conns=4
kib=16384
port=$(compat_port)
env "${benv[@]}" "${XRUN[@]}" "$app" server "$port" >"$WORK/server.log" 2>&1 &
spid=$!
compat_track "$spid"
wait_port "$port" 10 "$spid"

compat_mode libevent "$backend${benv[*]:+ (${benv[*]})}, echo, both X-IO"
measure_start
rc=0
timeout -k 5 30 env "${benv[@]}" "${XRUN[@]}" "$app" client "$port" "$kib" "$conns" \
	>"$WORK/client.log" 2>"$WORK/client.err" || rc=$?
measure_end
cat "$WORK/client.log" "$WORK/client.err"
((rc != 124)) || fail "client did not finish in 30 s (kernel TCP: < 1 s)"
((rc == 0)) || fail "client exited $rc: $(grep -v '^method' "$WORK/client.err" | head -n 3 | tr '\n' ' ')"
proc_alive "$spid" || fail "server died: $(tail -n 3 "$WORK/server.log" | tr '\n' ' ')"
grep -qx "method: $backend" "$WORK/server.log" || fail "server used $(head -n1 "$WORK/server.log"), want $backend"
read -r word method n total <"$WORK/client.log"
[[ $word == ok && $method == "$backend" && $n == "$conns" && $total == $((conns * kib * 1024)) ]] ||
	fail "client said: $(cat "$WORK/client.log")"
carried "libevent $backend echo" $((2 * total))
compat_pass "$conns connections x $(human_bytes $((kib * 1024))) echoed and checked, $(human_bytes "$XD") carried"
