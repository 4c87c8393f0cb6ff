"""Benchmark case `manyconn`: 1 .. 256 persistent connections, one 64 B message in flight on
each, client and server on epoll (benchmarks/manyconn.c)."""

import os
import subprocess
import time

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
    manyconn_scale(b, prog, secs)


def manyconn_scale(b, prog, secs):
    """manyconn at node scale (issue 15): 10,000 connections (1,000 with --quick) on a
    manager with the default geometry, kernel TCP vs X-IO, and the memory each holds for
    them once idle (X-IO: xio-stat memory in use; TCP: /proc/net/sockstat TCP mem)."""
    case, n, dom = "manyconn", 1000 if b.quick else 10000, "bench-scale"
    point = "%d conns" % n
    b.managers.append(b.start_manager(dom, 16384))  # the default --max-conns
    srv = {}
    try:
        for mode in ["tcp", "xio"]:
            port = b.port()
            ep = "tcp:127.0.0.1:%d" % port
            p = b.start(b.prefix(mode, b.srv_cpu, dom) + [prog, "server", ep],
                           "%s-scale-server-%s" % (case, mode), stdout=subprocess.DEVNULL)
            b.wait_listen(p, port=port)
            srv[mode] = (p, ep)
        def drained():
            """The previous run's n slots are reclaimed a sweep or two after it closed:
            until then a new run of n would find the domain full."""
            t0 = time.monotonic()
            while time.monotonic() - t0 < 30:
                st = b.xstat(dom)
                if not st or st["slots_in_use"] == 0:
                    return
                time.sleep(0.2)
        for rep in range(1, b.reps + 1):
            for mode in ["tcp", "xio"]:
                drained()
                argv = b.prefix(mode, b.cli_cpu, dom) + [
                    prog, "client", srv[mode][1], str(n), "64", str(secs)]
                rec = b.measure(case, point, mode, rep, argv, secs + 120, benchlib.kv,
                                   lambda v: v["bytes"], domain=dom, slots=n)
                b.progress(rec, lambda v: "%.0f msg/s, p99 %.1f µs, connect %.0f µs" %
                              (v["rate"], v["p99_us"], v.get("connect_us", 0)))
        mem = {}
        for mode in ["tcp", "xio"]:
            drained()
            argv = b.prefix(mode, b.cli_cpu, dom) + [
                prog, "client", srv[mode][1], str(n), "64", "0.5", "hold"]
            tcp0 = sockstat_tcp_mem()
            p = b.start(argv, "%s-scale-hold-%s" % (case, mode), stdout=subprocess.PIPE)
            try:
                t0 = time.monotonic()
                while time.monotonic() - t0 < 180:
                    line = p.stdout.readline().decode(errors="replace")
                    if not line or line.startswith("holding"):
                        break
                time.sleep(3)  # idle: two sweeps give the rings' pages back
                if mode == "xio":
                    st = b.xstat(dom) or {}
                    mem[mode] = (st.get("memory_in_use", 0), st.get("memory_bytes", 0),
                                 st.get("conns_open", 0), st.get("fallback_total", 0))
                else:
                    mem[mode] = (max(0, sockstat_tcp_mem() - tcp0),)
            finally:
                b.stop(p)
        if mem.get("xio") and mem.get("tcp"):
            used, reserved, carried, fb = mem["xio"]
            b.notes[case].append(
                "%d connections (row \"%s\"): a manager with the default geometry (16384 "
                "slots, 1 MiB rings in a sparse ring file; domain %s). Idle after a short "
                "ping-pong, X-IO carried %d of them (%d fallbacks) with %.0f MiB of domain "
                "memory in use (%.0f MiB of it reserved for slots and zero-copy buffers, the "
                "rest ring pages); kernel TCP held %.0f MiB of socket buffers (sockstat "
                "`TCP: mem`, socket structures not counted) for the same connections." % (n, point, dom, carried, fb, used / 2**20,
                                           reserved / 2**20, mem["tcp"][0] / 2**20))
    finally:
        for p, _ in srv.values():
            b.stop(p)


def sockstat_tcp_mem():
    """Bytes of kernel TCP socket buffers now (/proc/net/sockstat "TCP: ... mem PAGES")."""
    for line in open("/proc/net/sockstat"):
        if line.startswith("TCP:"):
            f = line.split()
            return int(f[f.index("mem") + 1]) * 4096
    return 0


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
