"""Benchmark case `chain`: a service chain of four processes, source -> relay -> relay -> sink.

Each hop is its own TCP connection; each relay reads the message's sequence
number, amends its hop count in place and passes it on; the sink checks every
byte (benchmarks/zc_chain.c, `xio-bench-zc-chain`). Three ways to move it:
  tcp     read()/write() into private buffers over kernel TCP;
  xio     the same program under xio-run: X-IO's socket path (a copy per side);
  xio-zc  X-IO zero-copy: xio_malloc + xio_tx at the source, xio_rx + xio_tx
          of the very same buffer at each relay, xio_free at the sink.
The source keeps one message in flight (the sink acknowledges each one over
a connection of its own), so the sink's latency (its receive time minus the
source's send stamp, CLOCK_MONOTONIC) is the chain's own, with no queueing;
messages/s is the rate of that closed loop.

Run as a script, this module is the driver one measured run executes:
  bench_chain.py drive PROG SIZE SECS PREFIX_JSON OPTS_JSON
(starts sink, relays and source with their prefixes, waits for each to
listen, prints the sink's result line).
"""

import json
import os
import subprocess
import sys
import time

import benchlib
import procnet

ORDER = 100
CASE = "chain"
MODES = ["tcp", "xio", "xio-zc"]


def drive(argv):
    """One run of the chain; prints the sink's line. Exit status 0 only if every stage did."""
    prog, size, secs = argv[0], argv[1], argv[2]
    pre = json.loads(argv[3])  # four prefixes: sink, relay 2, relay 1, source
    opts = json.loads(argv[4])  # options for every stage (--copy or nothing)
    ports = json.loads(argv[5])  # ack, sink, relay 2, relay 1
    ep = ["tcp:127.0.0.1:%d" % p for p in ports]
    stages = [
        pre[0] + [prog, "sink", ep[1], "2", "--ack", ep[0]] + opts,
        pre[1] + [prog, "relay", ep[2], ep[1]] + opts,
        pre[2] + [prog, "relay", ep[3], ep[2]] + opts,
    ]
    procs = []
    try:
        for st, port in zip(stages, ports[1:]):
            p = subprocess.Popen(st, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE)
            procs.append(p)
            end = time.monotonic() + 10
            while not procnet.listening(port):
                if p.poll() is not None or time.monotonic() > end:
                    sys.exit("stage %s did not listen" % " ".join(st))
                time.sleep(0.005)
        src = pre[3] + [prog, "source", ep[3], size, "0", "--secs", secs, "--ack", ep[0]] + opts
        rc = subprocess.call(src, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL)
        outs = [p.communicate(timeout=30)[0].decode(errors="replace") for p in procs]
        bad = [p.returncode for p in procs if p.returncode != 0]
        if rc != 0 or bad:
            sys.exit("a stage failed: source %d, others %s" % (rc, bad))
        line = [l for l in outs[0].splitlines() if l.startswith("chain ")]
        if not line:
            sys.exit("no result line from the sink")
        print(line[-1][len("chain "):])
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
                p.wait()


def run(b):
    case = CASE
    secs = 0.5 if b.quick else 2.0
    sizes = [64, 65536]
    prog = b.prog("xio-bench-zc-chain")
    if not prog:
        raise benchlib.Failure("xio-bench-zc-chain is not built (benchmarks/zc_chain.c)")
    # source and relay 2 on one CPU, relay 1 and the sink on the other: every hop crosses CPUs
    cpus = [b.srv_cpu, b.cli_cpu, b.srv_cpu, b.cli_cpu]
    b.notes[case] = [
        "A chain of four processes, source → relay → relay → sink, each hop its own TCP "
        "connection (`benchmarks/zc_chain.c`): each relay reads the message's sequence number "
        "and bumps its hop count in place; the sink checks every byte. One message in flight "
        "(the sink acknowledges each over a connection of its own): latency is the sink's "
        "receive time minus the source's send stamp (3 hops, µs), messages/s the rate of that "
        "closed loop; %.1f s per run after 1000 messages or 0.1 s of warm-up. Kernel TCP: "
        "read()/write() into private buffers; X-IO: the same under `xio-run` (socket path, a "
        "copy on each side); X-IO zero-copy: `xio_tx` of an `xio_malloc`'d buffer, each relay "
        "`xio_rx` + `xio_tx` of the very same buffer, only a 16-byte descriptor per hop. "
        "Stages on CPUs %s (sink first)." % (secs, "/".join(str(c) for c in cpus))]

    def client(size, mode, ep):  # the whole chain is one measured run: drive() below
        pre = [b.prefix("xio" if mode == "xio-zc" else mode, c) for c in cpus]
        opts = [] if mode == "xio-zc" else ["--copy"]
        ports = [b.port() for _ in range(4)]
        return [sys.executable, os.path.abspath(__file__), "drive", prog, str(size),
                str(secs), json.dumps(pre), json.dumps(opts), json.dumps(ports)]

    b.sweep(case, [(benchlib.size_label(n, unit=True), n) for n in sizes], MODES, client,
            lambda v: "p50 %.1f µs, p99 %.1f µs, %.0f msgs/s" % (
                v["p50_us"], v["p99_us"], v["msgs_per_s"]),
            payload=lambda v: 3 * v["bytes"], slots=4, timeout=secs + 60)


def report(b, r):
    P = b.points(CASE)
    if not P:
        return
    body = []
    med = {}
    for key, unit in (("p50_us", "p50 end-to-end µs (3 hops)"),
                      ("p99_us", "p99 end-to-end µs (3 hops)"),
                      ("msgs_per_s", "messages/s")):
        t, m = b.table(CASE, P, MODES, key, [("xio-zc", "tcp"), ("xio-zc", "xio")], unit)
        med[key] = m
        body += t + [""]
    r.section("10. Service chain: source → relay → relay → sink", CASE, body)
    m = med["p50_us"]
    zs, zb, tb = m.get(("64 B", "xio-zc")), m.get(("64 KiB", "xio-zc")), m.get(("64 KiB", "tcp"))
    if zs and zb:
        r.target("chain: zero-copy p50 at 64 KiB ≤ 1.5× at 64 B", "%.2f×" % (zb / zs),
                 zb <= 1.5 * zs)
    if zb and tb:
        r.target("chain: zero-copy ≥ 10× faster than kernel TCP at 64 KiB (p50)",
                 "%.1f×" % (tb / zb), tb >= 10 * zb)


if __name__ == "__main__":
    if len(sys.argv) >= 2 and sys.argv[1] == "drive":
        drive(sys.argv[2:])
    else:
        sys.exit(__doc__)
