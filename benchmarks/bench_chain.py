"""Benchmark case `chain`: a service chain of four processes, source -> relay -> relay -> sink.

Each hop is its own TCP connection; each relay reads the message's sequence
number, amends its hop count in place and passes it on; the sink checks every
byte (benchmarks/zc_chain.c, `xio-bench-zc-chain`). Four ways to move it:
  tcp     read()/write() into private buffers over kernel TCP;
  xio     the same program under xio-run: X-IO's socket path (a copy per side);
  xio-zc  X-IO zero-copy: xio_malloc + xio_tx at the source, xio_rx + xio_tx
          of the very same buffer at each relay, xio_free at the sink, at
          the default settings (what a user gets: the plain 20 us spin and
          the adaptive spin of the native API's waits, stack/wait.h);
  xio-zc-fixed  the same without the adaptive spin (XIO_SPIN_ADAPT_US=0):
          the plain spin alone, as before it;
  xio-zc-long  the same with a spin that outlasts the gap between two
          messages (--spin LONG_SPIN_US), so no stage sleeps while they flow.
The source keeps one message in flight (the sink acknowledges each one over
a connection of its own), so the sink's latency (its receive time minus the
source's send stamp, CLOCK_MONOTONIC) is the chain's own, with no queueing;
messages/s is the rate of that closed loop; cpus the CPU time of all four
stages divided by the run's wall time (cores kept busy).

Where the time goes, and what reaches >= 10x kernel TCP (2-core VM, stages
on CPUs 1/0/1/0, before/after interleaved at load average 7-29; numbers in
benchmarks/RESULTS.md, "Service chain"). With one message in flight every
stage but one waits, so the latency is three wake-ups (~30 us each on this
VM, benchmarks/wake_floor.c) unless the waiting stages spin. Two stages
share each CPU, so a spinner must hand its CPU to the stage that has the
message: X-IO's spin yields it (sched_yield) after every microsecond
(stack/wait.c, spin()); before that, a spinner kept it for a scheduler
slice, and a zero-copy receiver spun twice (stack/zc.c), which is why
zero-copy was slower than the socket path at 64 B. Now a hop costs ~1.7 us
(a zero-copy ping-pong turn between two spinning CPUs is ~0.95 us, the rest
is the hand-off of a shared CPU), and a relay rings a doorbell for 13 % of
the messages instead of 97 % (strace of relay 1, 64 B).
A stage sleeps when the gap between two messages outlasts its spin. At 64 B
the gap is a few microseconds, the plain spin covers it: p50 ~5 us for 3
hops, ~20x kernel TCP. At 64 KiB the gap is the source filling and the sink
checking 64 KiB (~100-200 us here), so with a plain spin of 20 or 50 us the
relays sleep (p50 ~75 us, 2-3x TCP) and only a spin longer than the gap
reaches >= 10x (--spin 200: p50 ~6 us, ~25x). The adaptive spin finds that
length by itself: each waiting stage learns how long its recent waits took
and spins up to twice that, at most 200 us, dropping back to the plain spin
after one wait longer than that. Its price is the long spin's while
messages flow: every stage spins through every gap (yielding its CPU every
microsecond), and on a machine whose CPUs other work also wants, stages
that never sleep lose the scheduler's wake-up preference and yield to that
work (fewer messages/s, a longer p99). An idle chain costs nothing: a stage
spins at most 200 us after the last message.

Run as a script, this module is the driver one measured run executes:
  bench_chain.py drive PROG SIZE SECS PREFIX_JSON OPTS_JSON PORTS_JSON
(starts sink, relays and source with their prefixes, waits for each to
listen, prints the sink's result line).
"""

import json
import os
import resource
import subprocess
import sys
import tempfile
import time

import benchlib
import procnet

ORDER = 100
CASE = "chain"
MODES = ["tcp", "xio", "xio-zc", "xio-zc-fixed", "xio-zc-long"]
LONG_SPIN_US = 200  # longer than the gap between two 64 KiB messages on the 2-core VM
DEFAULT_SPIN_US = 20  # XIO_SPIN_US's default with two CPUs (stack/config.c)


def drive(argv):
    """One run of the chain; prints the sink's line. Exit status 0 only if every stage did.
    A stage's stderr goes to a file of its own; on the way out it is copied to this
    script's stderr under the stage's name, command and exit status, so a failed run's
    raw/*.err (and benchlib's tail of it) says which stage failed and what it said."""
    prog, size, secs = argv[0], argv[1], argv[2]
    pre = json.loads(argv[3])  # four prefixes: sink, relay 2, relay 1, source
    opts = json.loads(argv[4])  # options for every stage (--copy or nothing)
    ports = json.loads(argv[5])  # ack, sink, relay 2, relay 1
    ep = ["tcp:127.0.0.1:%d" % p for p in ports]
    names = ["sink", "relay 2", "relay 1", "source"]
    stages = [
        pre[0] + [prog, "sink", ep[1], "2", "--ack", ep[0]] + opts,
        pre[1] + [prog, "relay", ep[2], ep[1]] + opts,
        pre[2] + [prog, "relay", ep[3], ep[2]] + opts,
        pre[3] + [prog, "source", ep[3], size, "0", "--secs", secs, "--ack", ep[0]] + opts,
    ]
    errs = [tempfile.TemporaryFile() for _ in stages]
    procs = []
    rcs = [None] * len(stages)
    ru0, t0 = resource.getrusage(resource.RUSAGE_CHILDREN), time.monotonic()
    try:
        for i, (st, port) in enumerate(zip(stages[:3], ports[1:])):
            p = subprocess.Popen(st, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                 stderr=errs[i])
            procs.append(p)
            end = time.monotonic() + 10
            xio = any("xio-run" in a for a in st)
            while not procnet.listening(port) or (xio and not procnet.published(port)):
                if p.poll() is not None:
                    rcs[i] = p.returncode
                    sys.exit("%s exited %d before it listened" % (names[i], p.returncode))
                if time.monotonic() > end:
                    sys.exit("%s did not listen within 10 s" % names[i])
                time.sleep(0.005)
        rcs[3] = subprocess.call(stages[3], stdin=subprocess.DEVNULL,
                                 stdout=subprocess.DEVNULL, stderr=errs[3])
        outs = []
        for i, p in enumerate(procs):
            try:
                outs.append(p.communicate(timeout=30)[0].decode(errors="replace"))
            except subprocess.TimeoutExpired:
                sys.exit("%s still runs 30 s after the source ended (exit %d)"
                         % (names[i], rcs[3]))
            rcs[i] = p.returncode
        bad = ["%s exit %d" % (n, rc) for n, rc in zip(names, rcs) if rc]
        if bad:
            sys.stderr.write("sink's output:\n" + (outs[0] or "(none)\n"))
            sys.exit("a stage failed: " + ", ".join(bad))
        line = [l for l in outs[0].splitlines() if l.startswith("chain ")]
        if not line:
            sys.exit("no result line from the sink; its output:\n" + outs[0])
        ru1, t1 = resource.getrusage(resource.RUSAGE_CHILDREN), time.monotonic()
        cpu = ru1.ru_utime + ru1.ru_stime - ru0.ru_utime - ru0.ru_stime
        print(line[-1][len("chain "):] + " cpus=%.3f" % (cpu / (t1 - t0)))
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
                p.wait()
        started = len(procs) * [True] + [False] * (3 - len(procs)) + [rcs[3] is not None]
        for i, f in enumerate(errs):
            f.seek(0)
            text = f.read().decode(errors="replace")
            if not text and not rcs[i] and not (started[i] and rcs[i] is None):
                continue  # a stage that ended well and said nothing, or never started
            status = ("not started" if not started[i] else
                      "killed by this driver" if rcs[i] is None else
                      "killed by signal %d" % -rcs[i] if rcs[i] < 0 else "exit %d" % rcs[i])
            sys.stderr.write("-- %s (%s): %s\n%s" % (names[i], status, " ".join(stages[i]),
                                                     text))
        sys.stderr.flush()


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
        "`xio_rx` + `xio_tx` of the very same buffer, only a 16-byte descriptor per hop, "
        "under `xio-run` with the default settings (the plain %d µs spin, and the native "
        "API's adaptive spin: a waiting stage learns how long its recent waits took and "
        "spins up to twice that, at most 200 µs); no adaptive spin: the same with "
        "`XIO_SPIN_ADAPT_US=0`, the plain spin alone; long spin: the same under "
        "`--spin %d`, longer than the gap between two messages, so no stage sleeps while "
        "they flow. CPU: all four stages' CPU time ÷ the run's wall time (cores kept "
        "busy). Stages on CPUs %s (sink first). Each waiting stage spins, and its spin "
        "yields the CPU (sched_yield) after every µs to the stage that shares it; the "
        "latency is three wake-ups (~30 µs each here) for every stage whose spin ends "
        "before the next message comes: at 64 KiB the gap (source fills, sink checks "
        "64 KiB) outlasts the plain spin. A spin through the gap (adaptive or long) "
        "costs: both cores spin while messages flow, and stages that never sleep lose "
        "the scheduler's wake-up preference against other work on the machine (p99, "
        "messages/s)." % (secs, DEFAULT_SPIN_US, LONG_SPIN_US,
                          "/".join(str(c) for c in cpus))]

    def client(size, mode, ep):  # the whole chain is one measured run: drive() below
        if mode == "xio-zc-long":
            pre = [b.prefix("xio", c) + ["--spin", str(LONG_SPIN_US)] for c in cpus]
        elif mode == "xio-zc":  # the default settings
            pre = [b.prefix("xio", c) for c in cpus]
        elif mode == "xio-zc-fixed":
            pre = [["env", "XIO_SPIN_ADAPT_US=0"] + b.prefix("xio", c) for c in cpus]
        else:
            pre = [b.prefix(mode, c) for c in cpus]
        opts = [] if mode.startswith("xio-zc") else ["--copy"]
        ports = [b.port() for _ in range(4)]
        return [sys.executable, os.path.abspath(__file__), "drive", prog, str(size),
                str(secs), json.dumps(pre), json.dumps(opts), json.dumps(ports)]

    b.sweep(case, [(benchlib.size_label(n, unit=True), n) for n in sizes], MODES, client,
            lambda v: "p50 %.1f µs, p99 %.1f µs, %.0f msgs/s, %.2f cpus" % (
                v["p50_us"], v["p99_us"], v["msgs_per_s"], v.get("cpus", 0)),
            payload=lambda v: 3 * v["bytes"], slots=4, timeout=secs + 60)


def report(b, r):
    P = b.points(CASE)
    if not P:
        return
    body = []
    med = {}
    for key, unit in (("p50_us", "p50 end-to-end µs (3 hops)"),
                      ("p99_us", "p99 end-to-end µs (3 hops)"),
                      ("msgs_per_s", "messages/s"),
                      ("cpus", "CPU, cores kept busy (4 stages)")):
        t, m = b.table(CASE, P, MODES, key,
                       [("xio-zc", "tcp"), ("xio-zc", "xio"), ("xio-zc-fixed", "tcp"),
                        ("xio-zc-long", "tcp")], unit)
        med[key] = m
        body += t + [""]
    r.section("10. Service chain: source → relay → relay → sink", CASE, body)
    m = med["p50_us"]
    zs, zb, tb = m.get(("64 B", "xio-zc")), m.get(("64 KiB", "xio-zc")), m.get(("64 KiB", "tcp"))
    if zs and zb:
        r.target("chain: zero-copy p50 at 64 KiB ≤ 1.5× at 64 B (default settings)",
                 "%.2f×" % (zb / zs), zb <= 1.5 * zs)
    if zb and tb:
        r.target("chain: zero-copy ≥ 10× faster than kernel TCP at 64 KiB (p50, default "
                 "settings)", "%.1f×" % (tb / zb), tb >= 10 * zb)
    lb = m.get(("64 KiB", "xio-zc-long"))
    if lb and tb:
        r.target("chain: zero-copy with the long spin (--spin %d) ≥ 10× faster than kernel "
                 "TCP at 64 KiB (p50)" % LONG_SPIN_US, "%.1f×" % (tb / lb), tb >= 10 * lb)


if __name__ == "__main__":
    if len(sys.argv) >= 2 and sys.argv[1] == "drive":
        drive(sys.argv[2:])
    else:
        sys.exit(__doc__)
