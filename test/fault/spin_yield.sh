#!/usr/bin/env bash
# A spinning waiter never holds its CPU against a busy neighbour. A reader
# that spins for data that does not come (XIO_SPIN_US=1000000), on a CPU
# where another task has work, offers the CPU with sched_yield() after every
# microsecond (stack/wait.c, spin()): a stage of a service chain that shares
# its CPU runs at once. A yield that comes back only after a slice (more
# than 1 ms: the other task is CPU-bound) ends the spin, and the thread stops
# spinning for a while (xio_spin_crowded): it sleeps until its doorbell, which
# preempts the busy task, instead of losing a 4 ms slice to it on every wait
# (64 B round trips took 4 ms instead of 23 us with a busy loop on the
# server's CPU, kernel TCP 54 us). Reader on CPU 0, its peer on CPU 1 sending
# one byte every 200 ms, and a busy loop on CPU 0. Over 0.5 s:
#   - the reader gets at most a quarter of the CPU time the busy loop gets
#     (without the yield the two share the CPU about evenly);
#   - it sleeps, not spins, at 7 or more of 10 looks (state S in /proc; it
#     was R at every look while every wait began with a fresh 1 s spin);
#   - it still receives every byte sent to it (--progress).
# CPU times from /proc/PID/schedstat (ns on a CPU).
# shellcheck source=test/fault/lib_fault.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib_fault.sh"
fault_init spin_yield

(($(nproc) >= 2)) || fail "needs two CPUs (reader and busy loop on CPU 0, the peer on CPU 1)"
FP=$FAULT_BIN/fpeer
on_cpu_ns() { awk '{ print $1 }' "/proc/$1/schedstat"; }
state() { awk '{ sub(/^.*\) /, ""); print $1 }' "/proc/$1/stat"; }

# this script and what it runs (awk, sleep, xio-stat) stay off the reader's CPU
taskset -cp 1 $$ >/dev/null
port=$(free_port)
taskset -c 1 "${XRUN[@]}" "$FP" server 127.0.0.1 "$port" --plain --recv eof --send inf \
	--chunk 1 --delay-us 200000 --ready "$WORK/ready" >"$WORK/server.log" 2>&1 &
spid=$!
wait_file "$WORK/ready" 5000
XIO_SPIN_US=1000000 taskset -c 0 "${XRUN[@]}" "$FP" client 127.0.0.1 "$port" --plain --recv eof \
	--ready "$WORK/client.ready" --progress "$WORK/progress" >"$WORK/client.log" 2>&1 &
cpid=$!
wait_file "$WORK/client.ready" 5000
(($(xio_field conns_open) >= 1)) || fail "not an X-IO connection"
# Alone on its CPU the reader spins, else nothing below would be measured: most
# of 0.5 s on the CPU (a yield slowed by something else now and then, e.g. the
# manager, sends it to sleep until the next byte, at most 200 ms).
a0=$(on_cpu_ns "$cpid")
sleep 0.5
alone=$((($(on_cpu_ns "$cpid") - a0) / 1000000))
((alone >= 100)) || fail "alone on CPU 0 the reader was on the CPU $alone ms of 500: it did not spin, nothing measured"
taskset -c 0 bash -c 'while :; do :; done' &
hog=$!
sleep 0.1
received() { awk '{ print $2 }' "$WORK/progress" 2>/dev/null || echo 0; }
r0=$(on_cpu_ns "$cpid") h0=$(on_cpu_ns "$hog") b0=$(received)
running=0 looks=0
for ((i = 0; i < 10; i++)); do
	[[ $(state "$cpid") == R ]] && running=$((running + 1))
	looks=$((looks + 1))
	sleep 0.05
done
r1=$(on_cpu_ns "$cpid") h1=$(on_cpu_ns "$hog")
sleep 0.25 # the byte sent last has had time to arrive
b1=$(received)
kill -KILL "$hog" "$spid" "$cpid" 2>/dev/null || true
wait "$hog" "$spid" "$cpid" 2>/dev/null || true
reader=$(((r1 - r0) / 1000000)) busy=$(((h1 - h0) / 1000000))
log "alone: reader $alone ms on CPU of 500; with the busy loop, over 0.5 s: reader $reader ms on CPU, busy loop $busy ms; reader runnable at $running of $looks looks; received $b0 -> $b1 bytes"
((busy > 0 && reader * 4 <= busy)) ||
	fail "the spinning reader kept its CPU: $reader ms against the busy loop's $busy ms (at most a quarter allowed)"
((running <= looks - 7)) ||
	fail "the reader kept spinning against the busy loop (runnable at $running of $looks looks): every wait gives it a slice"
((b1 - b0 >= 2)) || fail "the reader stopped receiving: $b0 -> $b1 bytes over 0.75 s at one byte per 200 ms"
log "PASS"
