#!/usr/bin/env bash
# run.sh DOMAIN XIO_RUN PROGRAM [ARGS...]
# Run one behaviour test under xio-run in its own X-IO domain and stop that
# domain's manager afterwards, whatever the test did. The exit status is the
# program's.
#
# The manager is started here, small (XIO_BEH_MANAGER_ARGS, default 128
# slots in ordinary memory), before xio-run, which would otherwise start one
# with the default 512 slots on demand: on a machine whose hugepages other
# domains hold, that one fails and the test would silently run over TCP.
set -u
domain=$1 xrun=$2
shift 2
: "${XIO_RUNDIR:?XIO_RUNDIR must name the run directory}"
bindir=$(dirname "$xrun")
read -r -a margs <<<"${XIO_BEH_MANAGER_ARGS:---slots 128 --hugepages no}"

stop_manager() {
	local pidfile=$XIO_RUNDIR/$domain/manager.pid pid i
	pid=$(cat "$pidfile" 2>/dev/null || true)
	if [[ $pid =~ ^[0-9]+$ ]] &&
		tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -q -- "--domain $domain "; then
		kill -TERM "$pid" 2>/dev/null
		for ((i = 0; i < 100; i++)); do
			kill -0 "$pid" 2>/dev/null || break
			sleep 0.02
		done
	fi
	# Whatever is left of this domain's manager (the pattern names this domain
	# in this run directory only: another build tree's run is left alone).
	pkill -f "xio-manager --daemon --domain $domain --rundir $XIO_RUNDIR( |\$)" 2>/dev/null || true
	# Each run starts from an empty domain directory (no stale rendezvous).
	[[ $domain =~ ^[A-Za-z0-9_.-]+$ && $domain != . && $domain != .. ]] &&
		rm -rf -- "${XIO_RUNDIR:?}/$domain"
}

# A manager left over from an earlier run would hand out a stale generation.
stop_manager
trap stop_manager EXIT
"$bindir/xio-manager" --daemon --domain "$domain" --rundir "$XIO_RUNDIR" "${margs[@]}" ||
	{ echo "run.sh: xio-manager for domain $domain failed to start" >&2; exit 1; }
"$xrun" --domain "$domain" "$@"
