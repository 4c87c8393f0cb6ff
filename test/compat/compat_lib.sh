# shellcheck shell=bash
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

# shellcheck source=test/integration/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/../integration/lib.sh"

COMPAT_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
APPS_BIN=${APPS_BIN_DIR:-$BUILD_DIR/test/apps}
COMPAT_RESULTS_DIR=${COMPAT_RESULTS_DIR:-$BUILD_DIR/compat-results}
COMPAT_RESULTS=
CUR_PROGRAM=
CUR_MODE=
CUR_DONE=1
LAST_FAIL=

# ---- results ---------------------------------------------------------------------

# compat_mode PROGRAM MODE: start checking one matrix cell.
compat_mode() {
	CUR_PROGRAM=$1
	CUR_MODE=$2
	CUR_DONE=0
	log "---- $CUR_PROGRAM | $CUR_MODE"
}

_compat_record() {
	local status=$1 detail=$2
	[[ -n $COMPAT_RESULTS ]] || return 0
	detail=${detail//|/\/}
	detail=${detail//$'\n'/ }
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
	LAST_FAIL="$*"
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
	if ((!CUR_DONE)); then
		if ((rc == 143 || rc == 130)); then
			_compat_record FAIL "killed (timeout?)"
		else
			_compat_record FAIL "test ended with status $rc"
		fi
	fi
	_compat_ret "$rc"
	_lib_xio_cleanup
}

# compat_init NAME: lib.sh's xio_test_init plus the results file.
compat_init() {
	mkdir -p "$COMPAT_RESULTS_DIR"
	COMPAT_RESULTS=$COMPAT_RESULTS_DIR/$TEST_NAME.txt
	: >"$COMPAT_RESULTS"
	xio_test_init "$1"
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
# nobody, sendfile, keepalive) serving DIR/www on 127.0.0.1:PORT; access log
# DIR/access.log has one line per request: "status body_bytes_sent".
nginx_conf() {
	local dir=$1 port=$2
	mkdir -p "$dir/www" "$dir/logs" "$dir/tmp"
	chmod 755 "$dir" "$dir/www"
	chown nobody "$dir/tmp"
	cat >"$dir/nginx.conf" <<NGX
daemon off;
master_process on;
worker_processes 2;
user nobody nogroup;
pid $dir/nginx.pid;
error_log $dir/logs/error.log notice;
events { worker_connections 1024; }
http {
    sendfile on;
    tcp_nopush on;
    keepalive_timeout 65;
    keepalive_requests 100000;
    default_type application/octet-stream;
    log_format sz '\$status \$body_bytes_sent';
    access_log $dir/logs/access.log sz;
    client_body_temp_path $dir/tmp/body;
    proxy_temp_path $dir/tmp/proxy;
    fastcgi_temp_path $dir/tmp/fastcgi;
    uwsgi_temp_path $dir/tmp/uwsgi;
    scgi_temp_path $dir/tmp/scgi;
    server {
        listen 127.0.0.1:$port;
        root $dir/www;
    }
}
NGX
}

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
# port and for 2 workers.
nginx_start() {
	local dir=$1 port=$2 i n
	shift 2
	"$@" nginx -p "$dir" -e "$dir/logs/error.log" -c "$dir/nginx.conf" >"$WORK/nginx.log" 2>&1 &
	NGINX_PID=$!
	wait_port "$port" 15 "$NGINX_PID"
	for ((i = 0; i < 500; i++)); do
		n=$(pgrep -c -P "$NGINX_PID" 2>/dev/null || true)
		((n >= 2)) && break
		sleep 0.01
	done
	((n >= 2)) || fail "nginx master $NGINX_PID has $n workers, want 2"
	# workers really dropped privileges
	local w
	for w in $(pgrep -P "$NGINX_PID"); do
		[[ $(ps -o user= -p "$w" | tr -d ' ') == nobody ]] || fail "nginx worker $w does not run as nobody"
	done
}
