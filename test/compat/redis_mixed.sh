#!/usr/bin/env bash
# Mixed fallback with redis: server under X-IO + plain redis-benchmark, then
# plain server + redis-benchmark under X-IO. Both complete, the server
# answers PING, and xio-stat bytes stay 0 (kernel TCP).
# shellcheck source=test/compat/compat_lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/compat_lib.sh"
need_prog redis-server redis-benchmark redis-cli
compat_init redis_mixed

run_mixed() { # MODE SERVER_RUNNER_NAME CLIENT_RUNNER_NAME
	local mode=$1 rc=0
	local -n srv=$2 cli=$3
	compat_mode redis "$mode"
	redis_start "${srv[@]}"
	redis_bytes_start
	measure_start
	timeout -k 5 30 "${cli[@]}" redis-benchmark -p "$REDIS_PORT" -q -n 20000 -t get,set -d 1000 \
		>"$WORK/bench.log" 2>&1 || rc=$?
	measure_end
	redis_bytes_end
	((rc == 0)) || fail "redis-benchmark exited $rc"
	bench_check "$WORK/bench.log" SET GET
	[[ $("${cli[@]}" redis-cli -p "$REDIS_PORT" ping) == PONG ]] || fail "redis-server does not answer PING"
	not_carried "$mode"
	((LD >= REDIS_MOVED)) || fail "lo rx grew by $LD < $REDIS_MOVED bytes redis moved"
	compat_pass "20000 get + 20000 set over kernel TCP, 0 X-IO bytes"
	stop_pid "$REDIS_PID"
}

run_mixed "redis-benchmark plain -> server X-IO" XRUN PLAIN
run_mixed "redis-benchmark X-IO -> server plain" PLAIN XRUN
