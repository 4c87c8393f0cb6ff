#!/usr/bin/env bash
# Debian's etcd and etcdctl (Go, gRPC over HTTP/2) both under xio-run, carried
# by the seccomp supervisor: 20 keys put and read back, carriage proved by
# xio-stat's connections and demotions and a quiet lo.
# shellcheck source=test/compat/compat_lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/compat_lib.sh"
# shellcheck source=test/go/go_lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/../go/go_lib.sh"
need_prog etcd etcdctl
compat_init etcd

cport=$(compat_port)
pport=$(compat_port)
"${XRUN[@]}" -v etcd --name xio --data-dir "$WORK/etcd" \
	--listen-client-urls "http://127.0.0.1:$cport" --advertise-client-urls "http://127.0.0.1:$cport" \
	--listen-peer-urls "http://127.0.0.1:$pport" --initial-advertise-peer-urls "http://127.0.0.1:$pport" \
	--initial-cluster "xio=http://127.0.0.1:$pport" >"$WORK/etcd.log" 2>&1 &
etcd_pid=$!
wait_port "$cport" 30 "$etcd_pid"
grep -q 'etcd: Go binary: seccomp supervisor' "$WORK/etcd.log" ||
	fail "xio-run -v did not name the mechanism: $(head -n 2 "$WORK/etcd.log")"
ctl=("${XRUN[@]}" etcdctl --endpoints="127.0.0.1:$cport" --dial-timeout=5s --command-timeout=10s)
for ((i = 0; i < 100; i++)); do
	timeout 15 "${ctl[@]}" endpoint health >/dev/null 2>&1 && break
	sleep 0.1
done
compat_mode etcd "etcdctl put/get (gRPC, both supervised)"
sv_start
for ((i = 0; i < 20; i++)); do
	timeout 15 "${ctl[@]}" put "key$i" "value-$i-$(printf 'x%.0s' $(seq 1 $((i * 50))))" >>"$WORK/put.log" 2>&1 ||
		fail "etcdctl put key$i: $(tail -n 2 "$WORK/put.log")"
done
for ((i = 0; i < 20; i++)); do
	got=$(timeout 15 "${ctl[@]}" get --print-value-only "key$i" 2>>"$WORK/get.log") ||
		fail "etcdctl get key$i: $(tail -n 2 "$WORK/get.log")"
	[[ $got == "value-$i-$(printf 'x%.0s' $(seq 1 $((i * 50))))" ]] || fail "key$i reads back '$got'"
done
sv_end
# Each etcdctl makes at least one connection; gRPC's bytes are a few kB each.
assert_supervised "etcdctl -> etcd" 40000 40
compat_pass "20 keys put and read back; $CD connections carried, lo +$LD B"
