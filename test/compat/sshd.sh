#!/usr/bin/env bash
# OpenSSH: a private sshd (re-executes itself per connection with the
# connection on stdin/stdout, forks a privilege-separated pre-auth child
# that locks itself into a seccomp sandbox) and ssh/scp, all under xio-run:
#  1. ssh with 20 MiB on stdin into sha256sum: the remote sum matches;
#  2. scp of the 20 MiB file back: the copy is identical.
# X-IO carried the connections: each is an X-IO connection in xio-stat and
# lo grows by less than 5 % of the payload (the sandbox demotes the
# connection to a plain AF_UNIX stream, which lo never sees either).
# shellcheck source=test/compat/compat_lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/compat_lib.sh"
need_prog /usr/sbin/sshd ssh scp ssh-keygen sha256sum
((EUID == 0)) || fail "sshd's privilege separation needs root"
compat_init sshd

mkdir -p /run/sshd
chmod 755 /run/sshd
ssh-keygen -q -t ed25519 -N '' -f "$WORK/hostkey"
ssh-keygen -q -t ed25519 -N '' -f "$WORK/key"
cp "$WORK/key.pub" "$WORK/authorized_keys"
port=$(compat_port)
cat >"$WORK/sshd_config" <<CFG
ListenAddress 127.0.0.1:$port
HostKey $WORK/hostkey
PidFile $WORK/sshd.pid
AuthorizedKeysFile $WORK/authorized_keys
PermitRootLogin prohibit-password
PasswordAuthentication no
KbdInteractiveAuthentication no
UsePAM no
StrictModes no
Subsystem sftp internal-sftp
CFG
"${XRUN[@]}" /usr/sbin/sshd -D -e -f "$WORK/sshd_config" >"$WORK/sshd.log" 2>&1 &
spid=$!
compat_track "$spid"
compat_log "$WORK/sshd.log"
wait_port "$port" 15 "$spid"

SSH_OPTS=(-i "$WORK/key" -o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null
	-o BatchMode=yes -o LogLevel=ERROR)
head -c $((20 << 20)) /dev/urandom >"$WORK/payload"
want=$(sha "$WORK/payload")
size=$(stat -c %s "$WORK/payload")

via_xio() {
	local conns
	conns=$(($(xio_field conns_total) - c0))
	((conns >= 1)) || fail "$1: no X-IO connection (fallbacks: $(xio_field fallback_total))"
	(($(xio_field demoted) > d0)) || fail "$1: the connection was not demoted"
	((LD < size / 20)) || fail "$1: lo grew by $LD bytes for $size: kernel TCP carried it"
}

compat_mode ssh "20 MiB into sha256sum over ssh, both X-IO"
c0=$(xio_field conns_total) d0=$(xio_field demoted)
measure_start
got=$(timeout -k 5 60 "${XRUN[@]}" ssh "${SSH_OPTS[@]}" -p "$port" root@127.0.0.1 sha256sum \
	<"$WORK/payload" 2>"$WORK/ssh.err") || fail "ssh failed: $(tail -n 3 "$WORK/ssh.err" | tr '\n' ' ')"
measure_end
got=${got%% *}
[[ $got == "$want" ]] || fail "remote sha256 $got, want $want"
via_xio ssh
compat_pass "sha256 equal, lo +$LD B"

compat_mode scp "20 MiB back with scp, both X-IO"
c0=$(xio_field conns_total) d0=$(xio_field demoted)
measure_start
timeout -k 5 60 "${XRUN[@]}" scp -q "${SSH_OPTS[@]}" -P "$port" "root@127.0.0.1:$WORK/payload" \
	"$WORK/back" 2>"$WORK/scp.err" || fail "scp failed: $(tail -n 3 "$WORK/scp.err" | tr '\n' ' ')"
measure_end
[[ $(sha "$WORK/back") == "$want" ]] || fail "the copy differs"
via_xio scp
compat_pass "copy identical, lo +$LD B"
log "PASS"
