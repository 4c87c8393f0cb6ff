#!/usr/bin/env bash
# A plain client (not preloaded) talking to an X-IO server: the server's
# kernel TCP listener stays open and accept() returns the TCP connection, so
# the transfer succeeds over kernel TCP and xio-stat bytes stay 0.
# shellcheck source=test/integration/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
need_prog curl iperf3 sha256sum
xio_test_init fb_server

# 1. curl (plain) <- python http.server (X-IO)
size=$((1024 * 1024))
mkdir -p "$WORK/www"
head -c "$size" /dev/urandom >"$WORK/www/file.bin"
want=$(sha256sum <"$WORK/www/file.bin" | cut -d' ' -f1)
port=$(free_port)
"${XRUN[@]}" "$PY" -m http.server --bind 127.0.0.1 "$port" --directory "$WORK/www" >"$WORK/server.log" 2>&1 &
spid=$!
wait_port "$port" 15 "$spid"

x0=$(xio_bytes)
rc=0
timeout -k 5 60 env -u LD_PRELOAD curl -sS --fail --max-time 50 -o "$WORK/got.bin" \
	"http://127.0.0.1:$port/file.bin" 2>"$WORK/curl.err" || rc=$?
((rc == 0)) || fail "plain curl -> X-IO server: curl exited $rc: $(cat "$WORK/curl.err")"
got=$(sha256sum <"$WORK/got.bin" | cut -d' ' -f1)
[[ $got == "$want" ]] || fail "plain curl -> X-IO server: checksum mismatch"
proc_alive "$spid" || fail "X-IO http.server died"
x1=$(xio_bytes)
log "curl: 1 MiB, sha256 ok"
assert_not_carried "plain curl -> X-IO http.server" $((x1 - x0))

# 2. iperf3 client (plain) -> iperf3 server (X-IO), 256 MiB
port=$(free_port)
"${XRUN[@]}" iperf3 -s -p "$port" -1 >"$WORK/iperf3-server.log" 2>&1 &
ipid=$!
wait_port "$port" 10 "$ipid"
x0=$(xio_bytes)
rc=0
timeout -k 5 120 env -u LD_PRELOAD iperf3 -c 127.0.0.1 -p "$port" -n 256M -J \
	>"$WORK/iperf3-client.json" 2>"$WORK/iperf3-client.err" || rc=$?
((rc == 0)) || fail "plain iperf3 -> X-IO server: client exited $rc"
got=$(json_get "$WORK/iperf3-client.json" end.sum_sent.bytes)
((got >= 256 * 1024 * 1024)) || fail "iperf3 sent only $got bytes"
wait_exit "$ipid" 10000 >/dev/null || fail "X-IO iperf3 -s -1 did not exit after the test"
rc=$(job_status "$ipid")
((rc == 0)) || fail "X-IO iperf3 server exited $rc"
x1=$(xio_bytes)
log "iperf3: $got bytes sent"
assert_not_carried "plain iperf3 -> X-IO iperf3 -s" $((x1 - x0))
log "PASS"
