#!/usr/bin/env bash
# HAProxy 2.6 (Debian's) in master-worker mode (-W, as its systemd unit runs
# it), 2 threads, in front of nginx (master + 2 workers as nobody), clients
# curl and ab, everything under xio-run. Both legs (client -> haproxy,
# haproxy -> nginx) are X-IO connections, so X-IO carries each body twice:
#  1. mode http: curl fetches a 4 MiB file (sha256 matches); ab with one
#     connection per request and ab -k fetch a 10 kB file with no failure;
#     the backend has health checks (check inter 200ms) and stays UP;
#  2. mode tcp with option splice-auto (haproxy splices through pipes):
#     curl fetches the 4 MiB file, sha256 matches;
#  3. a reload (SIGUSR2 to the master: it re-executes itself and the new
#     worker gets the listeners from the old one over a socketpair):
#     requests still succeed and the haproxy -> nginx leg is carried. The
#     client leg is then kernel TCP (a listener received over SCM_RIGHTS is
#     not published: test/compat/FINDINGS.md, F7); the test says which.
# lo rx stays below 5 % of what X-IO must have carried.
# shellcheck source=test/compat/compat_lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/compat_lib.sh"
need_prog haproxy nginx curl ab socat
compat_init haproxy

size=$((4 * 1024 * 1024)) small=10240 n=1000
NGX_FILE_SIZE=$size nginx_serve "${XRUN[@]}"
head -c "$small" /dev/urandom >"$NGX_DIR/www/s.bin"
chmod 644 "$NGX_DIR/www/s.bin"
HPORT=$(compat_port)
TPORT=$(compat_port)
mkdir -p "$WORK/hap"
cat >"$WORK/hap/haproxy.cfg" <<CFG
global
    maxconn 256
    nbthread 2
    stats socket $WORK/hap/admin.sock mode 600 level admin expose-fd listeners
defaults
    timeout connect 5s
    timeout client 20s
    timeout server 20s
frontend fe_http
    mode http
    bind 127.0.0.1:$HPORT
    default_backend be_http
backend be_http
    mode http
    server ngx 127.0.0.1:$NGX_PORT check inter 200ms
frontend fe_tcp
    mode tcp
    option splice-auto
    bind 127.0.0.1:$TPORT
    default_backend be_tcp
backend be_tcp
    mode tcp
    option splice-auto
    server ngx 127.0.0.1:$NGX_PORT
CFG
haproxy -c -f "$WORK/hap/haproxy.cfg" >"$WORK/hap-check.log" 2>&1 ||
	fail "haproxy -c: $(tr '\n' ' ' <"$WORK/hap-check.log")"
"${XRUN[@]}" haproxy -W -db -f "$WORK/hap/haproxy.cfg" -p "$WORK/hap/haproxy.pid" \
	>"$WORK/haproxy.log" 2>&1 &
HPID=$!
compat_track "$HPID"
wait_port "$HPORT" 15 "$HPID"
wait_port "$TPORT" 15 "$HPID"
log "haproxy master $HPID (worker $(pgrep -d ' ' -P "$HPID")) on 127.0.0.1:$HPORT (http) and :$TPORT (tcp)"

# fetch PORT: curl the 4 MiB file through haproxy on PORT; checks the sha256
fetch() {
	local rc=0
	timeout -k 5 30 "${XRUN[@]}" curl -sS --fail --max-time 25 -o "$WORK/got.bin" \
		"http://127.0.0.1:$1/f.bin" 2>"$WORK/curl.err" || rc=$?
	((rc == 0)) || fail "curl through haproxy exited $rc: $(cat "$WORK/curl.err")"
	[[ $(sha "$WORK/got.bin") == "$NGX_FILE_SHA" ]] ||
		fail "f.bin through haproxy: checksum mismatch ($(stat -c %s "$WORK/got.bin") bytes)"
}

# ab_run MODE ARGS...: n requests for s.bin through haproxy, all complete
ab_run() {
	local mode=$1 rc=0 complete failed
	shift
	compat_mode haproxy "$mode"
	measure_start
	timeout -k 5 40 "${XRUN[@]}" ab -q "$@" -n "$n" -c 4 -s 10 \
		"http://127.0.0.1:$HPORT/s.bin" >"$WORK/ab.log" 2>&1 || rc=$?
	measure_end
	grep -E 'Complete|Failed|Non-2xx|Requests per' "$WORK/ab.log" || true
	((rc == 0)) || fail "ab exited $rc: $(tail -n 3 "$WORK/ab.log" | tr '\n' ' ')"
	complete=$(sed -n 's/^Complete requests: *\([0-9]*\)/\1/p' "$WORK/ab.log")
	failed=$(sed -n 's/^Failed requests: *\([0-9]*\)/\1/p' "$WORK/ab.log")
	((${complete:-0} == n)) || fail "ab completed ${complete:-0} of $n requests"
	((${failed:-1} == 0)) || fail "ab: $failed failed requests"
	grep -q 'Non-2xx' "$WORK/ab.log" && fail "ab: $(grep 'Non-2xx' "$WORK/ab.log")"
	carried "ab -> haproxy -> nginx ($mode)" $((2 * n * small))
	compat_pass "$n requests, $(human_bytes "$XD") carried by X-IO"
}

compat_mode haproxy "mode http, curl 4 MiB, all X-IO"
measure_start
fetch "$HPORT"
measure_end
carried "curl <- haproxy <- nginx (http)" $((2 * size))
compat_pass "sha256 ok, $(human_bytes "$XD") carried by X-IO (both legs)"
ab_run "mode http, ab, all X-IO"
ab_run "mode http, ab -k, all X-IO" -k
# the health checks (every 200 ms, each a new connection) kept the server UP
echo "show servers state be_http" | "${PLAIN[@]}" socat - "UNIX-CONNECT:$WORK/hap/admin.sock" \
	>"$WORK/state.txt" 2>&1 || fail "haproxy's stats socket: $(cat "$WORK/state.txt")"
# columns: be_id be_name srv_id srv_name srv_addr srv_op_state (2: running) ...
st=$(awk '$2 == "be_http" && $4 == "ngx" { print $6 }' "$WORK/state.txt")
[[ $st == 2 ]] || fail "be_http/ngx is not UP (srv_op_state '${st:-?}'): $(tr '\n' ' ' <"$WORK/state.txt")"

compat_mode haproxy "mode tcp, splice-auto, curl 4 MiB, all X-IO"
measure_start
fetch "$TPORT"
measure_end
carried "curl <- haproxy <- nginx (tcp, splice)" $((2 * size))
compat_pass "sha256 ok, $(human_bytes "$XD") carried by X-IO (both legs)"

compat_mode haproxy "after a reload (SIGUSR2, listeners passed to the new worker), curl 4 MiB"
old=$(pgrep -P "$HPID")
kill -USR2 "$HPID"
for ((i = 0; i < 500; i++)); do
	new=$(pgrep -P "$HPID" | grep -vxF "$old" || true)
	[[ -n $new ]] && ! proc_alive "$old" && break
	sleep 0.02
done
[[ -n $new ]] || fail "no new haproxy worker 10 s after SIGUSR2"
proc_alive "$old" && fail "the old haproxy worker $old still runs 10 s after SIGUSR2"
log "reloaded: worker $old -> $new"
measure_start
fetch "$HPORT"
measure_end
# the haproxy -> nginx leg at least (a connection the new worker made)
((XD >= size)) || fail "after the reload X-IO carried $XD B < $size: not even haproxy -> nginx"
if ((LD * 100 < size * 5)); then
	leg="client leg carried too"
else
	leg="client leg kernel TCP (lo rx +$LD B: F7, a received listener is not published)"
fi
log "after the reload: xio-stat bytes +$XD, lo rx +$LD: $leg"
compat_pass "sha256 ok, haproxy -> nginx carried ($(human_bytes "$XD")), $leg"
proc_alive "$NGINX_PID" || fail "nginx died"
