#!/usr/bin/env bash
# A shell starts Go and `gcc -static` echo servers: bash -c under xio-run
# (a background job, the way scripts start servers), and bash -c preloaded
# without xio-run (no XIO_RUN: the preload finds the xio-run installed next to
# it). Each server runs under the seccomp supervisor and keeps LD_PRELOAD for
# its children; a preloaded client (socat) is carried, every byte checked.
# shellcheck source=test/go/go_lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/go_lib.sh"
go_init spawn_shell
need_prog socat bash
go_build
static_build
spawner_build
# shellcheck disable=SC2016 # expanded by the inner bash
job='"$@" & wait $!'

port=$(free_port)
spawned_echo "bash -c Go" "$XIOGO" "$port" 1 -- "${XRUN[@]}" -v bash -c "$job" bash "$XIOGO" echo-server "127.0.0.1:$port"
grep -q 'Go binary: seccomp supervisor' "$(what_log "bash -c Go")" ||
	fail "bash -c: xio-run -v did not say it supervises the Go server: $(head -n 5 "$(what_log "bash -c Go")")"
port=$(free_port)
spawned_echo "bash -c static" "$STATIC_ECHO" "$port" 1 -- "${XRUN[@]}" bash -c "$job" bash "$STATIC_ECHO" server "$port"
port=$(free_port)
spawned_echo "LD_PRELOAD bash -c Go" "$XIOGO" "$port" 1 -- "${PRE[@]}" bash -c "$job" bash "$XIOGO" echo-server "127.0.0.1:$port"
port=$(free_port)
spawned_echo "LD_PRELOAD bash -c static" "$STATIC_ECHO" "$port" 1 -- "${PRE[@]}" bash -c "$job" bash "$STATIC_ECHO" server "$port"
log "PASS"
