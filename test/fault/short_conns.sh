#!/usr/bin/env bash
# Short connections: one client process makes N connections in a loop
# (connect, 64 B, read the 64 B echo, close; CI 20000, SOAK 1000000) to an
# echo server; both run under xio-run. Every echo is checked. Memory must be
# flat in the manager (RssAnon), in the client (VmRSS after 10 % vs at the
# end) and in the server; at the end no slot may be left in use.
# shellcheck source=test/fault/lib_fault.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib_fault.sh"
fault_init short_conns

N=$(pick 20000 1000000)
FS=$FAULT_BIN/fshort
port=$(free_port)

rss_anon() { awk '/^RssAnon:/ { print $2 }' "/proc/$1/status" 2>/dev/null || echo 0; }

"${XRUN[@]}" "$FS" server 127.0.0.1 "$port" --ready "$WORK/ready" >"$WORK/server.log" 2>&1 &
spid=$!
wait_file "$WORK/ready" 5000
mpid=$(mgr_pid)
total0=$(xio_field conns_total)
fb0=$(xio_field fallback_total)

"${XRUN[@]}" "$FS" short 127.0.0.1 "$port" "$N" >"$WORK/client.log" 2>&1 &
cpid=$!
# sample the manager and server while the client runs (after ~10 %)
t0=$(now_ms)
warm_m=0 warm_s=0
while proc_alive "$cpid"; do
	if ((warm_m == 0)) && (($(xio_field conns_total) - total0 >= N / 10)); then
		warm_m=$(rss_anon "$mpid")
		warm_s=$(rss_kb "$spid")
	fi
	sleep 0.2
done
reap "$cpid"; rc=$REAP_RC
el=$(($(now_ms) - t0))
line=$(tail -n 1 "$WORK/client.log")
log "client: $line (exit $rc, $el ms)"
((rc == 0)) || fail "short-connection client failed: $line"

carried=$(($(xio_field conns_total) - total0))
fbs=$(($(xio_field fallback_total) - fb0))
log "X-IO connections: $carried of $N; fallbacks to TCP: $fbs ($(xio_stat_json | grep -o '"fallback":{[^}]*}'))"
((carried >= N * 9 / 10)) || fail "only $carried of $N short connections went over X-IO"

# client memory: VmRSS after 10 % vs at the end (fshort measures itself)
warm_c=$(sed -n 's/.*rss_warm_kb=\([0-9]*\).*/\1/p' <<<"$line")
end_c=$(sed -n 's/.*rss_end_kb=\([0-9]*\).*/\1/p' <<<"$line")
slack_c=$((1024 + warm_c / 20))
((end_c <= warm_c + slack_c)) || fail "client VmRSS grew from $warm_c to $end_c kB over $N short connections"

# slots: all back
t1=$(now_ms)
while (($(xio_field slots_in_use) != 0)); do
	(($(now_ms) - t1 > 10000)) && fail "slots_in_use $(xio_field slots_in_use) 10 s after the last connection"
	sleep 0.1
done

end_m=$(rss_anon "$mpid")
end_s=$(rss_kb "$spid")
log "manager RssAnon $warm_m -> $end_m kB, server VmRSS $warm_s -> $end_s kB, client VmRSS $warm_c -> $end_c kB"
((warm_m > 0)) || fail "never sampled the manager's memory"
((end_m <= warm_m + 1024 + warm_m / 20)) || fail "manager RssAnon grew from $warm_m to $end_m kB"
((end_s <= warm_s + 2048 + warm_s / 10)) || fail "server VmRSS grew from $warm_s to $end_s kB"
figure short_conns "$N short connections (64 B echoed and checked each), 0 failures, $((N * 1000 / (el > 0 ? el : 1)))/s, $carried over X-IO, $fbs fallbacks to TCP, no slot left in use, RssAnon/VmRSS growth: manager $(printf '%+d' $((end_m - warm_m))) KiB, server $(printf '%+d' $((end_s - warm_s))) KiB, client $(printf '%+d' $((end_c - warm_c))) KiB"
log "PASS"
