# shellcheck shell=bash
# Helpers for the fault tests, on top of test/integration/lib.sh (source this,
# then call xio_test_init NAME). Adds:
#   FAULT_BIN   the helper programs (fpeer, fshort, fraw, corrupt_shm)
#   PRELOAD     libxio_preload.so, for running under X-IO *without* xio-run
#               (xio-run would start a manager on demand, which some tests
#               must not have)
#   SOAK        1 for the long variants (test/soak)
#   pick N_CI N_SOAK          the CI or the soak value (XIO_SOAK_DIVISOR=D
#                             divides the soak value: test/soak --quick)
#   figure NAME TEXT          the figure a guarantee is published with:
#                             prints "SOAK-FIGURE: NAME: TEXT" and appends
#                             "TEST_NAME<TAB>NAME: TEXT" to $XIO_SOAK_FIGURES
#                             (set by test/soak, which collects them)
#   mgr_pid                   pid of the test domain's manager
#   rss_kb PID                VmRSS of PID in kB
#   wait_file FILE MS         wait until FILE exists (fail after MS)
#   progress FILE             "sent recv" written by fpeer --progress
#   wait_progress FILE BYTES MS [PID...]
#                             until both numbers reach BYTES
#   finding TEXT              fail, marked as a product finding
# shellcheck source=test/integration/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/../integration/lib.sh"

FAULT_BIN=${FAULT_BIN:-$BUILD_DIR/test/fault}
PRELOAD=${XIO_PRELOAD:-}
if [[ -z $PRELOAD ]]; then
	PRELOAD=$(find "$BUILD_DIR" -maxdepth 3 -name libxio_preload.so -path '*/lib*' 2>/dev/null | grep -v /test/ | head -n 1)
fi
SOAK=${SOAK:-0}

pick() {
	local d=${XIO_SOAK_DIVISOR:-1}
	[[ $d =~ ^[1-9][0-9]*$ ]] || d=1
	if [[ $SOAK == 1 ]]; then echo $(($2 / d)); else echo "$1"; fi
}

figure() {
	local name=$1
	shift
	echo "SOAK-FIGURE: $name: $*"
	if [[ -n ${XIO_SOAK_FIGURES:-} ]]; then
		printf '%s\t%s: %s\n' "$TEST_NAME" "$name" "$*" >>"$XIO_SOAK_FIGURES"
	fi
}

fault_init() {
	local b
	for b in fpeer fshort fraw; do
		[[ -x $FAULT_BIN/$b ]] || fail "$FAULT_BIN/$b not built (BUILD_DIR=$BUILD_DIR)"
	done
	[[ -f $PRELOAD ]] || fail "libxio_preload.so not found (XIO_PRELOAD=$PRELOAD)"
	xio_test_init "$1"
	# Under X-IO without xio-run: the test's domain, no manager started on demand.
	PRE=(env XIO_TEST_TAG="$TAG" LD_PRELOAD="$PRELOAD" XIO_DOMAIN="$DOMAIN" XIO_RUNDIR="$RUNDIR")
	log "SOAK=$SOAK"
}

mgr_pid() { cat "$RUNDIR/$DOMAIN/manager.pid" 2>/dev/null; }

# VmRSS without RssShmem: the domain's ring pages are shared memory that
# follows the connections (xio-stat counts it), not the process's own.
rss_kb() { awk '/^VmRSS:/ { v = $2 } /^RssShmem:/ { s = $2 } END { print v - s }' "/proc/$1/status" 2>/dev/null || echo 0; }

wait_file() {
	local f=$1 max=$2 t0
	t0=$(now_ms)
	until [[ -e $f ]]; do
		(($(now_ms) - t0 > max)) && fail "$f did not appear within $max ms"
		sleep 0.005
	done
}

progress() { cat "$1" 2>/dev/null || echo "0 0"; }

# wait_progress FILE BYTES MS [PID...]: both counters of an fpeer reach BYTES.
wait_progress() {
	local f=$1 want=$2 max=$3 t0 s r p
	shift 3
	t0=$(now_ms)
	while :; do
		read -r s r < <(progress "$f")
		((${s:-0} >= want && ${r:-0} >= want)) && return 0
		(($(now_ms) - t0 > max)) && fail "$f: only sent=$s recv=$r after $max ms (want $want)"
		for p in "$@"; do
			proc_alive "$p" || fail "pid $p exited while waiting for progress in $f"
		done
		sleep 0.01
	done
}

finding() {
	echo "FINDING [$TEST_NAME]: $*" >&2
	fail "$*"
}

# The rendezvous sockets published for 127.0.0.1:PORT (any generation).
rv_entries() {
	compgen -G "$RUNDIR/$DOMAIN/rv/*/4_127.0.0.1_$1/*" || true
}

# reap PID: wait for a background job of this shell (in this shell, not in a
# $(...) subshell, which cannot wait for it); its status lands in REAP_RC.
reap() {
	REAP_RC=0
	wait "$1" 2>/dev/null || REAP_RC=$?
}
