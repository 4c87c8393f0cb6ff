#!/usr/bin/env bash
# A misbehaving domain member floods the control socket with malformed
# requests (random bytes, valid headers with one field wrong, random types,
# stray descriptors). The manager must stay up, answer STATS afterwards,
# leak no descriptors and little memory, and X-IO must still work.
# CI 20000 requests, SOAK 500000.
# shellcheck source=test/fault/lib_fault.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib_fault.sh"
fault_init ctl_garbage
N=$(pick 20000 500000)
mpid=$(mgr_pid)
fds0=$(ls /proc/"$mpid"/fd | wc -l)
anon0=$(awk '/^RssAnon:/ { print $2 }' /proc/"$mpid"/status)
out=$("$FAULT_BIN/fraw" garbage "$RUNDIR/$DOMAIN/control" "$N" 7 2>&1) || fail "garbage run: $out"
log "$out"
# Descriptors on every error path: empty messages, too long (MSG_TRUNC), more
# descriptors than a request may carry (MSG_CTRUNC), many at once, valid
# headers of every type with the wrong descriptors, PUBLISH and REPUBLISH
# with sockets that are not what they claim.
out=$("$PY" - "$RUNDIR/$DOMAIN/control" <<'PYEOF' 2>&1
import array, os, socket, struct, sys
ctl = sys.argv[1]
MAGIC, VER = 0x58494F50, 2
def hdr(t, n):
    return struct.pack("<IHHIi", MAGIC, VER, t, n, 0)
def msg(t, n):
    return hdr(t, n) + bytes(max(0, n - 16))
pipes = [os.pipe() for _ in range(40)]
pfds = [fd for p in pipes for fd in p]
us = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
ul = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
ul.bind("\0xio-ctl-garbage-%d" % os.getpid())
ul.listen(1)
tl = socket.socket()
tl.bind(("127.0.0.1", 0))
tl.listen(1)
bodies = [b"", b"x", hdr(2, 16), msg(2, 24), msg(8, 88), msg(8, 60), msg(4, 16), msg(1, 16),
          msg(99, 16), bytes(300), msg(2, 300)]
fdsets = [pfds[:1], pfds[:2], pfds[:3], pfds[:9], pfds[:80], [us.fileno(), tl.fileno()],
          [ul.fileno(), tl.fileno()], [tl.fileno(), ul.fileno()], [ul.fileno(), tl.fileno(), us.fileno()]]
s, sent = None, 0
for rnd in range(20):
    for b in bodies:
        for f in fdsets:
            if s is None:
                s = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
                s.connect(ctl)
                s.settimeout(2)
            try:
                s.sendmsg([b], [(socket.SOL_SOCKET, socket.SCM_RIGHTS, array.array("i", f))])
                sent += 1
                s.recv(70000)
            except OSError:
                s.close()
                s = None
print("py garbage: sent=%d" % sent)
PYEOF
) || fail "descriptor garbage run: $out"
log "$out"
proc_alive "$mpid" || fail "the manager died"
xio_stat_json >/dev/null || fail "xio-stat cannot reach the manager any more"
# the garbage may have switched the kill switch on (a valid KILL request): off again
"$XIO_BIN/xio-stat" --domain "$DOMAIN" --rundir "$RUNDIR" --kill off >/dev/null
sleep 0.2
fds1=$(ls /proc/"$mpid"/fd | wc -l)
anon1=$(awk '/^RssAnon:/ { print $2 }' /proc/"$mpid"/status)
log "manager fds $fds0 -> $fds1, RssAnon $anon0 -> $anon1 kB"
((fds1 <= fds0 + 2)) || fail "the manager leaked $((fds1 - fds0)) descriptors"
((anon1 <= anon0 + 2048)) || fail "the manager's memory grew by $((anon1 - anon0)) kB"
port=$(free_port)
"${XRUN[@]}" "$FAULT_BIN/fpeer" server 127.0.0.1 "$port" --recv 1M --ready "$WORK/ready" >/dev/null 2>&1 &
wait_file "$WORK/ready" 5000
t0=$(xio_field conns_total)
"${XRUN[@]}" "$FAULT_BIN/fpeer" client 127.0.0.1 "$port" --send 1M --recv 0 >/dev/null || fail "a connection after the flood failed"
sleep 0.2
(($(xio_field conns_total) == t0 + 1)) || fail "the connection after the flood did not use X-IO"
figure ctl_garbage "$N malformed control requests and $(sed -n 's/.*sent=\([0-9]*\).*/\1/p' <<<"$out") requests carrying descriptors: manager up and answering, descriptors $(printf '%+d' $((fds1 - fds0))), RssAnon $(printf '%+d' $((anon1 - anon0))) KiB, X-IO working afterwards"
log "PASS"
