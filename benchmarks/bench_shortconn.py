"""Benchmark case `shortconn`: connect + 64 B request/response + close in a loop
(benchmarks/shortconn.c)."""

import os

import benchlib
from benchlib import MODE_LABEL

ORDER = 30
MODES = ["tcp", "uds", "xio", "xio-spin"]


def run(b):
    case = "shortconn"
    secs = 0.8 if b.quick else 2.0
    b.notes[case] = [
        "`benchmarks/shortconn.c` (`xio-bench-shortconn`): one client process loops "
        "connect, write 64 B, read 64 B, close; one single-threaded server accepts, "
        "answers and closes after the client; %.1f s per run after 0.1 s of warm-up. "
        "Connections per second, and the time of one whole cycle." % secs]
    prog = os.path.join(b.bench_bin, "xio-bench-shortconn")

    def errors(rec, x):
        if rec["vals"] and rec["vals"].get("errors"):
            b.findings.append("shortconn %s rep %d: %d connect/IO errors" % (
                MODE_LABEL[rec["mode"]], rec["rep"], rec["vals"]["errors"]))

    with b.prog_servers(case, prog, MODES) as srv:
        b.sweep(case, [("64 B", None)], MODES,
                lambda x, mode, ep: b.cli(mode) + [prog, "client", ep, str(secs)],
                lambda v: "%.0f conn/s, p50 %.1f µs" % (v["rate"], v["p50_us"]),
                servers=srv, after=errors, timeout=secs + 60)


def report(b, r):
    P = b.points("shortconn")
    if not P:
        return
    body, med = b.table("shortconn", P, MODES, "rate", [("xio", "tcp"), ("xio", "uds")],
                        "connections/s")
    body2, _ = b.table("shortconn", P, MODES, "p50_us", [("xio", "tcp")],
                       "p50 µs per connection")
    r.section("3. Short connections: connect + 64 B request/response + close", "shortconn",
              body + [""] + body2, plot=med)
    pt = "64 B"
    if med.get((pt, "xio")) and med.get((pt, "tcp")) and med.get((pt, "uds")):
        r1 = med[(pt, "xio")] / med[(pt, "tcp")]
        r2 = med[(pt, "xio")] / med[(pt, "uds")]
        r.target("short connections: X-IO ≥ 2× TCP and ≥ 1.1× Unix socket",
                 "%.2f× TCP, %.2f× UDS" % (r1, r2), r1 >= 2 and r2 >= 1.1)


def plot(b, ax, med):
    benchlib.plot_bars(ax, ["64 B"], MODES, lambda g, m: med.get((g, m)))
    ax.set_ylabel("connections/s (median)")
    ax.set_title("short connections")
