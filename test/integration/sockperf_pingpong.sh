#!/usr/bin/env bash
# sockperf TCP ping-pong, 64-byte messages for 3 s, server and client under
# xio-run: the client must succeed with observations > 0, and X-IO must carry
# the messages (xio-stat bytes >= 64 B x messages each way, lo rx < 5 %).
# shellcheck source=test/integration/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
need_prog sockperf
xio_test_init sockperf

port=$(free_port)
"${XRUN[@]}" sockperf sr --tcp -i 127.0.0.1 -p "$port" >"$WORK/server.log" 2>&1 &
spid=$!
wait_port "$port" 10 "$spid"

x0=$(xio_bytes)
l0=$(lo_bytes)
rc=0
# Without --mps (or with --mps=max, the same) sockperf sizes its table of samples
# for 600 K messages/s and aborts ("_seqN > m_maxSequenceNo") when X-IO's round
# trip is shorter than 1.67 us. An explicit rate sizes it and caps the rate: 5 M/s
# is far above any round trip here and costs (3 s + 1) x 5 M x 16 B = 320 MB.
timeout -k 5 60 "${XRUN[@]}" \
	sockperf pp --tcp -i 127.0.0.1 -p "$port" -t 3 -m 64 --mps=5000000 >"$WORK/client.log" 2>&1 || rc=$?
x1=$(xio_bytes)
l1=$(lo_bytes)
((rc == 0)) || fail "sockperf pp exited $rc"
proc_alive "$spid" || fail "sockperf server died during the test"

clean=$(sed 's/\x1b\[[0-9;]*m//g' "$WORK/client.log")
obs=$(sed -n 's/.*Total \([0-9]*\) observations.*/\1/p' <<<"$clean" | head -n1)
sent=$(sed -n 's/.*\[Total Run\].*SentMessages=\([0-9]*\);.*/\1/p' <<<"$clean" | head -n1)
p50=$(sed -n 's/.*percentile 50.000 = *\([0-9.]*\).*/\1/p' <<<"$clean" | head -n1)
p99=$(sed -n 's/.*percentile 99.000 = *\([0-9.]*\).*/\1/p' <<<"$clean" | head -n1)
log "sockperf: observations=${obs:-?} sent=${sent:-?} p50=${p50:-?} us p99=${p99:-?} us (half round trip)"
[[ -n $obs ]] || fail "no 'Total N observations' line in sockperf output"
((obs > 0)) || fail "sockperf measured 0 observations"
# every observation is one 64-byte message each way
assert_carried "ping-pong" $((obs * 64 * 2)) $((x1 - x0)) $((l1 - l0))
log "PASS"
