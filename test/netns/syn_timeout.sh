#!/usr/bin/env bash
# A DROP rule and a blocking connect() without a timeout of its own: the
# kernel gives up on the SYN (tcp_syn_retries) and connect() fails with
# ETIMEDOUT, with and without X-IO. (policy_drop covers the connects that a
# program bounds itself, with poll() or SO_SNDTIMEO.)
#   routed node, pods A (p1) and B (p2) with an X-IO server, DROP A -> B:P,
#   tcp_syn_retries=1 in A (the kernel gives up after 1 s + 2 s):
#   result=timeout both ways, B sees nothing;
#   control: without the rule, result=ok.
# Finding N1 (test/netns/FINDINGS.md, fixed in 241e8b2): under X-IO connect()
# returned 0.
# shellcheck source=test/netns/pods_lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/pods_lib.sh"
pods_init syn_timeout
t0=$(now_ms)
P=$NS_PORT

pods_routed 2 # p1 (A), p2 (B)
pod_server p2 xio "$P" B
pod_exec p1 sysctl -qw net.ipv4.tcp_syn_retries=1

expect_same "A -> B without the rule" p1 "${POD_IP[p2]}" "$P" ok --send 1K --blocking --timeout-ms 0
[[ $SAME_OUT == *" id=B "* ]] || fail "without the rule: answered by: $SAME_OUT"
expect_carried "A -> B without the rule"

policy_drop p1 p2 "$P"
n0=$(server_count B)
expect_same "A -> B DROP, the kernel's SYN timeout" p1 "${POD_IP[p2]}" "$P" timeout --send 1K --blocking --timeout-ms 0
(($(server_count B) == n0)) || fail "B answered a connection the rule drops"

log "PASS in $(($(now_ms) - t0)) ms (after setup)"
