# shellcheck shell=bash
# shellcheck disable=SC2034 # variables here are used by the tests that source it
# Helpers for the compatibility tests (issue 3), on top of
# test/integration/lib.sh (private manager per test, xio_bytes, lo_bytes,
# assert_carried). Source it, then call compat_init NAME.
#
# Every test records what it checked in $COMPAT_RESULTS (one file per test,
# truncated when the test starts), one line per program x mode:
#     program|mode|PASS|detail      or      program|mode|FAIL|reason
# test/compat/matrix.sh turns these files into the README's matrix.
# A mode is opened with `compat_mode PROGRAM MODE` and closed by
# `compat_pass DETAIL`; a `fail` (or a timeout/kill) while a mode is open
# records FAIL for it.

# Each test runs in a network namespace of its own (when it may create one):
# /proc/net/dev is then private, so lo counters are not disturbed by anything
# else running on the machine. COMPAT_NO_NETNS=1 runs in the caller's.
if [[ -z ${COMPAT_IN_NETNS:-} && ${COMPAT_NO_NETNS:-0} != 1 ]] &&
	command -v unshare >/dev/null && command -v ip >/dev/null && unshare -n true 2>/dev/null; then
	export COMPAT_IN_NETNS=1
	exec unshare -n -- bash -c 'ip link set lo up && exec bash "$@"' bash "$0" "$@"
fi

# shellcheck source=test/integration/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/../integration/lib.sh"
# shellcheck source=test/integration/servers_lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/../integration/servers_lib.sh"

COMPAT_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
APPS_BIN=${APPS_BIN_DIR:-$BUILD_DIR/test/apps}
COMPAT_RESULTS_DIR=${COMPAT_RESULTS_DIR:-$BUILD_DIR/compat-results}
COMPAT_RESULTS=
CUR_PROGRAM=
CUR_MODE=
CUR_DONE=1

# ---- results ---------------------------------------------------------------------

# compat_mode PROGRAM MODE: start checking one matrix cell.
compat_mode() {
	CUR_PROGRAM=$1
	CUR_MODE=$2
	CUR_DONE=0
	log "---- $CUR_PROGRAM | $CUR_MODE"
	# provisional: if ctest SIGKILLs the test (its TIMEOUT), no trap runs and
	# this line stays the last one for the cell (matrix.sh keeps the last)
	[[ -n $COMPAT_RESULTS ]] &&
		echo "$CUR_PROGRAM|$CUR_MODE|FAIL|did not finish (killed at the ctest TIMEOUT?)" >>"$COMPAT_RESULTS"
	return 0
}

_compat_record() {
	local status=$1 detail=$2
	[[ -n $COMPAT_RESULTS ]] || return 0
	detail=${detail//|/\/}
	detail=${detail//$'\n'/ }
	detail=${detail//$'\r'/ }
	detail=${detail:0:200}
	echo "$CUR_PROGRAM|$CUR_MODE|$status|$detail" >>"$COMPAT_RESULTS"
	CUR_DONE=1
}

# compat_pass DETAIL: the open mode passed.
compat_pass() {
	((CUR_DONE)) && return 0
	_compat_record PASS "$*"
	log "PASS $CUR_PROGRAM | $CUR_MODE: $*"
}

# fail: as lib.sh's, and records FAIL for the open mode.
fail() {
	echo "FAIL [$TEST_NAME]: $*" >&2
	if ((!CUR_DONE)); then _compat_record FAIL "$*"; fi
	exit 1
}

# Wrap lib.sh's EXIT handler: a mode still open when the test ends (timeout,
# signal, an unexpected command failure under set -e) is a FAIL.
eval "$(declare -f xio_cleanup | sed '1s/^xio_cleanup/_lib_xio_cleanup/')"
_compat_ret() { return "$1"; }
xio_cleanup() {
	local rc=$?
	set +e # a non-zero status below must not end the handler
	[[ -n $WATCHDOG_PID ]] && kill "$WATCHDOG_PID" 2>/dev/null
	compat_kill_tracked
	if ((rc != 0)); then
		local f
		for f in "${COMPAT_LOGS[@]}"; do
			[[ -s $f ]] || continue
			echo "---- $f (last 30 lines)" >&2
			tail -n 30 "$f" >&2
		done
	fi
	if ((!CUR_DONE)); then
		if ((rc == 143 || rc == 130)); then
			_compat_record FAIL "ended by SIGTERM (the timeout watchdog?)"
		else
			_compat_record FAIL "test ended with status $rc"
		fi
	fi
	_compat_ret "$rc"
	_lib_xio_cleanup
}

# compat_init NAME: lib.sh's xio_test_init plus the results file and a
# watchdog: ctest SIGKILLs a test at its TIMEOUT (no trap, processes leak),
# so COMPAT_TIMEOUT - 10 s into the test the watchdog ends the test's
# children and the test itself with SIGTERM, which the traps handle.
WATCHDOG_PID=
compat_init() {
	mkdir -p "$COMPAT_RESULTS_DIR"
	COMPAT_RESULTS=$COMPAT_RESULTS_DIR/$TEST_NAME.txt
	: >"$COMPAT_RESULTS"
	xio_test_init "$1"
	if [[ ${COMPAT_TIMEOUT:-0} -gt 15 ]]; then
		local main=$$
		(
			trap 'kill "$sp" 2>/dev/null; exit 0' TERM
			sleep $((COMPAT_TIMEOUT - 10)) &
			sp=$!
			wait "$sp"
			echo "[$TEST_NAME] watchdog: still running $((COMPAT_TIMEOUT - 10)) s after the start; ending it" >&2
			kill -TERM "$main" 2>/dev/null
			for c in $(pgrep -P "$main"); do
				[[ $c == "$BASHPID" ]] || kill -TERM "$c" 2>/dev/null
			done
		) &
		WATCHDOG_PID=$!
	fi
}

# ---- ports and processes ---------------------------------------------------------

# compat_port: a free TCP port from the compat tests' private range 18000-18999.
compat_port() {
	local p i
	for ((i = 0; i < 500; i++)); do
		p=$((18000 + (RANDOM % 1000)))
		[[ " ${COMPAT_PORTS_USED:-} " == *" $p "* ]] && continue
		if [[ -z $(ss -Hant "( sport = :$p or dport = :$p )" 2>/dev/null) ]]; then
			COMPAT_PORTS_USED="${COMPAT_PORTS_USED:-} $p"
			echo "$p"
			return 0
		fi
	done
	fail "no free TCP port in 18000-18999"
}

# Programs that rewrite their environment (nginx's setproctitle overwrites
# it, its workers get a cleared one) are invisible to lib.sh's tag-based
# cleanup: track them. compat_track PID: PID and its descendants are ended
# when the test exits (srv_stop, test/integration/servers_lib.sh, which
# tracks the servers it starts here too).
COMPAT_TRACKED=()
# compat_log FILE...: logs outside $WORK/*.log to show when the test fails.
COMPAT_LOGS=()
compat_log() { COMPAT_LOGS+=("$@"); }
compat_track() { COMPAT_TRACKED+=("$@"); }
SRV_TRACK=compat_track

compat_kill_tracked() {
	((${#COMPAT_TRACKED[@]})) || return 0
	local t=("${COMPAT_TRACKED[@]}")
	COMPAT_TRACKED=()
	srv_stop "${t[@]}"
}

# stop_pid PID...: SIGTERM, wait up to 5 s, then SIGKILL; reap.
stop_pid() {
	local pid
	for pid in "$@"; do
		[[ -n $pid ]] || continue
		kill -TERM "$pid" 2>/dev/null || true
		wait_exit "$pid" 5000 >/dev/null || kill -KILL "$pid" 2>/dev/null || true
		wait "$pid" 2>/dev/null || true
	done
}

# need_app NAME: one of our own programs from test/apps.
need_app() {
	[[ -x $APPS_BIN/$1 ]] || fail "$APPS_BIN/$1 not built (test/apps)"
}

# ---- measuring -------------------------------------------------------------------

# measure_start / measure_end: snapshot xio-stat and lo counters around a run;
# after measure_end, XD and LD hold the deltas.
XD=0 LD=0 _X0=0 _L0=0
measure_start() {
	_X0=$(xio_bytes)
	_L0=$(lo_bytes)
}
measure_end() {
	local x1 l1
	x1=$(xio_bytes)
	l1=$(lo_bytes)
	XD=$((x1 - _X0))
	LD=$((l1 - _L0))
}

# carried WHAT PAYLOAD: assert_carried with the last measured deltas.
carried() { assert_carried "$1" "$2" "$XD" "$LD"; }
# not_carried WHAT: assert_not_carried with the last measured delta.
not_carried() { assert_not_carried "$1" "$XD"; }

# sha FILE: sha256 of a file.
sha() { sha256sum <"$1" | cut -d' ' -f1; }

# human_bytes N: N as MiB with one decimal.
human_bytes() { awk -v n="$1" 'BEGIN { printf "%.1f MiB", n / 1048576 }'; }

# ---- nginx -----------------------------------------------------------------------

# nginx_conf DIR PORT: an nginx prefix in DIR (master as root, 2 workers as
# nobody, sendfile, tcp_nopush, keepalive) serving DIR/www on 127.0.0.1:PORT;
# access log DIR/access.log has one line per request: "status body_bytes_sent".
nginx_conf() { srv_nginx_conf "$1" "$2" 2 info sz on; }

# nginx_body_bytes DIR: sum of body bytes in the access log.
nginx_body_bytes() {
	awk '{ s += $2 } END { printf "%.0f\n", s }' "$1/logs/access.log" 2>/dev/null || echo 0
}
# nginx_non2xx DIR: requests in the access log whose status is not 2xx.
nginx_non2xx() {
	awk '$1 !~ /^2/ { n++ } END { printf "%d\n", n }' "$1/logs/access.log" 2>/dev/null || echo 0
}

# nginx_start DIR PORT RUNNER...: start nginx (master in the foreground of a
# background job) with the given runner array; sets NGINX_PID; waits for the
# port and for 2 workers (as nobody).
nginx_start() {
	local dir=$1 port=$2
	shift 2
	compat_log "$dir/logs/error.log"
	srv_nginx_start "$dir" "$port" 2 "$@"
}

# nginx_serve RUNNER... : prefix $WORK/ngx on a fresh port ($NGX_PORT) serving
# f.bin ($NGX_FILE_SIZE bytes of random data, sha256 in $NGX_FILE_SHA),
# started with the given runner ("${XRUN[@]}" or "${PLAIN[@]}").
NGX_DIR='' NGX_PORT='' NGX_FILE_SIZE='' NGX_FILE_SHA='' NGINX_PID=''
nginx_serve() {
	NGX_DIR=$WORK/ngx
	NGX_PORT=$(compat_port)
	NGX_FILE_SIZE=${NGX_FILE_SIZE:-$((2 * 1024 * 1024))}
	nginx_conf "$NGX_DIR" "$NGX_PORT"
	head -c "$NGX_FILE_SIZE" /dev/urandom >"$NGX_DIR/www/f.bin"
	chmod 644 "$NGX_DIR/www/f.bin"
	NGX_FILE_SHA=$(sha "$NGX_DIR/www/f.bin")
	nginx_start "$NGX_DIR" "$NGX_PORT" "$@"
	log "nginx master $NGINX_PID + 2 workers (nobody) on 127.0.0.1:$NGX_PORT, f.bin $NGX_FILE_SIZE B"
}

# nginx_reset_log: start a fresh access log (USR1 makes nginx reopen it).
nginx_reset_log() {
	mv "$NGX_DIR/logs/access.log" "$NGX_DIR/logs/access.$(now_ms).log" 2>/dev/null || true
	kill -USR1 "$NGINX_PID"
	local i
	for ((i = 0; i < 200; i++)); do
		[[ -e $NGX_DIR/logs/access.log ]] && return 0
		sleep 0.01
	done
	fail "nginx did not reopen its access log"
}

# wrk_check LOG: wrk's own verdict: requests > 0, no socket errors, no non-2xx.
# Sets WRK_REQS.
wrk_check() {
	local logf=$1
	WRK_REQS=$(sed -n 's/^ *\([0-9]*\) requests in .*/\1/p' "$logf" | head -n1)
	[[ -n $WRK_REQS ]] || fail "wrk printed no request count: $(tr '\n' ' ' <"$logf")"
	((WRK_REQS > 0)) || fail "wrk completed 0 requests"
	if grep -q 'Socket errors' "$logf"; then
		fail "wrk: $(grep 'Socket errors' "$logf" | sed 's/^ *//') ($WRK_REQS requests)"
	fi
	if grep -q 'Non-2xx' "$logf"; then
		fail "wrk: $(grep 'Non-2xx' "$logf" | sed 's/^ *//')"
	fi
}

# wrk_measured DURATION URL [RUNNER...]: wrk -c 8 -t 2 -d DURATION (5 s request
# timeout) against URL under RUNNER (default "${XRUN[@]}"), between
# measure_start and measure_end; its output in $WORK/wrk.log, printed. Fails
# unless wrk exits 0 and wrk_check passes (WRK_REQS set).
wrk_measured() {
	local dur=$1 url=$2 rc=0
	shift 2
	(($#)) || set -- "${XRUN[@]}"
	measure_start
	timeout -k 5 30 "$@" wrk -c 8 -t 2 -d "$dur" --timeout 5s "$url" >"$WORK/wrk.log" 2>&1 || rc=$?
	measure_end
	cat "$WORK/wrk.log"
	((rc == 0)) || fail "wrk exited $rc"
	wrk_check "$WORK/wrk.log"
}

# ab_measured N URL [AB_OPTION...]: ab -q -n N -c 4 (and the options) under
# X-IO against URL, between measure_start and measure_end; its output in
# $WORK/ab.log, the summary printed. Fails unless ab exits 0 with all N
# requests complete, none failed and no non-2xx. Sets AB_HTML (body bytes
# ab received) and AB_KEEPALIVE (requests that reused a connection).
AB_HTML=0 AB_KEEPALIVE=0
ab_measured() {
	local n=$1 url=$2 rc=0 complete failed
	shift 2
	measure_start
	timeout -k 5 40 "${XRUN[@]}" ab -q "$@" -n "$n" -c 4 -s 10 "$url" >"$WORK/ab.log" 2>&1 || rc=$?
	measure_end
	grep -E 'Complete|Failed|Non-2xx|Keep-Alive|Requests per|Transfer rate|Total transferred|HTML transferred' \
		"$WORK/ab.log" || true
	((rc == 0)) || fail "ab exited $rc: $(tail -n 3 "$WORK/ab.log" | tr '\n' ' ')"
	complete=$(sed -n 's/^Complete requests: *\([0-9]*\).*/\1/p' "$WORK/ab.log")
	failed=$(sed -n 's/^Failed requests: *\([0-9]*\).*/\1/p' "$WORK/ab.log")
	[[ ${complete:-0} == "$n" ]] || fail "ab completed ${complete:-?} of $n requests"
	[[ ${failed:-x} == 0 ]] ||
		fail "ab: ${failed:-?} failed requests: $(grep -A3 '^Failed' "$WORK/ab.log" | tr '\n' ' ')"
	if grep -q 'Non-2xx' "$WORK/ab.log"; then
		fail "ab: $(grep Non-2xx "$WORK/ab.log")"
	fi
	AB_HTML=$(sed -n 's/^HTML transferred: *\([0-9]*\).*/\1/p' "$WORK/ab.log")
	AB_KEEPALIVE=$(sed -n 's/^Keep-Alive requests: *\([0-9]*\).*/\1/p' "$WORK/ab.log")
}

# ---- redis -----------------------------------------------------------------------

# redis_start RUNNER...: redis-server on a fresh port ($REDIS_PORT), no
# persistence unless asked (REDIS_EXTRA), data dir $WORK/redis; sets REDIS_PID.
REDIS_PORT=''
redis_start() {
	REDIS_PORT=$(compat_port)
	srv_redis_start "$REDIS_PORT" "$@"
	log "redis-server $REDIS_PID on 127.0.0.1:$REDIS_PORT"
}

# redis_info FIELD: one field of INFO (plain redis-cli: not counted as X-IO bytes).
redis_info() {
	"${PLAIN[@]}" redis-cli -p "$REDIS_PORT" info 2>/dev/null | tr -d '\r' |
		awk -F: -v k="$1" '$1 == k { print $2 }'
}

# redis_net_bytes: bytes redis-server has read plus written so far (one INFO).
redis_net_bytes() {
	"${PLAIN[@]}" redis-cli -p "$REDIS_PORT" info stats 2>/dev/null | tr -d '\r' |
		awk -F: '$1 == "total_net_input_bytes" || $1 == "total_net_output_bytes" { s += $2 }
			END { printf "%.0f\n", s }'
}

# redis_bytes_start / redis_bytes_end: bytes redis moved in between, without
# the INFO exchanges that measure it (REDIS_MOVED).
REDIS_MOVED=0 _RB0=0 _ROVH=0
redis_bytes_start() {
	local a
	a=$(redis_net_bytes)
	_RB0=$(redis_net_bytes)
	_ROVH=$((_RB0 - a))
}
redis_bytes_end() {
	local b
	b=$(redis_net_bytes)
	# 64: the INFO reply grows by a few bytes as its counters gain digits
	REDIS_MOVED=$((b - _RB0 - _ROVH - 64))
}

# bench_check LOG TESTS...: redis-benchmark -q printed a rate for each test.
bench_check() {
	local logf=$1 t
	shift
	for t in "$@"; do
		grep -q "^$t: [0-9.]* requests per second" <(tr '\r' '\n' <"$logf") ||
			fail "redis-benchmark printed no rate for $t: $(tr '\r' '\n' <"$logf" | grep -v '^$' | tail -n 3 | tr '\n' ' ')"
	done
	if tr '\r' '\n' <"$logf" | grep -qi 'error'; then
		fail "redis-benchmark: $(tr '\r' '\n' <"$logf" | grep -i error | head -n 2 | tr '\n' ' ')"
	fi
}

# ---- listener options ------------------------------------------------------------

# listener_defer PID PORT: TCP_DEFER_ACCEPT (seconds) on PID's listener on PORT.
listener_defer() {
	local out
	out=$("${PLAIN[@]}" "$PY" "$COMPAT_DIR/listener_opts.py" "$1" "$2") ||
		fail "cannot read the options of pid $1's listener on port $2"
	out=${out#defer_accept=}
	echo "${out%% *}"
}
