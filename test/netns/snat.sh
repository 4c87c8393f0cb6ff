#!/usr/bin/env bash
# Source NAT: with a masquerade rule in the node, B sees the node's address
# as the source of A's connection. The connection works with and without
# X-IO and B sees the very same source; X-IO cannot prove such a pairing
# (the two ends see different 4-tuples), so it stays kernel TCP.
#   routed node, pods A (p1) and B (p2), nat POSTROUTING -d B -j MASQUERADE:
#   A -> B, N times, 256 KiB checked by B: result=ok with
#   peer=10.77.0.1 (the node) both ways, the X-IO client's socket is kernel
#   TCP (xio=tcp) and xio-stat's byte counter does not move;
#   the same through a Service VIP DNATed to B (DNAT + masquerade);
#   control: without the rule B sees A's own address;
#   once the manager counts unproven pairings (xio-stat --json
#   fallback.pair_unproven exists), every X-IO connection here must be
#   counted there.
# shellcheck source=test/netns/pods_lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/pods_lib.sh"
pods_init snat
t0=$(now_ms)
P=$NS_PORT
VIP=10.77.250.10
N=${NETNS_ROUNDS:-5}

pods_routed 2 # p1 (A), p2 (B)
service_dnat "$VIP" 80 "${POD_IP[p2]}" "$P"
pod_server p2 xio "$P" B

expect_same "A -> B without the rule" p1 "${POD_IP[p2]}" "$P" ok --send 64K
[[ $SAME_OUT == *" id=B peer=${POD_IP[p1]} "* ]] || fail "without the rule: $SAME_OUT"

snat_masquerade p2
unproven() {
	local js
	js=$(xio_stat_json) || fail "xio-stat --json failed"
	"$PY" -c 'import json, sys; print(json.loads(sys.argv[1])["fallback"].get("pair_unproven", -1))' "$js"
}
b0=$(xio_bytes) u0=$(unproven)
conns=0
for ((i = 1; i <= N; i++)); do
	expect_same "A -> B masqueraded, round $i" p1 "${POD_IP[p2]}" "$P" ok --send 256K --seed "$i"
	[[ $SAME_OUT == *" id=B peer=$NODE_ADDR "* ]] || fail "round $i: B did not see the node's address: $SAME_OUT"
	[[ $SAME_XIO == tcp ]] || fail "round $i: a masqueraded connection is not kernel TCP under X-IO (xio=$SAME_XIO)"
	conns=$((conns + 1))
done
expect_same "A -> VIP $VIP:80, DNAT and masquerade" p1 "$VIP" 80 ok --send 256K
[[ $SAME_OUT == *" id=B peer=$NODE_ADDR "* ]] || fail "via the VIP: B did not see the node's address: $SAME_OUT"
[[ $SAME_XIO == tcp ]] || fail "via the VIP: not kernel TCP under X-IO (xio=$SAME_XIO)"
conns=$((conns + 1))

db=$(($(xio_bytes) - b0))
log "xio-stat bytes +$db over $conns masqueraded X-IO connections"
((db == 0)) || fail "xio-stat bytes grew by $db: X-IO carried a connection whose ends it cannot pair"
u1=$(unproven)
if ((u0 >= 0)); then
	log "fallback.pair_unproven +$((u1 - u0))"
	((u1 - u0 >= conns)) || fail "fallback.pair_unproven grew by $((u1 - u0)), want >= $conns"
else
	log "xio-stat has no fallback.pair_unproven yet: not checked"
fi

log "PASS in $(($(now_ms) - t0)) ms (after setup)"
