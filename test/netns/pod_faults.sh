#!/usr/bin/env bash
# Faults around connections between pods (issue 9, "Bad input and faults").
#   pod-killed     a checksummed stream p2 -> p1 carried by X-IO; every process
#                  of pod p2 is SIGKILLed and its namespace deleted mid-transfer:
#                  the client in p1 ends within 1 s with "peer went away" (EOF
#                  or ECONNRESET), never a hang, never a wrong byte; the slot
#                  comes back (slots_in_use returns to what it was).
#   client-killed  the same the other way: the client's pod dies, the server
#                  in p2 ends within 1 s.
#   manager-restart a stream carried between p1 and p2 while the manager is
#                  SIGKILLed and a new one started: the stream finishes with
#                  every byte checked; a new connection afterwards is carried
#                  again (the listener re-published in the new generation).
#   no-access      a client in p1 running as a user that may not join the
#                  domain: kernel TCP, the same answer, and xio-stat counts
#                  no_domain_access.
#   other-node     a client in p1 preloaded but without the domain's run dir
#                  (what a pod on another node has): kernel TCP, the same
#                  answer, nothing in this domain's counters.
# Every "carried" claim is checked with xio-stat (bytes, connections) and
# the veth counters of the client's pod.
# shellcheck source=test/netns/pods_lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/pods_lib.sh"
pods_init pod_faults
t0=$(now_ms)
FP=$BUILD_DIR/test/fault/fpeer
[[ -x $FP ]] || fail "$FP not built"
P=$((NS_PORT + 20))

pods_routed 3 # p1, p2 (the victims), p3 (spare for the restart)

# wait_progress FILE BYTES: until fpeer's progress file shows BYTES received.
wait_progress() {
	local f=$1 want=$2 i got
	for ((i = 0; i < 500; i++)); do
		got=$(awk '{print $2}' "$f" 2>/dev/null || echo 0)
		((${got:-0} >= want)) && return 0
		sleep 0.02
	done
	fail "no progress in $f after 10 s (got ${got:-0} of $want)"
}

# wait_exit PID MS: the process ended within MS milliseconds; sets EXIT_RC.
wait_exit() {
	local pid=$1 ms=$2 t
	t=$(now_ms)
	while kill -0 "$pid" 2>/dev/null; do
		(($(now_ms) - t > ms)) && fail "pid $pid still runs $ms ms after its peer died (a hang)"
		sleep 0.01
	done
	EXIT_RC=0
	wait "$pid" || EXIT_RC=$?
	log "pid $pid ended $(($(now_ms) - t)) ms after its peer's death, exit $EXIT_RC"
}

wait_slots() { # N: slots_in_use back to N within 5 s
	local i
	for ((i = 0; i < 250; i++)); do
		(($(xio_field slots_in_use) <= $1)) && return 0
		sleep 0.02
	done
	fail "slots_in_use is $(xio_field slots_in_use) 5 s later, expected <= $1: a slot leaked"
}

# ---- a pod dies mid-transfer ------------------------------------------------------
victim_dies() { # NAME: which end dies (server or client)
	local name=$1 srv cli v0 x0 c0 s0 port=$P
	P=$((P + 1))
	s0=$(xio_field slots_in_use)
	c0=$(xio_field conns_total)
	pod_xio_bg p2 "$FP" server 0.0.0.0 "$port" --send inf --ready "$WORK/$name.ready" \
		>"$WORK/$name.srv.out" 2>"$WORK/$name.srv.err"
	srv=$BG_PID
	for ((i = 0; i < 500; i++)); do [[ -e $WORK/$name.ready ]] && break; sleep 0.02; done
	v0=$(veth_bytes p1)
	x0=$(xio_bytes)
	pod_xio_bg p1 "$FP" client "${POD_IP[p2]}" "$port" --progress "$WORK/$name.progress" \
		>"$WORK/$name.cli.out" 2>"$WORK/$name.cli.err"
	cli=$BG_PID
	wait_progress "$WORK/$name.progress" $((64 << 20))
	(($(xio_field conns_total) > c0)) || fail "$name: the stream is not an X-IO connection"
	local dx=$(($(xio_bytes) - x0)) dv=$(($(veth_bytes p1) - v0))
	log "$name: carried $dx B so far, p1 eth0 +$dv B"
	((dv * 100 < dx * 5)) || fail "$name: p1's veth moved $dv B for $dx B carried: not X-IO"
	if [[ $name == pod-killed ]]; then
		kill -KILL "$srv"
		ip netns pids "${POD_NS[p2]}" | xargs -r kill -KILL 2>/dev/null || true
		wait "$srv" 2>/dev/null || true
		wait_exit "$cli" 1000
		# 0: EOF after checked bytes (the client expects "any count until EOF"); 3: reset
		((EXIT_RC == 0 || EXIT_RC == 3)) || fail "$name: client exit $EXIT_RC (2: a wrong byte): $(cat "$WORK/$name.cli.out" "$WORK/$name.cli.err")"
	else
		kill -KILL "$cli"
		wait "$cli" 2>/dev/null || true
		wait_exit "$srv" 1000
		((EXIT_RC == 3)) || fail "$name: server exit $EXIT_RC, want 3 (its peer went away): $(cat "$WORK/$name.srv.out" "$WORK/$name.srv.err")"
	fi
	wait_slots "$s0"
}

victim_dies client-killed
victim_dies pod-killed
# the server's pod is gone for good: its namespace too
ip netns del "${POD_NS[p2]}"
log "pod p2 deleted"
wait_slots 0

# ---- the manager restarts under a carried stream ---------------------------------
port=$P
P=$((P + 1))
pod_xio_bg p3 "$FP" server 0.0.0.0 "$port" --recv eof --ready "$WORK/mr.ready" \
	>"$WORK/mr.srv.out" 2>"$WORK/mr.srv.err"
srv=$BG_PID
for ((i = 0; i < 500; i++)); do [[ -e $WORK/mr.ready ]] && break; sleep 0.02; done
x0=$(xio_bytes)
pod_xio_bg p1 "$FP" client "${POD_IP[p3]}" "$port" --send $((1 << 30)) --progress "$WORK/mr.progress" \
	>"$WORK/mr.cli.out" 2>"$WORK/mr.cli.err"
cli=$BG_PID
sleep 0.3
(($(xio_bytes) > x0)) || fail "manager-restart: the stream is not carried by X-IO"
mpid=$(cat "$RUNDIR/$DOMAIN/manager.pid" 2>/dev/null || pgrep -f "xio-manager --domain $DOMAIN " | head -n 1)
[[ -n $mpid ]] || fail "no manager pid"
kill -KILL "$mpid"
log "manager $mpid killed mid-transfer"
# SIGKILL is delivered at once, but the domain lock is let go only when the
# process is gone: under load, a manager started at once found it held
for ((i = 0; i < 500; i++)); do
	[[ -e /proc/$mpid ]] || break
	sleep 0.01
done
start_manager
wait "$cli" || fail "manager-restart: client exit $? after the restart: $(cat "$WORK/mr.cli.out" "$WORK/mr.cli.err")"
wait "$srv" || fail "manager-restart: server exit $? after the restart: $(cat "$WORK/mr.srv.out" "$WORK/mr.srv.err")"
log "manager-restart: 1 GiB finished, every byte checked: $(tail -n 1 "$WORK/mr.cli.out")"
# a new connection between pods in the new generation: carried again
pod_server p3 xio "$P" fresh
x0=$(xio_bytes)
v0=$(veth_bytes p1)
pod_client p1 xio "${POD_IP[p3]}" "$P" --send 8M
[[ $CLIENT_OUT == "result=ok "* ]] || fail "after the restart: '$CLIENT_OUT'"
dx=$(($(xio_bytes) - x0)) dv=$(($(veth_bytes p1) - v0))
((dx >= 8 << 20 && dv * 100 < (8 << 20) * 5)) ||
	fail "after the restart a new pod-to-pod connection was not carried (xio-stat +$dx B, veth +$dv B)"
log "after the restart: carried again (+$dx B, veth +$dv B)"

# ---- a pod whose user may not join the domain ------------------------------------
f0=$(fallback_count no_domain_access)
((f0 >= 0)) || fail "xio-stat has no no_domain_access counter"
out_plain=$(pod_plain p1 setpriv --reuid=nobody --regid=nogroup --clear-groups "$NSPEER" client "${POD_IP[p3]}" "$P" --send 64K | sed 's/ peer=[^ ]*//; s/ xio=.*//')
out_xio=$(pod_xio p1 setpriv --reuid=nobody --regid=nogroup --clear-groups "$NSPEER" client "${POD_IP[p3]}" "$P" --send 64K)
kind=${out_xio##* xio=}
out_xio=$(sed 's/ peer=[^ ]*//; s/ xio=.*//' <<<"$out_xio")
[[ $out_xio == "$out_plain" && $out_xio == "result=ok "* ]] ||
	fail "no-access: with X-IO '$out_xio', without '$out_plain'"
[[ $kind == tcp ]] || fail "no-access: the client's socket is '$kind', want tcp (kernel TCP, library loaded)"
f1=$(fallback_count no_domain_access)
((f1 > f0)) || fail "no-access: xio-stat did not count no_domain_access ($f0 -> $f1)"
log "no-access: kernel TCP, the same answer, no_domain_access $f0 -> $f1"

# ---- a pod without the run dir (another node) ----------------------------------
mkdir -p "$WORK/elsewhere"
x0=$(xio_bytes)
c0=$(xio_field conns_total)
out_other=$(pod_exec p1 env LD_PRELOAD="$(realpath "$XIO_BIN/../lib/libxio_preload.so")" XIO_RUNDIR="$WORK/elsewhere" XIO_DOMAIN="$DOMAIN" \
	XIO_TEST_TAG="$TAG" "$NSPEER" client "${POD_IP[p3]}" "$P" --send 64K)
kind=${out_other##* xio=}
out_other=$(sed 's/ peer=[^ ]*//; s/ xio=.*//' <<<"$out_other")
[[ $out_other == "$out_plain" ]] || fail "other-node: '$out_other', without X-IO '$out_plain'"
[[ $kind == tcp ]] || fail "other-node: the client's socket is '$kind', want tcp"
(($(xio_bytes) == x0 && $(xio_field conns_total) == c0)) ||
	fail "other-node: this domain carried something for a client without its run dir"
log "other-node: kernel TCP, the same answer, this domain untouched"

log "PASS in $(($(now_ms) - t0)) ms (after setup)"
