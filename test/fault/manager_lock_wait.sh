#!/usr/bin/env bash
# A manager started while the previous one is dying waits for its lock: a
# SIGKILLed manager's leader turns zombie while its other threads (the EAL's)
# still exit holding the domain lock, and a restart at that moment (a
# supervisor's, a DaemonSet's) exited 3, "already has a manager" (seen in the
# mixed soak and fault_priv_drop_restart under load). Staged without DPDK:
# the lock is held by a plain `flock` for 1.5 s while manager.pid names a
# zombie. Then the other case: a live holder is refused at once, exit 3.
# shellcheck source=test/fault/lib_fault.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib_fault.sh"
fault_init manager_lock_wait
need_prog flock
DIR=$RUNDIR/$DOMAIN

# Start xio-manager for the test's domain as start_manager (lib.sh) does, but
# take any exit: its status in rc, the milliseconds it took in el.
timed_manager() {
	local t0
	t0=$(now_ms)
	rc=0
	env XIO_TEST_TAG="$TAG" "$XIO_BIN/xio-manager" --domain "$DOMAIN" --rundir "$RUNDIR" --daemon \
		"${MANAGER_ARGS[@]}" >>"$WORK/manager.log" 2>&1 || rc=$?
	el=$(($(now_ms) - t0))
}

# the test's own manager goes first: this test stages the domain by hand
m=$(mgr_pid)
kill -TERM "$m"
wait_exit "$m" 10000 >/dev/null || fail "the test's manager $m still runs 10 s after SIGTERM"
while [[ -e /proc/$m ]]; do sleep 0.01; done

# a zombie: `sleep 0`'s parent becomes `sleep 5`, which never reaps it
bash -c 'sleep 0 & echo $! >"$1"; exec sleep 5' _ "$WORK/zombie" &
holder_parent=$!
wait_file "$WORK/zombie" 5000
zpid=$(cat "$WORK/zombie")
for ((i = 0; i < 200; i++)); do
	[[ $(awk '{ sub(/^.*\) /, ""); print $1 }' "/proc/$zpid/stat" 2>/dev/null) == Z ]] && break
	sleep 0.01
done
[[ $(awk '{ sub(/^.*\) /, ""); print $1 }' "/proc/$zpid/stat") == Z ]] || fail "no zombie to stage with"
echo "$zpid" >"$DIR/manager.pid"
flock -x "$DIR/lock" sleep 1.5 &
lpid=$!
sleep 0.2 # the lock is taken
timed_manager
log "lock held by a dying manager: xio-manager exit $rc after $el ms"
((rc == 0)) || fail "xio-manager exited $rc while the dying manager's lock was on its way back: $(tail -n 2 "$WORK/manager.log" | tr '\n' ' ')"
((el >= 1000)) || fail "xio-manager started after $el ms, before the lock was free?"
xio_stat_json >/dev/null || fail "the new manager does not serve"
m=$(mgr_pid)
[[ $m != "$zpid" ]] || fail "manager.pid still names the zombie"
kill -TERM "$m"
wait_exit "$m" 10000 >/dev/null || fail "manager $m still runs 10 s after SIGTERM"
wait "$lpid" || true
kill "$holder_parent" 2>/dev/null || true
wait "$holder_parent" 2>/dev/null || true

# a live holder (this shell's own sleep) is a running manager: refused at once
sleep 30 &
live=$!
echo "$live" >"$DIR/manager.pid"
flock -x "$DIR/lock" sleep 3 &
lpid=$!
sleep 0.2
timed_manager
log "lock held by a live manager: xio-manager exit $rc after $el ms"
((rc == 3)) || fail "xio-manager exited $rc with a live manager holding the lock (want 3)"
((el < 1000)) || fail "a live holder was waited for ($el ms)"
kill "$live" "$lpid" 2>/dev/null || true
wait 2>/dev/null || true
log "PASS"
