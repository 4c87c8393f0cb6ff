#!/usr/bin/env bash
# iperf3, server and client both under xio-run: 1 GiB client->server, then
# 1 GiB server->client (-R). Each must succeed, report the full GiB, and be
# carried by X-IO (xio-stat bytes >= 1 GiB, lo rx < 5 % of it).
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
need_prog iperf3
xio_test_init iperf3

GIB=$((1024 * 1024 * 1024))

run_one() { # DIRECTION-LABEL [iperf3 client flags...]
	local label=$1 port spid rc x0 x1 l0 l1 got srvgot srvkey
	shift
	port=$(free_port)
	"${XRUN[@]}" iperf3 -s -p "$port" -1 -J >"$WORK/server-$label.json" 2>"$WORK/server-$label.err" &
	spid=$!
	wait_port "$port" 10 "$spid"
	x0=$(xio_bytes)
	l0=$(lo_bytes)
	rc=0
	timeout -k 5 180 "${XRUN[@]}" \
		iperf3 -c 127.0.0.1 -p "$port" -n 1G -l 128K -J "$@" \
		>"$WORK/client-$label.json" 2>"$WORK/client-$label.err" || rc=$?
	((rc == 0)) || fail "$label: iperf3 client exited $rc: $(head -c 500 "$WORK/client-$label.err") $(json_get "$WORK/client-$label.json" error 2>/dev/null)"
	wait_exit "$spid" 10000 >/dev/null || fail "$label: iperf3 -s -1 did not exit after the test"
	rc=$(job_status "$spid")
	((rc == 0)) || fail "$label: iperf3 server exited $rc: $(head -c 500 "$WORK/server-$label.err")"
	x1=$(xio_bytes)
	l1=$(lo_bytes)
	if json_get "$WORK/client-$label.json" error >/dev/null 2>&1; then
		fail "$label: iperf3 reported an error: $(json_get "$WORK/client-$label.json" error)"
	fi
	got=$(json_get "$WORK/client-$label.json" end.sum_received.bytes)
	srvkey=end.sum_received.bytes
	[[ $label == reverse ]] && srvkey=end.sum_sent.bytes
	srvgot=$(json_get "$WORK/server-$label.json" "$srvkey")
	log "$label: client end.sum_received.bytes=$got server $srvkey=$srvgot" \
		"($(json_get "$WORK/client-$label.json" end.sum_received.bits_per_second | awk '{printf "%.2f", $1 / 1e9}') Gbit/s)"
	((got >= GIB)) || fail "$label: client reports $got bytes received, expected >= $GIB"
	((srvgot >= GIB)) || fail "$label: server reports $srvgot bytes, expected >= $GIB"
	assert_carried "$label" "$GIB" $((x1 - x0)) $((l1 - l0))
}

run_one forward
run_one reverse -R
log "PASS: 1 GiB each way over X-IO"
