#!/usr/bin/env bash
# A preloaded program (test/go/spawner.c) starts a Go echo server by
# posix_spawn, posix_spawnp (found on PATH), fexecve and execveat, and a
# `gcc -static` one by posix_spawn: the preload sends each through xio-run
# (shim/exec.c translates, stack/superexec.c decides), so the server runs
# under the seccomp supervisor exactly as `xio-run GOPROG` would, keeps the
# spawner's pid for it and LD_PRELOAD for its children, and a preloaded client
# (socat) is carried, every byte checked. The same with the library preloaded
# without xio-run (the preload finds the xio-run installed next to it). An
# fexecve of a memfd, which names no file an exec could follow, runs on kernel
# TCP and xio-run -v's log says why.
# shellcheck source=test/go/go_lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/go_lib.sh"
go_init spawn_posix
need_prog socat
go_build
static_build
spawner_build
mkdir -p "$WORK/path"
ln -s "$XIOGO" "$WORK/path/xiogo-on-path"

for how in posix_spawn fexecve execveat; do
	port=$(free_port)
	spawned_echo "$how Go" "$XIOGO" "$port" 1 -- "${XRUN[@]}" -v "$SPAWNER" "$how" "$XIOGO" echo-server "127.0.0.1:$port"
	grep -q 'Go binary: seccomp supervisor' "$(what_log "$how Go")" ||
		fail "$how: xio-run -v did not say it supervises the Go server: $(head -n 5 "$(what_log "$how Go")")"
done
port=$(free_port)
spawned_echo "posix_spawnp Go" "$XIOGO" "$port" 1 -- env PATH="$WORK/path:$PATH" "${XRUN[@]}" "$SPAWNER" \
	posix_spawnp xiogo-on-path echo-server "127.0.0.1:$port"
port=$(free_port)
spawned_echo "posix_spawn static" "$STATIC_ECHO" "$port" 1 -- "${XRUN[@]}" "$SPAWNER" posix_spawn "$STATIC_ECHO" server "$port"
grep -q 'spawner: started pid' "$(what_log "posix_spawn static")" || fail "spawner did not report the pid"

# Preloaded without xio-run: no XIO_RUN in the environment.
port=$(free_port)
spawned_echo "LD_PRELOAD posix_spawn Go" "$XIOGO" "$port" 1 -- "${PRE[@]}" "$SPAWNER" posix_spawn "$XIOGO" echo-server "127.0.0.1:$port"

# Said why not: an O_CLOEXEC memfd has no path that outlives the exec.
port=$(free_port)
spawned_echo "fexecve memfd Go" "$XIOGO" "$port" 0 -- env XIO_LOG=1 "${XRUN[@]}" "$SPAWNER" fexecve-memfd "$XIOGO" echo-server "127.0.0.1:$port"
grep -q 'Go binary, not supervised: its file has no path' "$(what_log "fexecve memfd Go")" ||
	fail "fexecve of a memfd: no line saying why it is not supervised: $(head -n 5 "$(what_log "fexecve memfd Go")")"
log "PASS"
