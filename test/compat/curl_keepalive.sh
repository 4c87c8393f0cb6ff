#!/usr/bin/env bash
# curl fetching 20 different 1 MiB files in one command line (HTTP/1.1
# keepalive: one connection for all 20 transfers) from nginx (master + 2
# workers as nobody, sendfile), both under xio-run: every checksum matches,
# curl connected once, and X-IO carried the 20 MiB (lo rx < 5 %).
# shellcheck source=test/compat/compat_lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/compat_lib.sh"
need_prog nginx curl sha256sum
compat_init curl_keepalive

n=20
size=$((1024 * 1024))
NGX_FILE_SIZE=$size nginx_serve "${XRUN[@]}"
args=()
for ((i = 1; i <= n; i++)); do
	head -c "$size" /dev/urandom >"$NGX_DIR/www/f$i.bin"
	chmod 644 "$NGX_DIR/www/f$i.bin"
	args+=(-o "$WORK/got$i.bin" "http://127.0.0.1:$NGX_PORT/f$i.bin")
done

compat_mode curl "20 keepalive transfers, nginx, both X-IO"
nginx_reset_log
measure_start
rc=0
timeout -k 5 30 "${XRUN[@]}" curl -sS --fail --max-time 25 -w '%{http_code} %{num_connects} %{size_download}\n' \
	"${args[@]}" >"$WORK/curl.log" 2>"$WORK/curl.err" || rc=$?
measure_end
((rc == 0)) || fail "curl exited $rc: $(cat "$WORK/curl.err")"
proc_alive "$NGINX_PID" || fail "nginx master died"
got=$(wc -l <"$WORK/curl.log")
((got == n)) || fail "curl reported $got transfers, want $n"
connects=$(awk '{ s += $2 } END { print s }' "$WORK/curl.log")
codes=$(awk '$1 != 200' "$WORK/curl.log" | wc -l)
((codes == 0)) || fail "$codes transfers did not answer 200: $(tr '\n' ' ' <"$WORK/curl.log")"
for ((i = 1; i <= n; i++)); do
	[[ $(sha "$WORK/got$i.bin") == "$(sha "$NGX_DIR/www/f$i.bin")" ]] ||
		fail "f$i.bin: checksum mismatch ($(stat -c %s "$WORK/got$i.bin") bytes)"
done
log "curl: $n transfers, sha256 ok, $connects connect(s)"
((connects == 1)) || fail "curl opened $connects connections for $n keepalive transfers, want 1"
carried "nginx -> curl" $((n * size))
compat_pass "$n transfers on 1 connection, checksums ok, $(human_bytes $((n * size))) carried"
