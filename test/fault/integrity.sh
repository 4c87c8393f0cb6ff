#!/usr/bin/env bash
# Data integrity: checksummed X-IO transfers of many sizes, both directions at
# once, with random write and read sizes and call variants (write, send,
# writev, sendmsg / read, recv, readv, recvmsg, MSG_PEEK then read,
# MSG_WAITALL). fpeer checks every received byte against the sender's
# deterministic pattern and the exact length before EOF: nothing lost,
# duplicated or reordered. A transfer that makes no progress for 10 s is a
# stall (the slot's shared words are dumped).
#   CI:   1 B, 1 KiB +-1, 64 KiB, 256 KiB + 1, 1 MiB, 100 MiB (both ways at once),
#         and 100 MiB one way each
#   SOAK: the same plus 1 GiB both ways
# shellcheck source=test/fault/lib_fault.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib_fault.sh"
fault_init integrity

FP=$FAULT_BIN/fpeer
STALL_MS=10000
failures=0
results=()

# transfer LABEL C2S_BYTES S2C_BYTES SEED
transfer() {
	local label=$1 up=$2 down=$3 seed=$4 port spid cpid x0 x1 l0 l1 t0 last="" same_since rcs rcc
	port=$(free_port)
	rm -f "$WORK/i.sp" "$WORK/i.cp" "$WORK/i.ready"
	x0=$(xio_bytes)
	l0=$(lo_bytes)
	"${XRUN[@]}" "$FP" server 127.0.0.1 "$port" --send "$down" --recv "$up" --seed "$seed" \
		--rand "$seed" --progress "$WORK/i.sp" --ready "$WORK/i.ready" >"$WORK/$label-server.log" 2>&1 &
	spid=$!
	wait_file "$WORK/i.ready" 5000
	"${XRUN[@]}" "$FP" client 127.0.0.1 "$port" --send "$up" --recv "$down" --seed "$seed" \
		--rand $((seed * 3)) --progress "$WORK/i.cp" >"$WORK/$label-client.log" 2>&1 &
	cpid=$!
	t0=$(now_ms)
	same_since=$t0
	while proc_alive "$spid" || proc_alive "$cpid"; do
		local now p
		now=$(now_ms)
		p="$(progress "$WORK/i.sp") $(progress "$WORK/i.cp")"
		if [[ $p != "$last" ]]; then
			last=$p
			same_since=$now
		elif ((now - same_since > STALL_MS)); then
			local slot
			slot=$("$XIO_BIN/xio-stat" --domain "$DOMAIN" --rundir "$RUNDIR" --conns 2>/dev/null |
				awk '$2 == "established" { print $1; exit }')
			echo "STALL [$label]: no progress for $STALL_MS ms (server sent/recv, client sent/recv: $p)" >&2
			[[ -n $slot ]] && "$FAULT_BIN/fraw" dump "$RUNDIR/$DOMAIN/control" "$slot" >&2
			kill -KILL "$spid" "$cpid" 2>/dev/null
			wait "$spid" "$cpid" 2>/dev/null
			results+=("$label: STALL ($p)")
			failures=$((failures + 1))
			return 1
		fi
		sleep 0.05
	done
	reap "$spid"; rcs=$REAP_RC
	reap "$cpid"; rcc=$REAP_RC
	x1=$(xio_bytes)
	l1=$(lo_bytes)
	local el=$(($(now_ms) - t0))
	if ((rcs != 0 || rcc != 0)); then
		echo "FAIL [$label]: server exit $rcs ($(tail -n 1 "$WORK/$label-server.log")), client exit $rcc ($(tail -n 1 "$WORK/$label-client.log"))" >&2
		results+=("$label: FAIL (server $rcs, client $rcc)")
		failures=$((failures + 1))
		return 1
	fi
	local total=$((up + down))
	# carried by X-IO: the whole payload in xio-stat, kernel loopback saw (almost) nothing
	if ((x1 - x0 < total)); then
		results+=("$label: FAIL (xio-stat bytes +$((x1 - x0)) < $total: not carried by X-IO)")
		failures=$((failures + 1))
		return 1
	fi
	if ((total >= 1 << 20 && (l1 - l0) * 100 >= total * 5)); then
		results+=("$label: FAIL (lo rx +$((l1 - l0)) for $total payload bytes)")
		failures=$((failures + 1))
		return 1
	fi
	log "$label: ok, $up B up and $down B down verified in $el ms"
	verified=$((verified + total))
	verified_n=$((verified_n + 1))
	results+=("$label: ok ($el ms)")
}

seed=11
verified=0 verified_n=0
for size in 1 1023 1024 1025 65536 262145 $((1 << 20)) $((100 << 20)); do
	transfer "both-$size" "$size" "$size" $((seed++)) || true
done
transfer "up-100M" $((100 << 20)) 0 $((seed++)) || true
transfer "down-100M" 0 $((100 << 20)) $((seed++)) || true
transfer "asym-1M-7" $((1 << 20)) 7 $((seed++)) || true
if [[ $SOAK == 1 ]]; then
	transfer "both-1G" $((1 << 30)) $((1 << 30)) $((seed++)) || true
	for k in 1 2 3 4 5 6 7 8 9 10; do
		transfer "both-100M-$k" $((100 << 20)) $((100 << 20)) $((seed++)) || true
	done
fi

log "summary:"
for r in "${results[@]}"; do log "  $r"; done
((failures == 0)) || fail "$failures transfer(s) failed"
figure integrity "$verified_n checksummed transfers (1 B to $( ((SOAK == 1)) && echo 1 GiB || echo 100 MiB) each way, random write/read sizes, both directions at once), $((verified >> 20)) MiB verified, 0 bytes lost, duplicated or reordered"
log "PASS"
