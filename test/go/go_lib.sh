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
