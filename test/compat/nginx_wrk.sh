#!/usr/bin/env bash
# nginx (master as root + 2 workers as nobody, sendfile, keepalive) serving a
# 2 MiB file, wrk -c 8 -d 3s against it, both under xio-run: wrk reports no
# socket error and no non-2xx, nginx logged only 2xx, and X-IO carried what
# nginx sent (lo rx < 5 %).
# shellcheck source=test/compat/compat_lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/compat_lib.sh"
need_prog nginx wrk
compat_init nginx_wrk

nginx_serve "${XRUN[@]}"
compat_mode nginx "wrk, both X-IO"
nginx_reset_log
wrk_measured 3s "http://127.0.0.1:$NGX_PORT/f.bin"
proc_alive "$NGINX_PID" || fail "nginx master died"
body=$(nginx_body_bytes "$NGX_DIR")
bad=$(nginx_non2xx "$NGX_DIR")
log "nginx: body bytes sent $body, non-2xx $bad"
((bad == 0)) || fail "nginx logged $bad non-2xx responses"
carried "nginx -> wrk" "$body"
compat_pass "$WRK_REQS requests, $(human_bytes "$body") carried by X-IO"
