#!/usr/bin/env bash
# A DROP rule between two pods (the shape of a NetworkPolicy) makes the
# connect time out exactly as without X-IO. The same client, with a connect
# timeout of T ms, runs without and with X-IO; each run must give the same
# line.
#   routed (Calico) and bridge nodes, both directions, a non-blocking connect
#   (poll) and a blocking one (SO_SNDTIMEO), and through a Service VIP that
#   DNATs to B: result=timeout, and the server behind the rule sees no
#   connection, not even once the rule is gone (a late SYN retransmit of a
#   client that gave up must not show up as a connection either);
#   controls: before the rule, to a port the rule does not cover and after
#   the rule is gone: result=ok from the very server, and
#   (XIO_NETNS_EXPECT_CARRIED=1, the default) carried by X-IO.
# shellcheck source=test/netns/pods_lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/pods_lib.sh"
pods_init policy_drop
t0=$(now_ms)
P=$NS_PORT Q=$((NS_PORT + 1))
VIP=10.77.250.10
T=600 # connect timeout, ms

pods_routed 2      # p1 (A), p2 (B)
pods_bridge 2 br   # br-p1 (A), br-p2 (B)
service_dnat "$VIP" 80 "${POD_IP[p2]}" "$P"

for pod in p1 p2 br-p1 br-p2; do
	pod_server "$pod" xio "$P" "$pod"
	pod_server "$pod" xio "$Q" "$pod-q"
done

expect_timeout() { # WHAT FROM TO_IP PORT SERVER [client options]
	local what=$1 from=$2 ip=$3 port=$4 srv=$5 n0 t
	shift 5
	n0=$(server_count "$srv")
	t=$(now_ms)
	expect_same "$what" "$from" "$ip" "$port" timeout --timeout-ms "$T" "$@"
	t=$(($(now_ms) - t))
	((t >= 2 * T)) || fail "$what: two timed-out connects took $t ms < 2 x $T ms"
	(($(server_count "$srv") == n0)) ||
		fail "$what: server $srv answered a connection the rule drops: $(tail -n 1 "$WORK/srv-$srv.log")"
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
	policy_drop "$a" "$b" "$P"
	expect_timeout "$a->$b:$P DROP" "$a" "$ip_b" "$P" "$b"
	expect_timeout "$a->$b:$P DROP, blocking connect" "$a" "$ip_b" "$P" "$b" --blocking
	expect_ok "$a->$b:$Q, a port the rule does not cover" "$a" "$ip_b" "$Q" "$b-q"
	n=$(server_count "$b")
	policy_clear "$node"
	expect_ok "$a->$b after the rule is gone" "$a" "$ip_b" "$P" "$b"
	(($(server_count "$b") == n + 2)) ||
		fail "$a->$b: server $b answered $(($(server_count "$b") - n)) connections after the rule went, want 2 (a client that gave up was connected late?)"
done

# through the Service: FORWARD sees B's address after DNAT, the rule applies
policy_drop p1 p2 "$P"
expect_timeout "p1->VIP:80 (DNAT to p2:$P) DROP" p1 "$VIP" 80 p2
policy_clear node
expect_ok "p1->VIP:80 without the rule" p1 "$VIP" 80 p2

log "fallbacks: $(xio_stat_json | sed -n 's/.*"fallback":\({[^}]*}\).*/\1/p')"
log "PASS in $(($(now_ms) - t0)) ms (after setup)"
