#!/usr/bin/env bash
# redis BGSAVE during load (redis BGSAVE model: the server forks, the child
# inherits every accelerated connection and exits, the parent keeps serving
# them). redis-server and redis-benchmark (SET/GET, 1000-byte values, 50
# clients) under xio-run; three `redis-cli bgsave` (also under xio-run) while
# the benchmark runs. The benchmark completes without error, every BGSAVE
# succeeded (INFO rdb_last_bgsave_status:ok, redis-check-rdb accepts the
# file), the server answers PING, and X-IO carried the traffic (lo rx < 5 %).
# shellcheck source=test/compat/compat_lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/compat_lib.sh"
need_prog redis-server redis-benchmark redis-cli redis-check-rdb
compat_init redis_bgsave

redis_start "${XRUN[@]}"
compat_mode redis "BGSAVE during redis-benchmark, both X-IO"
cli=("${XRUN[@]}" redis-cli -p "$REDIS_PORT")
# polled through X-IO too, so that lo stays quiet
pinfo() { "${cli[@]}" info persistence | tr -d '\r' | awk -F: -v k="$1" '$1 == k { print $2 }'; }
redis_bytes_start
measure_start
"${XRUN[@]}" redis-benchmark -p "$REDIS_PORT" -q -n 150000 -t set,get -d 1000 -r 50000 \
	>"$WORK/bench.log" 2>&1 &
bpid=$!
# let the keyspace fill up a little first
for ((i = 0; i < 500; i++)); do
	n=$("${cli[@]}" dbsize 2>/dev/null || echo 0)
	((n >= 5000)) && break
	proc_alive "$bpid" || break
	sleep 0.01
done
saves=0
for ((s = 0; s < 3; s++)); do
	proc_alive "$bpid" || break
	out=$("${cli[@]}" bgsave 2>&1) || fail "redis-cli bgsave failed: $out"
	[[ $out == *"Background saving started"* ]] || fail "bgsave answered: $out"
	saves=$((saves + 1))
	for ((i = 0; i < 1000; i++)); do
		[[ $(pinfo rdb_bgsave_in_progress) == 0 ]] && break
		sleep 0.01
	done
	[[ $(pinfo rdb_bgsave_in_progress) == 0 ]] || fail "BGSAVE $saves did not finish in 10 s"
	[[ $(pinfo rdb_last_bgsave_status) == ok ]] || fail "BGSAVE $saves: rdb_last_bgsave_status $(pinfo rdb_last_bgsave_status)"
	log "BGSAVE $saves done while the benchmark ran ($("${cli[@]}" dbsize) keys)"
done
rc=0
wait_exit "$bpid" 25000 >/dev/null || fail "redis-benchmark did not finish in 25 s after the BGSAVEs"
rc=$(job_status "$bpid")
measure_end
redis_bytes_end
tr '\r' '\n' <"$WORK/bench.log" | grep -v '^$' | tail -n 2
((rc == 0)) || fail "redis-benchmark exited $rc"
((saves >= 1)) || fail "the benchmark ended before the first BGSAVE"
bench_check "$WORK/bench.log" SET GET
[[ $("${cli[@]}" ping) == PONG ]] || fail "redis-server does not answer PING after the BGSAVEs"
redis-check-rdb "$WORK/redis/d.rdb" >"$WORK/check-rdb.log" 2>&1 ||
	fail "redis-check-rdb rejects d.rdb: $(tail -n 3 "$WORK/check-rdb.log")"
carried "redis-benchmark with BGSAVE" "$REDIS_MOVED"
compat_pass "$saves BGSAVEs during 150000 SET + 150000 GET, PING ok, $(human_bytes "$REDIS_MOVED") carried"
