#!/usr/bin/env bash
# No impersonation: the manager publishes a rendezvous entry only for a
# requester that shows it a kernel TCP socket LISTENing on the address.
#   publish/<kind>   PUBLISH (stack/proto.h) sent by hand with a TCP socket that
#                    is bound but not listening, a connected TCP socket, a UDP
#                    socket, an AF_UNIX listener, or the two fds swapped: each
#                    is refused (-EPERM; -EINVAL for a wrong AF_UNIX fd), no
#                    entry appears; a real listener is accepted (control case)
#   direct-bind      a domain member binds a socket into the rendezvous
#                    directory itself, for an address where nothing listens:
#                    an X-IO client's connect() must not reach it (kernel TCP
#                    answers ECONNREFUSED)
# shellcheck source=test/fault/lib_fault.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib_fault.sh"
fault_init impersonation
ctl=$RUNDIR/$DOMAIN/control
failures=0
bad() {
	echo "FAIL [$TEST_NAME] $1: $2" >&2
	failures=$((failures + 1))
}

pub0=$(xio_field publishes)
for kind in bound connected udp unix swapped; do
	out=$("$FAULT_BIN/fraw" publish "$ctl" "$kind" 2>&1) || bad "publish/$kind" "fraw failed: $out"
	st=$(sed -n 's/.*status=\([A-Z0-9]*\).*/\1/p' <<<"$out")
	log "publish/$kind: $out"
	case $st in
	EPERM) ;;
	EINVAL) [[ $kind == swapped || $kind == unix ]] || bad "publish/$kind" "refused with $st, want EPERM" ;;
	*) bad "publish/$kind" "not refused: $out" ;;
	esac
done
(($(xio_field publishes) == pub0)) || bad publish "the manager counted $(($(xio_field publishes) - pub0)) publishes for refused requests"
out=$("$FAULT_BIN/fraw" publish "$ctl" listening 2>&1)
log "publish/listening (control case): $out"
[[ $out == *"status=0 "* ]] || bad publish/listening "a real listener was refused: $out"

# direct bind into the rendezvous directory, nothing listens on TCP port q
q=$(free_port)
gen=$(xio_stat_json | sed -n 's/.*"generation":"\([0-9a-f]*\)".*/\1/p')
ns=$(stat -L -c %i /proc/self/ns/net)
dir=$RUNDIR/$DOMAIN/rv/$ns/4_127.0.0.1_$q
mkdir -p "$dir"
"$PY" - "$dir/$gen-4242-1" "$WORK/imp.ready" "$WORK/imp.log" <<'PY' &
import os, socket, sys, time
s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
s.bind(sys.argv[1]); s.listen(16)
open(sys.argv[2], "w").close()
c, _ = s.accept()
offer = c.recv(4096)
open(sys.argv[3], "w").write("impostor accepted a connection, offer of %d bytes\n" % len(offer))
time.sleep(3)
PY
ipid=$!
wait_file "$WORK/imp.ready" 5000
rc=0
out=$("${PRE[@]}" "$FAULT_BIN/fpeer" client 127.0.0.1 "$q" --send 1K --recv 0 --plain 2>&1) || rc=$?
sleep 0.3
log "direct-bind: client exit $rc ($out); $(cat "$WORK/imp.log" 2>/dev/null || echo 'impostor saw nothing')"
if ((rc == 0)) || [[ -s $WORK/imp.log ]]; then
	bad direct-bind "a client's connect to 127.0.0.1:$q (nothing listens) reached a socket a domain member bound in $dir (kernel TCP: ECONNREFUSED)"
fi
kill "$ipid" 2>/dev/null || true

((failures == 0)) || fail "$failures case(s) failed"
log "PASS"
