#!/usr/bin/env bash
# X-IO's native zero-copy API (include/xio.h) end to end, under xio-run:
#  1. benchmarks/zc_pingpong.c, both modes (xio_tx/xio_rx, and reserve/commit
#     with peek/consume), 64 B and 64 KiB: the client checks every echo, and
#     X-IO must carry the bytes (xio-stat bytes >= what the client counted,
#     lo rx < 5 %);
#  2. the zero-copy client against a server that uses read()/write();
#  3. a process that holds every buffer of the pool is SIGKILLed: the manager
#     frees its buffers, and another process can allocate them all again
#     (so nothing parts 1 and 2 did left a buffer lost for good).
# shellcheck source=test/integration/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
MANAGER_ARGS=(--bufs 4 --buf-kb 64)
xio_test_init zc_pingpong

ZC=$XIO_BIN/xio-bench-zc-pingpong
[[ -x $ZC ]] || fail "$ZC not built"

for mode in txrx ring; do
	port=$(free_port)
	"${XRUN[@]}" "$ZC" server "tcp:127.0.0.1:$port" "$mode" >"$WORK/server-$mode.log" 2>&1 &
	spid=$!
	wait_port "$port" 10 "$spid"
	for size in 64 65536; do
		x0=$(xio_bytes)
		l0=$(lo_bytes)
		rc=0
		timeout -k 5 60 "${XRUN[@]}" "$ZC" client "tcp:127.0.0.1:$port" "$size" 0.5 "$mode" \
			>"$WORK/client-$mode-$size.log" 2>&1 || rc=$?
		x1=$(xio_bytes)
		l1=$(lo_bytes)
		((rc == 0)) || fail "$mode $size B: client exited $rc: $(tail -n 3 "$WORK/client-$mode-$size.log")"
		line=$(grep '^size=' "$WORK/client-$mode-$size.log") || fail "$mode $size B: no result line"
		log "$mode: $line"
		rtts=$(sed -n 's/.* rtts=\([0-9]*\) .*/\1/p' <<<"$line")
		bytes=$(sed -n 's/.* bytes=\([0-9]*\).*/\1/p' <<<"$line")
		((rtts > 0)) || fail "$mode $size B: no round trips measured"
		assert_carried "zero-copy $mode $size B" "$bytes" $((x1 - x0)) $((l1 - l0))
	done
	proc_alive "$spid" || fail "$mode server died"
	kill "$spid"
done

# Zero-copy against copying calls on one connection: the zc client against
# pingpong.c's server, which uses plain read()/write() (descriptors are copied
# out and freed by read(); written bytes are copied into buffers by xio_rx).
port=$(free_port)
"${XRUN[@]}" "$XIO_BIN/xio-bench-pingpong" server "tcp:127.0.0.1:$port" >"$WORK/server-posix.log" 2>&1 &
spid=$!
wait_port "$port" 10 "$spid"
for mode in txrx ring; do
	rc=0
	timeout -k 5 60 "${XRUN[@]}" "$ZC" client "tcp:127.0.0.1:$port" 65536 0.3 "$mode" \
		>"$WORK/client-posix-$mode.log" 2>&1 || rc=$?
	((rc == 0)) || fail "$mode client against a read()/write() server exited $rc: $(tail -n 3 "$WORK/client-posix-$mode.log")"
	log "$mode vs read()/write(): $(cat "$WORK/client-posix-$mode.log")"
done
kill "$spid"

# A holder of every buffer dies by SIGKILL; its buffers come back.
cat >"$WORK/hold.py" <<'EOF'
import ctypes, os, signal, sys, time
lib = ctypes.CDLL(None, use_errno=True)
lib.xio_malloc.restype = ctypes.c_void_p
lib.xio_malloc.argtypes = [ctypes.c_size_t]
lib.xio_free.argtypes = [ctypes.c_void_p]
mode, n = sys.argv[1], int(sys.argv[2])
if mode == "hold":
    bufs = [lib.xio_malloc(64) for _ in range(n)]
    if not all(bufs):
        sys.exit("xio_malloc failed while filling the pool: errno %d" % ctypes.get_errno())
    extra = lib.xio_malloc(64)
    if extra or ctypes.get_errno() != 12:
        sys.exit("pool not exhausted after %d buffers (errno %d)" % (n, ctypes.get_errno()))
    # double free and foreign pointers are refused, never corrupting
    if lib.xio_free(bufs[0]) != 0 or lib.xio_free(bufs[0]) != -1 or ctypes.get_errno() != 114:
        sys.exit("double free not refused with EALREADY")
    if lib.xio_free(ctypes.c_void_p(id(bufs))) != -1 or ctypes.get_errno() != 22:
        sys.exit("foreign pointer not refused with EINVAL")
    bufs[0] = lib.xio_malloc(64)
    print("holding", n, flush=True)
    os.kill(os.getpid(), signal.SIGKILL)
else:
    deadline = time.monotonic() + float(sys.argv[3])
    while time.monotonic() < deadline:
        got = [lib.xio_malloc(64) for _ in range(n)]
        if all(got):
            print("reclaimed after %.1f s" % (float(sys.argv[3]) - (deadline - time.monotonic())))
            sys.exit(0)
        for b in got:
            if b:
                lib.xio_free(b)
        time.sleep(0.2)
    sys.exit("buffers of the killed process never came back (errno %d)" % ctypes.get_errno())
EOF
rc=0
"${XRUN[@]}" "$PY" "$WORK/hold.py" hold 4 >"$WORK/hold.log" 2>&1 || rc=$?
grep -q "holding 4" "$WORK/hold.log" || fail "holder failed: $(cat "$WORK/hold.log")"
((rc == 137)) || fail "holder exited $rc instead of dying by SIGKILL"
"${XRUN[@]}" "$PY" "$WORK/hold.py" take 4 15 >"$WORK/take.log" 2>&1 ||
	fail "$(cat "$WORK/take.log")"
log "killed holder's buffers: $(cat "$WORK/take.log")"
log "PASS"
