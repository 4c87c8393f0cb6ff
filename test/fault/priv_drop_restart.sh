#!/usr/bin/env bash
# F17 (test/fault/FINDINGS.md): a worker that dropped its privileges keeps
# being carried across manager restarts, with a manager started WITHOUT
# --group (the default, and what xio-run starts on demand).
#   1. nginx (master root, one worker `user nobody`) under X-IO; wrk (as
#      root, no xio-run) is carried: xio-stat bytes grow, lo does not.
#   2. The manager is SIGKILLed and restarted, twice. The worker may not
#      connect to control (the domain directory is 0700 root); it rejoins
#      through <domain>.denied because it maps an earlier generation of the
#      domain (manager/denied.c), re-publishes its listener, and wrk is
#      carried again after each restart.
#   3. A process of a foreign uid that asks to rejoin without mapping the
#      domain is refused and counted (no_domain_access), and its connect to
#      nginx is kernel TCP.
# shellcheck source=test/fault/lib_fault.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib_fault.sh"
need_prog nginx wrk setpriv
((EUID == 0)) || fail "needs root (nginx's master drops its workers to nobody)"
fault_init priv_drop_restart

# shellcheck source=test/integration/servers_lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/../integration/servers_lib.sh"
SERVERS=()
track_server() { SERVERS+=("$1"); }
SRV_TRACK=track_server
trap 'rc=$?; set +e; srv_stop "${SERVERS[@]}"; (exit $rc); xio_cleanup' EXIT

P=$(free_port)
NGX=$WORK/ngx
srv_nginx_conf "$NGX" "$P" 1 warn off off
BODY=$((256 << 10))
head -c $BODY /dev/urandom >"$NGX/www/f.bin"
chmod 644 "$NGX/www/f.bin"
# XIO_LOG=1: the worker says on stderr whether it rejoined or why not
srv_nginx_start "$NGX" "$P" 1 "${XRUN[@]}" env XIO_LOG=1
master=$NGINX_PID
worker=${NGINX_WORKERS[0]}
wuid=$(awk '/^Uid:/ { print $2 }' "/proc/$worker/status")
((wuid != 0)) || fail "nginx's worker $worker runs as root: not the case under test"
log "nginx master $master (root), worker $worker (uid $wuid), port $P; domain dir $(stat -c '%A %U' "$RUNDIR/$DOMAIN")"

# carried WHAT: 2 s of wrk must go through X-IO (bytes and requests checked)
carried() {
	local x0 l0 out n
	x0=$(xio_bytes)
	l0=$(lo_bytes)
	out=$("${PRE[@]}" wrk -c 2 -t 1 -d 2s "http://127.0.0.1:$P/f.bin" 2>&1) || fail "$1: wrk failed: $out"
	n=$(awk '/requests in/ { print $1 }' <<<"$out")
	if ! [[ $n =~ ^[0-9]+$ ]] || ((n == 0)); then fail "$1: wrk made no requests: $out"; fi
	grep -q "Non-2xx" <<<"$out" && fail "$1: non-2xx answers: $out"
	assert_carried "$1 ($n requests)" $((n * BODY)) $(($(xio_bytes) - x0)) $(($(lo_bytes) - l0))
}

carried "before any restart"

# restart: SIGKILL the manager, start another (a new generation), and wait
# for nginx's entry to be re-published in it (the new manager nudges it).
restart() {
	local old new gen t0 m i
	old=$(rv_entries "$P" | tr '\n' ' ')
	m=$(mgr_pid)
	kill -KILL "$m"
	wait_exit "$m" 10000 >/dev/null || fail "manager $m still runs 10 s after SIGKILL"
	# A zombie leader is not yet a dead manager: its other threads (the EAL's)
	# may still be exiting and hold the domain lock (a start at once exited 3,
	# "already has a manager", under load); it is free once the process is gone.
	for ((i = 0; i < 1000; i++)); do
		[[ -e /proc/$m ]] || break
		sleep 0.01
	done
	start_manager
	gen=$(xio_stat_json | sed -n 's/.*"generation":"\([0-9a-f]*\)".*/\1/p')
	t0=$(now_ms)
	until rv_entries "$P" | grep -q "/$gen-"; do
		if (($(now_ms) - t0 > 10000)); then
			log "worker stderr: $(grep -i 'join\|publish\|kernel TCP' "$WORK/nginx.log" | tail -n 5 | tr '\n' '|')"
			fail "F17: nginx's listener was not re-published in generation $gen within 10 s (entries: before '$old', now '$(rv_entries "$P" | tr '\n' ' ')')"
		fi
		sleep 0.05
	done
	new=$(rv_entries "$P" | tr '\n' ' ')
	log "restart $1: generation $gen, entry $old -> $new"
}

restart 1
carried "after restart 1"
restart 2
carried "after restart 2"
log "worker: $(grep -h rejoined "$WORK/nginx.log" "$NGX/logs/error.log" | tail -n 1)"

# A foreign uid that maps nothing of the domain asks to rejoin: refused, counted.
id xiotest >/dev/null 2>&1 || useradd -M -s /usr/sbin/nologin xiotest || fail "cannot create user xiotest"
n0=$(xio_field fallback.no_domain_access)
rc=0
out=$(setpriv --reuid xiotest --regid xiotest --clear-groups \
	"$FAULT_BIN/fraw" rejoin "$RUNDIR/$DOMAIN.denied" 2>&1) || rc=$?
log "xiotest REJOIN: $out (exit $rc)"
((rc == 3)) || fail "a foreign uid that maps nothing was let in through .denied: $out"
t0=$(now_ms)
until (($(xio_field fallback.no_domain_access) > n0)); do
	(($(now_ms) - t0 > 3000)) && fail "the refused rejoin was not counted as no_domain_access"
	sleep 0.05
done
log "ok"
