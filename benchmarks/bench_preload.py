"""Benchmark case `preload`: the cost of being preloaded: start time of /bin/true, threads of
a program that never networks, a fresh process's first connect (attach) against its second,
and the CPU used by 1000 idle connections."""

import os
import statistics
import subprocess
import time

import benchlib
from benchlib import MODE_LABEL, ROOT, Failure

ORDER = 80
CASE = "preload"


def run(b):
    case = CASE
    n = 300 if b.quick else 1000
    lib = b.preload_lib
    spawn = os.path.join(b.bench_bin, "xio-bench-spawn")
    b.notes[case] = []

    # a) start time of /bin/true
    def start_client(x, v, ep):
        cmd = ["/bin/true"]
        if v == "xio-run":
            cmd = [b.xio_run, "--domain", b.domain, "/bin/true"]
        envs = ["LD_PRELOAD=" + lib] if v == "preload" else []
        return ["taskset", "-c", str(b.cli_cpu), spawn, str(n)] + envs + ["--"] + cmd

    b.sweep(case, [("start", None)], ["plain", "preload", "xio-run"], start_client,
            lambda x: "/bin/true p50 %.0f µs" % x["p50_us"], payload=lambda x: 0, timeout=120)
    # b) threads of a program that never networks
    for v in ("plain", "preload", "xio-run"):
        argv = ["taskset", "-c", str(b.cli_cpu)]
        extra = {}
        if v == "preload":
            extra = {"LD_PRELOAD": lib}
        if v == "xio-run":
            argv += [b.xio_run, "--domain", b.domain]
        p = subprocess.Popen(argv + ["sleep", "30"], env=b.env(extra),
                             stdin=subprocess.DEVNULL)
        p.bench_name = "sleep-" + v
        b.procs.append(p)
        time.sleep(0.3)
        tasks = len(os.listdir("/proc/%d/task" % p.pid))
        b.stop(p)
        b.records.append(dict(case=case, point="threads", mode=v, rep=1, rc=0,
                              vals=dict(threads=float(tasks)), carried=None))
        b.say("preload threads of `sleep` (%s): %d" % (MODE_LABEL[v], tasks))
    # c) attach: a fresh process's first connect cycle against its second
    attach_cost(b)
    # d) CPU use with 1000 idle connections, kernel TCP and X-IO side by side
    idle(b)
    b.notes[case].insert(0, (
        "Start time: `benchmarks/spawn.c` (`xio-bench-spawn`) posix_spawns `/bin/true` "
        "%d times (after 20 unmeasured) and times each spawn..exit; \"LD_PRELOAD\" adds "
        "only `LD_PRELOAD=%s`, \"xio-run\" runs `xio-run /bin/true` (one more exec). "
        "Threads: /proc/PID/task of `sleep 30` 0.3 s after start." % (n, os.path.relpath(
            lib, ROOT) if lib.startswith(ROOT) else lib)))


def attach_cost(b, procs=15):
    """Each of PROCS fresh processes times its first and second short connection
    (xio-bench-shortconn first); under X-IO the first one attaches to the domain."""
    prog = os.path.join(b.bench_bin, "xio-bench-shortconn")

    def medians(out):
        rows = [benchlib.kv(l) for l in out.splitlines() if l.startswith("first_us=")]
        if len(rows) != procs:
            raise ValueError("%d of %d processes reported" % (len(rows), procs))
        return dict(first_us=statistics.median(r["first_us"] for r in rows),
                    second_us=statistics.median(r["second_us"] for r in rows))

    loop = 'for i in $(seq %d); do "$0" first "$1" || exit 1; done' % procs
    with b.prog_servers("attach", prog, ("tcp", "xio")) as srv:
        b.sweep(CASE, [("attach", None)], ("tcp", "xio"),
                lambda x, mode, ep: b.cli(mode) + ["sh", "-c", loop, prog, ep],
                lambda x: "first %.0f µs, second %.0f µs" % (x["first_us"], x["second_us"]),
                parse=medians, payload=lambda v: 4 * 64 * procs, servers=srv)
    b.notes[CASE].append(
        "Attach: %d fresh processes (`xio-bench-shortconn first`, client on CPU %d, server "
        "on CPU %d) each time their first and their second connect+64 B request+64 B "
        "response+close; the table shows the medians. Under X-IO the first connect also "
        "attaches the process to the domain (control socket, memory fds, mmap), so first "
        "minus second is the attach cost." % (procs, b.cli_cpu, b.srv_cpu))


def idle(b, nconn=1000):
    """CPU of an epoll server and a client holding @nconn idle connections, over 5 s."""
    case = CASE
    prog = os.path.join(b.bench_bin, "xio-bench-manyconn")
    procs = {}
    try:
        for mode in ("tcp", "xio"):
            port = b.port()
            ep = "tcp:127.0.0.1:%d" % port
            s = b.start(b.srv(mode, b.idle_domain) + [prog, "server", ep],
                        "idle-server-%s" % mode, stdout=subprocess.DEVNULL)
            b.wait_listen(s, port=port)
            c = b.start(b.cli(mode, b.idle_domain) + [prog, "idle", ep, str(nconn)],
                        "idle-client-%s" % mode, stdout=subprocess.PIPE)
            procs[mode] = (s, c)
        for mode, (s, c) in procs.items():
            line = c.stdout.readline().decode().strip()
            if line != "idle %d" % nconn:
                raise Failure("idle client (%s) did not open %d connections: %r (raw/idle-"
                              "client-%s.log)" % (mode, nconn, line, mode))
        st = b.xstat(b.idle_domain) or {}
        open_conns = st.get("conns_open", 0)
        time.sleep(0.5)
        hz = os.sysconf("SC_CLK_TCK")

        def cpu(pid):
            f = open("/proc/%d/stat" % pid).read()
            x = f[f.rindex(")") + 2:].split()
            return int(x[11]) + int(x[12])  # utime + stime, fields 14 and 15

        t0 = {m: (cpu(s.pid), cpu(c.pid)) for m, (s, c) in procs.items()}
        w0 = time.monotonic()
        time.sleep(5)
        t1 = {m: (cpu(s.pid), cpu(c.pid)) for m, (s, c) in procs.items()}
        wall = time.monotonic() - w0
        for m, (s, c) in procs.items():
            for who, i, p in (("server", 0, s), ("client", 1, c)):
                ticks = t1[m][i] - t0[m][i]
                threads = len(os.listdir("/proc/%d/task" % p.pid))
                vals = dict(cpu_ms=ticks * 1000.0 / hz, cpu_pct=ticks * 100.0 / hz / wall,
                            threads=float(threads))
                rec = dict(case=case, point="idle " + who, mode=m, rep=1, rc=0, vals=vals,
                           carried=None)
                if m == "xio":
                    rec["carried"] = "yes" if open_conns >= nconn else "no"
                    rec["xio"] = dict(conns_open=open_conns)
                    if open_conns < nconn:
                        b.findings.append("idle: only %d of %d connections are X-IO "
                                          "connections" % (open_conns, nconn))
                b.records.append(rec)
                b.say("idle %d conns, %s %s: %.0f ms CPU in %.1f s, %d threads" % (
                    nconn, MODE_LABEL[m], who, vals["cpu_ms"], wall, threads))
        b.notes[case].append(
            "Idle: `xio-bench-manyconn idle` opens %d connections to an epoll server, "
            "makes one 64-byte round trip on each, then both wait in epoll_wait; CPU is "
            "utime+stime from /proc/PID/stat over %.1f s (tick %d ms). X-IO connections "
            "open during the measurement (xio-stat conns_open): %d. The X-IO side uses a "
            "separate domain (%s, 1100 slots of 16 KiB rings)." % (
                nconn, wall, 1000 // hz, open_conns, b.idle_domain))
    finally:
        for s, c in procs.values():
            b.stop(c)
            b.stop(s)


def report(b, r):
    if not b.points(CASE):
        return
    cell = b.cell
    body = ["| cost of being preloaded | plain | LD_PRELOAD | xio-run | added by preload |",
            "|---|---:|---:|---:|---:|"]
    m0, s0 = cell(CASE, "start", "plain", "p50_us", 1e-3)
    m1, s1 = cell(CASE, "start", "preload", "p50_us", 1e-3)
    m2, s2 = cell(CASE, "start", "xio-run", "p50_us", 1e-3)
    added = (m1 - m0) if (m0 and m1) else None
    body.append("| start + exit of `/bin/true`, p50 ms, median (min–max) of %d | %s | %s "
                "| %s | %s ms |" % (b.reps, s0, s1, s2,
                                    "%.3f" % added if added is not None else "—"))
    m0b, s0b = cell(CASE, "start", "plain", "mean_us", 1e-3)
    m1b, s1b = cell(CASE, "start", "preload", "mean_us", 1e-3)
    m2b, s2b = cell(CASE, "start", "xio-run", "mean_us", 1e-3)
    body.append("| start + exit of `/bin/true`, mean ms | %s | %s | %s | %s ms |" % (
        s0b, s1b, s2b, "%.3f" % (m1b - m0b) if (m0b and m1b) else "—"))
    t0, _ = cell(CASE, "threads", "plain", "threads")
    t1, _ = cell(CASE, "threads", "preload", "threads")
    t2, _ = cell(CASE, "threads", "xio-run", "threads")
    body.append("| threads of `sleep 30` | %s | %s | %s | %s |" % (
        "%d" % t0 if t0 is not None else "—", "%d" % t1 if t1 is not None else "—",
        "%d" % t2 if t2 is not None else "—",
        "%+d" % (t1 - t0) if t0 is not None and t1 is not None else "—"))
    body += ["", "| a fresh process's connections, µs, median (min–max) of %d | kernel TCP "
             "| X-IO |" % b.reps, "|---|---:|---:|"]
    att = {}
    for key, label in (("first_us", "first connect cycle (X-IO: includes attach)"),
                       ("second_us", "second connect cycle")):
        cells = []
        for m in ("tcp", "xio"):
            v, txt = cell(CASE, "attach", m, key)
            att[(m, key)] = v
            cells.append(txt)
        body.append("| %s | %s | %s |" % (label, cells[0], cells[1]))
    if att.get(("xio", "first_us")) and att.get(("xio", "second_us")):
        body.append("| attach cost (X-IO first − second) | | %.0f µs |" % (
            att[("xio", "first_us")] - att[("xio", "second_us")]))
    body += ["", "| 1000 idle connections, 5 s | kernel TCP | X-IO |", "|---|---:|---:|"]
    idle_pct = []
    for who in ("server", "client"):
        cells = []
        for m in ("tcp", "xio"):
            rs = [x for x in b.records if x["case"] == CASE and
                  x["point"] == "idle " + who and x["mode"] == m]
            if rs:
                v = rs[0]["vals"]
                c = "%.0f ms CPU (%.2f %%), %d threads" % (v["cpu_ms"], v["cpu_pct"],
                                                         v["threads"])
                if rs[0].get("carried") == "no":
                    c = "**NOT CARRIED**: " + c
                if m == "xio":
                    idle_pct.append(v["cpu_pct"])
                cells.append(c)
            else:
                cells.append("—")
        body.append("| %s process | %s | %s |" % (who, cells[0], cells[1]))
    r.section("8. Cost of being preloaded", CASE, body)
    if added is not None:
        r.target("preloaded program that never networks: < 1 ms added start time",
                 "%.3f ms (p50)" % added, added < 1.0)
    if t0 is not None and t1 is not None:
        r.target("preloaded program that never networks: 0 extra threads",
                 "%+d" % (t1 - t0), t1 == t0)
    if idle_pct:
        r.target("1000 idle X-IO connections: 0 % CPU",
                 "%.2f %% (max of server, client)" % max(idle_pct), max(idle_pct) < 0.5)
