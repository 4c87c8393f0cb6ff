#!/usr/bin/env bash
# Listeners X-IO declines are counted by reason on the server side, and the
# connections to them still work over kernel TCP (xio-stat bytes +0):
#   - TCP_DEFER_ACCEPT before listen, and after it: listener_defer_accept
#   - TCP_FASTOPEN before listen: listener_fastopen
#   - a forked child that dropped its privileges (to nobody) before listen,
#     while its parent maps the domain: listener_no_domain_access
# A process that never joined and may not (nobody, manager without --group)
# cannot count, having no domain memory; under xio-run it is told on stderr
# in one line, under a bare LD_PRELOAD only with XIO_LOG (the library never
# prints otherwise). Needs root (to become nobody).
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

# client NAME PORT: connect under X-IO, the reply must be "hello NAME" and not carried
client() {
	local name=$1 port=$2 x0 out
	x0=$(xio_bytes)
	out=$("${XRUN[@]}" "$PY" -c '
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

# check MODE REASON [SERVER PREFIX...]: the listener of MODE adds 1 to REASON
check() {
	local mode=$1 reason=$2 port port2 before after spid
	shift 2
	port=$(free_port)
	port2=$(free_port)
	before=$(xio_field "fallback.$reason")
	rm -f "$WORK/u/ready"
	"$@" "$PY" "$WORK/u/srv.py" "$mode" "$port" "$WORK/u/ready" "$port2" \
		>"$WORK/server_$mode.log" 2>"$WORK/server_$mode.err" &
	spid=$!
	wait_file "$WORK/u/ready" 5000
	after=$(xio_field "fallback.$reason")
	log "$mode: fallback.$reason $before -> $after"
	((after == before + 1)) || fail "$mode: fallback.$reason went from $before to $after, want +1"
	client "$mode" "$port"
	wait "$spid" || fail "$mode: the server failed: $(cat "$WORK/server_$mode.err")"
}

check defer_before listener_defer_accept "${XRUN[@]}"
check defer_after listener_defer_accept "${XRUN[@]}"
check fastopen listener_fastopen "${XRUN[@]}"
check privdrop listener_no_domain_access "${XRUN[@]}"
[[ ! -s $WORK/server_privdrop.err ]] || fail "the library printed without XIO_LOG: $(cat "$WORK/server_privdrop.err")"

# never joined, may not join: nothing to count in; xio-run says why in one line
x=$(xio_field fallback_total)
port=$(free_port)
rm -f "$WORK/u/ready"
"${AS[@]}" "${XRUN[@]}" "$PY" "$WORK/u/srv.py" plain "$port" "$WORK/u/ready" \
	>"$WORK/server_nobody.log" 2>"$WORK/server_nobody.err" &
spid=$!
wait_file "$WORK/u/ready" 5000
client plain "$port"
wait "$spid" || fail "nobody's server failed: $(cat "$WORK/server_nobody.err")"
log "xio-run as nobody said: $(cat "$WORK/server_nobody.err")"
if [[ $(wc -l <"$WORK/server_nobody.err") != 1 ]] ||
	! grep -q "xio-run: uid 65534 gid 65534 may not join domain '$DOMAIN'.*Permission denied.*--group" \
		"$WORK/server_nobody.err"; then
	fail "xio-run as nobody did not say in one line why: $(cat "$WORK/server_nobody.err")"
fi
# bare LD_PRELOAD: silent, unless XIO_LOG
for logv in 0 1; do
	port=$(free_port)
	rm -f "$WORK/u/ready"
	if ((logv)); then env=(env XIO_LOG=1); else env=(env -u XIO_LOG); fi
	"${AS[@]}" "${env[@]}" "${PRE[@]}" "$PY" "$WORK/u/srv.py" plain "$port" "$WORK/u/ready" \
		>"$WORK/server_pre$logv.log" 2>"$WORK/server_pre$logv.err" &
	spid=$!
	wait_file "$WORK/u/ready" 5000
	client plain "$port"
	wait "$spid" || fail "nobody's preloaded server failed"
	if ((logv)); then
		grep -q "uid 65534 gid 65534 may not join domain '$DOMAIN'" "$WORK/server_pre1.err" ||
			fail "with XIO_LOG the library did not say why: $(cat "$WORK/server_pre1.err")"
		grep -q "listener on port $port stays kernel TCP: no_domain_access" "$WORK/server_pre1.err" ||
			fail "with XIO_LOG the library did not name the listener: $(cat "$WORK/server_pre1.err")"
	else
		[[ ! -s $WORK/server_pre0.err ]] || fail "the library printed without XIO_LOG: $(cat "$WORK/server_pre0.err")"
	fi
done
log "nobody (never joined): fallback_total $x -> $(xio_field fallback_total) (not countable: no domain memory)"
log "PASS"
