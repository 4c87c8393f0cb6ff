#!/usr/bin/env bash
# python3 -m http.server serving a 10 MiB random file, fetched by curl, both
# under xio-run: the checksum must match and X-IO must carry the file.
# shellcheck source=test/integration/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
need_prog curl sha256sum
xio_test_init curl

size=$((10 * 1024 * 1024))
mkdir -p "$WORK/www"
head -c "$size" /dev/urandom >"$WORK/www/file.bin"
want=$(sha256sum <"$WORK/www/file.bin" | cut -d' ' -f1)

port=$(free_port)
"${XRUN[@]}" "$PY" -m http.server --bind 127.0.0.1 "$port" --directory "$WORK/www" >"$WORK/server.log" 2>&1 &
spid=$!
wait_port "$port" 15 "$spid"

x0=$(xio_bytes)
l0=$(lo_bytes)
rc=0
timeout -k 5 60 "${XRUN[@]}" \
	curl -sS --fail --max-time 50 -o "$WORK/got.bin" "http://127.0.0.1:$port/file.bin" \
	2>"$WORK/curl.err" || rc=$?
x1=$(xio_bytes)
l1=$(lo_bytes)
((rc == 0)) || fail "curl exited $rc: $(cat "$WORK/curl.err")"
got=$(sha256sum <"$WORK/got.bin" | cut -d' ' -f1)
log "curl: $(stat -c %s "$WORK/got.bin") bytes, sha256 $got (want $want)"
[[ $got == "$want" ]] || fail "checksum mismatch"
assert_carried "http" "$size" $((x1 - x0)) $((l1 - l0))
log "PASS"
