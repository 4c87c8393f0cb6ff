#!/usr/bin/env bash
# A preloaded program (bash) opens an X-IO connection and execs a Go program
# with it as fd 3. Go is linked dynamically, so it loads the preload, but it
# reads its fds with raw system calls: the connection must be demoted before
# the exec (shim/exec.c asks stack/elfprog.c), or Go would read doorbell
# bytes as data and wait forever. Every byte of the echo is checked; the same
# on kernel TCP.
# shellcheck source=test/go/go_lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/go_lib.sh"
go_init inherited_fd
need_prog socat bash
go_build
port=$(free_port)
"${XRUN[@]}" socat "TCP-LISTEN:$port,bind=127.0.0.1,reuseaddr,fork" EXEC:cat >"$WORK/socat.log" 2>&1 &
wait_port "$port" 10 $!
bytes=$((1 << 20))
# shellcheck disable=SC2016 # expanded by the inner bash
script='exec 3<>"/dev/tcp/127.0.0.1/$1"; exec "$2" fd-echo 3 "$3"'
sv_start
timeout 30 "${XRUN[@]}" bash -c "$script" bash "$port" "$XIOGO" "$bytes" >"$WORK/go.log" 2>&1 ||
	fail "Go on an inherited X-IO connection: $(tail -n 2 "$WORK/go.log")"
sv_end
grep -q "ok $bytes bytes echoed on inherited fd 3" "$WORK/go.log" || fail "$(tail -n 2 "$WORK/go.log")"
assert_supervised "bash (preloaded) -> exec Go with the connection" $((2 * bytes)) 1
timeout 30 "${PLAIN[@]}" bash -c "$script" bash "$port" "$XIOGO" "$bytes" >"$WORK/go-tcp.log" 2>&1 ||
	fail "kernel TCP twin: $(tail -n 2 "$WORK/go-tcp.log")"
grep -q "ok $bytes bytes echoed on inherited fd 3" "$WORK/go-tcp.log" || fail "kernel TCP twin"
log "PASS"
