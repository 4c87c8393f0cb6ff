#!/usr/bin/env bash
# A pod that puts another pod's address on its own interface never receives
# that pod's connections: X-IO delivers a connection only to the process the
# kernel connects it to.
#   pods A (p1), B (p2) and C (p3) on a routed node; C adds B's address
#   10.77.2.2 to its eth0 (the node still routes 10.77.2.2 to B) and listens
#   on 10.77.2.2:P under X-IO, as B does.
#   control: a client inside C reaching 10.77.2.2:P gets C (and X-IO
#   carries it: the impostor's listener is published and works);
#   A -> 10.77.2.2:P, N times without and N times with X-IO: every answer
#   comes from B, C answers none of A's connections, and (with
#   XIO_NETNS_EXPECT_CARRIED=1, the default) X-IO carries them; the same
#   through a Service VIP that DNATs to B;
#   on another port B's server runs without X-IO and C listens there under
#   X-IO (only C's listener is X-IO's at that address): A still reaches B,
#   over kernel TCP;
#   with B's server gone: A's connect is refused (the kernel's answer,
#   B's RST), with and without X-IO, and C still sees nothing;
#   C listening on the wildcard address of a port where B has nothing:
#   refused too.
# shellcheck source=test/netns/pods_lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/pods_lib.sh"
pods_init impersonation
t0=$(now_ms)
P=$NS_PORT Q=$((NS_PORT + 1)) R=$((NS_PORT + 2))
VIP=10.77.250.10
N=${NETNS_ROUNDS:-8}

pods_routed 3 # p1 (A), p2 (B), p3 (C)
B_IP=${POD_IP[p2]}
pod_addr_add p3 "$B_IP"
service_dnat "$VIP" 80 "$B_IP" "$P"

pod_server p2 xio "$P" B
b_pid=$BG_PID
pod_server p2 plain "$R" Bplain
pod_server p3 xio "$P" C "$B_IP"
pod_server p3 xio "$Q" Cq 0.0.0.0
pod_server p3 xio "$R" Cr "$B_IP"

# the impostor works for its own namespace, over X-IO
expect_same "inside C -> $B_IP:$P" p3 "$B_IP" "$P" ok --send 64K
[[ $SAME_OUT == *" id=C "* ]] || fail "inside C: not answered by C: $SAME_OUT"
[[ $SAME_XIO == carried ]] || fail "inside C: X-IO did not carry a connection inside one namespace (xio=$SAME_XIO)"
c0=$(server_count C)

for ((i = 1; i <= N; i++)); do
	expect_same "A -> $B_IP:$P, round $i" p1 "$B_IP" "$P" ok --send 64K --seed "$i"
	[[ $SAME_OUT == *" id=B "* ]] || fail "round $i: A's connection was answered by: $SAME_OUT"
	expect_carried "A -> $B_IP:$P, round $i"
done
expect_same "A -> VIP $VIP:80 (DNAT to B)" p1 "$VIP" 80 ok --send 64K
[[ $SAME_OUT == *" id=B "* ]] || fail "A via the VIP was answered by: $SAME_OUT"
expect_carried "A -> VIP $VIP:80"
(($(server_count C) == c0)) ||
	fail "C answered $(($(server_count C) - c0)) of A's connections: $(tail -n 1 "$WORK/srv-C.log")"
(($(server_count B) == 2 * N + 2)) || fail "B answered $(server_count B) connections, want $((2 * N + 2))"

# port R: B's server runs without X-IO, only the impostor's listener is
# X-IO's at that address; A still reaches B, over kernel TCP
for ((i = 1; i <= 3; i++)); do
	expect_same "A -> $B_IP:$R, B without X-IO, round $i" p1 "$B_IP" "$R" ok --send 64K
	[[ $SAME_OUT == *" id=Bplain "* ]] || fail "B without X-IO, round $i: answered by: $SAME_OUT"
	[[ $SAME_XIO == tcp ]] || fail "B without X-IO, round $i: the X-IO client's socket is $SAME_XIO, not kernel TCP"
done

# B's server gone: the kernel refuses; the impostor must not step in
kill "$b_pid"
wait "$b_pid" 2>/dev/null || true
for ((i = 1; i <= 3; i++)); do
	expect_same "A -> $B_IP:$P, B not listening, round $i" p1 "$B_IP" "$P" refused
done
expect_same "A -> VIP $VIP:80, B not listening" p1 "$VIP" 80 refused
expect_same "A -> $B_IP:$Q, only C listens (wildcard)" p1 "$B_IP" "$Q" refused
(($(server_count C) == c0 && $(server_count Cq) == 0 && $(server_count Cr) == 0)) ||
	fail "C answered A's connections: $(cat "$WORK/srv-C.log" "$WORK/srv-Cq.log" "$WORK/srv-Cr.log")"

log "PASS in $(($(now_ms) - t0)) ms (after setup)"
