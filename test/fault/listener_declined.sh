#!/usr/bin/env bash
# Listeners X-IO declines are counted by reason on the server side, and the
# connections to them still work over kernel TCP (xio-stat bytes +0):
#   - (not declined: a forked child that dropped its privileges (to nobody)
#     before listen, while its parent maps the domain, maps the domain
#     itself: it rejoins through <domain>.denied (F17) and its listener is
#     carried, nothing counted)
#   - a server run as nobody from the start (the manager has no --group), by
#     xio-run or a bare LD_PRELOAD: listener_no_domain_access, reported on
#     <rundir>/<domain>.denied since it has no domain memory; xio-run says
#     why in one line on stderr, the library only with XIO_LOG
#   - a client run as nobody: no_domain_access, the same way
# Claims on <domain>.denied from root (who could join), with another reason
# or malformed are not counted. Needs root (to become nobody).
# shellcheck source=test/fault/lib_fault.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib_fault.sh"
fault_init listener_declined
((EUID == 0)) || fail "needs root (to run a server as nobody)"
need_prog setpriv
SRV=$(dirname "${BASH_SOURCE[0]}")/progs/listen_decline.py
[[ -f $SRV ]] || fail "$SRV missing"
mkdir -p "$WORK/u"
chmod 1777 "$WORK/u"
cp "$SRV" "$WORK/u/srv.py"
chmod 644 "$WORK/u/srv.py"
AS=(setpriv --reuid nobody --regid nogroup --clear-groups)

# client NAME PORT [PREFIX...]: connect (under X-IO unless PREFIX says how), the
# reply must be "hello NAME" and not carried
client() {
	local name=$1 port=$2 x0 out
	shift 2
	(($#)) || set -- "${XRUN[@]}"
	x0=$(xio_bytes)
	out=$("$@" "$PY" -c '
import socket, sys
c = socket.create_connection(("127.0.0.1", int(sys.argv[1])), timeout=10)
b = b""
while True:
    d = c.recv(4096)
    if not d:
        break
    b += d
print(b.decode())' "$port" 2>"$WORK/client_$name.err") || fail "$name: the client failed: $(cat "$WORK/client_$name.err")"
	[[ $out == "hello $name" ]] || fail "$name: the client got '$out'"
	assert_not_carried "$name" $(($(xio_bytes) - x0))
}

# check LABEL MODE REASON PREFIX...: the listener of MODE, run by PREFIX, adds 1 to REASON
check() {
	local label=$1 mode=$2 reason=$3 port port2 before after spid i
	shift 3
	port=$(free_port)
	port2=$(free_port)
	before=$(xio_field "fallback.$reason")
	rm -f "$WORK/u/ready"
	"$@" "$PY" "$WORK/u/srv.py" "$mode" "$port" "$WORK/u/ready" "$port2" \
		>"$WORK/server_$label.log" 2>"$WORK/server_$label.err" &
	spid=$!
	wait_file "$WORK/u/ready" 5000
	# a report on <domain>.denied is a datagram the manager reads a moment later
	for ((i = 0; i < 100; i++)); do
		after=$(xio_field "fallback.$reason")
		((after == before)) || break
		sleep 0.01
	done
	log "$label: fallback.$reason $before -> $after"
	((after == before + 1)) || fail "$label: fallback.$reason went from $before to $after, want +1"
	client "$mode" "$port"
	wait "$spid" || fail "$label: the server failed: $(cat "$WORK/server_$label.err")"
}

# a forked child that dropped to nobody maps the domain: it rejoins, its listener is carried
port=$(free_port)
port2=$(free_port)
before=$(xio_field fallback.listener_no_domain_access)
total0=$(xio_field conns_total)
x0=$(xio_bytes)
rm -f "$WORK/u/ready"
"${XRUN[@]}" "$PY" "$WORK/u/srv.py" privdrop "$port" "$WORK/u/ready" "$port2" \
	>"$WORK/server_privdrop.log" 2>"$WORK/server_privdrop.err" &
spid=$!
wait_file "$WORK/u/ready" 5000
[[ -n $(rv_entries "$port") ]] || fail "privdrop: the child (nobody) published no rendezvous entry"
out=$("${PRE[@]}" "$PY" -c '
import socket, sys
c = socket.create_connection(("127.0.0.1", int(sys.argv[1])), timeout=10)
print(c.recv(4096).decode())' "$port") || fail "privdrop: the client failed"
[[ $out == "hello privdrop" ]] || fail "privdrop: the client got '$out'"
wait "$spid" || fail "privdrop: the server failed: $(cat "$WORK/server_privdrop.err")"
log "privdrop: conns_total +$(($(xio_field conns_total) - total0)), bytes +$(($(xio_bytes) - x0)), listener_no_domain_access $before -> $(xio_field fallback.listener_no_domain_access)"
(($(xio_field conns_total) == total0 + 1 && $(xio_bytes) - x0 >= 14)) ||
	fail "privdrop: the child's listener was not carried"
(($(xio_field fallback.listener_no_domain_access) == before)) || fail "privdrop: a declined listener was counted"
[[ ! -s $WORK/server_privdrop.err ]] || fail "the library printed without XIO_LOG: $(cat "$WORK/server_privdrop.err")"

# never joined, may not join: reported on <domain>.denied; xio-run says why in one line
check nobody_xio_run plain listener_no_domain_access "${AS[@]}" "${XRUN[@]}"
err=$WORK/server_nobody_xio_run.err
log "xio-run as nobody said: $(cat "$err")"
if [[ $(wc -l <"$err") != 1 ]] ||
	! grep -q "xio-run: uid 65534 gid 65534 may not join domain '$DOMAIN'.*Permission denied.*--group" "$err"; then
	fail "xio-run as nobody did not say in one line why: $(cat "$err")"
fi
# bare LD_PRELOAD: silent, unless XIO_LOG
check nobody_pre plain listener_no_domain_access "${AS[@]}" env -u XIO_LOG "${PRE[@]}"
[[ ! -s $WORK/server_nobody_pre.err ]] || fail "the library printed without XIO_LOG: $(cat "$WORK/server_nobody_pre.err")"
check nobody_log plain listener_no_domain_access "${AS[@]}" env XIO_LOG=1 "${PRE[@]}"
err=$WORK/server_nobody_log.err
grep -q "uid 65534 gid 65534 may not join domain '$DOMAIN'" "$err" ||
	fail "with XIO_LOG the library did not say why: $(cat "$err")"
grep -q "listener on port [0-9]* stays kernel TCP: no_domain_access" "$err" ||
	fail "with XIO_LOG the library did not name the listener: $(cat "$err")"

# a client as nobody to an X-IO server: no_domain_access, and it works over TCP
port=$(free_port)
rm -f "$WORK/u/ready"
"${XRUN[@]}" "$PY" "$WORK/u/srv.py" plain "$port" "$WORK/u/ready" >"$WORK/server_root.log" 2>&1 &
spid=$!
wait_file "$WORK/u/ready" 5000
[[ -n $(rv_entries "$port") ]] || fail "root's server published no rendezvous entry"
before=$(xio_field fallback.no_domain_access)
client plain "$port" "${AS[@]}" "${PRE[@]}"
wait "$spid" || fail "root's server failed"
for ((i = 0; i < 100; i++)); do
	after=$(xio_field fallback.no_domain_access)
	((after == before)) || break
	sleep 0.01
done
log "client as nobody: fallback.no_domain_access $before -> $after"
((after == before + 1)) || fail "a client as nobody: fallback.no_domain_access went from $before to $after, want +1"

# what <domain>.denied does not count: root (could join), other reasons, garbage
js=$(xio_stat_json)
"$PY" - "$RUNDIR/$DOMAIN.denied" "$js" <<'PYEOF'
import json, socket, struct, sys
path, j = sys.argv[1], json.loads(sys.argv[2])
reasons = list(j["fallback"])  # in the order of the enum
def msg(reason, magic=0x58494F50, mtype=80):
    return struct.pack("=IHHIiII", magic, 2, mtype, 24, 0, reason, 0)
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
s.connect(path)
s.send(msg(reasons.index("no_domain_access")))  # from root: could have joined
PYEOF
"${AS[@]}" "$PY" - "$RUNDIR/$DOMAIN.denied" "$js" <<'PYEOF'
import json, socket, struct, sys
path, j = sys.argv[1], json.loads(sys.argv[2])
reasons = list(j["fallback"])
def msg(reason, magic=0x58494F50, mtype=80, size=24):
    return struct.pack("=IHHIiII", magic, 2, mtype, size, 0, reason, 0)
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
s.connect(path)
for m in (msg(reasons.index("no_rendezvous")), msg(len(reasons) + 5),
          msg(reasons.index("no_domain_access"), magic=1),
          msg(reasons.index("no_domain_access"), mtype=4),
          msg(reasons.index("no_domain_access"))[:20], b"garbage"):
    s.send(m)
PYEOF
sleep 0.3
total=$("$PY" -c 'import json, sys; print(json.loads(sys.argv[1])["fallback_total"])' "$js")
(($(xio_field fallback_total) == total)) ||
	fail "forged or malformed reports were counted: before $js, after $(xio_stat_json)"
log "reports from root, with other reasons or malformed are not counted"
log "PASS"
