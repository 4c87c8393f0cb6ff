#!/usr/bin/env bash
# iperf3, server and client both under xio-run: 1 GiB client->server, then
# 1 GiB server->client (-R). Each must succeed, the sender must report the
# full GiB sent, and the transfer must be
# carried by X-IO (xio-stat bytes >= 1 GiB, lo rx < 5 % of it).
# shellcheck source=test/integration/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
need_prog iperf3
xio_test_init iperf3

GIB=$((1024 * 1024 * 1024))

run_one() { # DIRECTION-LABEL [iperf3 client flags...]
	local label=$1 port spid rc x0 x1 l0 l1 got sent
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
	# The sender must have sent the whole GiB. iperf3's receiver stops
	# counting at TEST_END, so it may report a little less (kernel TCP too).
	if [[ $label == reverse ]]; then
		sent=$(json_get "$WORK/server-$label.json" end.sum_sent.bytes)
	else
		sent=$(json_get "$WORK/client-$label.json" end.sum_sent.bytes)
	fi
	got=$(json_get "$WORK/client-$label.json" end.sum_received.bytes)
	log "$label: sent $sent bytes, received $got bytes" \
		"($(json_get "$WORK/client-$label.json" end.sum_received.bits_per_second | awk '{printf "%.2f", $1 / 1e9}') Gbit/s)"
	((sent >= GIB)) || fail "$label: the sender reports $sent bytes sent, expected >= $GIB"
	((got * 100 >= GIB * 95)) || fail "$label: the receiver reports only $got of $GIB bytes"
	assert_carried "$label" "$GIB" $((x1 - x0)) $((l1 - l0))
}

run_one forward
run_one reverse -R
log "PASS: 1 GiB each way over X-IO"
