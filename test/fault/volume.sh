#!/usr/bin/env bash
# Integrity at volume (issue 14): checksummed streams with random write/read
# sizes and call variants, both directions at once, whose ends move between
# processes while bytes are in flight: fork, SCM_RIGHTS to a preloaded
# process (adopted), SCM_RIGHTS to a process without the preload (demoted).
# fvolume (progs/fvolume.c) checks every byte against its offset in the
# stream, the exact length and EOF: nothing lost, duplicated or reordered.
#   CI:   2 rounds x 4 connections x 64 MiB each way = 1 GiB verified
#   SOAK: 12 rounds x 4 connections x 1 GiB each way = 96 GiB (103 GB)
# Rounds run one after the other, each with new connections and seeds.
# Carried by X-IO: xio-stat bytes grow by at least the three quarters that
# run before the demotion (the last quarter runs on the AF_UNIX pair), the
# manager counts the demotions, and lo stays quiet.
# shellcheck source=test/fault/lib_fault.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib_fault.sh"
fault_init volume

FV=$FAULT_BIN/fvolume
[[ -x $FV ]] || fail "$FV not built"
rounds=$(pick 2 12)
((rounds >= 1)) || rounds=1
bytes=$(pick $((64 << 20)) $((1 << 30)))
pairs=4

# The checker itself: one byte flipped before it is sent must be caught.
rc=0
env FVOLUME_CORRUPT_AT=3000000 "${XRUN[@]}" "$FV" 127.0.0.1 "$(free_port)" --bytes 8M --pairs 2 \
	--seed 99 >"$WORK/corrupt.log" 2>&1 || rc=$?
((rc == 2)) && grep -q 'CORRUPT: pair 0 at stream offset 3000000' "$WORK/corrupt.log" ||
	fail "a flipped byte went unnoticed (exit $rc): $(tail -n 3 "$WORK/corrupt.log" | tr '\n' ' ')"
log "checker: a byte flipped at offset 3000000 is reported (exit 2)"
sleep 0.5

verified=0
t_all=$(now_ms)
x_all=$(xio_bytes)
l_all=$(lo_bytes)
d_all=$(xio_field demoted)
for ((r = 1; r <= rounds; r++)); do
	port=$(free_port)
	x0=$(xio_bytes)
	l0=$(lo_bytes)
	t0=$(now_ms)
	rc=0
	"${XRUN[@]}" "$FV" 127.0.0.1 "$port" --bytes "$bytes" --pairs "$pairs" --seed "$r" \
		>"$WORK/round-$r.log" 2>&1 || rc=$?
	el=$(($(now_ms) - t0))
	x1=$(xio_bytes)
	l1=$(lo_bytes)
	((rc == 0)) || fail "round $r: fvolume exit $rc: $(tail -n 5 "$WORK/round-$r.log" | tr '\n' ' ')"
	grep -q '^fvolume: ok ' "$WORK/round-$r.log" || fail "round $r: no ok line: $(tail -n 3 "$WORK/round-$r.log")"
	total=$((2 * pairs * bytes))
	# three quarters of each stream run over X-IO before the demotion
	assert_carried "round $r" $((total / 4 * 3)) $((x1 - x0)) $((l1 - l0))
	verified=$((verified + total))
	log "round $r/$rounds: $((total >> 20)) MiB verified in $el ms ($((total / 1000 / (el > 0 ? el : 1))) MB/s)"
done
el_all=$(($(now_ms) - t_all))
xd=$(($(xio_bytes) - x_all))
ld=$(($(lo_bytes) - l_all))
dd=$(($(xio_field demoted) - d_all))
log "demoted: +$dd"
# every connection was demoted once, on its way to the process without X-IO
((dd >= rounds * pairs)) || fail "xio-stat counts $dd demotions, expected >= $((rounds * pairs)) (one per connection)"
figure volume "$((verified / 1000000000)) GB ($((verified >> 30)) GiB) verified in $((el_all / 1000)) s ($((verified / 1000 / (el_all > 0 ? el_all : 1))) MB/s): $rounds rounds x $pairs connections x $((bytes >> 20)) MiB each way at once, random write/read sizes and calls, each stream's ends moved by fork, SCM_RIGHTS (adopted) and SCM_RIGHTS to a process without X-IO (demoted) mid-stream; 0 bytes lost, duplicated or reordered; xio-stat bytes +$xd, lo +$ld, $dd demotions"
log "PASS"
