#!/usr/bin/env bash
# Version mismatch falls back to TCP. The build makes copies of the shim and
# the manager from a stack whose layout.h says XIO_LAYOUT_VERSION 2
# (v2layout) or whose proto.h says XIO_PROTO_VERSION 1, the one before
# this build's (v2proto).
#   hello-v1               a HELLO of protocol version 1: refused
#   offer-layout2          an offer of layout version 2 sent to a v1 server's
#                          rendezvous: dropped, the server keeps working
#   client-v2proto         v2proto client -> v1 server (v1 manager): TCP, works
#   client-v2layout        v2layout client -> v1 server: TCP, works
#   server-v2layout        v1 client -> v2layout server: TCP, works
#   manager-v2layout       v1 client and v1 server against a v2layout manager:
#                          TCP, works; v2layout client and server against it:
#                          X-IO (the copies are sound); this build's xio-stat
#                          says that manager is of another build (exit 1;
#                          --prometheus: xio_up 0, exit 0), its own reads it
# shellcheck source=test/fault/lib_fault.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib_fault.sh"
fault_init version_mismatch
FP=$FAULT_BIN/fpeer
L2=$FAULT_BIN/v2layout/libxio_preload.so
P2=$FAULT_BIN/v2proto/libxio_preload.so
M2=$FAULT_BIN/v2layout/xio-manager
S2=$FAULT_BIN/v2layout/xio-stat
for f in "$L2" "$P2" "$M2" "$S2"; do [[ -e $f ]] || fail "$f not built"; done
ctl=$RUNDIR/$DOMAIN/control

# raw protocol
out=$("$FAULT_BIN/fraw" hello "$ctl" 1)
log "hello-v1: $out"
[[ $out == *"status=EPROTONOSUPPORT"* && $out == *"fd=no"* ]] || fail "hello-v1: a HELLO of protocol 1 was not refused: $out"

port=$(free_port)
"${XRUN[@]}" "$FP" server 127.0.0.1 "$port" --multi --recv eof --ready "$WORK/s.ready" >"$WORK/s.log" 2>&1 &
spid=$!
wait_file "$WORK/s.ready" 5000
gen=$(xio_stat_json | sed -n 's/.*"generation":"\([0-9a-f]*\)".*/\1/p')
out=$("$FAULT_BIN/fraw" offer "$(rv_entries "$port" | head -n 1)" 2 "$gen")
log "offer-layout2: $out"
[[ $out == *"status=eof"* ]] || fail "offer-layout2: an offer of layout 2 was not dropped: $out"

# xfer LABEL WANT(xio|tcp) MANAGER_DOMAIN CLIENT_PRELOAD PORT
xfer() {
	local label=$1 want=$2 dom=$3 lib=$4 p=$5 x0 l0 xd ld rc=0 stat=$XIO_BIN/xio-stat
	[[ $dom == "$DOMAIN" ]] || stat=$S2 # the xio-stat of that manager's build
	x0=$("$stat" --domain "$dom" --rundir "$RUNDIR" --json | sed -n 's/.*"bytes":\([0-9]*\).*/\1/p')
	l0=$(lo_bytes)
	env XIO_TEST_TAG="$TAG" LD_PRELOAD="$lib" XIO_DOMAIN="$dom" XIO_RUNDIR="$RUNDIR" \
		"$FP" client 127.0.0.1 "$p" --send 1M --recv 0 >"$WORK/$label.out" 2>"$WORK/$label.err" || rc=$?
	sleep 0.2
	xd=$(($("$stat" --domain "$dom" --rundir "$RUNDIR" --json | sed -n 's/.*"bytes":\([0-9]*\).*/\1/p') - x0))
	ld=$(($(lo_bytes) - l0))
	log "$label: exit $rc, xio-stat bytes +$xd, lo +$ld"
	((rc == 0)) || fail "$label: the transfer failed: $(cat "$WORK/$label.err")"
	[[ ! -s $WORK/$label.err ]] || fail "$label: stderr: $(cat "$WORK/$label.err")"
	if [[ $want == tcp ]]; then
		((xd == 0 && ld >= 1 << 20)) || fail "$label: expected kernel TCP"
	else
		((xd >= 1 << 20)) || fail "$label: expected X-IO"
	fi
}
xfer client-v2proto tcp "$DOMAIN" "$P2" "$port"
xfer client-v2layout tcp "$DOMAIN" "$L2" "$port"

# a v2layout server in the v1 domain
p2=$(free_port)
env XIO_TEST_TAG="$TAG" LD_PRELOAD="$L2" XIO_DOMAIN="$DOMAIN" XIO_RUNDIR="$RUNDIR" \
	"$FP" server 127.0.0.1 "$p2" --multi --recv eof --ready "$WORK/s2.ready" >"$WORK/s2.log" 2>&1 &
wait_file "$WORK/s2.ready" 5000
[[ -z $(rv_entries "$p2") ]] || fail "server-v2layout: a v2 server published in a v1 domain"
xfer server-v2layout tcp "$DOMAIN" "$PRELOAD" "$p2"

# a v2layout manager
D2=${DOMAIN}_2
env XIO_TEST_TAG="$TAG" "$M2" --domain "$D2" --rundir "$RUNDIR" --daemon >>"$WORK/manager2.log" 2>&1 ||
	fail "the v2layout manager did not start: $(cat "$WORK/manager2.log")"
rc=0
"$XIO_BIN/xio-stat" --domain "$D2" --rundir "$RUNDIR" --json >/dev/null 2>"$WORK/stat_v2.err" || rc=$?
log "this build's xio-stat on the v2layout manager: exit $rc, $(cat "$WORK/stat_v2.err")"
lv=$(sed -n 's/^#define XIO_LAYOUT_VERSION \([0-9]*\)u.*/\1/p' "$SOURCE_DIR/stack/layout.h")
if ((rc != 1)) || ! grep -q "is from another build.*layout 2.*layout $lv" "$WORK/stat_v2.err"; then
	fail "xio-stat did not say that the manager is of another build"
fi
rc=0
out=$("$XIO_BIN/xio-stat" --domain "$D2" --rundir "$RUNDIR" --prometheus 2>/dev/null) || rc=$?
if ((rc != 0)) || [[ $out != *"xio_up{domain=\"$D2\"} 0" ]]; then
	fail "--prometheus on another build's manager: exit $rc, $out"
fi
p3=$(free_port)
env XIO_TEST_TAG="$TAG" LD_PRELOAD="$PRELOAD" XIO_DOMAIN="$D2" XIO_RUNDIR="$RUNDIR" \
	"$FP" server 127.0.0.1 "$p3" --multi --recv eof --ready "$WORK/s3.ready" >"$WORK/s3.log" 2>&1 &
wait_file "$WORK/s3.ready" 5000
xfer manager-v2layout-v1-peers tcp "$D2" "$PRELOAD" "$p3"
p4=$(free_port)
env XIO_TEST_TAG="$TAG" LD_PRELOAD="$L2" XIO_DOMAIN="$D2" XIO_RUNDIR="$RUNDIR" \
	"$FP" server 127.0.0.1 "$p4" --multi --recv eof --ready "$WORK/s4.ready" >"$WORK/s4.log" 2>&1 &
wait_file "$WORK/s4.ready" 5000
xfer manager-v2layout-v2-peers xio "$D2" "$L2" "$p4"
grep -l CORRUPT "$WORK"/s*.log && fail "a server saw corruption"
log "PASS"
