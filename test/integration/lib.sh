# shellcheck shell=bash
# Shared helpers for X-IO integration tests. Source it, then call
# xio_test_init NAME. Each test gets:
#   - its own work directory $WORK (mktemp), removed on exit (XIO_KEEP=1 keeps it),
#   - its own domain $DOMAIN and run directory $RUNDIR with a private
#     xio-manager started with --daemon,
#   - a trap that ends every process the test started (they all carry
#     XIO_TEST_TAG=$TAG in their environment) and, on failure, prints the logs.
# Tests use only what a user has: programs, xio-run, xio-stat, xio-manager.
#
# Environment (ctest passes the first two): BUILD_DIR, SOURCE_DIR,
# XIO_BIN_DIR (default $BUILD_DIR/bin), XIO_KEEP=1 to keep $WORK.

set -euo pipefail

# Compare lo counters of our own: run the test in a private network namespace
# (with its loopback up), so nothing else on the machine moves them.
# XIO_IT_NO_NETNS=1 runs in the caller's namespace instead.
if [[ -z ${XIO_IT_IN_NETNS:-} && ${XIO_IT_NO_NETNS:-0} != 1 ]] &&
	command -v unshare >/dev/null && command -v ip >/dev/null && unshare -n true 2>/dev/null; then
	export XIO_IT_IN_NETNS=1
	exec unshare -n -- bash -c 'ip link set lo up && exec bash "$@"' bash "$0" "$@"
fi

SOURCE_DIR=${SOURCE_DIR:-$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)}
BUILD_DIR=${BUILD_DIR:-$SOURCE_DIR/build}
XIO_BIN=${XIO_BIN_DIR:-$BUILD_DIR/bin}
# Debian's python: `python3` on PATH may be another build without its modules.
PY=/usr/bin/python3
TEST_NAME=${TEST_NAME:-$(basename "$0" .sh)}

WORK=
RUNDIR=
DOMAIN=
TAG=
MANAGER_ARGS=()

log() { echo "[$TEST_NAME] $*"; }

fail() {
	echo "FAIL [$TEST_NAME]: $*" >&2
	exit 1
}

now_ms() { echo $(($(date +%s%N) / 1000000)); }

# A Debian program the test needs; CI installs it, so missing is a failure.
need_prog() {
	local p
	for p in "$@"; do
		command -v "$p" >/dev/null 2>&1 ||
			fail "$p is not installed (packaging/install-deps.sh installs it)"
	done
}

# ---- processes ---------------------------------------------------------------

# PIDs of every process that carries our tag (everything the test started).
tagged_pids() {
	local d pid
	[[ -n $TAG ]] || return 0
	for d in /proc/[0-9]*; do
		pid=${d#/proc/}
		[[ $pid == "$$" || $pid == "$BASHPID" ]] && continue
		grep -qzxF "XIO_TEST_TAG=$TAG" "$d/environ" 2>/dev/null && echo "$pid"
	done
	return 0
}

# PIDs of processes whose command line names $WORK (managers started with
# --rundir $WORK/..., even with a scrubbed environment).
work_pids() {
	local d pid args
	[[ -n $WORK ]] || return 0
	for d in /proc/[0-9]*; do
		pid=${d#/proc/}
		[[ $pid == "$$" || $pid == "$BASHPID" ]] && continue
		{ mapfile -d '' -t args <"$d/cmdline"; } 2>/dev/null || continue
		[[ " ${args[*]} " == *"$WORK/"* ]] && echo "$pid"
	done
	return 0
}

# True while @pid runs (a zombie counts as exited).
proc_alive() {
	local st
	st=$(awk '{ sub(/^.*\) /, ""); print $1 }' "/proc/$1/stat" 2>/dev/null) || return 1
	[[ -n $st && $st != Z && $st != X ]]
}

# wait_exit PID MAX_MS: wait until PID has exited; prints the elapsed ms.
# Returns 1 (printing the elapsed ms) if it still runs after MAX_MS.
wait_exit() {
	local pid=$1 max=$2 t0 el
	t0=$(date +%s%N)
	while proc_alive "$pid"; do
		el=$((($(date +%s%N) - t0) / 1000000))
		if ((el > max)); then
			echo "$el"
			return 1
		fi
		sleep 0.002
	done
	echo $((($(date +%s%N) - t0) / 1000000))
}

# Exit status of a background job of this shell (after it has exited).
job_status() {
	local rc=0
	wait "$1" || rc=$?
	echo "$rc"
}

kill_tagged() {
	local pids pid i
	mapfile -t pids < <(tagged_pids; work_pids)
	((${#pids[@]})) || return 0
	kill -TERM "${pids[@]}" 2>/dev/null || true
	for ((i = 0; i < 150; i++)); do
		local left=()
		for pid in "${pids[@]}"; do proc_alive "$pid" && left+=("$pid"); done
		((${#left[@]})) || break
		sleep 0.02
	done
	for pid in "${pids[@]}"; do
		if proc_alive "$pid"; then
			echo "[$TEST_NAME] warning: pid $pid ($(tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null)) ignored SIGTERM; SIGKILL" >&2
			kill -KILL "$pid" 2>/dev/null || true
		fi
	done
	# reap our own children quietly
	wait 2>/dev/null || true
}

xio_cleanup() {
	local rc=$?
	set +e
	trap - EXIT
	if [[ -n $WORK && -e $WORK/.timeout ]]; then
		echo "FAIL [$TEST_NAME]: stopped by the watchdog $(cat "$WORK/.timeout") s into the test, shortly before ctest's TIMEOUT (XIO_TEST_TIMEOUT=$XIO_TEST_TIMEOUT)" >&2
		((rc != 0)) || rc=1
	fi
	kill_tagged
	if ((rc != 0)) && [[ -n $WORK && -d $WORK ]]; then
		local f
		echo "---- [$TEST_NAME] logs in $WORK ----" >&2
		for f in "$WORK"/*.log "$WORK"/*.err "$WORK"/*.json; do
			[[ -s $f ]] || continue
			echo "---- $f (last 40 lines)" >&2
			tail -n 40 "$f" >&2
		done
		xio_stat_json >&2 2>/dev/null
	fi
	if [[ -n $WORK && -d $WORK && ${XIO_KEEP:-0} != 1 ]]; then
		rm -rf "$WORK"
	fi
	exit "$rc"
}

# ---- manager and programs ------------------------------------------------------

# xio_test_init NAME: work dir, private domain and rundir, manager, traps.
xio_test_init() {
	local name=$1 b
	for b in xio-manager xio-run xio-stat; do
		[[ -x $XIO_BIN/$b ]] || fail "$XIO_BIN/$b not built (BUILD_DIR=$BUILD_DIR)"
	done
	[[ -x $PY ]] || fail "$PY missing (Debian package python3)"
	need_prog ss awk timeout
	# Short paths: rendezvous sockets live under $RUNDIR/$DOMAIN/rv/... and an
	# AF_UNIX path has at most 107 characters.
	WORK=$(mktemp -d /tmp/xit.XXXXXX)
	chmod 755 "$WORK"
	TAG=xio-it-${WORK##*/}
	DOMAIN="t_${name//[^A-Za-z0-9_]/_}"
	DOMAIN=${DOMAIN:0:14}
	RUNDIR=$WORK/r
	XRUN=(env XIO_TEST_TAG="$TAG" XIO_RUNDIR="$RUNDIR" "$XIO_BIN/xio-run" --domain "$DOMAIN")
	PLAIN=(env -u LD_PRELOAD -u XIO_DOMAIN -u XIO_RUNDIR XIO_TEST_TAG="$TAG")
	trap xio_cleanup EXIT
	trap 'exit 130' INT
	trap 'exit 143' TERM
	trap 'exit 129' HUP
	start_guard
	start_manager
}

# The guard: the traps above end everything on exit, Ctrl-C or SIGTERM, but
# ctest ends a test at its TIMEOUT with SIGKILL (cmake 3.25 has no
# TIMEOUT_SIGNAL_NAME): no trap runs, and ctest kills only the test's process
# tree, not a manager that --daemon moved to init. So a process outside that
# tree (double fork, own session, so neither ctest's kill nor Ctrl-C reaches
# it; stdio on /dev/null, so ctest does not wait for it) watches the test:
#   - XIO_TEST_TIMEOUT seconds (set by test/fault for its tests) minus a grace
#     of 10 s after the start it writes $WORK/.timeout and sends SIGTERM to
#     the test and its children: the traps end everything and print the logs;
#   - once the test has gone, however it ended, it ends every process that
#     carries the tag or names $WORK, and removes $WORK (unless XIO_KEEP=1).
# XIO_GUARD_LOG=FILE: what it did.
start_guard() {
	local t=${XIO_TEST_TIMEOUT:-0} grace=10 term_at=0
	[[ $t =~ ^[0-9]+$ ]] || t=0
	((t > 0 && t <= 4 * grace)) && grace=$((t / 4))
	((t > 0)) && term_at=$((t - grace))
	(
		exec </dev/null >/dev/null 2>&1
		setsid bash -c "$(declare -f tagged_pids work_pids proc_alive kill_tagged log xio_guard)"'
			xio_guard "$@"' guard "$$" "$term_at" "$grace" "$TAG" "$WORK" "$TEST_NAME" "${XIO_KEEP:-0}" \
			"${XIO_GUARD_LOG:-/dev/null}" &
	)
}

# xio_guard PID TERM_AT GRACE TAG WORK TEST_NAME KEEP LOG (in the guard)
xio_guard() {
	local main=$1 term_at=$2 grace=$3 c
	TAG=$4 WORK=$5 TEST_NAME=$6
	exec >>"$8" 2>&1
	if ((term_at > 0)) && ! timeout "$term_at" tail --pid="$main" -f /dev/null; then
		if proc_alive "$main"; then
			log "guard: still running after $term_at s; SIGTERM to pid $main and its children"
			echo "$term_at" >"$WORK/.timeout" 2>/dev/null
			kill -TERM "$main" 2>/dev/null
			for c in $(pgrep -P "$main"); do kill -TERM "$c" 2>/dev/null; done
			if ! timeout "$grace" tail --pid="$main" -f /dev/null; then
				log "guard: pid $main still there after $grace s; SIGKILL"
				kill -KILL "$main" 2>/dev/null
			fi
		fi
	fi
	tail --pid="$main" -f /dev/null
	local left
	left=$( (
		tagged_pids
		work_pids
	) | sort -u | tr '\n' ' ')
	if [[ -n $left ]]; then
		log "guard: pid $main ended, leaving $left; ending them"
		kill_tagged
	fi
	if [[ $7 != 1 && -n $WORK && -d $WORK ]]; then
		log "guard: removing $WORK"
		rm -rf "$WORK"
	fi
	log "guard: done"
}

start_manager() {
	local i rc=0
	env XIO_TEST_TAG="$TAG" "$XIO_BIN/xio-manager" --domain "$DOMAIN" --rundir "$RUNDIR" \
		--daemon "${MANAGER_ARGS[@]}" >>"$WORK/manager.log" 2>&1 || rc=$?
	((rc == 0)) || fail "xio-manager --daemon exited $rc: $(tail -n 5 "$WORK/manager.log")"
	for ((i = 0; i < 500; i++)); do
		if xio_stat_json >/dev/null 2>&1; then
			log "manager for domain $DOMAIN up in $RUNDIR ($(head -c 300 "$WORK/manager.log" | tr '\n' ' '))"
			return 0
		fi
		sleep 0.02
	done
	fail "xio-stat cannot reach the manager of domain $DOMAIN after 10 s"
}

# "${XRUN[@]}" CMD ARGS...: run under X-IO in the test's domain.
# "${PLAIN[@]}" CMD ARGS...: run without X-IO.
# Arrays, not functions, so that `... &` makes $! the program's own pid
# (env and xio-run exec it). Both tag the process for cleanup.
# shellcheck disable=SC2034 # used by the tests that source this file
XRUN=() PLAIN=()

xio_stat_json() {
	"$XIO_BIN/xio-stat" --domain "$DOMAIN" --rundir "$RUNDIR" --json
}

# xio_field KEY[.SUBKEY]: one number from xio-stat --json (booleans as 0/1).
xio_field() {
	local js
	js=$(xio_stat_json) || fail "xio-stat --json failed"
	"$PY" -c '
import json, sys
v = json.loads(sys.argv[1])
for k in sys.argv[2].split("."):
    v = v[k]
print(int(v))' "$js" "$1" || fail "xio-stat --json has no numeric field $1: $js"
}

xio_bytes() { xio_field bytes; }

# Bytes received on the loopback interface so far (global counter).
lo_bytes() {
	awk '{ sub(/^ +/, "") } /^lo:/ { sub(/^lo: */, ""); print $1; found = 1 }
	     END { if (!found) print 0 }' /proc/net/dev
}

# ---- ports ----------------------------------------------------------------------

# A TCP port nobody uses on this machine, from a private range below the
# ephemeral ports.
free_port() {
	local p i
	for ((i = 0; i < 500; i++)); do
		p=$((15201 + (RANDOM % 12000)))
		if [[ -z $(ss -Hant "( sport = :$p or dport = :$p )" 2>/dev/null) ]]; then
			echo "$p"
			return 0
		fi
	done
	fail "no free TCP port found"
}

# wait_port PORT [SECONDS] [PID]: wait for a TCP listener on PORT; fail if PID dies.
wait_port() {
	local port=$1 secs=${2:-10} pid=${3:-} i
	for ((i = 0; i < secs * 100; i++)); do
		[[ -n $(ss -Hltn "sport = :$port" 2>/dev/null) ]] && return 0
		if [[ -n $pid ]] && ! proc_alive "$pid"; then
			fail "server (pid $pid) exited before listening on port $port"
		fi
		sleep 0.01
	done
	fail "nothing listens on port $port after $secs s"
}

# ---- assertions -----------------------------------------------------------------

# assert_carried WHAT PAYLOAD XIO_DELTA LO_DELTA: X-IO carried at least
# PAYLOAD bytes and lo saw far less than the payload (< 5 %).
assert_carried() {
	local what=$1 payload=$2 xd=$3 ld=$4
	log "$what: payload $payload B, xio-stat bytes +$xd, lo rx bytes +$ld"
	((xd >= payload)) ||
		fail "$what: X-IO did not carry the bytes (xio-stat bytes grew by $xd < payload $payload)"
	((ld * 100 < payload * 5)) ||
		fail "$what: lo rx bytes grew by $ld (>= 5 % of payload $payload): the bytes went over kernel TCP"
}

# assert_not_carried WHAT XIO_DELTA: a fallback connection must show 0 X-IO bytes.
assert_not_carried() {
	log "$1: xio-stat bytes +$2 (must be 0: kernel TCP)"
	(($2 == 0)) || fail "$1: expected kernel TCP, but xio-stat bytes grew by $2"
}

# json_get FILE KEY.PATH: a value from a JSON file (Debian python).
json_get() {
	"$PY" -c '
import json, sys
v = json.load(open(sys.argv[1]))
for k in sys.argv[2].split("."):
    v = v[k]
print(v)' "$1" "$2"
}
