#!/usr/bin/env bash
# What the preloaded library adds to every program must not break it:
#   - threads with small stacks still start (a static TLS block of the
#     library is part of every thread's stack: a big one makes
#     pthread_create fail with EINVAL);
#   - the static TLS block stays small (<= 16 KiB);
#   - a program that never networks prints nothing and exits as without it.
# shellcheck source=test/fault/lib_fault.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib_fault.sh"
[[ -f $PRELOAD ]] || fail "libxio_preload.so not found"
need_prog readelf
fails=0

out=$("$FAULT_BIN/fthread" 64 128 256 512 2>&1) || fail "without the preload, small stacks fail: $out"
if ! out=$(env LD_PRELOAD="$PRELOAD" "$FAULT_BIN/fthread" 64 128 256 512 2>&1); then
	echo "FAIL [$TEST_NAME]: pthread_create with small stacks fails under the preload:" >&2
	echo "$out" >&2
	fails=$((fails + 1))
else
	log "small thread stacks work under the preload"
fi

tls=$(readelf -lW "$PRELOAD" | awk '$1 == "TLS" { print $6 }')
tls=$((${tls:-0}))
if ((tls > 16384)); then
	echo "FAIL [$TEST_NAME]: the preload's static TLS block is $tls bytes (every thread of every program pays it; limit 16 KiB)" >&2
	readelf -sW "$PRELOAD" | awk '$4 == "TLS"' >&2
	fails=$((fails + 1))
else
	log "static TLS: $tls bytes"
fi

out=$(env LD_PRELOAD="$PRELOAD" XIO_DOMAIN=nosuch XIO_RUNDIR=/nonexistent sh -c 'echo hello; ls / >/dev/null' 2>&1)
[[ $out == hello ]] || { echo "FAIL [$TEST_NAME]: a program that never networks printed: $out" >&2; fails=$((fails + 1)); }

((fails == 0)) || fail "$fails check(s) failed"
log "PASS"
