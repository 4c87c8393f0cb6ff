#!/usr/bin/env bash
# memcached (-u nobody, 4 threads) with libmemcached-tools' load generators,
# all under xio-run:
#  1. memcslap -t set then -t get, 4 threads x 10000 keys: both exit 0;
#  2. memcaslap, 16 concurrent clients, 50000 get/set of 1 KiB values with
#     10 % verified: verify_failed 0.
# X-IO carried what memcached read and wrote (its stats bytes_read +
# bytes_written; lo rx < 5 %).
# shellcheck source=test/compat/compat_lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/compat_lib.sh"
need_prog memcached memcslap memcaslap
# memcached drops to nobody before it listens: the domain must admit nobody's
# group, or its listener silently stays kernel TCP (see FINDINGS.md, F3).
MANAGER_ARGS=(--group nogroup)
compat_init memcached

port=$(compat_port)
"${XRUN[@]}" memcached -u nobody -p "$port" -l 127.0.0.1 -U 0 -t 4 >"$WORK/memcached.log" 2>&1 &
mpid=$!
compat_track "$mpid"
wait_port "$port" 15 "$mpid"
mc_bytes() { "${PLAIN[@]}" "$PY" "$COMPAT_DIR/mc_stats.py" "$port"; }
# bytes memcached moved between mc_start and mc_end, without the stats
# exchanges themselves (64: the reply grows as its counters gain digits)
mc_start() {
	local a
	a=$(mc_bytes)
	b0=$(mc_bytes)
	ovh=$((b0 - a))
}
mc_end() { payload=$(($(mc_bytes) - b0 - ovh - 64)); }

compat_mode memcached "memcslap set+get, both X-IO"
mc_start
measure_start
for t in set get; do
	rc=0
	timeout -k 5 30 "${XRUN[@]}" memcslap -s "127.0.0.1:$port" -t "$t" -c 4 -e 10000 \
		>"$WORK/memcslap-$t.log" 2>&1 || rc=$?
	((rc == 0)) || fail "memcslap -t $t exited $rc: $(tail -n 3 "$WORK/memcslap-$t.log" | tr '\n' ' ')"
	grep -q "Time to $t *40000 keys" "$WORK/memcslap-$t.log" ||
		fail "memcslap -t $t did not report 40000 keys: $(tr '\n' ' ' <"$WORK/memcslap-$t.log")"
done
measure_end
proc_alive "$mpid" || fail "memcached died"
mc_end
carried "memcslap" "$payload"
compat_pass "40000 set + 40000 get, $(human_bytes "$payload") carried"

compat_mode memcached "memcaslap get/set with verify, both X-IO"
mc_start
measure_start
rc=0
timeout -k 5 30 "${XRUN[@]}" memcaslap -s "127.0.0.1:$port" -T 2 -c 16 -x 50000 -X 1024 -v 0.1 \
	>"$WORK/memcaslap.log" 2>&1 || rc=$?
measure_end
grep -E 'cmd_get|cmd_set|verify_failed|TPS' "$WORK/memcaslap.log" || true
((rc == 0)) || fail "memcaslap exited $rc: $(tail -n 3 "$WORK/memcaslap.log" | tr '\n' ' ')"
proc_alive "$mpid" || fail "memcached died"
ops=$(awk '/^cmd_get:/ { g = $2 } /^cmd_set:/ { s = $2 } END { print g + s }' "$WORK/memcaslap.log")
vf=$(awk '/^verify_failed:/ { print $2 }' "$WORK/memcaslap.log")
((ops == 50000)) || fail "memcaslap executed $ops operations, want 50000"
[[ ${vf:-x} == 0 ]] || fail "memcaslap: verify_failed ${vf:-?} (data corrupted)"
mc_end
carried "memcaslap" "$payload"
compat_pass "50000 ops, 10 % verified, verify_failed 0, $(human_bytes "$payload") carried"
