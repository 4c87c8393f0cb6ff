#!/usr/bin/env bash
# Source NAT: with a masquerade rule in the node, B sees the node's address
# as the source of A's connection. The connection works with and without
# X-IO and B sees the very same source.
#   routed node, pods A (p1) and B (p2), nat POSTROUTING -d B -j MASQUERADE:
#   A -> B, N times, 256 KiB checked by B: result=ok with
#   peer=10.77.0.1 (the node) both ways; the same through a Service VIP
#   DNATed to B (DNAT + masquerade); control: without the rule B sees A's
#   own address.
#   Carried or not: issue 9 lists masquerade with "kernel TCP, counted by
#   reason"; the pairing proof by sequence numbers holds through it (the
#   sequence numbers and, here, the client's port survive masquerade).
#   XIO_NETNS_SNAT_EXPECT says which the test requires: tcp (kernel TCP,
#   xio-stat bytes unmoved, each counted in fallback.pair_unproven), carried
#   (xio-stat bytes grew by all of it), any (the default: each connection
#   either way, and the counters agree with what each client reported).
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
SNAT_EXPECT=${XIO_NETNS_SNAT_EXPECT:-any}
[[ $SNAT_EXPECT =~ ^(tcp|carried|any)$ ]] || fail "XIO_NETNS_SNAT_EXPECT=$SNAT_EXPECT is not tcp, carried or any"
SEND=262144
b0=$(xio_bytes) u0=$(fallback_count pair_unproven)
carried=0 tcp=0
one_round() { # WHAT IP PORT [client options]
	local what=$1 ip=$2 port=$3
	shift 3
	expect_same "$what" p1 "$ip" "$port" ok --send "$SEND" "$@"
	[[ $SAME_OUT == *" id=B peer=$NODE_ADDR "* ]] || fail "$what: B did not see the node's address: $SAME_OUT"
	case $SAME_XIO in
	carried) carried=$((carried + 1)) ;;
	tcp) tcp=$((tcp + 1)) ;;
	*) fail "$what: the X-IO client reported xio=$SAME_XIO" ;;
	esac
	[[ $SNAT_EXPECT == any || $SNAT_EXPECT == "$SAME_XIO" ]] ||
		fail "$what: a masqueraded connection is $SAME_XIO under X-IO, XIO_NETNS_SNAT_EXPECT=$SNAT_EXPECT"
}
for ((i = 1; i <= N; i++)); do
	one_round "A -> B masqueraded, round $i" "${POD_IP[p2]}" "$P" --seed "$i"
done
one_round "A -> VIP $VIP:80, DNAT and masquerade" "$VIP" 80

db=$(($(xio_bytes) - b0)) u1=$(fallback_count pair_unproven)
log "masqueraded X-IO connections: $carried carried, $tcp kernel TCP; xio-stat bytes +$db, fallback.pair_unproven ${u0} -> ${u1}"
if ((carried == 0)); then
	((db == 0)) || fail "xio-stat bytes grew by $db though no connection was carried"
else
	((db >= carried * SEND)) || fail "xio-stat bytes grew by $db < $carried carried x $SEND B"
fi
if ((tcp > 0 && u0 >= 0)); then
	((u1 - u0 >= tcp)) || fail "fallback.pair_unproven grew by $((u1 - u0)), want >= $tcp (the kernel TCP ones)"
fi

log "PASS in $(($(now_ms) - t0)) ms (after setup)"
