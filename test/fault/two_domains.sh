#!/usr/bin/env bash
# Two domains on one node (two managers) are isolated: a client in domain A
# never reaches a server of domain B over X-IO (and the other way round); it
# falls back to kernel TCP and works. Inside each domain X-IO works.
# shellcheck source=test/fault/lib_fault.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib_fault.sh"
fault_init two_domains
FP=$FAULT_BIN/fpeer
A=$DOMAIN
B=${DOMAIN}_b
DOMAIN=$B start_manager

stat_of() { "$XIO_BIN/xio-stat" --domain "$1" --rundir "$RUNDIR" --json; }
field_of() {
	"$PY" -c 'import json,sys; v=json.loads(sys.argv[1])
for k in sys.argv[2].split("."): v=v[k]
print(int(v))' "$(stat_of "$1")" "$2"
}
run_in() { local d=$1; shift; env XIO_TEST_TAG="$TAG" XIO_RUNDIR="$RUNDIR" "$XIO_BIN/xio-run" --domain "$d" "$@"; }

pa=$(free_port)
pb=$(free_port)
run_in "$A" "$FP" server 127.0.0.1 "$pa" --multi --recv eof --ready "$WORK/a.ready" >"$WORK/a.log" 2>&1 &
run_in "$B" "$FP" server 127.0.0.1 "$pb" --multi --recv eof --ready "$WORK/b.ready" >"$WORK/b.log" 2>&1 &
wait_file "$WORK/a.ready" 5000
wait_file "$WORK/b.ready" 5000

# connect DOMAIN PORT EXPECT(xio|tcp) LABEL
check() {
	local d=$1 p=$2 want=$3 label=$4 ta tb l0 ld xa xb
	ta=$(field_of "$A" conns_total)
	tb=$(field_of "$B" conns_total)
	l0=$(lo_bytes)
	run_in "$d" "$FP" client 127.0.0.1 "$p" --send 1M --recv 0 >/dev/null 2>"$WORK/$label.err" ||
		fail "$label: the connection failed: $(cat "$WORK/$label.err")"
	sleep 0.2
	xa=$(($(field_of "$A" conns_total) - ta))
	xb=$(($(field_of "$B" conns_total) - tb))
	ld=$(($(lo_bytes) - l0))
	log "$label: X-IO connections A +$xa, B +$xb, lo +$ld"
	if [[ $want == tcp ]]; then
		((xa == 0 && xb == 0)) || fail "$label: crossed the domain boundary over X-IO"
		((ld >= 1 << 20)) || fail "$label: not over kernel TCP either (lo +$ld)"
	else
		((xa + xb == 1 && ld < 1 << 19)) || fail "$label: expected one X-IO connection"
	fi
}
check "$A" "$pb" tcp "A-client->B-server"
check "$B" "$pa" tcp "B-client->A-server"
check "$A" "$pa" xio "A-client->A-server"
check "$B" "$pb" xio "B-client->B-server"
(($(field_of "$A" fallback.no_rendezvous) >= 1)) || fail "domain A counted no no_rendezvous fallback"
[[ -z $(compgen -G "$RUNDIR/$A/rv/*/4_127.0.0.1_$pb" || true) ]] || fail "domain A has an entry for B's server"
[[ -z $(compgen -G "$RUNDIR/$B/rv/*/4_127.0.0.1_$pa" || true) ]] || fail "domain B has an entry for A's server"
grep -q CORRUPT "$WORK/a.log" "$WORK/b.log" && fail "corruption"
log "PASS"
