#!/usr/bin/env bash
# iperf3, server and client under xio-run, 2 s each:
#  1. -P 4 (four parallel streams plus the control connection),
#  2. -R (reverse: the server sends).
# The client succeeds, the receiver got bytes, and X-IO carried them
# (lo rx < 5 %).
# shellcheck source=test/compat/compat_lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/compat_lib.sh"
need_prog iperf3
compat_init iperf3

port=$(compat_port)
"${XRUN[@]}" iperf3 -s -p "$port" >"$WORK/iperf3-server.log" 2>&1 &
spid=$!
compat_track "$spid"
wait_port "$port" 10 "$spid"

run_iperf() { # MODE STREAMS ARGS...
	local mode=$1 want=$2 rc=0 got streams
	shift 2
	compat_mode iperf3 "$mode"
	measure_start
	timeout -k 5 30 "${XRUN[@]}" iperf3 -c 127.0.0.1 -p "$port" -t 2 -J "$@" \
		>"$WORK/client.json" 2>"$WORK/client.err" || rc=$?
	measure_end
	((rc == 0)) || fail "iperf3 $* exited $rc: $(json_get "$WORK/client.json" error 2>/dev/null || cat "$WORK/client.err")"
	proc_alive "$spid" || fail "iperf3 server died"
	got=$(json_get "$WORK/client.json" end.sum_received.bytes)
	got=${got%.*}
	streams=$("$PY" -c 'import json,sys; print(len(json.load(open(sys.argv[1]))["end"]["streams"]))' "$WORK/client.json")
	log "iperf3 $*: $streams stream(s), $got bytes received, $(json_get "$WORK/client.json" end.sum_received.bits_per_second | awk '{ printf "%.1f Gbit/s", $1 / 1e9 }')"
	((got > 0)) || fail "iperf3 $*: receiver got 0 bytes"
	((streams == want)) || fail "iperf3 $*: $streams streams, want $want"
	carried "iperf3 $*" "$got"
	compat_pass "$streams stream(s), $(json_get "$WORK/client.json" end.sum_received.bits_per_second | awk '{ printf "%.1f Gbit/s", $1 / 1e9 }'), $(human_bytes "$got") carried"
}

run_iperf "-P 4, both X-IO" 4 -P 4
run_iperf "-R, both X-IO" 1 -R
