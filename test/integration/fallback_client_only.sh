#!/usr/bin/env bash
# An X-IO client talking to a plain server (not preloaded): there is no
# rendezvous, so the connection must silently be kernel TCP: the transfer
# succeeds, xio-stat bytes stay 0 and fallback.no_rendezvous is counted.
# shellcheck source=test/integration/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
need_prog curl iperf3 sha256sum
xio_test_init fb_client

# 1. curl (X-IO) <- python http.server (plain)
size=$((1024 * 1024))
mkdir -p "$WORK/www"
head -c "$size" /dev/urandom >"$WORK/www/file.bin"
want=$(sha256sum <"$WORK/www/file.bin" | cut -d' ' -f1)
port=$(free_port)
"${PLAIN[@]}" "$PY" -m http.server --bind 127.0.0.1 "$port" --directory "$WORK/www" >"$WORK/server.log" 2>&1 &
spid=$!
wait_port "$port" 15 "$spid"

x0=$(xio_bytes)
f0=$(xio_field fallback.no_rendezvous)
rc=0
timeout -k 5 60 "${XRUN[@]}" \
	curl -sS --fail --max-time 50 -o "$WORK/got.bin" "http://127.0.0.1:$port/file.bin" \
	2>"$WORK/curl.err" || rc=$?
((rc == 0)) || fail "X-IO curl -> plain server: curl exited $rc: $(cat "$WORK/curl.err")"
got=$(sha256sum <"$WORK/got.bin" | cut -d' ' -f1)
[[ $got == "$want" ]] || fail "X-IO curl -> plain server: checksum mismatch"
x1=$(xio_bytes)
f1=$(xio_field fallback.no_rendezvous)
log "curl: 1 MiB, sha256 ok; fallback.no_rendezvous +$((f1 - f0))"
assert_not_carried "curl -> plain http.server" $((x1 - x0))
((f1 - f0 >= 1)) || fail "fallback.no_rendezvous did not grow (was $f0, now $f1)"

# 2. iperf3 client (X-IO) -> iperf3 server (plain), 256 MiB
port=$(free_port)
"${PLAIN[@]}" iperf3 -s -p "$port" -1 >"$WORK/iperf3-server.log" 2>&1 &
ipid=$!
wait_port "$port" 10 "$ipid"
x0=$(xio_bytes)
f0=$(xio_field fallback.no_rendezvous)
rc=0
timeout -k 5 120 "${XRUN[@]}" \
	iperf3 -c 127.0.0.1 -p "$port" -n 256M -J >"$WORK/iperf3-client.json" 2>"$WORK/iperf3-client.err" || rc=$?
((rc == 0)) || fail "X-IO iperf3 -> plain server: client exited $rc"
got=$(json_get "$WORK/iperf3-client.json" end.sum_sent.bytes)
((got >= 256 * 1024 * 1024)) || fail "iperf3 sent only $got bytes"
x1=$(xio_bytes)
f1=$(xio_field fallback.no_rendezvous)
log "iperf3: $got bytes sent; fallback.no_rendezvous +$((f1 - f0))"
assert_not_carried "iperf3 -> plain iperf3 -s" $((x1 - x0))
((f1 - f0 >= 1)) || fail "fallback.no_rendezvous did not grow for iperf3 (was $f0, now $f1)"
log "PASS"
