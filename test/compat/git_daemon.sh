#!/usr/bin/env bash
# git daemon (inetd-style: it execs git upload-pack / receive-pack with the
# connection as stdin and stdout, which answer partly through stdio), all
# under xio-run:
#  1. git clone git:// of a 300-commit repository: same HEAD, fsck clean;
#  2. git push of a new commit: the server has it;
#  3. 4 clones at once.
# X-IO carried the connections: each is an X-IO connection in xio-stat, and
# lo grows by less than 5 % of the pack (the stdio hand-off demotes the
# connection to a plain AF_UNIX stream, which lo never sees either).
# shellcheck source=test/compat/compat_lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/compat_lib.sh"
need_prog git sha256sum
compat_init git_daemon
export GIT_CONFIG_NOSYSTEM=1 HOME=$WORK GIT_AUTHOR_NAME=x GIT_AUTHOR_EMAIL=x@x \
	GIT_COMMITTER_NAME=x GIT_COMMITTER_EMAIL=x@x

# 300 commits of one 8 KiB file of incompressible bytes each
mkdir -p "$WORK/srv"
git init -q --bare "$WORK/srv/repo.git"
"$PY" - "$WORK/fi.txt" <<'PY'
import os, sys
with open(sys.argv[1], "wb") as f:
    for i in range(300):
        data = os.urandom(8192)
        msg = b"commit %d\n" % i
        f.write(b"commit refs/heads/main\ncommitter x <x@x> %d +0000\n" % (1700000000 + i))
        f.write(b"data %d\n%s" % (len(msg), msg))
        f.write(b"M 644 inline f%d\ndata %d\n" % (i % 50, len(data)) + data + b"\n")
PY
git -C "$WORK/srv/repo.git" fast-import --quiet <"$WORK/fi.txt"
git -C "$WORK/srv/repo.git" symbolic-ref HEAD refs/heads/main
git -C "$WORK/srv/repo.git" config daemon.receivepack true
want=$(git -C "$WORK/srv/repo.git" rev-parse main)
pack=$(du -sb "$WORK/srv/repo.git/objects" | cut -f1)

port=$(compat_port)
"${XRUN[@]}" git daemon --reuseaddr --listen=127.0.0.1 --port="$port" --base-path="$WORK/srv" \
	--export-all --enable=receive-pack >"$WORK/daemon.log" 2>&1 &
dpid=$!
compat_track "$dpid"
compat_log "$WORK/daemon.log"
wait_port "$port" 15 "$dpid"

# via_xio WHAT CONNS BYTES: CONNS more X-IO connections, as many demoted, lo < 5 % of BYTES (+ 4 KiB)
via_xio() {
	local conns
	conns=$(($(xio_field conns_total) - c0))
	((conns >= $2)) || fail "$1: $conns X-IO connections, want $2 (fallbacks: $(xio_field fallback_total))"
	# the stdio hand-off made them plain streams
	(($(xio_field demoted) - d0 >= $2)) || fail "$1: $(($(xio_field demoted) - d0)) demoted, want $2"
	((LD < $3 / 20 + 4096)) || fail "$1: lo grew by $LD bytes for $3 bytes of pack: kernel TCP carried it"
}

compat_mode git "clone git:// 300 commits, both X-IO"
c0=$(xio_field conns_total) d0=$(xio_field demoted)
measure_start
timeout -k 5 60 "${XRUN[@]}" git clone -q "git://127.0.0.1:$port/repo.git" "$WORK/c1" \
	>"$WORK/clone.log" 2>&1 || fail "git clone failed: $(tail -n 3 "$WORK/clone.log" | tr '\n' ' ')"
measure_end
got=$(git -C "$WORK/c1" rev-parse HEAD)
[[ $got == "$want" ]] || fail "cloned HEAD $got, want $want"
git -C "$WORK/c1" fsck --no-progress >"$WORK/fsck.log" 2>&1 || fail "fsck: $(tail -n 3 "$WORK/fsck.log")"
via_xio clone 1 "$pack"
compat_pass "HEAD $got, fsck clean, $(human_bytes "$pack") of objects, lo +$LD B"

compat_mode git "push git://, both X-IO"
echo pushed >"$WORK/c1/new"
git -C "$WORK/c1" add new
git -C "$WORK/c1" commit -q -m pushed
c0=$(xio_field conns_total) d0=$(xio_field demoted)
measure_start
timeout -k 5 60 "${XRUN[@]}" git -C "$WORK/c1" push -q origin HEAD:refs/heads/pushed \
	>"$WORK/push.log" 2>&1 || fail "git push failed: $(tail -n 3 "$WORK/push.log" | tr '\n' ' ')"
measure_end
[[ $(git -C "$WORK/srv/repo.git" rev-parse pushed) == $(git -C "$WORK/c1" rev-parse HEAD) ]] ||
	fail "the server does not have the pushed commit"
via_xio push 1 0
compat_pass "the server has the pushed commit"

compat_mode git "4 clones at once, both X-IO"
c0=$(xio_field conns_total) d0=$(xio_field demoted)
measure_start
pids=()
for k in 1 2 3 4; do
	timeout -k 5 60 "${XRUN[@]}" git clone -q "git://127.0.0.1:$port/repo.git" "$WORK/p$k" \
		>"$WORK/p$k.log" 2>&1 &
	pids+=($!)
done
for k in 1 2 3 4; do
	wait "${pids[k - 1]}" || fail "parallel clone $k failed: $(tail -n 3 "$WORK/p$k.log" | tr '\n' ' ')"
	[[ $(git -C "$WORK/p$k" rev-parse HEAD) == "$want" ]] || fail "parallel clone $k: wrong HEAD"
done
measure_end
via_xio "4 clones" 4 $((4 * pack))
compat_pass "4 × HEAD $want"
log "PASS"
