"""Benchmark case `sockperf`: a 64 B ping-pong cross-check of pingpong.c with a program we
did not write (full run only, or --only sockperf)."""

import benchlib

ORDER = 25
QUICK = False  # 3.5 s per sockperf run: the cross-check is in the full run only
MODES = ["tcp", "xio", "xio-spin"]


def run(b):
    case = "sockperf"
    secs = 1 if b.quick else 2
    b.notes[case] = [
        "sockperf ping-pong, 64 B, TCP (`sockperf pp --tcp -m 64 --mps=5000000 -t %d`: "
        "without a rate, or with `--mps=max`, sockperf sizes its samples for 600 K msg/s and "
        "aborts above; 5 M msg/s is never reached), a cross-check of pingpong.c with "
        "a program we did not write. Latency in µs is sockperf's: half the round trip." % secs]

    def server(x, mode):
        port = b.port()
        return b.server_once(case, mode, b.srv(mode) + ["sockperf", "sr", "--tcp", "-i",
                                                          "127.0.0.1", "-p", str(port)], port)

    b.sweep(case, [("64 B", None)], MODES,
            lambda x, mode, port: b.cli(mode) + [
                "sockperf", "pp", "--tcp", "-i", "127.0.0.1", "-p", str(port), "-t", str(secs),
                "-m", "64", "--mps=5000000"],
            lambda v: "p50 %.2f µs (half RTT)" % v["p50_us"],
            parse=benchlib.sockperf, payload=lambda v: v["obs"] * 64, server=server,
            timeout=secs + 30)


def report(b, r):
    P = b.points("sockperf")
    if not P:
        return
    body, _ = b.table("sockperf", P, MODES, "p50_us", [("xio", "tcp")], "p50 half-RTT µs")
    body2, _ = b.table("sockperf", P, MODES, "p99_us", [("xio", "tcp")], "p99 half-RTT µs")
    r.section("2b. Ping-pong cross-check: sockperf 64 B", "sockperf", body + [""] + body2)
