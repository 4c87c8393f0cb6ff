#!/usr/bin/env bash
# Pairing claims that reach the manager before their offers. A client
# between network namespaces sends PAIR_OFFER without waiting for an answer
# (after its SYN, on its send-only offer channel), and the manager reads the
# client's and the server's connections in whatever order epoll gives them,
# so a server's PAIR_CLAIM can be read first. It must wait for the offer and
# then be decided by the sequence numbers as always (fraw pairorder):
#   the two ends of one TCP connection: proved, the slot ESTABLISHED, the
#   server gets its AF_UNIX end, the client no reply to its offer;
#   a socket of another connection: refused (EPERM), the slot still PAIRING;
#   a client that gave up (slot FREE) and abandons, or whose control
#   connection closes, before its offer was read: the claim is refused
#   (ENOENT), never left waiting;
#   an offer channel (PAIR_CHANNEL): an offer on it proves a parked claim,
#   an abandon on it refuses one, nothing is answered on it, and any other
#   request (HELLO) makes the manager close it.
#   an offer whose TCP socket is a UDP or an AF_UNIX socket: refused, and
#   the claim parked for it gets EINVAL (the slot stays PAIRING).
# Then a carried connection still works and the manager kept no descriptor.
# shellcheck source=test/fault/lib_fault.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib_fault.sh"
fault_init pair_order
mpid=$(mgr_pid)
fds0=$(ls /proc/"$mpid"/fd | wc -l)
out=$("$FAULT_BIN/fraw" pairorder "$RUNDIR/$DOMAIN/control" 2>&1) || fail "fraw pairorder: $out"
log "$out"
[[ $out == *"fraw pairorder: ok"* ]] || fail "fraw pairorder: $out"
proc_alive "$mpid" || fail "the manager died"
sleep 0.2
fds1=$(ls /proc/"$mpid"/fd | wc -l)
log "manager fds $fds0 -> $fds1"
((fds1 <= fds0)) || fail "the manager kept $((fds1 - fds0)) descriptors of the pairings"
log "PASS"
