#!/usr/bin/env bash
# Two isolated nodes whose pods use the same addresses, all in one X-IO
# domain and run dir, are never confused: each client reaches its own
# node's server.
#   nodes n1 and n2 (two node namespaces, nothing between them), each with
#   pods p1 (server, 10.77.1.2) and p2 (client, 10.77.2.2), the servers on
#   the same port P under X-IO, one identity each (S1, S2);
#   controls: a client inside each server's own pod reaches its server, and
#   X-IO carries it (both listeners are published in the one domain);
#   N rounds, alternating nodes, each client without and with X-IO: n1's
#   client always gets S1, n2's always S2, and each server counts exactly
#   its own clients' connections, and (XIO_NETNS_EXPECT_CARRIED=1, the
#   default) X-IO carries them; the same through a Service VIP, defined
#   in each node with the same VIP, DNATed to the node's own p1;
#   with S1 gone: n1's client is refused (its node's answer), never
#   answered by S2, with and without X-IO.
# shellcheck source=test/netns/pods_lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/pods_lib.sh"
pods_init same_address
t0=$(now_ms)
P=$NS_PORT
VIP=10.77.250.10
N=${NETNS_ROUNDS:-10}

pods_routed 2 n1
pods_routed 2 n2
S_IP=${POD_IP[n1-p1]}
[[ $S_IP == "${POD_IP[n2-p1]}" && ${POD_IP[n1-p2]} == "${POD_IP[n2-p2]}" ]] ||
	fail "the two nodes' pods do not share addresses: ${POD_IP[*]}"
service_dnat "$VIP" 80 "$S_IP" "$P" n1
service_dnat "$VIP" 80 "$S_IP" "$P" n2

pod_server n1-p1 xio "$P" S1
s1_pid=$BG_PID
pod_server n2-p1 xio "$P" S2

for k in 1 2; do
	expect_same "inside n$k-p1 -> $S_IP:$P" "n$k-p1" "$S_IP" "$P" ok --send 64K
	[[ $SAME_OUT == *" id=S$k "* ]] || fail "inside n$k-p1: answered by: $SAME_OUT"
	[[ $SAME_XIO == carried ]] || fail "inside n$k-p1: not carried by X-IO (xio=$SAME_XIO)"
done

for ((i = 1; i <= N; i++)); do
	for k in 1 2; do
		expect_same "n$k-p2 -> $S_IP:$P, round $i" "n$k-p2" "$S_IP" "$P" ok --send 16K --seed "$i"
		[[ $SAME_OUT == *" id=S$k peer=${POD_IP[n1-p2]} "* ]] ||
			fail "round $i: n$k's client was answered by: $SAME_OUT"
		expect_carried "n$k-p2 -> $S_IP:$P, round $i"
	done
done
for k in 1 2; do
	expect_same "n$k-p2 -> VIP $VIP:80" "n$k-p2" "$VIP" 80 ok --send 16K
	[[ $SAME_OUT == *" id=S$k "* ]] || fail "n$k's client via the VIP was answered by: $SAME_OUT"
	expect_carried "n$k-p2 -> VIP $VIP:80"
done
for k in 1 2; do
	want=$((2 * N + 2 + 2))
	(($(server_count "S$k") == want)) ||
		fail "S$k answered $(server_count "S$k") connections, want $want (its own node's only)"
done

kill "$s1_pid"
wait "$s1_pid" 2>/dev/null || true
n2=$(server_count S2)
for ((i = 1; i <= 3; i++)); do
	expect_same "n1-p2 -> $S_IP:$P, S1 gone, round $i" n1-p2 "$S_IP" "$P" refused
done
expect_same "n1-p2 -> VIP $VIP:80, S1 gone" n1-p2 "$VIP" 80 refused
(($(server_count S2) == n2)) || fail "S2 answered n1's client: $(tail -n 1 "$WORK/srv-S2.log")"
expect_same "n2-p2 -> $S_IP:$P, S2 still there" n2-p2 "$S_IP" "$P" ok --send 16K
[[ $SAME_OUT == *" id=S2 "* ]] || fail "n2's client was answered by: $SAME_OUT"

log "PASS in $(($(now_ms) - t0)) ms (after setup)"
