#!/usr/bin/env bash
# A `gcc -static` echo server and client under xio-run (no dynamic loader, so
# no preload): xio-run says it uses its seccomp supervisor, 8 connections of
# 1 MiB (4 threads connecting at once) are carried by X-IO and every byte is
# checked; the names (getsockname/getpeername) are TCP's. A preloaded client
# (socat) against the static server, and the static client against a
# preloaded server (socat's echo), are carried too. Then the static client on
# kernel TCP (XIO_DISABLE=1) gives the same result.
# shellcheck source=test/go/go_lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/go_lib.sh"
go_init static_echo
static_build
port=$(free_port)

"${XRUN[@]}" -v "$STATIC_ECHO" server "$port" >"$WORK/server.log" 2>&1 &
srv=$!
wait_port "$port" 10 "$srv"
grep -q 'static binary: seccomp supervisor' "$WORK/server.log" ||
	fail "xio-run -v did not name the mechanism: $(head -n 3 "$WORK/server.log")"

bytes=$((1 << 20)) conns=8
sv_start
timeout 60 "${XRUN[@]}" -v "$STATIC_ECHO" client "$port" "$bytes" "$conns" 4 >"$WORK/client.log" 2>&1 ||
	fail "client failed: $(tail -n 3 "$WORK/client.log")"
sv_end
grep -q "ok $conns connections" "$WORK/client.log" || fail "client: $(tail -n 2 "$WORK/client.log")"
assert_supervised "static client -> static server" $((2 * bytes * conns)) "$conns"

# Mixed: socat (preloaded) -> static server, static client -> socat (preloaded) echo.
head -c "$bytes" /dev/urandom >"$WORK/in.bin"
sv_start
timeout 30 "${XRUN[@]}" socat -t 10 - "TCP:127.0.0.1:$port" <"$WORK/in.bin" >"$WORK/out.bin" 2>"$WORK/socat.log" ||
	fail "socat client: $(tail -n 2 "$WORK/socat.log")"
sv_end
cmp -s "$WORK/in.bin" "$WORK/out.bin" || fail "socat -> static server: the echo differs"
assert_supervised "socat (preloaded) -> static server" $((2 * bytes)) 1
sport=$(free_port)
"${XRUN[@]}" socat "TCP-LISTEN:$sport,bind=127.0.0.1,reuseaddr,fork" EXEC:cat >"$WORK/socat-srv.log" 2>&1 &
wait_port "$sport" 10 $!
sv_start
timeout 60 "${XRUN[@]}" "$STATIC_ECHO" client "$sport" "$bytes" 2 >"$WORK/client-mixed.log" 2>&1 ||
	fail "static client -> socat: $(tail -n 3 "$WORK/client-mixed.log")"
sv_end
grep -q "ok 2 connections" "$WORK/client-mixed.log" || fail "static client -> socat: $(tail -n 2 "$WORK/client-mixed.log")"
assert_supervised "static client -> socat (preloaded) echo" $((2 * 2 * bytes)) 2

# The same on kernel TCP: same result, lo carries it.
sv_start
timeout 60 "${PLAIN[@]}" XIO_DISABLE=1 "$STATIC_ECHO" client "$port" "$bytes" 2 >"$WORK/client-tcp.log" 2>&1 ||
	fail "client on kernel TCP failed: $(tail -n 3 "$WORK/client-tcp.log")"
sv_end
grep -q "ok 2 connections" "$WORK/client-tcp.log" || fail "TCP client: $(tail -n 2 "$WORK/client-tcp.log")"
assert_kernel "kernel TCP client -> supervised server" $((2 * bytes * 2))
log "PASS"
