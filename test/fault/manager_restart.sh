#!/usr/bin/env bash
# The manager is killed while X-IO connections are open, and restarted.
#   1. An open X-IO connection, paused in the middle of a checksummed 8 MiB
#      stream, resumes after the manager died and completes verified (or
#      fails cleanly: never a hang, never a wrong byte).
#   2. While no manager runs, new connections (new processes, started without
#      xio-run so that no manager is started on demand) fall back to kernel
#      TCP and work; xio-stat cannot reach the manager; lo carries the bytes.
#   3. After the restart (new generation), new connections use X-IO again:
#      to a server started before the restart that is still running (its
#      listener must be usable again), and to a new server.
# shellcheck source=test/fault/lib_fault.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib_fault.sh"
fault_init manager_restart

FP=$FAULT_BIN/fpeer
FS=$FAULT_BIN/fshort

# ---- an open connection, paused half way --------------------------------------
pa=$(free_port)
"${XRUN[@]}" "$FP" server 127.0.0.1 "$pa" --recv 8M --ready "$WORK/a.ready" >"$WORK/a-server.log" 2>&1 &
sa=$!
wait_file "$WORK/a.ready" 5000
"${XRUN[@]}" "$FP" client 127.0.0.1 "$pa" --send 8M --recv 0 --pause-at 4M --resume "$WORK/a.go" \
	--progress "$WORK/a.cp" >"$WORK/a-client.log" 2>&1 &
ca=$!
t0=$(now_ms)
until [[ $(progress "$WORK/a.cp") == "4194304 "* ]]; do
	(($(now_ms) - t0 > 10000)) && fail "client A did not reach 4 MiB: $(progress "$WORK/a.cp")"
	sleep 0.01
done
(($(xio_field conns_open) >= 1)) || fail "connection A is not an X-IO connection"

# ---- a long-lived server (checks every byte), published by this manager ------------
pe=$(free_port)
"${XRUN[@]}" "$FP" server 127.0.0.1 "$pe" --multi --recv eof --ready "$WORK/e.ready" >"$WORK/e-server.log" 2>&1 &
se=$!
wait_file "$WORK/e.ready" 5000
# conns K PORT: K new client processes (no xio-run), 256 KiB each
conns() {
	local k
	for ((k = 0; k < $1; k++)); do
		"${PRE[@]}" "$FP" client 127.0.0.1 "$2" --send 256K --recv 0 --plain >/dev/null 2>&1 ||
			return 1
	done
}
total0=$(xio_field conns_total)
conns 5 "$pe" || fail "the long-lived server does not answer"
sleep 0.2
(($(xio_field conns_total) - total0 == 5)) || fail "connections to the long-lived server are not X-IO before the restart"

# ---- kill the manager ----------------------------------------------------------
gen1=$(xio_stat_json | sed -n 's/.*"generation":"\([0-9a-f]*\)".*/\1/p')
mp=$(mgr_pid)
kill -KILL "$mp"
t0=$(now_ms)
while proc_alive "$mp"; do sleep 0.01; done
log "manager (generation $gen1) killed"

# 1. the open connection goes on
touch "$WORK/a.go"
el=$(wait_exit "$ca" 10000) || fail "client A still runs 10 s after resuming (hang)"
el=$(wait_exit "$sa" 2000) || fail "server A still runs (hang): $(progress "$WORK/a.cp")"
reap "$ca"
rcc=$REAP_RC
reap "$sa"
rcs=$REAP_RC
((rcs != 2 && rcc != 2)) || fail "connection A delivered wrong bytes after the manager died"
if ((rcs == 0 && rcc == 0)); then
	log "1. open connection completed its 8 MiB, verified, after the manager died"
else
	log "1. open connection failed cleanly (server $rcs: $(tail -n 1 "$WORK/a-server.log"); client $rcc)"
fi

# 2. no manager: new connections use TCP and work
if xio_stat_json >/dev/null 2>&1; then
	fail "xio-stat still answers although the manager was killed"
fi
l0=$(lo_bytes)
conns 10 "$pe" || fail "without a manager, connections to the long-lived server fail"
ld=$(($(lo_bytes) - l0))
((ld >= 10 * 256 * 1024)) || fail "without a manager lo carried only $ld bytes for 10 x 256 KiB: where did the connections go?"
log "2. without a manager: 10 new connections over kernel TCP (lo +$ld bytes)"

# 3. restart: X-IO again
start_manager
gen2=$(xio_stat_json | sed -n 's/.*"generation":"\([0-9a-f]*\)".*/\1/p')
[[ $gen2 != "$gen1" ]] || fail "the restarted manager kept generation $gen1"
# to a new server
pn=$(free_port)
"${XRUN[@]}" "$FS" server 127.0.0.1 "$pn" --ready "$WORK/n.ready" >"$WORK/n-server.log" 2>&1 &
wait_file "$WORK/n.ready" 5000
total0=$(xio_field conns_total)
"${PRE[@]}" "$FS" short 127.0.0.1 "$pn" 10 >/dev/null || fail "new server after the restart does not answer"
n_new=$(($(xio_field conns_total) - total0))
log "3a. new server after the restart: $n_new of 10 connections over X-IO"
((n_new == 10)) || fail "after the restart, connections to a new server are not X-IO ($n_new of 10)"
# to the server that was already running
total0=$(xio_field conns_total)
fb0=$(xio_field fallback_total)
conns 10 "$pe" || fail "after the restart, connections to the old server fail"
sleep 0.5 # the client's connects do not wait for the server; let accepts happen
n_old=$(($(xio_field conns_total) - total0))
log "3b. server from before the restart: $n_old of 10 connections over X-IO (fallbacks +$(($(xio_field fallback_total) - fb0)): $(xio_stat_json | grep -o '"fallback":{[^}]*}'))"
((n_old == 10)) || finding "after a manager restart, a server that was listening before never gets X-IO connections again ($n_old of 10; its rendezvous entry is of generation $gen1, clients look for $gen2: $(rv_entries "$pe" | xargs -n1 basename 2>/dev/null | tr '\n' ' '))"
proc_alive "$se" || fail "the long-lived server exited: $(tail -n 2 "$WORK/e-server.log")"
grep -q CORRUPT "$WORK/e-server.log" && fail "the long-lived server saw corruption"
log "PASS"
