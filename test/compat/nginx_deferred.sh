#!/usr/bin/env bash
# nginx with `listen ... deferred` (TCP_DEFER_ACCEPT; master as root + 2
# workers as nobody that share the listener) serving a 1 MiB file: the
# listener really has the option, ab -k -n 1000 and wrk -c 8 -d 3s against
# it complete with no failure and no non-2xx, X-IO carried what nginx sent
# (lo rx < 5 %). (What a deferred listener reports before a client's first
# bytes: test/behaviour/defer_accept*.c.)
# shellcheck source=test/compat/compat_lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/compat_lib.sh"
need_prog nginx ab wrk
compat_init nginx_deferred

n=1000
NGX_DIR=$WORK/ngx
NGX_PORT=$(compat_port)
NGX_FILE_SIZE=$((1024 * 1024))
nginx_conf "$NGX_DIR" "$NGX_PORT"
sed -i "s/listen 127.0.0.1:$NGX_PORT;/listen 127.0.0.1:$NGX_PORT deferred;/" "$NGX_DIR/nginx.conf"
grep -q "deferred;" "$NGX_DIR/nginx.conf" || fail "could not make the listener deferred"
head -c "$NGX_FILE_SIZE" /dev/urandom >"$NGX_DIR/www/f.bin"
chmod 644 "$NGX_DIR/www/f.bin"
nginx_start "$NGX_DIR" "$NGX_PORT" "${XRUN[@]}"
defer=$(listener_defer "$NGINX_PID" "$NGX_PORT")
log "nginx's listener: TCP_DEFER_ACCEPT $defer"
((defer > 0)) || fail "nginx's listener has no TCP_DEFER_ACCEPT"

compat_mode nginx "listen deferred, ab -k, both X-IO"
nginx_reset_log
ab_measured "$n" "http://127.0.0.1:$NGX_PORT/f.bin" -k
body=$(nginx_body_bytes "$NGX_DIR")
((body >= n * NGX_FILE_SIZE)) || fail "nginx sent $body body bytes, want $((n * NGX_FILE_SIZE))"
carried "nginx (deferred) -> ab" "$body"
compat_pass "$n keepalive requests, $(human_bytes "$body") carried by X-IO"

compat_mode nginx "listen deferred, wrk, both X-IO"
nginx_reset_log
wrk_measured 3s "http://127.0.0.1:$NGX_PORT/f.bin"
body=$(nginx_body_bytes "$NGX_DIR")
bad=$(nginx_non2xx "$NGX_DIR")
((bad == 0)) || fail "nginx logged $bad non-2xx responses"
carried "nginx (deferred) -> wrk" "$body"
compat_pass "$WRK_REQS requests, $(human_bytes "$body") carried by X-IO"

