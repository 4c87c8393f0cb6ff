#!/usr/bin/env bash
# A server restarted in its pod (a container restart keeps the pod's
# network namespace) listens again on its port at once, after connections
# from another pod, with and without X-IO: SO_REUSEADDR lets a new listener
# bind beside the old connections' TIME-WAIT sockets.
#   routed node, pods A (p1), B (p2); for each mode (plain, xio): a server in
#   B under X-IO on port P (P+1 for the second mode), N connections from A's
#   client run in that mode, the server killed, a new server on the same
#   port must listen (no EADDRINUSE) and answer A.
# Finding N2 (test/netns/FINDINGS.md): after carried connections it cannot
# bind for the TIME-WAIT period (60 s).
# shellcheck source=test/netns/pods_lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/pods_lib.sh"
pods_init server_restart
t0=$(now_ms)
N=${NETNS_ROUNDS:-3}

pods_routed 2 # p1 (A), p2 (B)
port=$NS_PORT
for mode in plain xio; do
	pod_server p2 xio "$port" "B-$mode"
	pid=$BG_PID
	for ((i = 1; i <= N; i++)); do
		pod_client p1 "$mode" "${POD_IP[p2]}" "$port" --send 64K
		[[ $CLIENT_OUT == "result=ok "*" id=B-$mode "* ]] || fail "$mode client, round $i: $CLIENT_OUT"
	done
	log "$mode client: $N connections to B (xio=$CLIENT_XIO); B's TIME-WAIT sockets: $(pod_exec p2 ss -Htan state time-wait | wc -l)"
	kill "$pid"
	wait "$pid" 2>/dev/null || true
	pod_server p2 xio "$port" "B2-$mode"
	pod_client p1 "$mode" "${POD_IP[p2]}" "$port" --send 64K
	[[ $CLIENT_OUT == "result=ok "*" id=B2-$mode "* ]] || fail "$mode client after the restart: $CLIENT_OUT"
	log "$mode: the restarted server listens and answers"
	port=$((port + 1))
done

log "PASS in $(($(now_ms) - t0)) ms (after setup)"
