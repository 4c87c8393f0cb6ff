#!/usr/bin/env bash
# A REJECT rule between two pods (the shape of a NetworkPolicy) refuses the
# connection exactly as without X-IO. The same client runs without and with
# X-IO; each run must give the same line.
#   routed (Calico) and bridge nodes, both directions (A->B, B->A), with
#   REJECT --reject-with icmp-port-unreachable (iptables' default) and
#   tcp-reset, a non-blocking and a blocking connect, and through a
#   Service VIP that DNATs to B: result=refused (ECONNREFUSED), and the
#   server behind the rule sees no connection;
#   controls: before the rule, to a port the rule does not cover, from a
#   third pod the rule does not name, and after the rule is gone:
#   result=ok from the very server, and
#   (XIO_NETNS_EXPECT_CARRIED=1, the default) carried by X-IO.
# shellcheck source=test/netns/pods_lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/pods_lib.sh"
pods_init policy_reject
t0=$(now_ms)
P=$NS_PORT Q=$((NS_PORT + 1))
VIP=10.77.250.10

pods_routed 3      # p1 (A), p2 (B), p3 (C, not named by the rule)
pods_bridge 2 br   # br-p1 (A), br-p2 (B)
service_dnat "$VIP" 80 "${POD_IP[p2]}" "$P"

for pod in p1 p2 br-p1 br-p2; do
	pod_server "$pod" xio "$P" "$pod"
	pod_server "$pod" xio "$Q" "$pod-q"
done

# expect_refused WHAT FROM TO_IP PORT SERVER [client options]: refused both
# ways, and SERVER answered nothing meanwhile.
expect_refused() {
	local what=$1 from=$2 ip=$3 port=$4 srv=$5 n0
	shift 5
	n0=$(server_count "$srv")
	expect_same "$what" "$from" "$ip" "$port" refused "$@"
	(($(server_count "$srv") == n0)) ||
		fail "$what: server $srv answered a connection the rule rejects: $(tail -n 1 "$WORK/srv-$srv.log")"
}

expect_ok() { # WHAT FROM TO_IP PORT SERVER
	expect_same "$1" "$2" "$3" "$4" ok --send 64K
	[[ $SAME_OUT == *" id=$5 "* ]] || fail "$1: answered by the wrong server: $SAME_OUT"
	expect_carried "$1"
}

for a_b in "p1 p2 node" "p2 p1 node" "br-p1 br-p2 br" "br-p2 br-p1 br"; do
	read -r a b node <<<"$a_b"
	ip_b=${POD_IP[$b]}
	expect_ok "$a->$b before the rule" "$a" "$ip_b" "$P" "$b"
	for with in icmp-port-unreachable tcp-reset; do
		policy_reject "$a" "$b" "$P" "$with"
		expect_refused "$a->$b:$P REJECT $with" "$a" "$ip_b" "$P" "$b"
		expect_refused "$a->$b:$P REJECT $with, blocking connect" "$a" "$ip_b" "$P" "$b" --blocking
		expect_ok "$a->$b:$Q, a port the rule does not cover" "$a" "$ip_b" "$Q" "$b-q"
		policy_clear "$node"
	done
	expect_ok "$a->$b after the rule is gone" "$a" "$ip_b" "$P" "$b"
done

# the rule names A and B only: a third pod still reaches B
policy_reject p1 p2 "$P"
expect_ok "p3->p2, a pod the rule does not name" p3 "${POD_IP[p2]}" "$P" p2
# through the Service: FORWARD sees B's address after DNAT, the rule applies
expect_refused "p1->VIP:80 (DNAT to p2:$P) REJECT" p1 "$VIP" 80 p2
policy_clear node
expect_ok "p1->VIP:80 without the rule" p1 "$VIP" 80 p2

log "fallbacks: $(xio_stat_json | sed -n 's/.*"fallback":\({[^}]*}\).*/\1/p')"
log "PASS in $(($(now_ms) - t0)) ms (after setup)"
