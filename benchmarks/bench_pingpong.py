"""Benchmark case `pingpong`: round-trip time of blocking calls, 64 B .. 64 KiB
(benchmarks/pingpong.c)."""

import os

import benchlib
from benchlib import SPIN_US, size_label

ORDER = 20
MODES = ["tcp", "uds", "xio", "xio-spin", "xio-spin0"]
RATIOS = [("xio", "tcp"), ("xio", "uds"), ("xio-spin0", "uds")]


def run(b):
    case = "pingpong"
    secs = 0.3 if b.quick else 1.0
    sizes = [64, 1024, 65536] if b.quick else [64, 256, 1024, 4096, 16384, 65536]
    b.notes[case] = [
        "Round-trip time in µs of `benchmarks/pingpong.c` (`xio-bench-pingpong`): one "
        "connection, blocking write of SIZE bytes then blocking read of SIZE bytes back, "
        "every round trip timed, %.1f s per run after 0.1 s of warm-up; the server echoes. "
        "X-IO spin: both ends under `xio-run --spin %d`. X-IO's default spins up to 20 µs "
        "inside the blocking call, so its column shows the spinning path; \"X-IO --spin 0\" "
        "sleeps at once and shows the doorbell (wake-up) path." % (secs, SPIN_US)]
    prog = os.path.join(b.bench_bin, "xio-bench-pingpong")
    points = []
    for size in sizes:
        points.append((size_label(size, unit=True), size))
        b.xval[points[-1][0]] = size
    with b.prog_servers(case, prog, MODES) as srv:
        b.sweep(case, points, MODES,
                lambda size, mode, ep: b.cli(mode) + [prog, "client", ep, str(size), str(secs)],
                lambda v: "p50 %.2f µs, p99 %.2f µs" % (v["p50_us"], v["p99_us"]),
                servers=srv, timeout=secs + 30)


def report(b, r):
    P = b.points("pingpong")
    if not P:
        return
    b50, med = b.table("pingpong", P, MODES, "p50_us", RATIOS, "p50 RTT µs")
    b99, _ = b.table("pingpong", P, MODES, "p99_us", RATIOS, "p99 RTT µs")
    r.section("2. Ping-pong round trip, 64 B … 64 KiB (blocking calls)", "pingpong",
              ["p50:", ""] + b50 + ["", "p99:", ""] + b99, plot=med)
    if med.get(("64 B", "xio")) and med.get(("64 B", "uds")):
        x = med[("64 B", "xio")] / med[("64 B", "uds")]
        r.target("64 B ping-pong p50, blocking: X-IO ≤ 0.5× Unix socket",
                 "%.2f× (%.1f vs %.1f µs)" % (x, med[("64 B", "xio")], med[("64 B", "uds")]),
                 x <= 0.5)
    if med.get(("64 B", "xio-spin0")) and med.get(("64 B", "uds")):
        x = med[("64 B", "xio-spin0")] / med[("64 B", "uds")]
        r.target("(same, X-IO with `--spin 0`: the wake-up path, no spinning)",
                 "%.2f× (%.1f vs %.1f µs)" % (x, med[("64 B", "xio-spin0")],
                                              med[("64 B", "uds")]), x <= 0.5)
    if med.get(("64 B", "xio-spin")):
        v = med[("64 B", "xio-spin")]
        r.target("64 B ping-pong, spin mode: ≤ 1 µs RTT", "%.2f µs p50 RTT" % v, v <= 1.0)


def plot(b, ax, med):
    pts = b.points("pingpong")
    xs = [b.xval[p] for p in pts]
    benchlib.plot_lines(ax, med, pts, MODES, xs)
    benchlib.plot_sizes(ax, xs, pts)
    ax.set_ylabel("p50 round trip (µs)")
    ax.set_title("ping-pong RTT, blocking")
