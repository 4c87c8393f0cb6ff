#!/usr/bin/env bash
# A preloaded program (test/go/spawner.c) starts a Go echo server with
# system() and with popen(). glibc runs /bin/sh for both through its internal
# posix_spawn, which the preload cannot see; the shell is preloaded, and its
# exec of the Go program goes through xio-run's supervisor: a preloaded client
# (socat) is carried, every byte checked, the server keeps LD_PRELOAD. The
# same with the library preloaded without xio-run (no XIO_RUN: the preload
# finds the xio-run installed next to it), in a program that removed
# LD_PRELOAD from its own environment first (glibc would run the shell without
# the library: the preload spawns it itself then, shim/system.c), and for a
# `gcc -static` server.
# shellcheck source=test/go/go_lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/go_lib.sh"
go_init spawn_system
need_prog socat sh
go_build
static_build
spawner_build

for how in system popen; do
	port=$(free_port)
	spawned_echo "$how Go" "$XIOGO" "$port" 1 -- "${XRUN[@]}" -v "$SPAWNER" "$how" "$XIOGO" echo-server "127.0.0.1:$port"
	grep -q 'Go binary: seccomp supervisor' "$(what_log "$how Go")" ||
		fail "$how: xio-run -v did not say it supervises the Go server: $(head -n 5 "$(what_log "$how Go")")"
	port=$(free_port)
	spawned_echo "LD_PRELOAD $how Go" "$XIOGO" "$port" 1 -- "${PRE[@]}" "$SPAWNER" "$how" "$XIOGO" echo-server "127.0.0.1:$port"
done
# A program that removed LD_PRELOAD from its own environment: glibc would run
# the shell without the library; the preload starts it itself, put right.
for how in system popen; do
	port=$(free_port)
	spawned_echo "stripped $how Go" "$XIOGO" "$port" 1 -- "${XRUN[@]}" env SPAWNER_UNSETENV=LD_PRELOAD \
		"$SPAWNER" "$how" "$XIOGO" echo-server "127.0.0.1:$port"
done
port=$(free_port)
spawned_echo "system static" "$STATIC_ECHO" "$port" 1 -- "${XRUN[@]}" "$SPAWNER" system "$STATIC_ECHO" server "$port"
log "PASS"
