#!/usr/bin/env bash
# Garbage in shared memory (ring indices, record headers, ring headers, slot
# header fields, wake-up words, locks) makes xio_conn_recv/xio_conn_send fail
# cleanly: never a crash, an access outside the domain, or a hang. The cases
# are Check tests in progs/corrupt_shm.c (the stack linked statically on a
# fake domain with guard pages); each runs in its own child with a timeout.
# shellcheck source=test/fault/lib_fault.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib_fault.sh"
bin=$FAULT_BIN/corrupt_shm
[[ -x $bin ]] || fail "$bin not built"
rc=0
"$bin" || rc=$?
((rc == 0)) || fail "corrupt_shm: some cases crashed, hung or accepted garbage (see above)"
log "PASS"
