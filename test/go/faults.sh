#!/usr/bin/env bash
# Faults of programs under the seccomp supervisor, each also run on kernel
# TCP with the same expected result:
#   1. the supervised server killed in the middle of a connection: the client
#      gets an error at once (no hang), the server's supervisor leaves;
#   2. both supervisors killed while a connection is open: that connection
#      carries on, every byte checked; the client's next connect is a
#      notified call without a supervisor, which the kernel fails with ENOSYS;
#   3. a supervised Go program that forks and execs a client: the child is
#      under the same supervisor and carried;
#   4. the supervisor unavailable (XIO_SUPERVISE=0): the program runs on
#      kernel TCP and xio-stat counts supervise_unavailable;
#   5. a seccomp filter with a listener already installed above xio-run (a
#      sandbox that supervises; here an outer xio-run --syscalls that carries
#      nothing, XIO_DISABLE=1): the kernel refuses a second listener (EBUSY),
#      the program runs on kernel TCP, counted the same way;
#   6. a Go server that closes its listener and listens again on the same
#      port, three times (the supervisor, which held the listener's TCP
#      socket, gives the port back when the program binds it again).
# Threads connecting at once: test/go/static_echo.sh (4 threads) and
# compat_go_nethttp (8 goroutines).
# shellcheck source=test/go/go_lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/go_lib.sh"
go_init faults
go_build
bytes=$((2 << 20))

# Servers: one under X-IO, one on kernel TCP.
xport=$(free_port)
tport=$(free_port)
"${XRUN[@]}" "$XIOGO" echo-server "127.0.0.1:$xport" >"$WORK/xsrv.log" 2>&1 &
xsrv=$!
"${PLAIN[@]}" "$XIOGO" echo-server "127.0.0.1:$tport" >"$WORK/tsrv.log" 2>&1 &
tsrv=$!
wait_port "$xport" 15 "$xsrv"
wait_port "$tport" 15 "$tsrv"

# ---- 1. the server killed mid-connection ---------------------------------------
kill_server_mid() { # RUNNER-LABEL PORT SERVER-PID CLIENT-RUNNER...
	local label=$1 port=$2 spid=$3 rc=0 t0 el
	shift 3
	"$@" "$XIOGO" redial "127.0.0.1:$port" "$bytes" 3000 >"$WORK/kill-$label.log" 2>&1 &
	local cpid=$!
	wait_line "$WORK/kill-$label.log" paused
	kill -KILL "$spid"
	t0=$(now_ms)
	wait "$cpid" || rc=$?
	el=$(($(now_ms) - t0))
	log "$label: server killed; client exited $rc after $el ms: $(tail -n 1 "$WORK/kill-$label.log")"
	((rc != 0)) || fail "$label: the client did not notice its server's death"
	grep -qE 'read: |write: ' "$WORK/kill-$label.log" || fail "$label: $(tail -n 1 "$WORK/kill-$label.log")"
	((el < 6000)) || fail "$label: the client took $el ms (the pause is 3000)"
}
sup=$(supervisor_of "echo-server 127.0.0.1:$xport") || fail "no supervisor for the X-IO server"
kill_server_mid xio "$xport" "$xsrv" "${XRUN[@]}"
for p in $sup $(supervisor_of "redial 127.0.0.1:$xport"); do
	wait_exit "$p" 3000 >/dev/null || fail "supervisor $p is still there after its program's death"
done
kill_server_mid tcp "$tport" "$tsrv" "${PLAIN[@]}"

# Fresh servers for the rest.
"${XRUN[@]}" "$XIOGO" echo-server "127.0.0.1:$xport" >"$WORK/xsrv2.log" 2>&1 &
xsrv=$!
"${PLAIN[@]}" "$XIOGO" echo-server "127.0.0.1:$tport" >"$WORK/tsrv2.log" 2>&1 &
wait_port "$xport" 15 "$xsrv"
wait_port "$tport" 15 $!

# ---- 2. the supervisors killed while a connection is open -----------------------
ssup=$(supervisor_of "echo-server 127.0.0.1:$xport") || fail "no supervisor for the server"
sv_start
# A long pause: the kills must land before the second dial (finding a pid scans /proc).
"${XRUN[@]}" "$XIOGO" redial "127.0.0.1:$xport" "$bytes" 5000 >"$WORK/sup.log" 2>&1 &
cpid=$!
wait_line "$WORK/sup.log" paused
csup=$(supervisor_of "redial 127.0.0.1:$xport") || fail "no supervisor for the client"
grep -q 'second dial' "$WORK/sup.log" && fail "the pause ended before the supervisors were found"
# shellcheck disable=SC2086 # lists of pids
kill -KILL $csup $ssup
log "killed supervisors $csup $ssup"
for p in $csup $ssup; do wait_exit "$p" 2000 >/dev/null || fail "supervisor $p survived SIGKILL"; done
rc=0
wait "$cpid" || rc=$?
sv_end
log "supervisors killed: client exited $rc: $(tr '\n' ' ' <"$WORK/sup.log")"
((rc == 0)) || fail "the open connection broke when the supervisors died"
grep -q "ok $bytes bytes echoed and checked" "$WORK/sup.log" || fail "bytes lost across the supervisors' death"
grep -q 'second dial: .*function not implemented' "$WORK/sup.log" ||
	fail "a connect without supervisor: want ENOSYS, got: $(grep 'second dial' "$WORK/sup.log")"
assert_supervised "connection across the supervisors' death" "$bytes" 1
"${PLAIN[@]}" "$XIOGO" redial "127.0.0.1:$tport" "$bytes" 200 >"$WORK/sup-tcp.log" 2>&1 ||
	fail "kernel TCP twin: $(tail -n 2 "$WORK/sup-tcp.log")"
grep -q "ok $bytes bytes echoed and checked" "$WORK/sup-tcp.log" || fail "kernel TCP twin lost bytes"
grep -q 'second dial: ok' "$WORK/sup-tcp.log" || fail "kernel TCP twin: $(tail -n 1 "$WORK/sup-tcp.log")"

# A fresh X-IO server (its supervisor is gone).
kill -KILL "$xsrv" 2>/dev/null || true
wait "$xsrv" 2>/dev/null || true
xport=$(free_port)
"${XRUN[@]}" "$XIOGO" echo-server "127.0.0.1:$xport" >"$WORK/xsrv3.log" 2>&1 &
xsrv=$!
wait_port "$xport" 15 "$xsrv"

# ---- 3. fork and exec ------------------------------------------------------------
sv_start
timeout 60 "${XRUN[@]}" "$XIOGO" spawn "127.0.0.1:$xport" "$bytes" 2 >"$WORK/spawn.log" 2>&1 ||
	fail "spawn: $(tail -n 2 "$WORK/spawn.log")"
sv_end
grep -q 'ok 2 connections' "$WORK/spawn.log" || fail "spawn: $(tail -n 2 "$WORK/spawn.log")"
assert_supervised "exec'd child of a supervised program" $((2 * 2 * bytes)) 2
timeout 60 "${PLAIN[@]}" "$XIOGO" spawn "127.0.0.1:$tport" "$bytes" 2 >"$WORK/spawn-tcp.log" 2>&1 ||
	fail "spawn on kernel TCP: $(tail -n 2 "$WORK/spawn-tcp.log")"
grep -q 'ok 2 connections' "$WORK/spawn-tcp.log" || fail "spawn on kernel TCP"

# ---- 4. no seccomp user notification ---------------------------------------------
u0=$(xio_field fallback.supervise_unavailable)
sv_start
XIO_SUPERVISE=0 timeout 60 "${XRUN[@]}" -v "$XIOGO" echo-client "127.0.0.1:$xport" "$bytes" 2 \
	>"$WORK/unavail.log" 2>&1 || fail "unavailable: $(tail -n 2 "$WORK/unavail.log")"
sv_end
grep -q 'ok 2 connections' "$WORK/unavail.log" || fail "unavailable: $(tail -n 2 "$WORK/unavail.log")"
grep -q 'seccomp supervisor unavailable' "$WORK/unavail.log" ||
	fail "xio-run -v did not say why: $(head -n 2 "$WORK/unavail.log")"
u1=$(xio_field fallback.supervise_unavailable)
((u1 == u0 + 1)) || fail "supervise_unavailable went from $u0 to $u1, want +1"
# The server is supervised and published, but the client's calls stay the kernel's.
assert_kernel "Go client without the supervisor" $((2 * 2 * bytes))

# ---- 5. a listener above us ---------------------------------------------------------
u0=$(xio_field fallback.supervise_unavailable)
sv_start
XIO_DISABLE=1 timeout 60 "${XRUN[@]}" --syscalls env -u XIO_DISABLE "$XIO_BIN/xio-run" --domain "$DOMAIN" -v \
	"$XIOGO" echo-client "127.0.0.1:$xport" "$bytes" 2 >"$WORK/nested.log" 2>&1 ||
	fail "nested: $(tail -n 2 "$WORK/nested.log")"
sv_end
grep -q 'ok 2 connections' "$WORK/nested.log" || fail "nested: $(tail -n 2 "$WORK/nested.log")"
grep -q 'seccomp supervisor unavailable (Device or resource busy)' "$WORK/nested.log" ||
	fail "xio-run -v under another listener: $(grep xio-run: "$WORK/nested.log")"
u1=$(xio_field fallback.supervise_unavailable)
((u1 == u0 + 1)) || fail "supervise_unavailable went from $u0 to $u1, want +1"
assert_kernel "Go client under another supervisor" $((2 * 2 * bytes))

# ---- 6. a listener closed and opened again on the same port --------------------------
relisten() { # LABEL RUNNER...
	local label=$1 port i
	shift
	port=$(free_port)
	"$@" "$XIOGO" relisten "127.0.0.1:$port" 3 >"$WORK/relisten-$label.log" 2>&1 &
	local spid=$!
	for ((i = 0; i < 3; i++)); do
		wait_port "$port" 10 "$spid"
		timeout 20 "$@" "$XIOGO" echo-client "127.0.0.1:$port" 100000 1 >>"$WORK/relisten-$label.log" 2>&1 ||
			fail "$label: connection $i to the re-opened listener: $(tail -n 2 "$WORK/relisten-$label.log")"
		# the next listen comes once the server has closed this one
		for ((k = 0; k < 200; k++)); do
			(($(grep -c '^listening' "$WORK/relisten-$label.log") > i + 1)) && break
			proc_alive "$spid" || break
			sleep 0.01
		done
	done
	wait "$spid" || fail "$label: the server failed: $(grep -v '^ok\|^listening' "$WORK/relisten-$label.log" | tail -n 2)"
	(($(grep -c '^listening' "$WORK/relisten-$label.log") == 3)) || fail "$label: not 3 listens"
	log "$label: listened 3 times on port $port, one connection each"
}
sv_start
relisten xio "${XRUN[@]}"
sv_end
((CD >= 3)) || fail "relisten: X-IO made $CD connections, want 3"
relisten tcp "${PLAIN[@]}"
log "PASS"
