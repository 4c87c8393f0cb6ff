#!/usr/bin/env bash
# redis-server and redis-benchmark -q -n 20000 -t get,set (1000-byte values,
# 50 clients) both under xio-run: both tests complete without error, the
# server still answers PING, and X-IO carried what redis read and wrote
# (INFO total_net_*_bytes; lo rx < 5 %).
# shellcheck source=test/compat/compat_lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/compat_lib.sh"
need_prog redis-server redis-benchmark redis-cli
compat_init redis_bench

redis_start "${XRUN[@]}"
compat_mode redis "redis-benchmark get,set, both X-IO"
redis_bytes_start
measure_start
rc=0
timeout -k 5 30 "${XRUN[@]}" redis-benchmark -p "$REDIS_PORT" -q -n 20000 -t get,set -d 1000 \
	>"$WORK/bench.log" 2>&1 || rc=$?
measure_end
redis_bytes_end
tr '\r' '\n' <"$WORK/bench.log" | grep -v '^$' | tail -n 2
((rc == 0)) || fail "redis-benchmark exited $rc"
bench_check "$WORK/bench.log" SET GET
[[ $("${XRUN[@]}" redis-cli -p "$REDIS_PORT" ping) == PONG ]] || fail "redis-server does not answer PING"
payload=$REDIS_MOVED
log "redis-server read+wrote $payload bytes during the benchmark"
((payload >= 20000 * 1000)) || fail "redis moved only $payload bytes for 20000 SETs of 1000 bytes"
carried "redis-benchmark" "$payload"
rates=$(tr '\r' '\n' <"$WORK/bench.log" | sed -n 's/^\(SET\|GET\): \([0-9.]*\) requests per second.*/\1 \2\/s/p' | tr '\n' ' ')
compat_pass "${rates}$(human_bytes "$payload") carried"
