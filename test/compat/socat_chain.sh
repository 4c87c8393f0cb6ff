#!/usr/bin/env bash
# socat relay chains, every process under xio-run:
#  1. client -> socat relay (TCP-LISTEN -> TCP) -> server: 64 MiB, the
#     server's file has the client's checksum, X-IO carried >= 2 x 64 MiB;
#  2. client <-> relay <-> relay <-> echo server (socat ... EXEC:cat): 16 MiB
#     sent, half-close (shutdown) propagated through the chain, the echo
#     has the same checksum, X-IO carried >= 2 x 3 x 16 MiB.
# lo rx stays < 5 % of what X-IO carried.
# shellcheck source=test/compat/compat_lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/compat_lib.sh"
need_prog socat sha256sum
compat_init socat_chain

start_socat() { # NAME PORT ARGS... : a socat listener under X-IO
	local name=$1 port=$2 pid
	shift 2
	"${XRUN[@]}" socat "$@" 2>"$WORK/$name.err" &
	pid=$!
	compat_track "$pid"
	wait_port "$port" 10 "$pid"
	eval "${name}_pid=$pid"
}

# ---- 1. one relay, one direction ---------------------------------------------
compat_mode socat "client -> relay -> server, all X-IO"
size=$((64 * 1024 * 1024))
head -c "$size" /dev/urandom >"$WORK/in.bin"
want=$(sha "$WORK/in.bin")
ps=$(compat_port)
pr=$(compat_port)
start_socat server "$ps" -u "TCP-LISTEN:$ps,bind=127.0.0.1,reuseaddr" "CREATE:$WORK/out.bin"
start_socat relay "$pr" "TCP-LISTEN:$pr,bind=127.0.0.1,reuseaddr" "TCP:127.0.0.1:$ps"
measure_start
rc=0
timeout -k 5 30 "${XRUN[@]}" socat -u "OPEN:$WORK/in.bin" "TCP:127.0.0.1:$pr" 2>"$WORK/client.err" || rc=$?
((rc == 0)) || fail "client socat exited $rc: $(cat "$WORK/client.err")"
# shellcheck disable=SC2154 # set by start_socat
wait_exit "$server_pid" 20000 >/dev/null || fail "server socat did not finish after the client's EOF"
# shellcheck disable=SC2154
wait_exit "$relay_pid" 10000 >/dev/null || fail "relay socat did not exit after both ends closed"
measure_end
rc=$(job_status "$server_pid")
((rc == 0)) || fail "server socat exited $rc: $(cat "$WORK/server.err")"
got=$(sha "$WORK/out.bin")
log "server received $(stat -c %s "$WORK/out.bin") bytes, sha256 $got (want $want)"
[[ $got == "$want" ]] || fail "checksum mismatch after the relay"
carried "1 relay" $((2 * size))
compat_pass "64 MiB through 1 relay, sha256 ok, $(human_bytes "$XD") carried (>= 2 x payload)"

# ---- 2. two relays, echo, half-close -----------------------------------------
compat_mode socat "client <-> relay <-> relay <-> echo, all X-IO"
size=$((16 * 1024 * 1024))
head -c "$size" /dev/urandom >"$WORK/in2.bin"
want=$(sha "$WORK/in2.bin")
pe=$(compat_port)
p1=$(compat_port)
p2=$(compat_port)
start_socat echo "$pe" "TCP-LISTEN:$pe,bind=127.0.0.1,reuseaddr" EXEC:cat
start_socat relay2 "$p2" "TCP-LISTEN:$p2,bind=127.0.0.1,reuseaddr" "TCP:127.0.0.1:$pe"
start_socat relay1 "$p1" "TCP-LISTEN:$p1,bind=127.0.0.1,reuseaddr" "TCP:127.0.0.1:$p2"
measure_start
rc=0
t0=$(now_ms)
timeout -k 5 30 "${XRUN[@]}" socat -t 20 - "TCP:127.0.0.1:$p1" \
	>"$WORK/echo.bin" 2>"$WORK/client2.err" <"$WORK/in2.bin" || rc=$?
el=$(($(now_ms) - t0))
measure_end
((rc == 0)) || fail "client socat exited $rc: $(cat "$WORK/client2.err")"
got=$(sha "$WORK/echo.bin")
log "echo: $(stat -c %s "$WORK/echo.bin") bytes back in $el ms, sha256 $got (want $want)"
[[ $got == "$want" ]] || fail "echo checksum mismatch through 2 relays"
((el < 15000)) || fail "the echo took $el ms: EOF did not travel back through the chain (socat waited for -t)"
# shellcheck disable=SC2154 # set by start_socat
for p in "$echo_pid" "$relay1_pid" "$relay2_pid"; do
	wait_exit "$p" 10000 >/dev/null || fail "socat $p did not exit after the connection closed"
done
carried "2 relays, echo" $((2 * 3 * size))
compat_pass "16 MiB echoed through 2 relays in $el ms, sha256 ok, $(human_bytes "$XD") carried (>= 6 x payload)"
