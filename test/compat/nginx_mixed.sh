#!/usr/bin/env bash
# Mixed fallback with nginx (master + 2 workers as nobody) and wrk -c 8 -d 2s:
#  1. nginx under X-IO, wrk plain  -> kernel TCP through nginx's TCP listener
#  2. nginx plain, wrk under X-IO  -> no rendezvous, kernel TCP
# wrk reports no error, and xio-stat bytes stay 0 while lo carries the bytes.
# shellcheck source=test/compat/compat_lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/compat_lib.sh"
need_prog nginx wrk
compat_init nginx_mixed

run_mixed() { # MODE SERVER_RUNNER_NAME CLIENT_RUNNER_NAME
	local mode=$1
	local -n srv=$2 cli=$3
	compat_mode nginx "$mode"
	nginx_serve "${srv[@]}"
	wrk_measured 2s "http://127.0.0.1:$NGX_PORT/f.bin" "${cli[@]}"
	proc_alive "$NGINX_PID" || fail "nginx master died"
	local body bad
	body=$(nginx_body_bytes "$NGX_DIR")
	bad=$(nginx_non2xx "$NGX_DIR")
	((bad == 0)) || fail "nginx logged $bad non-2xx responses"
	not_carried "$mode"
	((LD >= body)) || fail "lo rx grew by $LD < $body body bytes: where did the bytes go?"
	compat_pass "$WRK_REQS requests over kernel TCP ($(human_bytes "$body")), 0 X-IO bytes"
	stop_pid "$NGINX_PID"
	rm -rf "$NGX_DIR"
}

run_mixed "wrk plain -> nginx X-IO" XRUN PLAIN
run_mixed "wrk X-IO -> nginx plain" PLAIN XRUN
