#!/usr/bin/env bash
# The manager never runs with the X-IO preload library (issue 11):
#   1. xio-manager started with libxio_preload.so in LD_PRELOAD (or a copy
#      of it under another name) refuses: one line saying why, exit status
#      4, no control socket;
#   2. xio-run with no manager running starts one whose /proc/PID/maps and
#      /proc/PID/environ name no libxio_preload and hold none of the
#      library's XIO_* settings; another LD_PRELOAD entry stays;
#   3. the same when xio-run itself runs preloaded (a script under xio-run
#      that calls xio-run): the shim's exec would put LD_PRELOAD back.
# The managers of 2 and 3 are the real xio-manager, started by xio-run
# through a copy of the install layout whose xio-manager is a two-line
# wrapper adding --slots 4 --ring-kb 16 (a default manager is ~520 MB).
# shellcheck source=test/fault/lib_fault.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib_fault.sh"
MANAGER_ARGS=(--slots 4 --ring-kb 16 --bufs 0)
fault_init manager_not_preloaded
need_prog ldd realpath

# ---- 1. refused when preloaded --------------------------------------------------
refused() { # refused LABEL DOMAIN LIBRARY
	local label=$1 dom=$2 lib=$3 rc=0 err
	env XIO_TEST_TAG="$TAG" LD_PRELOAD="$lib" timeout 20 "$XIO_BIN/xio-manager" \
		--domain "$dom" --rundir "$RUNDIR" --daemon --slots 4 --ring-kb 16 --bufs 0 \
		>"$WORK/$label.out" 2>"$WORK/$label.err" || rc=$?
	err=$(cat "$WORK/$label.err")
	((rc == 4)) || fail "$label: a preloaded xio-manager exited $rc, not 4: $err"
	[[ $err == *"refusing to run with the X-IO preload library loaded"* ]] ||
		fail "$label: no clear message on stderr: '$err'"
	(($(wc -l <"$WORK/$label.err") == 1)) || fail "$label: more than one line: $err"
	[[ ! -e $RUNDIR/$dom/control ]] || fail "$label: a control socket was made"
	log "$label: exit 4, '$err'"
}
refused preloaded fxmnp_a "$PRELOAD"
cp "$PRELOAD" "$WORK/libother.so"
refused renamed_copy fxmnp_b "$WORK/libother.so"

# ---- 2 and 3. started by xio-run ------------------------------------------------
# bin/xio-run (a copy: it finds its library from /proc/self/exe), the library
# at the same relative place, bin/xio-manager the wrapper.
rel=$(realpath --relative-to="$XIO_BIN" "$(dirname "$(realpath "$PRELOAD")")")
mkdir -p "$WORK/inst/bin" "$WORK/inst/bin/$rel"
cp "$XIO_BIN/xio-run" "$WORK/inst/bin/"
ln -s "$(realpath "$PRELOAD")" "$WORK/inst/bin/$rel/libxio_preload.so"
printf '#!/bin/sh\nexec "%s" "$@" --slots 4 --ring-kb 16 --bufs 0\n' "$XIO_BIN/xio-manager" \
	>"$WORK/inst/bin/xio-manager"
chmod +x "$WORK/inst/bin/xio-manager"
# Another preload the manager may keep: a library it links anyway.
other=$(ldd "$XIO_BIN/xio-manager" | awk '$1 ~ /^libnuma/ { print $3 }')
[[ -f $other ]] || fail "libnuma not found in ldd xio-manager"

clean_manager() { # clean_manager LABEL DOMAIN [env...]: xio-run starts it, we look at it
	local label=$1 dom=$2 pid i env_of bad
	shift 2
	[[ ! -e $RUNDIR/$dom/control ]] || fail "$label: a manager already runs for $dom"
	# (without the test harness's own XIO_PRELOAD, which names the library)
	env -u XIO_PRELOAD XIO_TEST_TAG="$TAG" XIO_RUNDIR="$RUNDIR" LD_PRELOAD="$other" XIO_DEMOTE=1 \
		XIO_DEMOTE_WAIT_MS=50 XIO_DISABLE=0 "$@" \
		"$WORK/inst/bin/xio-run" --domain "$dom" --spin 3 --no-fallback -v \
		sh -c 'echo ran' >"$WORK/$label.out" 2>"$WORK/$label.err" ||
		fail "$label: xio-run failed: $(cat "$WORK/$label.err")"
	[[ $(cat "$WORK/$label.out") == ran ]] || fail "$label: the command did not run"
	grep -q "started manager for domain '$dom'" "$WORK/$label.err" ||
		fail "$label: xio-run did not start a manager: $(cat "$WORK/$label.err")"
	for ((i = 0; i < 250; i++)); do
		pid=$(cat "$RUNDIR/$dom/manager.pid" 2>/dev/null || true)
		[[ -n $pid ]] && break
		sleep 0.02
	done
	if [[ -z $pid ]] || ! proc_alive "$pid"; then fail "$label: no running manager for $dom"; fi
	[[ $(readlink "/proc/$pid/exe") == "$(realpath "$XIO_BIN/xio-manager")" ]] ||
		fail "$label: pid $pid is not xio-manager"
	if grep -q libxio_preload "/proc/$pid/maps"; then
		grep libxio_preload "/proc/$pid/maps" >&2
		fail "$label: the manager (pid $pid) has libxio_preload mapped"
	fi
	env_of=$(tr '\0' '\n' <"/proc/$pid/environ")
	if grep -q libxio_preload <<<"$env_of"; then
		fail "$label: the manager's environment names libxio_preload: $(grep libxio_preload <<<"$env_of")"
	fi
	bad=$(grep -E '^XIO_(DISABLE|DOMAIN|RUNDIR|SPIN_US|LOG|NO_FALLBACK|DEMOTE|DEMOTE_WAIT_MS|MGR_READY_FD)=' <<<"$env_of" || true)
	[[ -z $bad ]] || fail "$label: the library's settings reached the manager: $bad"
	grep -qxF "LD_PRELOAD=$other" <<<"$env_of" ||
		fail "$label: the other preload entry was lost: $(grep LD_PRELOAD <<<"$env_of" || echo none)"
	grep -qxF "XIO_TEST_TAG=$TAG" <<<"$env_of" || fail "$label: other variables were lost"
	"$XIO_BIN/xio-stat" --domain "$dom" --rundir "$RUNDIR" --json >/dev/null ||
		fail "$label: the manager does not answer xio-stat"
	log "$label: manager pid $pid: no libxio_preload in maps or environ, LD_PRELOAD=$other"
	kill -TERM "$pid"
	wait_exit "$pid" 5000 >/dev/null || fail "$label: the manager ignored SIGTERM"
}
clean_manager xio_run fxmnp_c
# 3. xio-run itself preloaded, with the library's settings in its environment
clean_manager xio_run_preloaded fxmnp_d LD_PRELOAD="$(realpath "$PRELOAD"):$other" \
	XIO_DOMAIN=fxmnp_d XIO_LOG=1 XIO_SPIN_US=9
log "PASS"
