#!/usr/bin/env bash
# Go and static programs started by a preloaded program, not by xio-run
# itself: a shell script (sh -c) that runs a Go client, `env` that execs a
# static client. The preload's exec sends them back through xio-run (XIO_RUN),
# which puts them under its supervisor: carried, every byte checked. The same
# on kernel TCP.
# shellcheck source=test/go/go_lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/go_lib.sh"
go_init exec_chain
go_build
static_build
port=$(free_port)
"${XRUN[@]}" "$XIOGO" echo-server "127.0.0.1:$port" >"$WORK/server.log" 2>&1 &
wait_port "$port" 10 $!
bytes=$((1 << 20))
# shellcheck disable=SC2016 # expanded by the inner shell
client='"$1" echo-client "127.0.0.1:$2" "$3" 2; echo "status $?"'

sv_start
timeout 30 "${XRUN[@]}" sh -c "$client" sh "$XIOGO" "$port" "$bytes" >"$WORK/sh.log" 2>&1 || fail "sh -c: $(tail -n 2 "$WORK/sh.log")"
timeout 30 "${XRUN[@]}" env XIO_TEST_CHAIN=1 "$STATIC_ECHO" client "$port" "$bytes" 2 \
	>"$WORK/env.log" 2>&1 || fail "env: $(tail -n 2 "$WORK/env.log")"
sv_end
if ! grep -q 'ok 2 connections' "$WORK/sh.log" || ! grep -q 'status 0' "$WORK/sh.log"; then
	fail "Go client under sh: $(tail -n 2 "$WORK/sh.log")"
fi
grep -q 'ok 2 connections' "$WORK/env.log" || fail "static client under env: $(tail -n 2 "$WORK/env.log")"
assert_supervised "Go under sh, static under env" $((2 * 4 * bytes)) 4

tport=$(free_port)
"${PLAIN[@]}" "$XIOGO" echo-server "127.0.0.1:$tport" >"$WORK/server-tcp.log" 2>&1 &
wait_port "$tport" 10 $!
timeout 30 "${PLAIN[@]}" sh -c "$client" sh "$XIOGO" "$tport" "$bytes" >"$WORK/sh-tcp.log" 2>&1 || fail "kernel TCP twin: $(tail -n 2 "$WORK/sh-tcp.log")"
grep -q 'ok 2 connections' "$WORK/sh-tcp.log" || fail "kernel TCP twin"
log "PASS"
