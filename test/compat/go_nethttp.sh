#!/usr/bin/env bash
# Go's own net/http and net under xio-run (seccomp supervisor), mixed with
# preloaded programs: a Go net/http server answering curl and wrk, a Go
# net/http client fetching from nginx, and a Go client against a Go server.
# Every body is checked; carriage is proved by xio-stat's connections and
# demotions and a quiet lo (test/go/go_lib.sh says why not its byte count).
# shellcheck source=test/compat/compat_lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/compat_lib.sh"
# shellcheck source=test/go/go_lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/../go/go_lib.sh"
need_prog go curl wrk nginx
compat_init go_nethttp
go_build

# 1. Go net/http server; curl and wrk (preloaded) in front of it.
port=$(compat_port)
"${XRUN[@]}" -v "$XIOGO" http-server "127.0.0.1:$port" >"$WORK/gosrv.log" 2>&1 &
gosrv=$!
wait_port "$port" 15 "$gosrv"
grep -q 'Go binary: seccomp supervisor' "$WORK/gosrv.log" ||
	fail "xio-run -v did not name the mechanism: $(head -n 2 "$WORK/gosrv.log")"
compat_mode "Go net/http server" "curl and wrk (preloaded)"
"$PY" -c 'import sys; sys.stdout.buffer.write(bytes((i * 7) & 255 for i in range(1 << 20)))' >"$WORK/want.bin"
sv_start
timeout 20 "${XRUN[@]}" curl -sf -o "$WORK/got.bin" "http://127.0.0.1:$port/bytes/$((1 << 20))" ||
	fail "curl failed"
cmp -s "$WORK/got.bin" "$WORK/want.bin" || fail "curl: the body differs"
timeout -k 5 30 "${XRUN[@]}" wrk -c 16 -t 2 -d 2s --timeout 5s \
	"http://127.0.0.1:$port/bytes/1024" >"$WORK/wrk.log" 2>&1 || fail "wrk failed"
sv_end
wrk_check "$WORK/wrk.log"
assert_supervised "curl + wrk -> Go net/http" $(((1 << 20) + WRK_REQS * 1024)) 17
compat_pass "1 MiB by curl checked, $WRK_REQS wrk requests; $CD connections carried, lo +$LD B"

# 2. Go net/http client; nginx (preloaded) serves the pattern.
compat_mode "Go net/http client" "nginx (preloaded)"
nginx_serve "${XRUN[@]}"
cp "$WORK/want.bin" "$NGX_DIR/www/p.bin"
chmod 644 "$NGX_DIR/www/p.bin"
sv_start
timeout 30 "${XRUN[@]}" "$XIOGO" http-get "http://127.0.0.1:$NGX_PORT/p.bin" $((1 << 20)) 20 \
	>"$WORK/goget.log" 2>&1 || fail "Go client: $(tail -n 2 "$WORK/goget.log")"
sv_end
grep -q 'ok 20 requests' "$WORK/goget.log" || fail "Go client: $(tail -n 2 "$WORK/goget.log")"
assert_supervised "nginx -> Go net/http client" $((20 << 20)) 1
compat_pass "20 x 1 MiB checked; $CD connections carried, lo +$LD B"

# 3. Go client, Go server (both supervised): 8 connections echo 4 MiB each.
compat_mode "Go net" "Go client, Go server"
eport=$(compat_port)
"${XRUN[@]}" "$XIOGO" echo-server "127.0.0.1:$eport" >"$WORK/goecho.log" 2>&1 &
wait_port "$eport" 15 $!
sv_start
timeout 60 "${XRUN[@]}" "$XIOGO" echo-client "127.0.0.1:$eport" $((4 << 20)) 8 \
	>"$WORK/goclient.log" 2>&1 || fail "Go echo client: $(tail -n 2 "$WORK/goclient.log")"
sv_end
grep -q 'ok 8 connections' "$WORK/goclient.log" || fail "$(tail -n 2 "$WORK/goclient.log")"
assert_supervised "Go -> Go echo" $((2 * 8 * (4 << 20))) 8
compat_pass "8 x 4 MiB echoed and checked; lo +$LD B"
