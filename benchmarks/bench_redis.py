"""Benchmark case `redis`: redis-benchmark GET/SET against redis-server, unpipelined and
with -P 16; the Unix-socket column is the plain server's --unixsocket."""

import os

import benchlib
from benchlib import Client

ORDER = 60
MODES = ["tcp", "uds", "xio", "xio-spin"]


def run(b):
    case = "redis"
    n1 = 20000 if b.quick else 100000
    n16 = 100000 if b.quick else 1000000
    b.notes[case] = [
        "redis-server %s (`--save \"\" --appendonly no`, private port) against "
        "`redis-benchmark -c 50 -t get,set --csv` with -n %d unpipelined and -n %d with "
        "-P 16; requests per second. The Unix-socket column uses `redis-benchmark -s` "
        "against the same plain server's `--unixsocket`."
        % (b.redis_version, n1, n16)]
    sock = os.path.join(b.tmp, "redis.sock")
    with b.server_group(case) as srv:
        for mode in ("tcp", "xio", "xio-spin"):
            port = b.port()
            argv = ["redis-server", "--port", str(port), "--bind", "127.0.0.1",
                    "--save", "", "--appendonly", "no", "--protected-mode", "no",
                    "--daemonize", "no", "--dir", b.tmp, "--dbfilename", "r-%s.rdb" % mode,
                    "--logfile", os.path.join(b.raw, "redis-%s.log" % mode)]
            if mode == "tcp":
                argv += ["--unixsocket", sock, "--unixsocketperm", "700"]
            srv.start(mode, b.srv(mode) + argv, port=port,
                      ep=["-h", "127.0.0.1", "-p", str(port)], stdout=None)
        b.wait_listen(srv.procs["tcp"], path=sock)
        srv["uds"] = ["-s", sock]  # the kernel TCP server's
        b.sweep(case, [("-P 1", (1, n1)), ("-P 16", (16, n16))], MODES,
                lambda x, mode, ep: Client(b.cli(mode) + ["redis-benchmark"] + ep + [
                    "-c", "50", "-n", str(x[1]), "-P", str(x[0]), "-t", "get,set", "--csv"],
                    payload=lambda v: 2 * x[1] * 20),  # GET and SET, 20-byte requests or more
                lambda v: "GET %.0f/s, SET %.0f/s" % (v["get_rps"], v["set_rps"]),
                parse=benchlib.redis, servers=srv, slots=50, timeout=120)


def report(b, r):
    P = b.points("redis")
    if not P:
        return
    body = []
    meds = {}
    for op in ("get", "set"):
        t, med = b.table("redis", P, MODES, op + "_rps", [("xio", "tcp"), ("xio", "uds")],
                         op.upper() + " requests/s")
        body += t + [""]
        meds[op] = med
    r.section("6. redis-benchmark GET/SET", "redis", body, plot=meds)
    rs = [meds[op][(p, "xio")] / meds[op][(p, "tcp")] for op in meds for p in P
          if meds[op].get((p, "xio")) and meds[op].get((p, "tcp"))]
    if rs:
        r.target("redis-benchmark: X-IO ≥ 1.4× TCP", "%.2f×–%.2f× (GET/SET, "
                 "-P 1 and 16)" % (min(rs), max(rs)), min(rs) >= 1.4)


def plot(b, ax, meds):
    groups = ["%s %s" % (op.upper(), p) for op in ("get", "set") for p in b.points("redis")]
    benchlib.plot_bars(ax, groups, MODES,
                       lambda g, m: meds[g.split()[0].lower()].get((" ".join(g.split()[1:]), m)))
    ax.set_ylabel("requests/s (median)")
    ax.set_title("redis-benchmark, 50 clients")
