"""Benchmark case `zerocopy`: X-IO's native zero-copy round trip (benchmarks/zc_pingpong.c)
vs io_uring SQPOLL over kernel TCP (benchmarks/uring_pingpong.c) vs kernel TCP, 64 B .. 64 KiB.
Without zc_pingpong built, the X-IO column is a stand-in (pingpong.c under xio-run --spin)."""

import os
import re

import benchlib
from benchlib import MODE_LABEL, SPIN_US, Failure, size_label

ORDER = 70
ZC_NAMES = ("xio-bench-zc-pingpong", "xio-bench-zc_pingpong", "zc_pingpong",
            "xio-zc-pingpong")
CASE = "zerocopy"


def zc_prog(b):
    """The zero-copy ping-pong program (benchmarks/zc_pingpong.c) if it is built, else None."""
    f = b.prog(*ZC_NAMES)
    src = os.path.join(benchlib.SRC, "zc_pingpong.c")
    if f and os.path.exists(src) and os.path.getmtime(src) > os.path.getmtime(f):
        b.say("warning: %s is older than benchmarks/zc_pingpong.c" % f)
    return f


def uring_placement(b):
    """Where the SQPOLL threads run and how the programs wait for completions:
    (client SQ CPU, server SQ CPU, wait mode, why)."""
    if b.ncpu >= 4:
        return (2, 3, "spin", "each SQPOLL thread has a CPU of its own (2 for the "
                "client's, 3 for the server's) and both programs busy-poll their "
                "completion rings: no system call and no shared CPU on the path")
    return (b.cli_cpu, b.srv_cpu, "wait",
            "with %d CPUs the two programs and their two SQPOLL threads must share CPUs. "
            "Busy-polling the completion ring then starves the SQPOLL thread on the same "
            "CPU until the scheduler's time slice ends, so each program sleeps in "
            "`io_uring_enter(GETEVENTS)` (`-w wait`) with its SQPOLL thread pinned to its "
            "own CPU: the SQPOLL thread completes the receive and wakes the program on the "
            "same CPU. That was the fastest placement when this case was written (checked "
            "by hand: busy-polling, with or without `sched_yield()` between polls, 40-90 ms "
            "per round trip; SQPOLL threads on the peer's CPU 1.4-2× slower; unpinned "
            "about the same as pinned to their own CPU). The full run measures the peer "
            "placement and busy-polling (64 B) as extra columns"
            % b.ncpu)


def run(b):
    case = CASE
    secs = 0.2 if b.quick else 1.0  # the whole quick run must stay under 3 minutes
    sizes = [64, 1024, 4096, 16384, 65536]
    pp = os.path.join(b.bench_bin, "xio-bench-pingpong")
    ur = os.path.join(b.bench_bin, "xio-bench-uring-pingpong")
    if not os.access(ur, os.X_OK):
        raise Failure("%s missing (liburing-dev: packaging/install-deps.sh)" % ur)
    zc = zc_prog(b)
    zmode = "xio-zc" if zc else "xio-zc-standin"
    cli_sq, srv_sq, wait, why = uring_placement(b)
    uring = {"uring": (cli_sq, srv_sq, wait)}
    if not b.quick and 2 <= b.ncpu < 4:
        uring["uring-peer"] = (b.srv_cpu, b.cli_cpu, wait)
        uring["uring-spin"] = (cli_sq, srv_sq, "spin")  # 64 B only: it is that slow
    modes = ["tcp"] + list(uring) + [zmode]
    b.notes[case] = [
        "Round-trip time in µs, one connection, SIZE bytes out and SIZE bytes back, every "
        "round trip timed, %.1f s per run after 0.1 s of warm-up (the X-IO paper's Fig. 7). "
        "Kernel TCP: `benchmarks/pingpong.c` with blocking calls, as in case 2. "
        "io_uring SQPOLL: `benchmarks/uring_pingpong.c` (`xio-bench-uring-pingpong`) over "
        "kernel TCP, liburing, `IORING_SETUP_SQPOLL | IORING_SETUP_SQ_AFF` (the SQPOLL "
        "thread pinned with `sq_thread_cpu`, idle timeout 1 s), the socket a registered "
        "file, send and receive submitted together; both ends checksum every byte they "
        "receive and the client checks the echo." % secs,
        "io_uring placement: client on CPU %d with its SQPOLL thread on CPU %d, server on "
        "CPU %d with its SQPOLL thread on CPU %d, completions %s: %s." % (
            b.cli_cpu, cli_sq, b.srv_cpu, srv_sq,
            "busy-polled" if wait == "spin" else "awaited in io_uring_enter", why)]
    if zc:
        b.notes[case].append(
            "X-IO zero-copy: `%s` (benchmarks/zc_pingpong.c, X-IO's native zero-copy "
            "API; its receiver reads every byte), both ends under `xio-run --spin %d`."
            % (os.path.relpath(zc, b.build_dir) if zc.startswith(b.build_dir + "/")
               else zc, SPIN_US))
    else:
        b.notes[case].append(
            "**Stand-in**: the zero-copy program (benchmarks/zc_pingpong.c) is not built, "
            "so the last column is X-IO's socket path (`pingpong.c` under `xio-run --spin "
            "%d`, case 2's \"X-IO spin\"), which copies once on each side and whose "
            "receiver does not checksum: **not** the zero-copy result." % SPIN_US)

    def argv(mode, role, cpu, ep, *args):
        if mode in uring:
            sq = uring[mode][0 if role == "client" else 1]
            return ["taskset", "-c", str(cpu), ur, "-s", str(sq), "-w", uring[mode][2],
                    role, ep] + list(args)
        return (b.prefix(mode, cpu) + [zc if mode == "xio-zc" else pp, role, ep] +
                list(args))

    def sq_cpu(rec, size):
        v = rec["vals"]
        mode = rec["mode"]
        if mode in uring and v and int(v.get("sq_last_cpu", -1)) != uring[mode][0]:
            b.findings.append(
                "zerocopy %s %s rep %d: client SQPOLL thread last ran on CPU "
                "%s, not the CPU %d it was pinned to" % (
                    rec["point"], MODE_LABEL[mode], rec["rep"], v.get("sq_last_cpu"),
                    uring[mode][0]))

    points = []
    for size in sizes:
        points.append((size_label(size, unit=True), size))
        b.xval[points[-1][0]] = size
    with b.server_group(case) as srv:
        for mode in modes:
            port = b.port()
            try:
                srv.start(mode, argv(mode, "server", b.srv_cpu, "tcp:127.0.0.1:%d" % port),
                          port=port)
            except Failure as e:
                if mode != zmode:
                    raise
                # the other columns are still worth measuring
                log = open(os.path.join(b.raw, "%s-server-%s.log" % (case, mode))).read()
                b.failed.append("zerocopy: %s server: %s; its log: %s" % (
                    MODE_LABEL[mode], e, " ".join(log.split())[-300:]))
                b.say("zerocopy: %s server did not start; measuring the others" %
                      MODE_LABEL[mode])
                b.stop(srv.procs.pop(mode))
                for label, _ in points:  # FAILED cells in its column
                    b.records.append(dict(case=case, point=label, mode=mode, rep=1, rc=-1,
                                          vals=None, carried=None))
        b.sweep(case, points, [m for m in modes if m in srv],
                lambda size, mode, ep: argv(mode, "client", b.cli_cpu, ep, str(size), str(secs)),
                lambda v: "p50 %.2f µs, p99 %.2f µs" % (v["p50_us"], v["p99_us"]),
                payload=lambda v: v.get("bytes", 0), servers=srv, timeout=secs + 30,
                skip=lambda size, mode: mode == "uring-spin" and size != 64, after=sq_cpu)
    # where the SQPOLL threads actually ran, from /proc as the programs saw it
    for mode in uring:
        cli = sorted({(int(r["vals"]["cpu"]), int(r["vals"]["sq_last_cpu"]))
                      for r in b.records if r["case"] == case and r["mode"] == mode
                      and r["vals"]})
        srv_seen = set()
        try:
            for line in open(os.path.join(b.raw, "%s-server-%s.log" % (case, mode))):
                m = re.search(r"cpu=(-?\d+) sq_cpu=-?\d+ sq_last_cpu=(-?\d+)", line)
                if m:
                    srv_seen.add((int(m.group(1)), int(m.group(2))))
        except OSError:
            pass
        b.notes[case].append(
            "Seen in /proc after each run (%s): client on CPU %s with its SQPOLL thread on "
            "CPU %s; server on CPU %s with its SQPOLL thread on CPU %s." % (
                MODE_LABEL[mode], "/".join(sorted({str(a) for a, _ in cli})) or "?",
                "/".join(sorted({str(b) for _, b in cli})) or "?",
                "/".join(sorted({str(a) for a, _ in srv_seen})) or "?",
                "/".join(sorted({str(b) for _, b in srv_seen})) or "?"))


def report(b, r):
    # the headline row is there even when the case was not run
    zc_row = ("| native zero-copy RTT flat across sizes, ≥ 4× better than io_uring SQPOLL | "
              "%s | not run |" % ("failed (see Failed runs)"
                                  if any(f.startswith("zerocopy") for f in b.failed)
                                  else "case zerocopy not in this run"))
    P = b.points(CASE)
    if P:
        zmode = "xio-zc-standin" if any(x["case"] == CASE and x["mode"] == "xio-zc-standin"
                                        for x in b.records) else "xio-zc"
        cols = ["tcp", "uring", "uring-peer", "uring-spin", zmode]
        ratios = [(zmode, "uring"), (zmode, "tcp"), ("uring", "tcp")]
        b50, med = b.table(CASE, P, cols, "p50_us", ratios, "p50 RTT µs")
        b99, _ = b.table(CASE, P, cols, "p99_us", ratios, "p99 RTT µs")
        r.section("7. Native zero-copy round trip vs io_uring SQPOLL vs TCP, 64 B … 64 KiB",
                  CASE, ["p50:", ""] + b50 + ["", "p99:", ""] + b99, plot=med)
        pts = [p for p in P if med.get((p, zmode)) and med.get((p, "uring"))]
        if not pts:
            zc_row = ("| native zero-copy RTT flat across sizes, ≥ 4× better than io_uring "
                      "SQPOLL | no complete X-IO and io_uring pair (see Failed runs) | "
                      "not run |")
        else:
            rs = [med[(p, zmode)] / med[(p, "uring")] for p in pts]
            lo, hi = med.get(("64 B", zmode)), med.get(("64 KiB", zmode))
            flat = hi / lo if lo and hi else None
            m = "%.2f×–%.2f× io_uring's RTT; 64 KiB ÷ 64 B: %s" % (
                min(rs), max(rs), "%.2f×" % flat if flat else "—")
            if zmode == "xio-zc":
                ok = (max(rs) <= 0.25 and flat is not None and flat <= 2.0 and
                      len(pts) == len(P))
                zc_row = ("| native zero-copy RTT flat across sizes (64 KiB ≤ 2× 64 B), ≥ 4× "
                          "better than io_uring SQPOLL (≤ 0.25×) at every size | %s | %s |"
                          % (m, "met" if ok else "**missed**"))
            else:
                zc_row = ("| native zero-copy RTT flat across sizes, ≥ 4× better than "
                          "io_uring SQPOLL | stand-in (X-IO socket path, no zc_pingpong): "
                          "%s | not run |" % m)
    r.rows.append(zc_row)


def plot(b, ax, med):
    pts = b.points(CASE)
    xs = [b.xval[p] for p in pts]
    # (not the busy-polled io_uring column: one point, thousands of times slower)
    benchlib.plot_lines(ax, med, pts, ["tcp", "uring", "uring-peer", "xio-zc", "xio-zc-standin"],
                        xs)
    benchlib.plot_sizes(ax, xs, pts)
    ax.set_ylabel("p50 round trip (µs)")
    ax.set_title("zero-copy round trip vs io_uring SQPOLL vs TCP")
