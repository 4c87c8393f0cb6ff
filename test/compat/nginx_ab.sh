#!/usr/bin/env bash
# nginx (master as root + 2 workers as nobody, sendfile, keepalive) serving a
# 1 MiB file, ab -k -n 2000 -c 4 against it, both under xio-run: ab completes
# 2000 keepalive requests with no failure and no non-2xx, and X-IO carried
# the bytes (lo rx < 5 %).
# shellcheck source=test/compat/compat_lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/compat_lib.sh"
need_prog nginx ab
compat_init nginx_ab

n=2000
NGX_FILE_SIZE=$((1024 * 1024)) nginx_serve "${XRUN[@]}"
compat_mode nginx "ab -k, both X-IO"
nginx_reset_log
ab_measured "$n" "http://127.0.0.1:$NGX_PORT/f.bin" -k
proc_alive "$NGINX_PID" || fail "nginx master died"
((${AB_KEEPALIVE:-0} >= n - 4)) || fail "ab: only ${AB_KEEPALIVE:-0} of $n requests used keepalive"
body=$(nginx_body_bytes "$NGX_DIR")
bad=$(nginx_non2xx "$NGX_DIR")
((bad == 0)) || fail "nginx logged $bad non-2xx responses"
((body >= n * NGX_FILE_SIZE)) || fail "nginx sent $body body bytes, want $((n * NGX_FILE_SIZE))"
carried "nginx -> ab" "$body"
compat_pass "$n keepalive requests, $(human_bytes "$body") carried by X-IO"
