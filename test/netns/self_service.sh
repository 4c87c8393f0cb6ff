#!/usr/bin/env bash
# A process that reaches its own listener through a Service address: one
# thread connects to the VIP, which the node DNATs (and, for the hairpin,
# masquerades) back to the pod, another thread of the same process accepts.
# Between namespaces X-IO pairs it through the manager: the connecting
# thread sends its offer after its SYN, the accepting thread's claim waits
# in the manager until that offer comes. The claim's thread holds the
# process's control connection while it waits, so the offer must not need
# it: it goes on the process's send-only offer channel. Offered on the
# control connection after the SYN (commit 754a218), the connect waited
# forever for the claim and the claim for the offer.
#   without X-IO: COUNT (default 300) connections of 64 bytes each way,
#   every one answered;
#   with X-IO: the same, none hangs (selfsvc gives each connection 10 s),
#   and (XIO_NETNS_EXPECT_CARRIED=1, the default) every connection carried
#   by X-IO at both ends, xio-stat bytes grown by 128 per connection.
# shellcheck source=test/netns/pods_lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/pods_lib.sh"
pods_init self_service
t0=$(now_ms)
P=$NS_PORT
VIP=10.77.250.11
COUNT=${SELFSVC_COUNT:-300}
SELFSVC=$NETNS_BIN/selfsvc
[[ -x $SELFSVC ]] || fail "$SELFSVC not built (NETNS_BIN=$NETNS_BIN)"

pods_routed 1 # p1: the pod that calls itself
service_dnat "$VIP" 80 "${POD_IP[p1]}" "$P"

rc=0
out=$(timeout 120 env XIO_TEST_TAG="$TAG" ip netns exec "${POD_NS[p1]}" "${PLAIN[@]}" \
	"$SELFSVC" "$P" "$VIP" 80 "$COUNT" 2>>"$WORK/selfsvc.err") || rc=$?
log "without X-IO: rc=$rc '$out'"
[[ $rc == 0 && $out == "done=$COUNT client_carried=0 server_carried=0" ]] ||
	fail "without X-IO: rc=$rc '$out' $(tail -n 3 "$WORK/selfsvc.err"): the box is not built as intended"

x0=$(xio_bytes)
rc=0
out=$(timeout 120 env XIO_TEST_TAG="$TAG" ip netns exec "${POD_NS[p1]}" "${XRUN[@]}" \
	"$SELFSVC" "$P" "$VIP" 80 "$COUNT" 2>>"$WORK/selfsvc.err") || rc=$?
dx=$(($(xio_bytes) - x0))
log "with X-IO: rc=$rc '$out', xio-stat bytes +$dx"
[[ $rc != 4 ]] || fail "with X-IO a connection to its own Service hung ($out)"
[[ $rc == 0 && $out == "done=$COUNT "* ]] ||
	fail "with X-IO: rc=$rc '$out' $(tail -n 3 "$WORK/selfsvc.err")"
if [[ $EXPECT_CARRIED == 1 ]]; then
	[[ $out == "done=$COUNT client_carried=$COUNT server_carried=$COUNT" ]] ||
		fail "with X-IO not every connection was carried: '$out'"
	((dx >= 128 * COUNT)) || fail "xio-stat bytes grew by $dx < $((128 * COUNT))"
fi
log "passed in $(($(now_ms) - t0)) ms"
