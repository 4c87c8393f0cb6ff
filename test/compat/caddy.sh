#!/usr/bin/env bash
# Debian's caddy (Go) under xio-run, carried by its seccomp supervisor,
# serving files to wrk and curl (preloaded): every curl body checked against
# the file, wrk without errors, carriage proved by xio-stat's connections and
# demotions and a quiet lo.
# shellcheck source=test/compat/compat_lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/compat_lib.sh"
# shellcheck source=test/go/go_lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/../go/go_lib.sh"
need_prog caddy curl wrk
compat_init caddy

port=$(compat_port)
mkdir -p "$WORK/www" "$WORK/caddy"
head -c 1024 /dev/urandom >"$WORK/www/1k.bin"
head -c $((4 << 20)) /dev/urandom >"$WORK/www/4m.bin"
cat >"$WORK/Caddyfile" <<CADDY
{
	admin off
	auto_https off
}
http://127.0.0.1:$port {
	root * $WORK/www
	file_server
}
CADDY
# Caddy keeps its state under XDG_DATA_HOME/XDG_CONFIG_HOME: the test's own.
HOME="$WORK/caddy" XDG_DATA_HOME="$WORK/caddy" XDG_CONFIG_HOME="$WORK/caddy" \
	"${XRUN[@]}" -v caddy run --config "$WORK/Caddyfile" --adapter caddyfile >"$WORK/caddy.log" 2>&1 &
wait_port "$port" 20 $!
grep -q 'caddy: Go binary: seccomp supervisor' "$WORK/caddy.log" ||
	fail "xio-run -v did not name the mechanism: $(head -n 2 "$WORK/caddy.log")"
compat_mode caddy "file-server, curl and wrk (preloaded)"
sv_start
for f in 1k.bin 4m.bin; do
	timeout 20 "${XRUN[@]}" curl -sf -o "$WORK/got.$f" "http://127.0.0.1:$port/$f" || fail "curl $f failed"
	cmp -s "$WORK/got.$f" "$WORK/www/$f" || fail "curl: $f differs"
done
timeout -k 5 30 "${XRUN[@]}" wrk -c 16 -t 2 -d 2s --timeout 5s \
	"http://127.0.0.1:$port/1k.bin" >"$WORK/wrk.log" 2>&1 || fail "wrk failed"
sv_end
wrk_check "$WORK/wrk.log"
assert_supervised "curl + wrk -> caddy" $(((4 << 20) + WRK_REQS * 1024)) 18
compat_pass "1 KiB and 4 MiB by curl checked, $WRK_REQS wrk requests; $CD connections carried, lo +$LD B"
