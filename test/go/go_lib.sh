# shellcheck shell=bash
# Helpers for the tests of programs without libc (Go, static) under xio-run's
# seccomp supervisor. Source it after test/integration/lib.sh's variables are
# wanted: it sources lib.sh itself, then call go_init NAME.
#
# The supervisor demotes every connection it makes (the AF_UNIX end is a plain
# stream the program reads with its own calls), so no X-IO process sees the
# bytes and xio-stat's byte counter does not move for them. What proves
# carriage here: xio-stat counts the connections (conns_total) and their
# demotions (demoted), lo stays quiet (< 5 % of the payload) while every
# byte arrives checked, and the program's sockets are AF_UNIX (ss -x).
# (test/compat's tests source compat_lib.sh first, which has sourced lib.sh.)
if ! declare -F xio_test_init >/dev/null; then
	# shellcheck source=test/integration/lib.sh
	source "$(dirname "${BASH_SOURCE[0]}")/../integration/lib.sh"
fi

GO_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
XIOGO='' STATIC_ECHO=''

# go_init NAME: xio_test_init, then build what the test runs.
go_init() {
	xio_test_init "$1"
	need_prog gcc go
}

# go_build: $XIOGO, test/go/xiogo built with Debian's Go, offline, its cache in $WORK.
go_build() {
	XIOGO=$WORK/xiogo
	(cd "$GO_DIR/xiogo" && GOFLAGS=-mod=mod GOPROXY=off GOTOOLCHAIN=local \
		GOCACHE="$WORK/gocache" GOPATH="$WORK/gopath" go build -o "$XIOGO" .) \
		>"$WORK/go-build.log" 2>&1 || fail "go build: $(tail -n 5 "$WORK/go-build.log")"
	rm -rf "$WORK/gocache" "$WORK/gopath" 2>/dev/null || true
}

# static_build: $STATIC_ECHO, test/go/static_echo.c linked with gcc -static.
static_build() {
	STATIC_ECHO=$WORK/static_echo
	gcc -static -O2 -pthread -o "$STATIC_ECHO" "$GO_DIR/static_echo.c" \
		>"$WORK/gcc.log" 2>&1 || fail "gcc -static: $(tail -n 5 "$WORK/gcc.log")"
}

# sv_start / sv_end: snapshot connections, demotions and lo; after sv_end,
# CD, DD and LD hold the deltas.
CD=0 DD=0 LD=0 _C0=0 _D0=0 _L0=0
sv_start() {
	_C0=$(xio_field conns_total)
	_D0=$(xio_field demoted)
	_L0=$(lo_bytes)
}
sv_end() {
	CD=$(($(xio_field conns_total) - _C0))
	DD=$(($(xio_field demoted) - _D0))
	LD=$(($(lo_bytes) - _L0))
}

# assert_supervised WHAT PAYLOAD CONNS: the last sv_start..sv_end carried at
# least CONNS connections through X-IO (each demoted by the supervisor) and
# lo saw less than 5 % of PAYLOAD bytes.
assert_supervised() {
	local what=$1 payload=$2 conns=$3
	log "$what: payload $payload B in $conns connections; xio-stat connections +$CD, demoted +$DD, lo rx +$LD B"
	((CD >= conns)) || fail "$what: X-IO made $CD connections, want $conns"
	((DD >= conns)) || fail "$what: $DD connections demoted by the supervisor, want $conns"
	((LD * 100 < payload * 5)) ||
		fail "$what: lo rx bytes grew by $LD (>= 5 % of $payload): the bytes went over kernel TCP"
}

# assert_kernel WHAT PAYLOAD: the last sv_start..sv_end made no X-IO connection and lo carried the bytes.
assert_kernel() {
	local what=$1 payload=$2
	log "$what: xio-stat connections +$CD, lo rx +$LD B (kernel TCP)"
	((CD == 0)) || fail "$what: expected kernel TCP, but X-IO made $CD connections"
	((LD >= payload)) || fail "$what: lo rx grew by $LD < payload $payload"
}

# unix_sockets PID: how many AF_UNIX stream sockets PID holds that are connected (ss -x).
unix_sockets() {
	ss -Hxp state established 2>/dev/null | grep -c "pid=$1," || true
}

# supervisor_of WORD: pids of the supervisors (xio-run processes that never
# exec'd: their executable is still xio-run) whose command line contains WORD.
supervisor_of() {
	local d run found=1
	run=$(readlink -f "$XIO_BIN/xio-run")
	for d in /proc/[0-9]*; do
		[[ $(readlink "$d/exe" 2>/dev/null) == "$run" ]] || continue
		proc_alive "${d#/proc/}" || continue
		if tr '\0' ' ' <"$d/cmdline" 2>/dev/null | grep -qF -- "$1"; then
			echo "${d#/proc/}"
			found=0
		fi
	done
	return $found
}

# wait_line FILE TEXT [SECONDS]: wait until FILE has a line containing TEXT.
wait_line() {
	local i
	for ((i = 0; i < ${3:-10} * 100; i++)); do
		grep -qF -- "$2" "$1" 2>/dev/null && return 0
		sleep 0.01
	done
	fail "no '$2' in $1 after ${3:-10} s: $(tail -n 3 "$1" 2>/dev/null)"
}

# ---- programs started by a preloaded program (spawn_*.sh) ---------------------

# spawner_build: $SPAWNER, test/go/spawner.c linked dynamically (so preloaded);
# $PRELOAD, the library, and PRE, the command prefix that preloads it without
# xio-run (no XIO_RUN: the preload finds the xio-run installed next to it).
SPAWNER='' PRELOAD='' PRE=()
spawner_build() {
	SPAWNER=$WORK/spawner
	gcc -O2 -Wall -Wextra -Werror -o "$SPAWNER" "$GO_DIR/spawner.c" >"$WORK/gcc-spawner.log" 2>&1 ||
		fail "gcc spawner.c: $(tail -n 5 "$WORK/gcc-spawner.log")"
	PRELOAD=$(find "$BUILD_DIR" -maxdepth 3 -name libxio_preload.so -path '*/lib*' 2>/dev/null |
		grep -v /test/ | head -n 1)
	[[ -f $PRELOAD ]] || fail "libxio_preload.so not found in $BUILD_DIR"
	# shellcheck disable=SC2034 # used by the tests that source this file
	PRE=(env -u XIO_RUN XIO_TEST_TAG="$TAG" LD_PRELOAD="$PRELOAD" XIO_DOMAIN="$DOMAIN" XIO_RUNDIR="$RUNDIR")
}

# exe_pid EXE WORD: the pid of the process running EXE (or spawner's memfd
# copy of a program) whose command line contains WORD.
exe_pid() {
	local d want x
	want=$(readlink -f "$1")
	for d in /proc/[0-9]*; do
		x=$(readlink "$d/exe" 2>/dev/null) || continue
		[[ $x == "$want" || $x == /memfd:spawner-memfd* ]] || continue
		if tr '\0' ' ' <"$d/cmdline" 2>/dev/null | grep -qF -- "$2"; then
			echo "${d#/proc/}"
			return 0
		fi
	done
	return 1
}

# under_filter PID: does PID run under a seccomp filter (the supervisor's)?
under_filter() {
	[[ $(awk '/^Seccomp:/ { print $2 }' "/proc/$1/status" 2>/dev/null) == 2 ]]
}

# what_log WHAT: the log file of spawned_echo WHAT.
what_log() { echo "$WORK/${1//[^A-Za-z0-9_]/_}.log"; }

# spawned_echo WHAT EXE PORT SUPERVISED -- CMD...: CMD (a preloaded program)
# starts the echo server EXE (Go or static) listening on PORT. Wait for it;
# SUPERVISED=1: it runs under the supervisor's filter, a preloaded client
# (socat, 1 MiB) is carried (assert_supervised) and the server still has
# LD_PRELOAD for its own children; SUPERVISED=0: it runs on kernel TCP
# (assert_kernel). Every byte of the echo is checked either way. Then the
# server is ended, and CMD must end with it.
spawned_echo() {
	local what=$1 exe=$2 port=$3 sv=$4 job pid i bytes=$((1 << 20))
	shift 5
	local log
	log=$(what_log "$what")
	"$@" >"$log" 2>&1 &
	job=$!
	wait_port "$port" 15 "$job"
	pid=
	for ((i = 0; i < 200; i++)); do
		pid=$(exe_pid "$exe" "$port") && break
		sleep 0.01
	done
	[[ -n $pid ]] || fail "$what: no process runs $exe for port $port"
	[[ -f $WORK/in.bin ]] || head -c "$bytes" /dev/urandom >"$WORK/in.bin"
	rm -f "$WORK/out.bin"
	sv_start
	timeout 30 "${XRUN[@]}" socat -t 10 - "TCP:127.0.0.1:$port" <"$WORK/in.bin" >"$WORK/out.bin" \
		2>>"$log" || fail "$what: socat client failed: $(tail -n 3 "$log")"
	sv_end
	cmp -s "$WORK/in.bin" "$WORK/out.bin" || fail "$what: the echo differs"
	if ((sv)); then
		under_filter "$pid" || fail "$what: $exe (pid $pid) is not under the supervisor's filter: $(tail -n 3 "$log")"
		tr '\0' '\n' <"/proc/$pid/environ" | grep -q '^LD_PRELOAD=.*libxio_preload' ||
			fail "$what: $exe (pid $pid) lost LD_PRELOAD: its children would not be preloaded"
		assert_supervised "$what" $((2 * bytes)) 1
	else
		under_filter "$pid" && fail "$what: $exe (pid $pid) is under a filter, expected none"
		assert_kernel "$what" $((2 * bytes))
	fi
	kill "$pid" 2>/dev/null || true
	wait_exit "$job" 10000 >/dev/null || fail "$what: $* did not end after its server did"
	wait "$job" 2>/dev/null || true
}
