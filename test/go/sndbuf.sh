#!/usr/bin/env bash
# A Go writer whose reader does not read gets as far ahead as on kernel TCP
# (loopback autotunes SO_SNDBUF to net.ipv4.tcp_wmem's maximum, 4 MiB): the
# in-band AF_UNIX end the supervisor installs has a send buffer as large
# (stack/demote.c, kernel_options), not net.core.wmem_default's 208 KiB, which
# stalled a stream writer ten times as often. Same program on kernel TCP.
# shellcheck source=test/go/go_lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/go_lib.sh"
go_init sndbuf
go_build
want=$((2 << 20)) # well above 208 KiB, below TCP's 4 MiB
tcp_max=$(awk '{print $3}' /proc/sys/net/ipv4/tcp_wmem)
((tcp_max >= 2 * want)) || fail "net.ipv4.tcp_wmem maximum $tcp_max: this test assumes >= $((2 * want))"

# fill MODE-ARRAY-NAME PORT: run xiogo fill against an idle server, print its byte count.
fill() {
	local -n pre=$1
	local out
	out=$(timeout 30 "${pre[@]}" "$XIOGO" fill "127.0.0.1:$2" 500 2>&1) || fail "fill: $out"
	sed -n 's/^fill \([0-9]*\) bytes$/\1/p' <<<"$out"
}

port=$(free_port)
"${XRUN[@]}" "$XIOGO" idle-server "127.0.0.1:$port" >"$WORK/idle.log" 2>&1 &
wait_port "$port" 10 $!
sv_start
n=$(fill XRUN "$port")
sv_end
log "X-IO (in-band): the writer got $n bytes ahead"
assert_supervised "Go writer -> idle Go reader" "$n" 1
((n >= want)) || fail "X-IO: a writer got only $n bytes ahead of its reader (want >= $want, as on TCP)"

port2=$(free_port)
"${PLAIN[@]}" "$XIOGO" idle-server "127.0.0.1:$port2" >"$WORK/idle-tcp.log" 2>&1 &
wait_port "$port2" 10 $!
n=$(fill PLAIN "$port2")
log "kernel TCP: the writer got $n bytes ahead"
((n >= want)) || fail "kernel TCP twin: $n bytes ahead (want >= $want)"
log "PASS"
