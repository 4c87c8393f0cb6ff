#!/usr/bin/env bash
# A spinning waiter gives its CPU away. A reader that spins for data that
# does not come (XIO_SPIN_US=1000000), on a CPU where another task has work
# (a stage of a service chain, benchmarks/zc_chain.c), must let that task run
# instead of keeping the CPU for whole scheduler slices: its spin offers the
# CPU with sched_yield() after every microsecond (stack/wait.c, spin()).
# Reader on CPU 0, its peer on CPU 1 (so that the reader spins) sending one
# byte every 200 ms (so that the reader is always inside a fresh 1 s spin),
# and a busy loop on CPU 0. Over 0.5 s:
#   - the reader is spinning, not asleep: state R in /proc at every look;
#   - it gets at most a quarter of the CPU time the busy loop gets
#     (without the yield the two share the CPU about evenly).
# CPU times from /proc/PID/schedstat (ns on a CPU).
# shellcheck source=test/fault/lib_fault.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib_fault.sh"
fault_init spin_yield

(($(nproc) >= 2)) || fail "needs two CPUs (reader and busy loop on CPU 0, the peer on CPU 1)"
FP=$FAULT_BIN/fpeer
on_cpu_ns() { awk '{ print $1 }' "/proc/$1/schedstat"; }
state() { awk '{ sub(/^.*\) /, ""); print $1 }' "/proc/$1/stat"; }

taskset -c 0 bash -c 'while :; do :; done' &
hog=$!
port=$(free_port)
taskset -c 1 "${XRUN[@]}" "$FP" server 127.0.0.1 "$port" --plain --recv eof --send inf \
	--chunk 1 --delay-us 200000 --ready "$WORK/ready" >"$WORK/server.log" 2>&1 &
spid=$!
wait_file "$WORK/ready" 5000
XIO_SPIN_US=1000000 taskset -c 0 "${XRUN[@]}" "$FP" client 127.0.0.1 "$port" --plain --recv eof \
	--ready "$WORK/client.ready" >"$WORK/client.log" 2>&1 &
cpid=$!
wait_file "$WORK/client.ready" 5000
(($(xio_field conns_open) >= 1)) || fail "not an X-IO connection"
r0=$(on_cpu_ns "$cpid") h0=$(on_cpu_ns "$hog")
running=0 looks=0
for ((i = 0; i < 10; i++)); do
	[[ $(state "$cpid") == R ]] && running=$((running + 1))
	looks=$((looks + 1))
	sleep 0.05
done
r1=$(on_cpu_ns "$cpid") h1=$(on_cpu_ns "$hog")
kill -KILL "$hog" "$spid" "$cpid" 2>/dev/null || true
wait "$hog" "$spid" "$cpid" 2>/dev/null || true
reader=$(((r1 - r0) / 1000000)) busy=$(((h1 - h0) / 1000000))
log "over 0.5 s: spinning reader $reader ms on CPU, busy loop $busy ms; reader runnable at $running of $looks looks"
((running == looks)) || fail "the reader slept ($running of $looks looks runnable): it did not spin, nothing measured"
((busy > 0 && reader * 4 <= busy)) ||
	fail "the spinning reader kept its CPU: $reader ms against the busy loop's $busy ms (at most a quarter allowed)"
log "PASS"
