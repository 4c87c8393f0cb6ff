"""Benchmark case `busy`: ping-pong and short connections while a CPU-bound process shares
the server's CPU (a node whose CPUs other work also wants)."""

import os
import subprocess

ORDER = 120
CASE = "busy"
MODES = ["tcp", "xio"]


def run(b):
    secs = 0.5 if b.quick else 2.0
    b.notes[CASE] = [
        "The same client and server programs as in sections 2 and 3 (64 B ping-pong, 64 B "
        "round trips timed; short connections, connect + 64 B each way + close), over "
        "loopback, while a busy loop (`while :; do :; done`) runs on the server's CPU for "
        "the whole case, as other pods' work would on a shared node. %.1f s per run. A "
        "spinning X-IO waiter offers its CPU with sched_yield(); the busy loop then keeps it "
        "until the next tick, so a yield that took longer than 1 ms stops the thread "
        "spinning for a while and it sleeps until its doorbell, which preempts the busy "
        "loop as a TCP wake-up does (stack/wait.c)." % secs]
    busy = subprocess.Popen(["taskset", "-c", str(b.srv_cpu), "sh", "-c", "while :; do :; done"],
                            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    try:
        for prog_name, point, args, show in (
                ("xio-bench-pingpong", "ping-pong 64 B", ["64", str(secs)],
                 lambda v: "p50 %.2f µs, p99 %.2f µs" % (v["p50_us"], v["p99_us"])),
                ("xio-bench-shortconn", "short connections", [str(secs)],
                 lambda v: "%.0f conn/s, p50 %.1f µs" % (v["rate"], v["p50_us"]))):
            prog = os.path.join(b.bench_bin, prog_name)
            with b.prog_servers(CASE + "-" + prog_name[10:], prog, MODES) as srv:
                b.sweep(CASE, [(point, None)], MODES,
                        lambda x, mode, ep: b.cli(mode) + [prog, "client", ep] + args,
                        show, servers=srv, timeout=secs + 60)
    finally:
        busy.kill()
        busy.wait()


def report(b, r):
    if not b.points(CASE):
        return
    body, _ = b.tables(CASE, MODES, [("xio", "tcp")], [
        ("ping", "p50_us", "p50 RTT µs"), ("ping", "p99_us", "p99 RTT µs"),
        ("short", "rate", "connections/s")])
    r.section("12. A busy process on the server's CPU", CASE, body)
