"""Benchmark case `manyconn`: 1 .. 256 persistent connections, one 64 B message in flight on
each, client and server on epoll (benchmarks/manyconn.c)."""

import os

import benchlib
from benchlib import conns

ORDER = 40
MODES = ["tcp", "uds", "xio", "xio-spin0"]


def run(b):
    case = "manyconn"
    secs = 0.4 if b.quick else 1.5
    grid = [1, 16, 256] if b.quick else [1, 4, 16, 64, 256]
    b.notes[case] = [
        "`benchmarks/manyconn.c` (`xio-bench-manyconn`): one client thread on epoll keeps "
        "one 64-byte message in flight on each of N connections; one server thread on "
        "epoll echoes. Round trips per second over all connections, %.1f s per run after "
        "0.1 s of warm-up." % secs,
        "X-IO has no separate batched-wake-up switch yet: \"X-IO\" is its default "
        "(spin up to 20 µs, then sleep until a doorbell; doorbells to one connection are "
        "coalesced) and \"X-IO --spin 0\" sleeps at once, so every wake-up is a doorbell."]
    prog = os.path.join(b.bench_bin, "xio-bench-manyconn")
    with b.prog_servers(case, prog, MODES) as srv:
        b.sweep(case, [(conns(n), n) for n in grid], MODES,
                lambda n, mode, ep: b.cli(mode) + [prog, "client", ep, str(n), "64", str(secs)],
                lambda v: "%.0f msg/s, p99 %.1f µs" % (v["rate"], v["p99_us"]),
                servers=srv, slots=lambda n: n, timeout=secs + 60)


def report(b, r):
    P = b.points("manyconn")
    if not P:
        return
    body, med = b.table("manyconn", P, MODES, "rate",
                        [("xio", "tcp"), ("xio", "uds"), ("xio-spin0", "tcp")], "round trips/s")
    body2, _ = b.table("manyconn", P, MODES, "p99_us", [("xio", "tcp")], "p99 RTT µs")
    r.section("4. Many persistent connections, 64 B ping-pong on epoll", "manyconn",
              body + [""] + body2, plot=med)


def plot(b, ax, med):
    pts = b.points("manyconn")
    benchlib.plot_lines(ax, med, pts, MODES, [int(p.split()[0]) for p in pts])
    ax.set_xscale("log", base=2)
    ax.set_xlabel("connections")
    ax.set_ylabel("round trips/s (median)")
    ax.set_title("many connections, 64 B ping-pong on epoll")
