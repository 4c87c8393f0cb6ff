"""Benchmark case `wrk`: HTTP/1.1 keepalive, wrk against nginx serving a 1 KiB file."""

import time

import benchlib
from benchlib import conns

ORDER = 50
MODES = ["tcp", "xio", "xio-spin"]


def run(b):
    case = "wrk"
    secs = 1 if b.quick else 2
    grid = [1, 16, 64] if b.quick else [1, 4, 16, 64, 256]
    b.notes[case] = [
        "nginx %s (2 workers, `access_log off`, keepalive, a 1 KiB static file; config "
        "written to a temporary folder) against `wrk -t 1 -c N -d %ds --latency` "
        "(HTTP/1.1 keepalive). Both nginx workers run on the server CPU. wrk cannot use a "
        "Unix socket, so there is no Unix-socket column. X-IO columns: nginx and wrk both "
        "under xio-run." % (b.nginx_version, secs)]
    with b.server_group(case) as srv:
        for mode in MODES:
            b.nginx(srv, mode, b.srv(mode))
        time.sleep(0.2)  # both workers up
        b.sweep(case, [(conns(n), n) for n in grid], MODES,
                lambda n, mode, url: b.cli(mode) + [
                    "wrk", "-t", "1", "-c", str(n), "-d", "%ds" % secs, "--latency", url],
                lambda v: "%.0f req/s, p99 %.0f µs" % (v["rps"], v["p99_us"]),
                parse=benchlib.wrk, payload=lambda v: v["requests"] * 1024,
                servers=srv, slots=lambda n: n, timeout=secs + 60)


def report(b, r):
    P = b.points("wrk")
    if not P:
        return
    body, med = b.table("wrk", P, MODES, "rps", [("xio", "tcp"), ("xio-spin", "tcp")],
                        "requests/s")
    body2, _ = b.table("wrk", P, MODES, "p99_us", [("xio", "tcp")], "p99 latency µs")
    r.section("5. HTTP: wrk against nginx", "wrk", body + [""] + body2, plot=med)
    rs = [med[(p, "xio")] / med[(p, "tcp")] for p in P
          if med.get((p, "xio")) and med.get((p, "tcp"))]
    if rs:
        r.target("wrk+nginx: X-IO ≥ 1.5× TCP requests/s at every connection count",
                 "%.2f×–%.2f×" % (min(rs), max(rs)), min(rs) >= 1.5)


def plot(b, ax, med):
    pts = b.points("wrk")
    benchlib.plot_lines(ax, med, pts, MODES, [int(p.split()[0]) for p in pts])
    ax.set_xscale("log", base=2)
    ax.set_xlabel("connections")
    ax.set_ylabel("requests/s (median)")
    ax.set_title("wrk against nginx (2 workers), 1 KiB file")
