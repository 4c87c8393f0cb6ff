#!/usr/bin/env bash
# Every connect X-IO offered to pair and the kernel refused is counted in
# xio-stat's fallback.pair_policy (issue 9: "every connection X-IO declined
# is counted with its reason"), whether the program connects blocking or
# non-blocking.
#   routed node, pods A (p1), B (p2) with an X-IO server, REJECT A -> B:P:
#   K non-blocking and K blocking connects under X-IO, all refused:
#   pair_policy grows by 2K.
# Finding N3 (test/netns/FINDINGS.md): the non-blocking ones are not counted.
# shellcheck source=test/netns/pods_lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/pods_lib.sh"
pods_init policy_counted
t0=$(now_ms)
P=$NS_PORT
K=${NETNS_ROUNDS:-3}

pods_routed 2 # p1 (A), p2 (B)
pod_server p2 xio "$P" B
expect_same "A -> B before the rule" p1 "${POD_IP[p2]}" "$P" ok
expect_carried "A -> B before the rule"

policy_reject p1 p2 "$P" tcp-reset
c0=$(fallback_count pair_policy)
((c0 >= 0)) || fail "xio-stat --json has no fallback.pair_policy"
for mode in "" --blocking; do
	n0=$(fallback_count pair_policy)
	for ((i = 1; i <= K; i++)); do
		# shellcheck disable=SC2086 # $mode is one word or none
		pod_client p1 xio "${POD_IP[p2]}" "$P" $mode
		[[ $CLIENT_OUT == result=refused ]] || fail "X-IO client ${mode:-non-blocking}, round $i: $CLIENT_OUT"
	done
	log "${mode:-non-blocking} connects: $K refused, pair_policy +$(($(fallback_count pair_policy) - n0))"
done
c1=$(fallback_count pair_policy)
((c1 - c0 == 2 * K)) || fail "pair_policy grew by $((c1 - c0)) for $((2 * K)) refused X-IO connects"

log "PASS in $(($(now_ms) - t0)) ms (after setup)"
