#!/usr/bin/env bash
# sockperf server (sr) and clients under xio-run, 2 s each:
#  1. ping-pong (pp), 64-byte messages: observations > 0, every observation
#     is one message each way;
#  2. throughput (tp), 1 KiB messages: messages sent > 0.
# X-IO carried the messages (lo rx < 5 %).
# shellcheck source=test/compat/compat_lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/compat_lib.sh"
need_prog sockperf
compat_init sockperf

port=$(compat_port)
"${XRUN[@]}" sockperf sr --tcp -i 127.0.0.1 -p "$port" >"$WORK/server.log" 2>&1 &
spid=$!
compat_track "$spid"
wait_port "$port" 10 "$spid"

# Ping-pong needs an explicit rate: without one (or with --mps=max, the same)
# sockperf sizes its table of samples for 600 K messages/s and aborts
# ("_seqN > m_maxSequenceNo") once X-IO's round trip is below 1.67 us. The rate
# is also a cap; 5 M/s is far above any round trip here ((2 s + 1) x 5 M x 16 B
# = 240 MB of table). Throughput keeps no table: unthrottled (max).
run_sockperf() { # MODE SUBCOMMAND MSG_SIZE MPS
	local mode=$1 sub=$2 size=$3 mps=$4 rc=0
	compat_mode sockperf "$mode"
	measure_start
	timeout -k 5 30 "${XRUN[@]}" sockperf "$sub" --tcp -i 127.0.0.1 -p "$port" -t 2 -m "$size" \
		--mps="$mps" >"$WORK/$sub.log" 2>&1 || rc=$?
	measure_end
	((rc == 0)) || fail "sockperf $sub exited $rc: $(tail -n 3 "$WORK/$sub.log" | tr '\n' ' ')"
	proc_alive "$spid" || fail "sockperf server died"
	CLEAN=$(sed 's/\x1b\[[0-9;]*m//g' "$WORK/$sub.log")
}

run_sockperf "ping-pong 64 B, both X-IO" pp 64 5000000
obs=$(sed -n 's/.*Total \([0-9]*\) observations.*/\1/p' <<<"$CLEAN" | head -n1)
p50=$(sed -n 's/.*percentile 50.000 = *\([0-9.]*\).*/\1/p' <<<"$CLEAN" | head -n1)
[[ -n $obs ]] || fail "no 'Total N observations' line in sockperf pp output"
((obs > 0)) || fail "sockperf pp measured 0 observations"
carried "ping-pong" $((obs * 64 * 2))
compat_pass "$obs round trips, p50 ${p50:-?} us (half RTT), $((obs * 128)) B carried"

run_sockperf "throughput 1 KiB, both X-IO" tp 1024 max
SENT=$(sed -n 's/.*Total of \([0-9]*\) messages sent.*/\1/p' <<<"$CLEAN" | head -n1)
[[ -n $SENT ]] || fail "no 'Total of N messages sent' line in sockperf tp output"
rate=$(sed -n 's/.*Summary: Message Rate is \([0-9]*\) .*/\1/p' <<<"$CLEAN" | head -n1)
((SENT > 0)) || fail "sockperf tp sent 0 messages"
carried "throughput" $((SENT * 1024))
compat_pass "$SENT messages (${rate:-?} msg/s), $(human_bytes $((SENT * 1024))) carried"
