#!/usr/bin/env bash
# A domain is confined to its owner (no --group here): a process of another
# uid can neither attach to the domain's memory nor connect through its
# rendezvous; its connects to an X-IO server fall back to kernel TCP and
# succeed. The manager runs as root; the other uid is the user xiotest
# (created if absent; tests run as root in CI), run with setpriv.
# shellcheck source=test/fault/lib_fault.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib_fault.sh"
fault_init security_uid
((EUID == 0)) || fail "needs root (to create and become the user xiotest)"
need_prog setpriv
id xiotest >/dev/null 2>&1 || useradd -M -s /usr/sbin/nologin xiotest || fail "cannot create user xiotest"
AS=(setpriv --reuid xiotest --regid xiotest --clear-groups)
FP=$FAULT_BIN/fpeer
mkdir -p "$WORK/u"
chmod 1777 "$WORK/u"

port=$(free_port)
"${XRUN[@]}" "$FP" server 127.0.0.1 "$port" --multi --recv eof --ready "$WORK/ready" >"$WORK/server.log" 2>&1 &
spid=$!
wait_file "$WORK/ready" 5000
mpid=$(mgr_pid)
ctl=$RUNDIR/$DOMAIN/control
rv=$(rv_entries "$port" | head -n 1)
[[ -n $rv ]] || fail "the server published no rendezvous entry"
gen=$(xio_stat_json | sed -n 's/.*"generation":"\([0-9a-f]*\)".*/\1/p')
log "domain dir: $(stat -c '%A %U:%G' "$RUNDIR/$DOMAIN"), control: $(stat -c '%A' "$ctl"), entry: $(stat -c '%A' "$rv")"

# 1. attach: the control socket refuses the other uid
rc=0
out=$("${AS[@]}" "$FAULT_BIN/fraw" hello "$ctl" 2 2>&1) || rc=$?
log "xiotest HELLO: $out (exit $rc)"
((rc == 3)) || fail "another uid reached the control socket: $out"

# 2. the rendezvous socket refuses it too
rc=0
out=$("${AS[@]}" "$FAULT_BIN/fraw" offer "$rv" 1 "$gen" 2>&1) || rc=$?
log "xiotest offer on $rv: $out (exit $rc)"
((rc == 3)) || fail "another uid connected to a rendezvous socket: $out"

# 3. the domain memory is not reachable through /proc (manager's and server's fds and maps)
opened=$("${AS[@]}" sh -c '
	for f in /proc/'"$mpid"'/fd/* /proc/'"$spid"'/fd/* /proc/'"$mpid"'/map_files/* /proc/'"$spid"'/map_files/*; do
		[ -e "$f" ] || continue
		if head -c 1 "$f" >/dev/null 2>&1; then echo "$f"; fi
	done' 2>/dev/null || true)
[[ -z $opened ]] || fail "another uid opened: $opened"
# nothing of the domain lies around in shared memory file systems readable by others
leak=$(find /dev/shm /dev/hugepages -newer "$WORK" -perm -o=r -type f 2>/dev/null | head -n 5 || true)
[[ -z $leak ]] || fail "files readable by others appeared: $leak"
log "no file descriptor, mapping or file of the domain is readable by xiotest"

# 4. its connects fall back to TCP and work (preloaded, in the same domain and run dir)
x0=$(xio_bytes)
l0=$(lo_bytes)
rc=0
"${AS[@]}" env XIO_TEST_TAG="$TAG" LD_PRELOAD="$PRELOAD" XIO_DOMAIN="$DOMAIN" XIO_RUNDIR="$RUNDIR" \
	"$FP" client 127.0.0.1 "$port" --send 2M --recv 0 >"$WORK/u/client.out" 2>"$WORK/u/client.err" || rc=$?
xd=$(($(xio_bytes) - x0))
ld=$(($(lo_bytes) - l0))
log "xiotest client: exit $rc, $(cat "$WORK/u/client.out"), xio-stat +$xd, lo +$ld"
((rc == 0)) || fail "the other uid's connect failed: $(cat "$WORK/u/client.err")"
[[ ! -s $WORK/u/client.err ]] || fail "the shim printed on the other uid's stderr: $(cat "$WORK/u/client.err")"
((xd == 0)) || fail "the other uid's connection went over X-IO ($xd bytes)"
((ld >= 2 << 20)) || fail "lo carried only $ld bytes"
sleep 0.2
proc_alive "$spid" || fail "the server died"
grep -q CORRUPT "$WORK/server.log" && fail "the server saw corruption"
log "PASS"
