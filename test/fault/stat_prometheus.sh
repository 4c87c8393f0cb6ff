#!/usr/bin/env bash
# xio-stat --prometheus is one well-formed scrape of every counter: each
# sample line is `name{labels} value`, each metric family has one HELP and
# one TYPE line before its samples, counters end in _total, every sample has
# domain="<domain>", and every value equals the one --json gives (after
# traffic: an X-IO connection and a connect that falls back). The text
# table names every reason --json has. Without a manager a scrape still
# succeeds: xio_up 0 and exit status 0 (plain xio-stat exits 1).
# shellcheck source=test/fault/lib_fault.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib_fault.sh"
fault_init stat_prometheus
FP=$FAULT_BIN/fpeer
STAT=("$XIO_BIN/xio-stat" --domain "$DOMAIN" --rundir "$RUNDIR")

# traffic: one carried connection and one that falls back (no X-IO listener)
port=$(free_port)
"${XRUN[@]}" "$FP" server 127.0.0.1 "$port" --recv 1M --ready "$WORK/ready" >"$WORK/server.log" 2>&1 &
spid=$!
wait_file "$WORK/ready" 5000
"${XRUN[@]}" "$FP" client 127.0.0.1 "$port" --send 1M --recv 0 >"$WORK/client.log" 2>&1 ||
	fail "the X-IO client failed: $(cat "$WORK/client.log")"
wait "$spid" || fail "the X-IO server failed"
port2=$(free_port)
"${PLAIN[@]}" "$FP" server 127.0.0.1 "$port2" --recv 4096 --ready "$WORK/ready2" >"$WORK/tcp_server.log" 2>&1 &
tpid=$!
wait_file "$WORK/ready2" 5000
"${XRUN[@]}" "$FP" client 127.0.0.1 "$port2" --send 4096 --recv 0 >"$WORK/fb_client.log" 2>&1 ||
	fail "the fallback client failed: $(cat "$WORK/fb_client.log")"
wait "$tpid" || fail "the kernel TCP server failed"

# nothing moves now: the two outputs must agree
"${STAT[@]}" --prometheus >"$WORK/scrape.prom" 2>"$WORK/scrape.err" || fail "xio-stat --prometheus failed"
"${STAT[@]}" --json >"$WORK/stats.json" || fail "xio-stat --json failed"
"${STAT[@]}" >"$WORK/table.txt" || fail "xio-stat failed"
[[ ! -s $WORK/scrape.err ]] || fail "xio-stat --prometheus wrote on stderr: $(cat "$WORK/scrape.err")"

"$PY" - "$WORK/scrape.prom" "$WORK/stats.json" "$WORK/table.txt" "$DOMAIN" <<'PYEOF'
import json, re, sys

prom, js, table, domain = sys.argv[1:5]
j = json.load(open(js))
text = open(table).read()
NAME = r"[a-zA-Z_:][a-zA-Z0-9_:]*"
SAMPLE = re.compile(r"^(" + NAME + r")\{(.*)\} (\S+)$")
LABEL = re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\\n]|\\.)*)"(,|$)')
helps, types, samples, errors = {}, {}, [], []

def err(msg):
    errors.append(msg)

for n, line in enumerate(open(prom).read().split("\n")[:-1], 1):
    if line.startswith("# HELP ") or line.startswith("# TYPE "):
        kind, rest = line[2:6], line[7:]
        name, _, text_ = rest.partition(" ")
        if not re.fullmatch(NAME, name) or not text_:
            err(f"line {n}: bad {kind}: {line!r}")
        d = helps if kind == "HELP" else types
        if name in d:
            err(f"line {n}: second {kind} for {name}")
        if any(s[0] == name for s in samples):
            err(f"line {n}: {kind} of {name} after its samples")
        d[name] = text_
        continue
    if line.startswith("#") or not line:
        err(f"line {n}: unexpected line {line!r}")
        continue
    m = SAMPLE.match(line)
    if not m:
        err(f"line {n}: not name{{labels}} value: {line!r}")
        continue
    name, lab, val = m.groups()
    labels, pos = {}, 0
    for lm in LABEL.finditer(lab):
        if lm.start() != pos:
            break
        labels[lm.group(1)] = lm.group(2)
        pos = lm.end()
    if pos != len(lab):
        err(f"line {n}: bad labels {lab!r}")
    if not re.fullmatch(r"[0-9]+", val):
        err(f"line {n}: value {val!r} is not a non-negative integer")
        continue
    if labels.get("domain") != domain:
        err(f"line {n}: domain label {labels.get('domain')!r}, want {domain!r}")
    samples.append((name, labels, int(val)))

for name in {s[0] for s in samples}:
    if name not in helps or name not in types:
        err(f"{name}: missing HELP or TYPE")
    elif types[name] not in ("counter", "gauge"):
        err(f"{name}: TYPE {types[name]}")
    elif (types[name] == "counter") != name.endswith("_total"):
        err(f"{name}: TYPE {types[name]} but the name {'does not end' if types[name] == 'counter' else 'ends'} in _total")
for name in set(helps) | set(types):
    if not any(s[0] == name for s in samples):
        err(f"{name}: HELP/TYPE without samples")

# values against --json
plain = {
    "xio_connections_open": "conns_open", "xio_connections_opened_total": "conns_total",
    "xio_bytes_total": "bytes", "xio_processes": "processes", "xio_memory_bytes": "memory_bytes",
    "xio_memory_in_use_bytes": "memory_in_use", "xio_memory_limit_bytes": "memory_limit",
    "xio_ring_memory_bytes": "rings_in_use", "xio_ring_memory_limit_bytes": "rings_limit",
    "xio_slots": "slots", "xio_slots_in_use": "slots_in_use",
    "xio_slot_ring_bytes": "ring_bytes", "xio_slots_reclaimed_total": "slots_reclaimed",
    "xio_buffers": "bufs", "xio_buffers_in_use": "bufs_in_use", "xio_buffer_bytes": "buf_bytes",
    "xio_buffers_reclaimed_total": "bufs_reclaimed", "xio_publishes_total": "publishes",
    "xio_demoted_total": "demoted", "xio_kill_switch": "kill_switch",
}
covered = {"domain", "generation", "hugepages", "fallback", "fallback_total",
           "fallback_connects", "fallback_listeners"}
by_name = {}
for name, labels, val in samples:
    by_name.setdefault(name, []).append((labels, val))
for metric, key in plain.items():
    got = by_name.get(metric)
    if not got or len(got) != 1:
        err(f"{metric}: {len(got or [])} samples, want 1")
        continue
    if got[0][1] != int(j[key]):
        err(f"{metric} = {got[0][1]}, --json {key} = {j[key]}")
    covered.add(key)
missing = set(j) - covered
if missing:
    err(f"--json fields with no metric: {sorted(missing)}")
unknown = set(by_name) - set(plain) - {"xio_up", "xio_info", "xio_fallbacks_total"}
if unknown:
    err(f"metrics this test does not check against --json: {sorted(unknown)}")
if by_name.get("xio_up") != [({"domain": domain}, 1)]:
    err(f"xio_up: {by_name.get('xio_up')}")
info = by_name.get("xio_info", [])
want = {"domain": domain, "generation": j["generation"],
        "memory": "hugepages" if j["hugepages"] else "ordinary"}
if info != [(want, 1)]:
    err(f"xio_info: {info}, want {want}")
fb = {l["reason"]: (l["side"], v) for l, v in by_name.get("xio_fallbacks_total", [])}
if set(fb) != set(j["fallback"]):
    err(f"reasons: prometheus {sorted(fb)} vs json {sorted(j['fallback'])}")
for r, (side, v) in fb.items():
    if v != j["fallback"].get(r):
        err(f"fallback {r}: prometheus {v}, json {j['fallback'].get(r)}")
    if side != ("server" if r.startswith("listener_") else "client"):
        err(f"fallback {r}: side {side}")
    if not re.search(r"^\s+" + re.escape(r) + r"\s+" + str(v) + "$", text, re.M):
        err(f"the table has no line '{r} {v}'")
for side, key in (("client", "fallback_connects"), ("server", "fallback_listeners")):
    s = sum(v for sd, v in fb.values() if sd == side)
    if s != j[key]:
        err(f"{key}: json {j[key]}, sum of side={side} {s}")
if sum(v for _, v in fb.values()) != j["fallback_total"]:
    err("fallback_total is not the sum of the reasons")
# the traffic shows
if j["conns_total"] < 1 or j["bytes"] < 1 << 20 or j["fallback"]["no_rendezvous"] < 1:
    err(f"the traffic does not show: conns_total {j['conns_total']} bytes {j['bytes']} "
        f"no_rendezvous {j['fallback']['no_rendezvous']}")
for e in errors:
    print("ERROR:", e)
print(f"{len(samples)} samples in {len(types)} families checked against --json")
sys.exit(1 if errors else 0)
PYEOF
log "the scrape parses and equals --json"

# without a manager: a scrape that succeeds with xio_up 0
mpid=$(mgr_pid)
kill "$mpid"
wait_exit "$mpid" 5000 >/dev/null || fail "the manager did not exit"
rc=0
"${STAT[@]}" --prometheus >"$WORK/down.prom" 2>"$WORK/down.err" || rc=$?
log "no manager: exit $rc, stderr: $(cat "$WORK/down.err")"
((rc == 0)) || fail "xio-stat --prometheus without a manager exited $rc"
want=$(printf '%s\n' "# HELP xio_up Whether xio-stat reached the domain's manager (1) or not (0)." \
	"# TYPE xio_up gauge" "xio_up{domain=\"$DOMAIN\"} 0")
[[ $(cat "$WORK/down.prom") == "$want" ]] || fail "without a manager the scrape is: $(cat "$WORK/down.prom")"
rc=0
"${STAT[@]}" >/dev/null 2>&1 || rc=$?
((rc == 1)) || fail "plain xio-stat without a manager exited $rc, want 1"
rc=0
"$XIO_BIN/xio-stat" --domain nosuch_domain --rundir "$WORK/none" --prometheus >"$WORK/none.prom" 2>/dev/null || rc=$?
if ((rc != 0)) || ! grep -qx 'xio_up{domain="nosuch_domain"} 0' "$WORK/none.prom"; then
	fail "a domain that never existed: exit $rc, $(cat "$WORK/none.prom")"
fi
# --prometheus goes alone
rc=0
"${STAT[@]}" --prometheus --json >/dev/null 2>&1 || rc=$?
((rc == 2)) || fail "--prometheus --json exited $rc, want 2 (usage)"
log "PASS"
