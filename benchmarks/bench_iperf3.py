"""Benchmark case `iperf3`: bulk throughput, 1 and 4 streams, writes of 1 KiB .. 1 MiB.

iperf3 for kernel TCP and X-IO (a server per run, `-1`); iperf3 has no Unix-socket mode, so
that column is benchmarks/stream.c, and the full run adds stream.c over kernel TCP.
"""

import os

import benchlib
from benchlib import Client, size_label

ORDER = 10
COLS = ["tcp", "uds", "xio", "xio-spin", "tcp-stream"]


def run(b):
    case = "iperf3"
    secs = 1 if b.quick else 3
    if b.quick:
        grid = [(1, 128 << 10), (4, 128 << 10)]
    else:
        grid = [(p, l) for p in (1, 4) for l in (1 << 10, 16 << 10, 128 << 10, 1 << 20)]
    modes = ["tcp", "uds", "xio", "xio-spin"] + ([] if b.quick else ["tcp-stream"])
    b.notes[case] = [
        "Throughput in Gbit/s, %d s per run. The kernel TCP and X-IO columns are iperf3 "
        "(`iperf3 -c 127.0.0.1 -t %d -l LEN -P STREAMS`, receiver rate). iperf3 has no "
        "Unix-socket mode, so the Unix socket column is `benchmarks/stream.c` "
        "(`xio-bench-stream`: STREAMS connections, one thread each, LEN-byte writes, rate "
        "measured until the receiver has read everything); the last column runs the same "
        "stream.c over kernel TCP to show how it compares with iperf3 (full run only)." % (secs, secs)]
    stream = os.path.join(b.bench_bin, "xio-bench-stream")
    own = ("uds", "tcp-stream")  # stream.c's modes: one server each for the whole case

    def server(x, mode):  # iperf3: a server per run, which exits after it (-1)
        if mode in own:
            return None
        port = b.port()
        return b.server_once(case, mode, b.srv(mode) + ["iperf3", "-s", "-p", str(port), "-1"],
                             port, wait_exit=True)

    def client(x, mode, ep):
        streams, ln = x
        if mode in own:
            return Client(b.cli("tcp") + [stream, "client", ep, str(streams), str(ln), str(secs)],
                          payload=lambda v: 0)
        return Client(b.cli(mode) + ["iperf3", "-c", "127.0.0.1", "-p", str(ep), "-t", str(secs),
                                     "-l", str(ln), "-P", str(streams), "-J"],
                      parse=benchlib.iperf3, slots=streams + 1)

    with b.prog_servers(case, stream, own) as srv:
        b.sweep(case, [("P=%d -l %s" % (s, size_label(l)), (s, l)) for s, l in grid], modes,
                client, lambda v: "%.2f Gbit/s" % v["gbps"], servers=srv, server=server,
                timeout=secs + 60)


def report(b, r):
    P = b.points("iperf3")
    if not P:
        return
    body, med = b.table("iperf3", P, COLS, "gbps",
                        [("xio", "tcp"), ("xio", "uds"), ("xio-spin", "tcp")], "Gbit/s")
    r.section("1. Throughput: iperf3, 1 and 4 streams", "iperf3", body, plot=med)
    pt = "P=1 -l 128K"
    if med.get((pt, "xio")) and med.get((pt, "tcp")):
        x = med[(pt, "xio")] / med[(pt, "tcp")]
        r.target("iperf3 1 stream 128 KiB: X-IO ≥ 5× TCP", "%.2f×" % x, x >= 5)


def plot(b, ax, med):
    benchlib.plot_bars(ax, b.points("iperf3"), COLS, lambda g, m: med.get((g, m)))
    ax.set_ylabel("Gbit/s (median)")
    ax.set_title("iperf3 throughput")
    import matplotlib.pyplot as plt
    plt.setp(ax.get_xticklabels(), rotation=30, ha="right")
