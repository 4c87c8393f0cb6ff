#!/usr/bin/env bash
# A socket whose non-blocking connect fell back to kernel TCP (the domain
# was full) belongs to the kernel from then on: a second connect() once a
# slot is free reports that connection's progress (0, then EISCONN) as on
# TCP, the fd stays the same socket, its epoll registration stays valid and
# the bytes flow; the fallback is counted once. (ab and other apr programs
# call connect() again on a pending socket; X-IO used to start over as an
# X-IO connect and swap the fd's socket.)
# shellcheck source=test/fault/lib_fault.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib_fault.sh"
MANAGER_ARGS=(--slots 1 --ring-kb 16)
fault_init reconnect_fallback
need_prog /usr/bin/python3

full0=$(xio_field fallback.domain_full)
port=$(free_port)
cat >"$WORK/reconnect.py" <<'PY'
import errno, os, select, socket, sys, time
port = int(sys.argv[1])
ls = socket.socket()
ls.bind(("127.0.0.1", port))
ls.listen(16)
hold = socket.create_connection(("127.0.0.1", port))  # takes the only slot
a1, _ = ls.accept()
s = socket.socket()
s.setblocking(False)
r = s.connect_ex(("127.0.0.1", port))
ino = os.fstat(s.fileno()).st_ino
assert r in (0, errno.EINPROGRESS), "connect #1: %s" % errno.errorcode.get(r, r)
ep = select.epoll()
ep.register(s.fileno(), select.EPOLLOUT)
hold.close()
a1.close()
time.sleep(0.5)  # the slot is free again
assert ep.poll(2), "the connection never became writable"
r = s.connect_ex(("127.0.0.1", port))
assert r in (0, errno.EISCONN), "connect #2: %s" % errno.errorcode.get(r, r)
assert os.fstat(s.fileno()).st_ino == ino, "connect #2 swapped the fd's socket"
r = s.connect_ex(("127.0.0.1", port))
assert r == errno.EISCONN, "connect #3: %s" % errno.errorcode.get(r, r)
ep.unregister(s.fileno())  # ENOENT if the fd changed under epoll
b, _ = ls.accept()
s.setblocking(True)
s.sendall(b"x" * 100000)
s.shutdown(socket.SHUT_WR)
got = 0
while True:
    d = b.recv(65536)
    if not d:
        break
    got += len(d)
assert got == 100000, "server read %d of 100000 bytes" % got
print("ok")
PY
out=$("${XRUN[@]}" /usr/bin/python3 "$WORK/reconnect.py" "$port" 2>&1) || fail "under X-IO: $out"
full=$(($(xio_field fallback.domain_full) - full0))
log "python: $out; fallback.domain_full +$full"
((full == 1)) || fail "one fallen-back connection counted $full times as domain_full"
out=$(/usr/bin/python3 "$WORK/reconnect.py" "$(free_port)" 2>&1) || fail "on kernel TCP: $out"
log "PASS"
