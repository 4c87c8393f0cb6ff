#!/usr/bin/python3
"""X-IO benchmark suite: kernel TCP vs Unix domain socket vs X-IO, side by side.

Run through benchmarks/run (which finds the build and Debian's python3); see
`benchmarks/run --help`. Standard library only, plus matplotlib for the PNGs
(skipped, with a note, when it is missing).

Every case starts its own servers, pins them with taskset to the server CPU
and the clients to the client CPU, interleaves the modes rep by rep, and kills
only the processes it started (by pid). Every X-IO run is checked against
xio-stat: the domain's byte counter must have grown by the payload the
program reports, with no fallback to kernel TCP, else the cell says so.
"""

import argparse
import csv
import io
import json
import os
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time

import bench_chain
import bench_pods
import procnet

SRC = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(SRC)

MODE_LABEL = {
    "tcp": "kernel TCP",
    "uds": "Unix socket",
    "xio": "X-IO",
    "xio-spin": "X-IO spin",
    "xio-spin0": "X-IO --spin 0",
    "tcp-stream": "kernel TCP (stream.c)",
    "plain": "plain",
    "preload": "LD_PRELOAD",
    "xio-run": "xio-run",
    "uring": "io_uring SQPOLL",
    "uring-peer": "io_uring SQPOLL, SQ thread on the peer's CPU",
    "uring-spin": "io_uring SQPOLL, busy-polled on shared CPUs",
    "xio-zc": "X-IO zero-copy",
    "xio-zc-standin": "X-IO spin (stand-in)",
}
XIO_MODES = ("xio", "xio-spin", "xio-spin0", "xio-zc", "xio-zc-standin")
SPIN_US = 50


def fmt_num(v):
    """Compact number: 3 significant digits, thousands with a separator."""
    if v is None:
        return "—"
    a = abs(v)
    if a >= 10000:
        return "{:,.0f}".format(v).replace(",", " ")
    if a >= 100:
        return "%.0f" % v
    if a >= 10:
        return "%.1f" % v
    if a >= 1:
        return "%.2f" % v
    return "%.3f" % v


def size_label(n, unit=False):
    """1K/128K/1M as iperf3 -l takes them; with @unit "64 B", "1 KiB", "1 MiB"."""
    if n >= 1 << 20 and n % (1 << 20) == 0:
        return "%d MiB" % (n >> 20) if unit else "%dM" % (n >> 20)
    if n >= 1024 and n % 1024 == 0:
        return "%d KiB" % (n >> 10) if unit else "%dK" % (n >> 10)
    return "%d B" % n if unit else "%d" % n


class Failure(Exception):
    pass


class Bench:
    def __init__(self, a):
        self.a = a
        self.t_start = time.monotonic()
        self.procs = []  # every Popen we started, for cleanup
        self.records = []
        self.xval = {}  # point label -> x value for the plots
        self.notes = {}  # case -> list of extra lines
        self.findings = []  # product misbehaviour seen during the run
        self.failed = []
        self.ports = iter(range(19000, 20000))
        self.quick = a.quick
        self.reps = 3 if a.quick else 5
        self.build_dir = os.path.abspath(a.build_dir)
        self.bin = os.path.join(self.build_dir, "bin")
        self.out = os.path.abspath(a.out)
        self.raw = os.path.join(self.out, "raw")
        ncpu = os.cpu_count() or 1
        self.ncpu = ncpu
        self.srv_cpu, self.cli_cpu = (1, 0) if ncpu >= 2 else (0, 0)
        self.placement = "server `taskset -c %d`, client `taskset -c %d`" % (self.srv_cpu,
                                                                              self.cli_cpu)
        if ncpu < 2:
            self.placement += " (1 CPU: both ends share it)"

    # ---- output ---------------------------------------------------------------
    def say(self, msg):
        el = time.monotonic() - self.t_start
        sys.stderr.write("[bench %4.0fs] %s\n" % (el, msg))
        sys.stderr.flush()

    # ---- processes ------------------------------------------------------------
    def env(self, extra=None):
        e = {k: v for k, v in os.environ.items()
             if k != "LD_PRELOAD" and not k.startswith("XIO_")}
        e["XIO_RUNDIR"] = self.rundir
        if extra:
            e.update(extra)
        return e

    def prefix(self, mode, cpu, domain=None):
        p = ["taskset", "-c", str(cpu)]
        d = domain or self.domain
        if mode == "xio":
            p += [self.xio_run, "--domain", d]
        elif mode in ("xio-spin", "xio-zc", "xio-zc-standin"):
            p += [self.xio_run, "--domain", d, "--spin", str(SPIN_US)]
        elif mode == "xio-spin0":
            p += [self.xio_run, "--domain", d, "--spin", "0"]
        return p

    def start(self, argv, name, stdout=None):
        log = open(os.path.join(self.raw, name + ".log"), "w")
        p = subprocess.Popen(argv, stdin=subprocess.DEVNULL,
                             stdout=stdout if stdout is not None else log,
                             stderr=log, env=self.env(), cwd=self.tmp)
        p.bench_name = name
        self.procs.append(p)
        return p

    def stop(self, p, sig=signal.SIGTERM, grace=3.0):
        if p is None or p.poll() is not None:
            return
        try:
            os.kill(p.pid, sig)
        except ProcessLookupError:
            return
        try:
            p.wait(timeout=grace)
        except subprocess.TimeoutExpired:
            self.say("%s (pid %d) ignored signal %d; killing it" % (p.bench_name, p.pid, sig))
            os.kill(p.pid, signal.SIGKILL)
            p.wait()

    def run(self, argv, name, timeout):
        """Run a client to completion: (rc, stdout, seconds). rc -9 on timeout."""
        errf = open(os.path.join(self.raw, name + ".err"), "w")
        t0 = time.monotonic()
        p = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                             stderr=errf, env=self.env(), cwd=self.tmp)
        p.bench_name = name
        self.procs.append(p)
        try:
            out, _ = p.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            os.kill(p.pid, signal.SIGKILL)
            out, _ = p.communicate()
            self.procs.remove(p)
            with open(os.path.join(self.raw, name + ".out"), "wb") as f:
                f.write(out or b"")
            return -9, (out or b"").decode(errors="replace"), time.monotonic() - t0
        self.procs.remove(p)
        text = out.decode(errors="replace")
        with open(os.path.join(self.raw, name + ".out"), "w") as f:
            f.write(text)
        return p.returncode, text, time.monotonic() - t0

    def port(self):
        for p in self.ports:
            s = socket.socket()
            try:
                s.bind(("127.0.0.1", p))  # no SO_REUSEADDR: skips TIME_WAIT ports too
                return p
            except OSError:
                continue
            finally:
                s.close()
        raise Failure("no free port in 19000-19999")

    @staticmethod
    def listening(port):
        return procnet.listening(port)

    def wait_listen(self, p, port=None, path=None, timeout=10.0):
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            if p.poll() is not None:
                raise Failure("%s exited with %s before listening (raw/%s.log)"
                              % (p.bench_name, p.returncode, p.bench_name))
            if port is not None and self.listening(port):
                return
            if path is not None and os.path.exists(path):
                return
            time.sleep(0.01)
        raise Failure("%s did not listen within %.0f s" % (p.bench_name, timeout))

    # ---- X-IO -----------------------------------------------------------------
    def xstat(self, domain=None):
        try:
            r = subprocess.run([self.xio_stat, "--domain", domain or self.domain,
                                "--rundir", self.rundir, "--json"],
                               capture_output=True, timeout=10, env=self.env())
            if r.returncode != 0:
                return None
            return json.loads(r.stdout)
        except Exception:
            return None

    def start_manager(self, domain, slots, ring_kb=None, group=None):
        if self.xstat(domain) is not None:
            self.say("reusing the running manager of domain %s (%s)" % (domain, self.rundir))
            return None
        argv = [self.xio_manager, "--domain", domain, "--rundir", self.rundir,
                "--slots", str(slots), "--foreground", "-v"]
        if ring_kb:
            argv += ["--ring-kb", str(ring_kb)]
        if group:
            argv += ["--group", group]
        p = self.start(argv, "manager-" + domain)
        for _ in range(1000):
            if self.xstat(domain) is not None:
                break
            if p.poll() is not None:
                raise Failure("xio-manager for %s exited %s: %s" % (
                    domain, p.returncode,
                    open(os.path.join(self.raw, "manager-%s.log" % domain)).read().strip()))
            time.sleep(0.02)
        else:
            raise Failure("xio-manager for %s does not answer" % domain)
        line = open(os.path.join(self.raw, "manager-%s.log" % domain)).read().strip()
        line = line.splitlines()[-1] if line else "manager started"
        self.say("manager: " + line)
        self.manager_lines[domain] = line
        return p

    # ---- one measured client run ----------------------------------------------
    def wait_slots(self, need, domain=None):
        """Before an X-IO run that opens @need connections at once, wait (up to 5 s) until the
        domain has that many free slots: the server of the previous run may still be closing
        its connections, and a connect that finds the domain full silently uses TCP."""
        t0 = time.monotonic()
        while True:
            st = self.xstat(domain)
            if not st or st["slots"] - st["slots_in_use"] >= need or time.monotonic() - t0 > 5:
                break
            time.sleep(0.05)
        waited = time.monotonic() - t0
        if waited > 1:
            self.say("waited %.1f s for %d free X-IO slots (%s in use)" % (
                waited, need, st and st["slots_in_use"]))

    def measure(self, case, point, mode, rep, argv, timeout, parse, payload, domain=None,
                slots=1):
        """Run one client, parse its output, check X-IO carriage. Returns the values or None."""
        name = "%s-%s-%s-%d" % (case, re.sub(r"[^A-Za-z0-9]+", "_", str(point)), mode, rep)
        if mode in XIO_MODES:
            self.wait_slots(slots + 4, domain)
        x0 = self.xstat(domain) if mode in XIO_MODES else None
        rc, out, secs = self.run(argv, name, timeout)
        vals = None
        if rc == 0:
            try:
                vals = parse(out)
            except Exception as e:
                vals = None
                self.say("%s: cannot parse output (%s)" % (name, e))
        rec = dict(case=case, point=point, mode=mode, rep=rep, rc=rc, vals=vals,
                   secs=round(secs, 3), raw=name, carried=None)
        if mode in XIO_MODES:
            x1 = self.xstat(domain)
            if x0 and x1:
                db = x1["bytes"] - x0["bytes"]
                df = x1["fallback_total"] - x0["fallback_total"]
                dc = x1["conns_total"] - x0["conns_total"]
                rec["xio"] = dict(bytes=db, fallbacks=df, conns=dc,
                                  fallback_reasons={k: x1["fallback"][k] - x0["fallback"].get(k, 0)
                                                    for k in x1["fallback"]
                                                    if x1["fallback"][k] != x0["fallback"].get(k, 0)})
                want = payload(vals) if vals else 0
                if db <= 0 or (want and db < 0.9 * want):
                    rec["carried"] = "no"
                elif df > 0:
                    rec["carried"] = "partly"
                else:
                    rec["carried"] = "yes"
            else:
                rec["carried"] = "unknown"
        self.records.append(rec)
        if rc != 0 or vals is None:
            why = "timed out" if rc == -9 else "exit %d" % rc
            self.failed.append("%s %s %s rep %d: %s (raw/%s.err)" % (
                case, point, MODE_LABEL[mode], rep, why, name))
            self.say("%s %s %s rep %d: FAILED (%s)" % (case, point, MODE_LABEL[mode], rep, why))
        if rec["carried"] in ("no", "partly", "unknown"):
            self.findings.append("%s %s %s rep %d: carried=%s, xio-stat %s (raw/%s.*)" % (
                case, point, MODE_LABEL[mode], rep, rec["carried"], rec.get("xio"), name))
        return rec

    def progress(self, rec, summary):
        tag = ""
        if rec["carried"] == "no":
            tag = " NOT CARRIED"
        elif rec["carried"] == "partly":
            tag = " (partly TCP: %d fallbacks)" % rec["xio"]["fallbacks"]
        if rec["vals"] is not None:
            self.say("%s %s rep %d/%d %s: %s%s" % (rec["case"], rec["point"], rec["rep"],
                                                   self.reps, MODE_LABEL[rec["mode"]],
                                                   summary(rec["vals"]), tag))

    # ---- parsers ----------------------------------------------------------------
    @staticmethod
    def kv(out):
        line = [l for l in out.splitlines() if "=" in l][-1]
        d = {}
        for tok in line.split():
            k, v = tok.split("=", 1)
            d[k] = float(v)
        return d

    @staticmethod
    def iperf3(out):
        d = json.loads(out)
        if "error" in d:
            raise ValueError(d["error"])
        e = d["end"]
        return dict(gbps=e["sum_received"]["bits_per_second"] / 1e9,
                    bytes=float(e["sum_sent"]["bytes"]))

    @staticmethod
    def sockperf(out):
        t = re.sub(r"\x1b\[[0-9;]*m", "", out)
        p50 = float(re.search(r"percentile 50\.000 =\s*([0-9.]+)", t).group(1))
        p99 = float(re.search(r"percentile 99\.000 =\s*([0-9.]+)", t).group(1))
        obs = int(re.search(r"Total (\d+) observations", t).group(1))
        return dict(p50_us=p50, p99_us=p99, obs=float(obs))

    @staticmethod
    def wrk(out):
        def us(v, unit):
            return float(v) * {"us": 1, "ms": 1e3, "s": 1e6}[unit]
        rps = float(re.search(r"Requests/sec:\s*([0-9.]+)", out).group(1))
        m = re.search(r"^\s*99%\s+([0-9.]+)(us|ms|s)\s*$", out, re.M)
        p50 = re.search(r"^\s*50%\s+([0-9.]+)(us|ms|s)\s*$", out, re.M)
        n = int(re.search(r"(\d+) requests in", out).group(1))
        errs = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
        sock_errs = re.search(r"Socket errors: (.*)", out)
        if errs or sock_errs:
            raise ValueError("wrk reported errors: %s %s" % (errs and errs.group(0),
                                                             sock_errs and sock_errs.group(0)))
        return dict(rps=rps, p99_us=us(*m.groups()), p50_us=us(*p50.groups()), requests=float(n))

    @staticmethod
    def redis(out):
        rows = list(csv.reader(io.StringIO(out)))
        hdr = rows[0]
        d = {}
        for r in rows[1:]:
            if len(r) != len(hdr):
                continue
            rec = dict(zip(hdr, r))
            t = rec["test"].split()[0].lower()
            d[t + "_rps"] = float(rec["rps"])
            d[t + "_p50_ms"] = float(rec["p50_latency_ms"])
            d[t + "_p99_ms"] = float(rec["p99_latency_ms"])
        if "get_rps" not in d or "set_rps" not in d:
            raise ValueError("no GET/SET rows")
        return d

    # ---- cases ------------------------------------------------------------------
    def servers(self, prog, modes, case, tcp_port_modes=None):
        """Start one server of @prog per mode: {mode: (proc, endpoint)}."""
        res = {}
        for mode in modes:
            if mode == "uds":
                path = os.path.join(self.tmp, "%s.sock" % case)
                ep = "unix:" + path
                p = self.start(self.prefix("tcp", self.srv_cpu) + [prog, "server", ep],
                               "%s-server-%s" % (case, mode), stdout=subprocess.DEVNULL)
                self.wait_listen(p, path=path)
            else:
                port = self.port()
                ep = "tcp:127.0.0.1:%d" % port
                srv_mode = "tcp" if mode == "tcp-stream" else mode
                p = self.start(self.prefix(srv_mode, self.srv_cpu) + [prog, "server", ep],
                               "%s-server-%s" % (case, mode), stdout=subprocess.DEVNULL)
                self.wait_listen(p, port=port)
            res[mode] = (p, ep)
        return res

    def case_iperf3(self):
        case = "iperf3"
        secs = 1 if self.quick else 3
        if self.quick:
            grid = [(1, 128 << 10), (4, 128 << 10)]
        else:
            grid = [(p, l) for p in (1, 4) for l in (1 << 10, 16 << 10, 128 << 10, 1 << 20)]
        modes = ["tcp", "uds", "xio", "xio-spin"] + ([] if self.quick else ["tcp-stream"])
        self.notes[case] = [
            "Throughput in Gbit/s, %d s per run. The kernel TCP and X-IO columns are iperf3 "
            "(`iperf3 -c 127.0.0.1 -t %d -l LEN -P STREAMS`, receiver rate). iperf3 has no "
            "Unix-socket mode, so the Unix socket column is `benchmarks/stream.c` "
            "(`xio-bench-stream`: STREAMS connections, one thread each, LEN-byte writes, rate "
            "measured until the receiver has read everything); the last column runs the same "
            "stream.c over kernel TCP to show how it compares with iperf3 (full run only)." % (secs, secs)]
        stream = os.path.join(self.bench_bin, "xio-bench-stream")
        srv = self.servers(stream, ["uds", "tcp-stream"], case)
        try:
            for streams, ln in grid:
                point = "P=%d -l %s" % (streams, size_label(ln))
                for rep in range(1, self.reps + 1):
                    for mode in modes:
                        if mode in ("uds", "tcp-stream"):
                            argv = self.prefix("tcp", self.cli_cpu) + [
                                stream, "client", srv[mode][1], str(streams), str(ln), str(secs)]
                            rec = self.measure(case, point, mode, rep, argv, secs + 60,
                                               self.kv, lambda v: 0)
                        else:
                            port = self.port()
                            sp = self.start(self.prefix(mode, self.srv_cpu) +
                                            ["iperf3", "-s", "-p", str(port), "-1"],
                                            "%s-server-%s-%d" % (case, mode, port))
                            try:
                                self.wait_listen(sp, port=port)
                                argv = self.prefix(mode, self.cli_cpu) + [
                                    "iperf3", "-c", "127.0.0.1", "-p", str(port), "-t", str(secs),
                                    "-l", str(ln), "-P", str(streams), "-J"]
                                rec = self.measure(case, point, mode, rep, argv, secs + 60,
                                                   self.iperf3, lambda v: v["bytes"],
                                                   slots=streams + 1)
                            finally:
                                try:
                                    sp.wait(timeout=5)
                                except subprocess.TimeoutExpired:
                                    self.stop(sp)
                        self.progress(rec, lambda v: "%.2f Gbit/s" % v["gbps"])
        finally:
            for p, _ in srv.values():
                self.stop(p)

    def case_pingpong(self):
        case = "pingpong"
        secs = 0.3 if self.quick else 1.0
        sizes = [64, 1024, 65536] if self.quick else [64, 256, 1024, 4096, 16384, 65536]
        modes = ["tcp", "uds", "xio", "xio-spin", "xio-spin0"]
        self.notes[case] = [
            "Round-trip time in µs of `benchmarks/pingpong.c` (`xio-bench-pingpong`): one "
            "connection, blocking write of SIZE bytes then blocking read of SIZE bytes back, "
            "every round trip timed, %.1f s per run after 0.1 s of warm-up; the server echoes. "
            "X-IO spin: both ends under `xio-run --spin %d`. X-IO's default spins up to 20 µs "
            "inside the blocking call, so its column shows the spinning path; \"X-IO --spin 0\" "
            "sleeps at once and shows the doorbell (wake-up) path." % (secs, SPIN_US)]
        prog = os.path.join(self.bench_bin, "xio-bench-pingpong")
        srv = self.servers(prog, modes, case)
        try:
            for size in sizes:
                point = size_label(size, unit=True)
                self.xval[point] = size
                for rep in range(1, self.reps + 1):
                    for mode in modes:
                        argv = self.prefix(mode, self.cli_cpu) + [
                            prog, "client", srv[mode][1], str(size), str(secs)]
                        rec = self.measure(case, point, mode, rep, argv, secs + 30, self.kv,
                                           lambda v: v["bytes"])
                        self.progress(rec, lambda v: "p50 %.2f µs, p99 %.2f µs" %
                                      (v["p50_us"], v["p99_us"]))
                        if srv[mode][0].poll() is not None:
                            raise Failure("pingpong server %s died" % mode)
        finally:
            for p, _ in srv.values():
                self.stop(p)

    def case_sockperf(self):
        case = "sockperf"
        secs = 1 if self.quick else 2
        modes = ["tcp", "xio", "xio-spin"]
        self.notes[case] = [
            "sockperf ping-pong, 64 B, TCP (`sockperf pp --tcp -m 64 --mps=5000000 -t %d`: "
            "without a rate, or with `--mps=max`, sockperf sizes its samples for 600 K msg/s and "
            "aborts above; 5 M msg/s is never reached), a cross-check of pingpong.c with "
            "a program we did not write. Latency in µs is sockperf's: half the round trip." % secs]
        for rep in range(1, self.reps + 1):
            for mode in modes:
                port = self.port()
                sp = self.start(self.prefix(mode, self.srv_cpu) +
                                ["sockperf", "sr", "--tcp", "-i", "127.0.0.1", "-p", str(port)],
                                "%s-server-%s-%d" % (case, mode, port))
                try:
                    self.wait_listen(sp, port=port)
                    argv = self.prefix(mode, self.cli_cpu) + [
                        "sockperf", "pp", "--tcp", "-i", "127.0.0.1", "-p", str(port),
                        "-t", str(secs), "-m", "64", "--mps=5000000"]
                    rec = self.measure(case, "64 B", mode, rep, argv, secs + 30, self.sockperf,
                                       lambda v: v["obs"] * 64)
                    self.progress(rec, lambda v: "p50 %.2f µs (half RTT)" % v["p50_us"])
                finally:
                    self.stop(sp)

    def case_shortconn(self):
        case = "shortconn"
        secs = 0.8 if self.quick else 2.0
        modes = ["tcp", "uds", "xio", "xio-spin"]
        self.notes[case] = [
            "`benchmarks/shortconn.c` (`xio-bench-shortconn`): one client process loops "
            "connect, write 64 B, read 64 B, close; one single-threaded server accepts, "
            "answers and closes after the client; %.1f s per run after 0.1 s of warm-up. "
            "Connections per second, and the time of one whole cycle." % secs]
        prog = os.path.join(self.bench_bin, "xio-bench-shortconn")
        srv = self.servers(prog, modes, case)
        try:
            for rep in range(1, self.reps + 1):
                for mode in modes:
                    argv = self.prefix(mode, self.cli_cpu) + [prog, "client", srv[mode][1],
                                                              str(secs)]
                    rec = self.measure(case, "64 B", mode, rep, argv, secs + 60, self.kv,
                                       lambda v: v["bytes"])
                    if rec["vals"] and rec["vals"].get("errors"):
                        self.findings.append("shortconn %s rep %d: %d connect/IO errors" % (
                            MODE_LABEL[mode], rep, rec["vals"]["errors"]))
                    self.progress(rec, lambda v: "%.0f conn/s, p50 %.1f µs" %
                                  (v["rate"], v["p50_us"]))
        finally:
            for p, _ in srv.values():
                self.stop(p)

    def case_manyconn(self):
        case = "manyconn"
        secs = 0.4 if self.quick else 1.5
        grid = [1, 16, 256] if self.quick else [1, 4, 16, 64, 256]
        modes = ["tcp", "uds", "xio", "xio-spin0"]
        self.notes[case] = [
            "`benchmarks/manyconn.c` (`xio-bench-manyconn`): one client thread on epoll keeps "
            "one 64-byte message in flight on each of N connections; one server thread on "
            "epoll echoes. Round trips per second over all connections, %.1f s per run after "
            "0.1 s of warm-up." % secs,
            "X-IO has no separate batched-wake-up switch yet: \"X-IO\" is its default "
            "(spin up to 20 µs, then sleep until a doorbell; doorbells to one connection are "
            "coalesced) and \"X-IO --spin 0\" sleeps at once, so every wake-up is a doorbell."]
        prog = os.path.join(self.bench_bin, "xio-bench-manyconn")
        srv = self.servers(prog, modes, case)
        try:
            for n in grid:
                point = "%d conn%s" % (n, "" if n == 1 else "s")
                for rep in range(1, self.reps + 1):
                    for mode in modes:
                        argv = self.prefix(mode, self.cli_cpu) + [
                            prog, "client", srv[mode][1], str(n), "64", str(secs)]
                        rec = self.measure(case, point, mode, rep, argv, secs + 60, self.kv,
                                           lambda v: v["bytes"], slots=n)
                        self.progress(rec, lambda v: "%.0f msg/s, p99 %.1f µs" %
                                      (v["rate"], v["p99_us"]))
                        if srv[mode][0].poll() is not None:
                            raise Failure("manyconn server %s died" % mode)
        finally:
            for p, _ in srv.values():
                self.stop(p)
        self.manyconn_scale(prog, secs)

    def manyconn_scale(self, prog, secs):
        """manyconn at node scale (issue 15): 10,000 connections (1,000 with --quick) on a
        manager with the default geometry, kernel TCP vs X-IO, and the memory each holds for
        them once idle (X-IO: xio-stat memory in use; TCP: /proc/net/sockstat TCP mem)."""
        case, n, dom = "manyconn", 1000 if self.quick else 10000, "bench-scale"
        point = "%d conns" % n
        self.managers.append(self.start_manager(dom, 16384))  # the default --max-conns
        srv = {}
        try:
            for mode in ["tcp", "xio"]:
                port = self.port()
                ep = "tcp:127.0.0.1:%d" % port
                p = self.start(self.prefix(mode, self.srv_cpu, dom) + [prog, "server", ep],
                               "%s-scale-server-%s" % (case, mode), stdout=subprocess.DEVNULL)
                self.wait_listen(p, port=port)
                srv[mode] = (p, ep)
            def drained():
                """The previous run's n slots are reclaimed a sweep or two after it closed:
                until then a new run of n would find the domain full."""
                t0 = time.monotonic()
                while time.monotonic() - t0 < 30:
                    st = self.xstat(dom)
                    if not st or st["slots_in_use"] == 0:
                        return
                    time.sleep(0.2)
            for rep in range(1, self.reps + 1):
                for mode in ["tcp", "xio"]:
                    drained()
                    argv = self.prefix(mode, self.cli_cpu, dom) + [
                        prog, "client", srv[mode][1], str(n), "64", str(secs)]
                    rec = self.measure(case, point, mode, rep, argv, secs + 120, self.kv,
                                       lambda v: v["bytes"], domain=dom, slots=n)
                    self.progress(rec, lambda v: "%.0f msg/s, p99 %.1f µs, connect %.0f µs" %
                                  (v["rate"], v["p99_us"], v.get("connect_us", 0)))
            mem = {}
            for mode in ["tcp", "xio"]:
                drained()
                argv = self.prefix(mode, self.cli_cpu, dom) + [
                    prog, "client", srv[mode][1], str(n), "64", "0.5", "hold"]
                tcp0 = self.sockstat_tcp_mem()
                p = self.start(argv, "%s-scale-hold-%s" % (case, mode), stdout=subprocess.PIPE)
                try:
                    t0 = time.monotonic()
                    while time.monotonic() - t0 < 180:
                        line = p.stdout.readline().decode(errors="replace")
                        if not line or line.startswith("holding"):
                            break
                    time.sleep(3)  # idle: two sweeps give the rings' pages back
                    if mode == "xio":
                        st = self.xstat(dom) or {}
                        mem[mode] = (st.get("memory_in_use", 0), st.get("memory_bytes", 0),
                                     st.get("conns_open", 0), st.get("fallback_total", 0))
                    else:
                        mem[mode] = (max(0, self.sockstat_tcp_mem() - tcp0),)
                finally:
                    self.stop(p)
            if mem.get("xio") and mem.get("tcp"):
                used, reserved, carried, fb = mem["xio"]
                self.notes[case].append(
                    "%d connections (row \"%s\"): a manager with the default geometry (16384 "
                    "slots, 1 MiB rings in a sparse ring file; domain %s). Idle after a short "
                    "ping-pong, X-IO carried %d of them (%d fallbacks) with %.0f MiB of domain "
                    "memory in use (%.0f MiB of it reserved for slots and zero-copy buffers, the "
                    "rest ring pages); kernel TCP held %.0f MiB of socket buffers (sockstat "
                    "`TCP: mem`, socket structures not counted) for the same connections." % (n, point, dom, carried, fb, used / 2**20,
                                               reserved / 2**20, mem["tcp"][0] / 2**20))
        finally:
            for p, _ in srv.values():
                self.stop(p)

    @staticmethod
    def sockstat_tcp_mem():
        """Bytes of kernel TCP socket buffers now (/proc/net/sockstat "TCP: ... mem PAGES")."""
        for line in open("/proc/net/sockstat"):
            if line.startswith("TCP:"):
                f = line.split()
                return int(f[f.index("mem") + 1]) * 4096
        return 0

    # ---- nginx serving a 1 KiB file (cases wrk and pods) ----------------------------------
    NGINX_CONF = """worker_processes 2;
daemon off;
master_process on;
pid %(d)s/nginx.pid;
error_log %(d)s/error.log warn;
events { worker_connections 4096; }
http {
    access_log off;
    sendfile on;
    keepalive_requests 100000000;
    keepalive_timeout 300s;
    client_body_temp_path %(d)s/body;
    server {
        listen %(addr)s:%(port)d;
        root %(www)s;
        location / { }
    }
}
"""

    def nginx_site(self, name, addr, port):
        """A 1 KiB file and an nginx configuration in self.tmp/name: (dir, conf path)."""
        www = os.path.join(self.tmp, "www")
        os.makedirs(www, exist_ok=True)
        with open(os.path.join(www, "1k.bin"), "wb") as f:
            f.write(b"x" * 1024)
        os.chmod(self.tmp, 0o755)  # nginx workers run as nobody
        os.chmod(www, 0o755)
        os.chmod(os.path.join(www, "1k.bin"), 0o644)
        d = os.path.join(self.tmp, name)
        os.makedirs(os.path.join(d, "body"), exist_ok=True)
        conf = os.path.join(d, "nginx.conf")
        with open(conf, "w") as f:
            f.write(self.NGINX_CONF % dict(d=d, port=port, www=www, addr=addr))
        return d, conf

    def case_wrk(self):
        case = "wrk"
        secs = 1 if self.quick else 2
        grid = [1, 16, 64] if self.quick else [1, 4, 16, 64, 256]
        modes = ["tcp", "xio", "xio-spin"]
        self.notes[case] = [
            "nginx %s (2 workers, `access_log off`, keepalive, a 1 KiB static file; config "
            "written to a temporary folder) against `wrk -t 1 -c N -d %ds --latency` "
            "(HTTP/1.1 keepalive). Both nginx workers run on the server CPU. wrk cannot use a "
            "Unix socket, so there is no Unix-socket column. X-IO columns: nginx and wrk both "
            "under xio-run." % (self.nginx_version, secs)]
        srv = {}
        try:
            for mode in modes:
                port = self.port()
                d, conf = self.nginx_site("nginx-" + mode, "127.0.0.1", port)
                p = self.start(self.prefix(mode, self.srv_cpu) +
                               ["nginx", "-p", d, "-c", conf, "-e", os.path.join(d, "error.log")],
                               "%s-nginx-%s" % (case, mode))
                self.wait_listen(p, port=port)
                srv[mode] = (p, "http://127.0.0.1:%d/1k.bin" % port)
            time.sleep(0.2)  # both workers up
            for n in grid:
                point = "%d conn%s" % (n, "" if n == 1 else "s")
                for rep in range(1, self.reps + 1):
                    for mode in modes:
                        argv = self.prefix(mode, self.cli_cpu) + [
                            "wrk", "-t", "1", "-c", str(n), "-d", "%ds" % secs, "--latency",
                            srv[mode][1]]
                        rec = self.measure(case, point, mode, rep, argv, secs + 60, self.wrk,
                                           lambda v: v["requests"] * 1024, slots=n)
                        self.progress(rec, lambda v: "%.0f req/s, p99 %.0f µs" %
                                      (v["rps"], v["p99_us"]))
                        if srv[mode][0].poll() is not None:
                            raise Failure("nginx %s died" % mode)
        finally:
            for p, _ in srv.values():
                self.stop(p, signal.SIGTERM)

    def case_redis(self):
        case = "redis"
        n1 = 20000 if self.quick else 100000
        n16 = 100000 if self.quick else 1000000
        modes = ["tcp", "uds", "xio", "xio-spin"]
        self.notes[case] = [
            "redis-server %s (`--save \"\" --appendonly no`, private port) against "
            "`redis-benchmark -c 50 -t get,set --csv` with -n %d unpipelined and -n %d with "
            "-P 16; requests per second. The Unix-socket column uses `redis-benchmark -s` "
            "against the same plain server's `--unixsocket`."
            % (self.redis_version, n1, n16)]
        srv = {}
        sock = os.path.join(self.tmp, "redis.sock")
        try:
            for mode in ("tcp", "xio", "xio-spin"):
                port = self.port()
                argv = ["redis-server", "--port", str(port), "--bind", "127.0.0.1",
                        "--save", "", "--appendonly", "no", "--protected-mode", "no",
                        "--daemonize", "no", "--dir", self.tmp, "--dbfilename", "r-%s.rdb" % mode,
                        "--logfile", os.path.join(self.raw, "redis-%s.log" % mode)]
                if mode == "tcp":
                    argv += ["--unixsocket", sock, "--unixsocketperm", "700"]
                p = self.start(self.prefix(mode, self.srv_cpu) + argv, "%s-server-%s" % (case, mode))
                self.wait_listen(p, port=port)
                srv[mode] = (p, ["-h", "127.0.0.1", "-p", str(port)])
            self.wait_listen(srv["tcp"][0], path=sock)
            srv["uds"] = (srv["tcp"][0], ["-s", sock])
            for pipe, n in ((1, n1), (16, n16)):
                point = "-P %d" % pipe
                for rep in range(1, self.reps + 1):
                    for mode in modes:
                        argv = self.prefix(mode, self.cli_cpu) + [
                            "redis-benchmark"] + srv[mode][1] + [
                            "-c", "50", "-n", str(n), "-P", str(pipe), "-t", "get,set", "--csv"]
                        rec = self.measure(case, point, mode, rep, argv, 120, self.redis,
                                           lambda v: 2 * n * 20, slots=50)
                        self.progress(rec, lambda v: "GET %.0f/s, SET %.0f/s" %
                                      (v["get_rps"], v["set_rps"]))
        finally:
            for p, _ in srv.values():
                self.stop(p)

    # ---- case 7: native zero-copy vs io_uring SQPOLL vs TCP -------------------------
    ZC_NAMES = ("xio-bench-zc-pingpong", "xio-bench-zc_pingpong", "zc_pingpong",
                "xio-zc-pingpong")

    def zc_prog(self):
        """The zero-copy ping-pong program (benchmarks/zc_pingpong.c) if it is built, else None."""
        for d in (self.bench_bin, self.bin):
            for n in self.ZC_NAMES:
                f = os.path.join(d, n)
                if os.access(f, os.X_OK):
                    src = os.path.join(SRC, "zc_pingpong.c")
                    if os.path.exists(src) and os.path.getmtime(src) > os.path.getmtime(f):
                        self.say("warning: %s is older than benchmarks/zc_pingpong.c" % f)
                    return f
        return None

    def uring_placement(self):
        """Where the SQPOLL threads run and how the programs wait for completions:
        (client SQ CPU, server SQ CPU, wait mode, why)."""
        if self.ncpu >= 4:
            return (2, 3, "spin", "each SQPOLL thread has a CPU of its own (2 for the "
                    "client's, 3 for the server's) and both programs busy-poll their "
                    "completion rings: no system call and no shared CPU on the path")
        return (self.cli_cpu, self.srv_cpu, "wait",
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
                % self.ncpu)

    def case_zerocopy(self):
        case = "zerocopy"
        secs = 0.2 if self.quick else 1.0  # the whole quick run must stay under 3 minutes
        sizes = [64, 1024, 4096, 16384, 65536]
        pp = os.path.join(self.bench_bin, "xio-bench-pingpong")
        ur = os.path.join(self.bench_bin, "xio-bench-uring-pingpong")
        if not os.access(ur, os.X_OK):
            raise Failure("%s missing (liburing-dev: packaging/install-deps.sh)" % ur)
        zc = self.zc_prog()
        zmode = "xio-zc" if zc else "xio-zc-standin"
        cli_sq, srv_sq, wait, why = self.uring_placement()
        uring = {"uring": (cli_sq, srv_sq, wait)}
        if not self.quick and 2 <= self.ncpu < 4:
            uring["uring-peer"] = (self.srv_cpu, self.cli_cpu, wait)
            uring["uring-spin"] = (cli_sq, srv_sq, "spin")  # 64 B only: it is that slow
        modes = ["tcp"] + list(uring) + [zmode]
        self.notes[case] = [
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
                self.cli_cpu, cli_sq, self.srv_cpu, srv_sq,
                "busy-polled" if wait == "spin" else "awaited in io_uring_enter", why)]
        if zc:
            self.notes[case].append(
                "X-IO zero-copy: `%s` (benchmarks/zc_pingpong.c, X-IO's native zero-copy "
                "API; its receiver reads every byte), both ends under `xio-run --spin %d`."
                % (os.path.relpath(zc, self.build_dir) if zc.startswith(self.build_dir + "/")
                   else zc, SPIN_US))
        else:
            self.notes[case].append(
                "**Stand-in**: the zero-copy program (benchmarks/zc_pingpong.c) is not built, "
                "so the last column is X-IO's socket path (`pingpong.c` under `xio-run --spin "
                "%d`, case 2's \"X-IO spin\"), which copies once on each side and whose "
                "receiver does not checksum: **not** the zero-copy result." % SPIN_US)
        srv = {}
        try:
            for mode in modes:
                port = self.port()
                ep = "tcp:127.0.0.1:%d" % port
                if mode in uring:
                    argv = ["taskset", "-c", str(self.srv_cpu), ur, "-s", str(uring[mode][1]),
                            "-w", uring[mode][2], "server", ep]
                else:
                    prog = zc if mode == "xio-zc" else pp
                    argv = self.prefix(mode, self.srv_cpu) + [prog, "server", ep]
                p = self.start(argv, "%s-server-%s" % (case, mode), stdout=subprocess.DEVNULL)
                try:
                    self.wait_listen(p, port=port)
                except Failure as e:
                    if mode != zmode:
                        raise
                    # the other columns are still worth measuring
                    log = open(os.path.join(self.raw, "%s-server-%s.log" % (case, mode))).read()
                    self.failed.append("zerocopy: %s server: %s; its log: %s" % (
                        MODE_LABEL[mode], e, " ".join(log.split())[-300:]))
                    self.say("zerocopy: %s server did not start; measuring the others" %
                             MODE_LABEL[mode])
                    self.stop(p)
                    for size in sizes:  # FAILED cells in its column
                        self.records.append(dict(case=case, point=size_label(size, unit=True),
                                                 mode=mode, rep=1, rc=-1, vals=None,
                                                 carried=None))
                    continue
                srv[mode] = (p, ep)
            modes = [m for m in modes if m in srv]
            for size in sizes:
                point = size_label(size, unit=True)
                self.xval[point] = size
                for rep in range(1, self.reps + 1):
                    for mode in modes:
                        if mode == "uring-spin" and size != 64:
                            continue
                        if mode in uring:
                            argv = ["taskset", "-c", str(self.cli_cpu), ur, "-s",
                                    str(uring[mode][0]), "-w", uring[mode][2], "client",
                                    srv[mode][1], str(size), str(secs)]
                        else:
                            prog = zc if mode == "xio-zc" else pp
                            argv = self.prefix(mode, self.cli_cpu) + [
                                prog, "client", srv[mode][1], str(size), str(secs)]
                        rec = self.measure(case, point, mode, rep, argv, secs + 30, self.kv,
                                           lambda v: v.get("bytes", 0))
                        v = rec["vals"]
                        if mode in uring and v and int(v.get("sq_last_cpu", -1)) != uring[mode][0]:
                            self.findings.append(
                                "zerocopy %s %s rep %d: client SQPOLL thread last ran on CPU "
                                "%s, not the CPU %d it was pinned to" % (
                                    point, MODE_LABEL[mode], rep, v.get("sq_last_cpu"),
                                    uring[mode][0]))
                        self.progress(rec, lambda v: "p50 %.2f µs, p99 %.2f µs" %
                                      (v["p50_us"], v["p99_us"]))
                        if srv[mode][0].poll() is not None:
                            raise Failure("zerocopy server %s died (raw/%s-server-%s.log)" % (
                                mode, case, mode))
        finally:
            for p, _ in srv.values():
                self.stop(p)
        # where the SQPOLL threads actually ran, from /proc as the programs saw it
        for mode in uring:
            cli = sorted({(int(r["vals"]["cpu"]), int(r["vals"]["sq_last_cpu"]))
                          for r in self.records if r["case"] == case and r["mode"] == mode
                          and r["vals"]})
            srv_seen = set()
            try:
                for line in open(os.path.join(self.raw, "%s-server-%s.log" % (case, mode))):
                    m = re.search(r"cpu=(-?\d+) sq_cpu=-?\d+ sq_last_cpu=(-?\d+)", line)
                    if m:
                        srv_seen.add((int(m.group(1)), int(m.group(2))))
            except OSError:
                pass
            self.notes[case].append(
                "Seen in /proc after each run (%s): client on CPU %s with its SQPOLL thread on "
                "CPU %s; server on CPU %s with its SQPOLL thread on CPU %s." % (
                    MODE_LABEL[mode], "/".join(sorted({str(a) for a, _ in cli})) or "?",
                    "/".join(sorted({str(b) for _, b in cli})) or "?",
                    "/".join(sorted({str(a) for a, _ in srv_seen})) or "?",
                    "/".join(sorted({str(b) for _, b in srv_seen})) or "?"))

    def case_preload(self):
        case = "preload"
        n = 300 if self.quick else 1000
        lib = self.preload_lib
        spawn = os.path.join(self.bench_bin, "xio-bench-spawn")
        self.notes[case] = []
        # a) start time of /bin/true
        variants = [("plain", []), ("preload", ["LD_PRELOAD=" + lib]),
                    ("xio-run", [])]
        for rep in range(1, self.reps + 1):
            for v, envs in variants:
                cmd = ["/bin/true"]
                if v == "xio-run":
                    cmd = [self.xio_run, "--domain", self.domain, "/bin/true"]
                argv = ["taskset", "-c", str(self.cli_cpu), spawn, str(n)] + envs + ["--"] + cmd
                rec = self.measure(case, "start", v, rep, argv, 120, self.kv, lambda x: 0)
                self.progress(rec, lambda x: "/bin/true p50 %.0f µs" % x["p50_us"])
        # b) threads of a program that never networks
        for v in ("plain", "preload", "xio-run"):
            argv = ["taskset", "-c", str(self.cli_cpu)]
            extra = {}
            if v == "preload":
                extra = {"LD_PRELOAD": lib}
            if v == "xio-run":
                argv += [self.xio_run, "--domain", self.domain]
            p = subprocess.Popen(argv + ["sleep", "30"], env=self.env(extra),
                                 stdin=subprocess.DEVNULL)
            p.bench_name = "sleep-" + v
            self.procs.append(p)
            time.sleep(0.3)
            tasks = len(os.listdir("/proc/%d/task" % p.pid))
            self.stop(p)
            self.records.append(dict(case=case, point="threads", mode=v, rep=1, rc=0,
                                     vals=dict(threads=float(tasks)), carried=None))
            self.say("preload threads of `sleep` (%s): %d" % (MODE_LABEL[v], tasks))
        # c) attach: a fresh process's first connect cycle against its second
        self.attach_cost()
        # d) CPU use with 1000 idle connections, kernel TCP and X-IO side by side
        nconn = 1000
        prog = os.path.join(self.bench_bin, "xio-bench-manyconn")
        procs = {}
        try:
            for mode in ("tcp", "xio"):
                port = self.port()
                ep = "tcp:127.0.0.1:%d" % port
                s = self.start(self.prefix(mode, self.srv_cpu, self.idle_domain) +
                               [prog, "server", ep], "idle-server-%s" % mode,
                               stdout=subprocess.DEVNULL)
                self.wait_listen(s, port=port)
                c = self.start(self.prefix(mode, self.cli_cpu, self.idle_domain) +
                               [prog, "idle", ep, str(nconn)], "idle-client-%s" % mode,
                               stdout=subprocess.PIPE)
                procs[mode] = (s, c)
            for mode, (s, c) in procs.items():
                line = c.stdout.readline().decode().strip()
                if line != "idle %d" % nconn:
                    raise Failure("idle client (%s) did not open %d connections: %r (raw/idle-"
                                  "client-%s.log)" % (mode, nconn, line, mode))
            st = self.xstat(self.idle_domain) or {}
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
                            self.findings.append("idle: only %d of %d connections are X-IO "
                                                 "connections" % (open_conns, nconn))
                    self.records.append(rec)
                    self.say("idle %d conns, %s %s: %.0f ms CPU in %.1f s, %d threads" % (
                        nconn, MODE_LABEL[m], who, vals["cpu_ms"], wall, threads))
            self.notes[case].append(
                "Idle: `xio-bench-manyconn idle` opens %d connections to an epoll server, "
                "makes one 64-byte round trip on each, then both wait in epoll_wait; CPU is "
                "utime+stime from /proc/PID/stat over %.1f s (tick %d ms). X-IO connections "
                "open during the measurement (xio-stat conns_open): %d. The X-IO side uses a "
                "separate domain (%s, 1100 slots of 16 KiB rings)." % (
                    nconn, wall, 1000 // hz, open_conns, self.idle_domain))
        finally:
            for s, c in procs.values():
                self.stop(c)
                self.stop(s)
        self.notes[case].insert(0, (
            "Start time: `benchmarks/spawn.c` (`xio-bench-spawn`) posix_spawns `/bin/true` "
            "%d times (after 20 unmeasured) and times each spawn..exit; \"LD_PRELOAD\" adds "
            "only `LD_PRELOAD=%s`, \"xio-run\" runs `xio-run /bin/true` (one more exec). "
            "Threads: /proc/PID/task of `sleep 30` 0.3 s after start." % (n, os.path.relpath(
                lib, ROOT) if lib.startswith(ROOT) else lib)))

    def attach_cost(self, procs=15):
        """Each of PROCS fresh processes times its first and second short connection
        (xio-bench-shortconn first); under X-IO the first one attaches to the domain."""
        case = "preload"
        prog = os.path.join(self.bench_bin, "xio-bench-shortconn")
        servers = {}
        try:
            for mode in ("tcp", "xio"):
                port = self.port()
                ep = "tcp:127.0.0.1:%d" % port
                servers[mode] = (self.start(self.prefix(mode, self.srv_cpu) + [prog, "server", ep],
                                            "attach-server-%s" % mode,
                                            stdout=subprocess.DEVNULL), ep)
                self.wait_listen(servers[mode][0], port=port)

            def medians(out):
                rows = [self.kv(l) for l in out.splitlines() if l.startswith("first_us=")]
                if len(rows) != procs:
                    raise ValueError("%d of %d processes reported" % (len(rows), procs))
                return dict(first_us=statistics.median(r["first_us"] for r in rows),
                            second_us=statistics.median(r["second_us"] for r in rows))

            for rep in range(1, self.reps + 1):
                for mode in ("tcp", "xio"):
                    loop = 'for i in $(seq %d); do "$0" first "$1" || exit 1; done' % procs
                    argv = self.prefix(mode, self.cli_cpu) + ["sh", "-c", loop, prog,
                                                              servers[mode][1]]
                    rec = self.measure(case, "attach", mode, rep, argv, 60, medians,
                                       lambda v: 4 * 64 * procs)
                    self.progress(rec, lambda x: "first %.0f µs, second %.0f µs" % (
                        x["first_us"], x["second_us"]))
        finally:
            for s, _ in servers.values():
                self.stop(s)
        self.notes[case].append(
            "Attach: %d fresh processes (`xio-bench-shortconn first`, client on CPU %d, server "
            "on CPU %d) each time their first and their second connect+64 B request+64 B "
            "response+close; the table shows the medians. Under X-IO the first connect also "
            "attaches the process to the domain (control socket, memory fds, mmap), so first "
            "minus second is the attach cost." % (procs, self.cli_cpu, self.srv_cpu))

    # ---- report -----------------------------------------------------------------
    def cell(self, case, point, mode, key, scale=1.0):
        vals, flags = [], set()
        n_runs = 0
        for r in self.records:
            if r["case"] != case or r["point"] != point or r["mode"] != mode:
                continue
            n_runs += 1
            if r["vals"] is None or key not in r["vals"]:
                flags.add("failed")
                continue
            vals.append(r["vals"][key] * scale)
            if r.get("carried") == "no":
                flags.add("NOT CARRIED")
            elif r.get("carried") == "partly":
                flags.add("partly TCP")
            elif r.get("carried") == "unknown":
                flags.add("carriage unknown")
        if not n_runs:
            return None, "—"
        if not vals:
            return None, "FAILED"
        m = statistics.median(vals)
        s = fmt_num(m)
        if len(vals) > 1:
            s += " (%s–%s)" % (fmt_num(min(vals)), fmt_num(max(vals)))
        if len(vals) < n_runs:
            s += " [%d/%d runs]" % (len(vals), n_runs)
        bad = sorted(flags - {"failed"})
        if bad:
            s = "**%s**: %s" % (", ".join(bad), s)
            return None, s  # a median that X-IO did not carry is not an X-IO number
        return m, s

    def table(self, case, points, cols, key, ratios, unit, scale=1.0, lower_better=False):
        """cols: list of modes; ratios: list of (num_mode, den_mode)."""
        cols = [c for c in cols if any(r["case"] == case and r["mode"] == c for r in self.records)]
        hdr = ["%s, median (min–max) of %d" % (unit, self.reps)] + [MODE_LABEL[c] for c in cols]
        hdr += ["%s ÷ %s" % (MODE_LABEL[a], MODE_LABEL[b]) for a, b in ratios]
        lines = ["| " + " | ".join(hdr) + " |", "|---" + "|---:" * (len(hdr) - 1) + "|"]
        med = {}
        for pt in points:
            row = [pt]
            for c in cols:
                m, s = self.cell(case, pt, c, key, scale)
                med[(pt, c)] = m
                row.append(s)
            for a, b in ratios:
                ma, mb = med.get((pt, a)), med.get((pt, b))
                row.append("%.2f×" % (ma / mb) if ma and mb else "—")
            lines.append("| " + " | ".join(row) + " |")
        return lines, med

    def points(self, case):
        seen = []
        for r in self.records:
            if r["case"] == case and r["point"] not in seen:
                seen.append(r["point"])
        return seen

    def report(self, cmdline, wall):
        if not getattr(self, "load1", None):
            self.load1 = open("/proc/loadavg").read().split()[0]
        P = self.points
        md = []
        head = []
        summary = []  # (target, measured, verdict)
        plots = []
        cpu_model = ""
        for line in open("/proc/cpuinfo"):
            if line.startswith("model name"):
                cpu_model = line.split(":", 1)[1].strip()
                break
        head += [
            "# X-IO benchmarks: kernel TCP vs Unix socket vs X-IO (%s run)" % (
                "quick" if self.quick else "full"),
            "",
            "- Command: `%s`" % cmdline,
            "- Date: %s; wall time of the run: %.0f s" % (time.strftime("%Y-%m-%d %H:%M UTC",
                                                                         time.gmtime()), wall),
            "- Commit: `%s` (at the start of the run; binaries from %s, built %s)" % (
                self.commit, os.path.relpath(self.build_dir, ROOT)
                if self.build_dir.startswith(ROOT) else self.build_dir, self.build_time),
            "- Machine: %s, nproc %d, Linux %s; 1-minute load average at start %s, at end %s "
            "(other work on the machine adds noise)" % (
                cpu_model, self.ncpu, os.uname().release, self.load0, self.load1),
            "- Placement (every table): %s; X-IO: both ends under `xio-run --domain %s` "
            "(manager: %s)" % (self.placement, self.domain, self.manager_desc),
            "- Columns: \"X-IO\" runs with X-IO's defaults (a bounded spin of 20 µs before "
            "blocking on a machine with two or more CPUs: stack/config.c); \"X-IO spin\" runs "
            "both ends under `xio-run --spin %d`." % SPIN_US,
            "- Each point: %d runs, modes interleaved run by run; cells are median (min–max). "
            "An X-IO cell is marked **NOT CARRIED** when xio-stat's byte counter did not grow by "
            "the payload the program reports, **partly TCP** when connections fell back." %
            self.reps,
            "",
        ]

        def sect(title, case, body, plot=None):
            md.append("## " + title)
            md.append("")
            for n in self.notes.get(case, []):
                md.append(n)
                md.append("")
            md.extend(body)
            md.append("")
            md.append("Placement: %s." % self.placement)
            if plot:
                md.append("")
                md.append("![%s](%s)" % (case, plot))
            md.append("")

        # 1 iperf3
        if P("iperf3"):
            body, med = self.table("iperf3", P("iperf3"), ["tcp", "uds", "xio", "xio-spin",
                                                           "tcp-stream"], "gbps",
                                   [("xio", "tcp"), ("xio", "uds"), ("xio-spin", "tcp")], "Gbit/s")
            sect("1. Throughput: iperf3, 1 and 4 streams", "iperf3", body, "iperf3.png")
            plots.append(("iperf3", med))
            pt = "P=1 -l 128K"
            if med.get((pt, "xio")) and med.get((pt, "tcp")):
                r = med[(pt, "xio")] / med[(pt, "tcp")]
                summary.append(("iperf3 1 stream 128 KiB: X-IO ≥ 5× TCP", "%.2f×" % r, r >= 5))
        # 2 ping-pong
        if P("pingpong"):
            b50, med = self.table("pingpong", P("pingpong"),
                                  ["tcp", "uds", "xio", "xio-spin", "xio-spin0"], "p50_us",
                                  [("xio", "tcp"), ("xio", "uds"), ("xio-spin0", "uds")],
                                  "p50 RTT µs")
            b99, _ = self.table("pingpong", P("pingpong"),
                                ["tcp", "uds", "xio", "xio-spin", "xio-spin0"], "p99_us",
                                [("xio", "tcp"), ("xio", "uds"), ("xio-spin0", "uds")],
                                "p99 RTT µs")
            sect("2. Ping-pong round trip, 64 B … 64 KiB (blocking calls)", "pingpong",
                 ["p50:", ""] + b50 + ["", "p99:", ""] + b99, "pingpong.png")
            plots.append(("pingpong", med))
            if med.get(("64 B", "xio")) and med.get(("64 B", "uds")):
                r = med[("64 B", "xio")] / med[("64 B", "uds")]
                summary.append(("64 B ping-pong p50, blocking: X-IO ≤ 0.5× Unix socket",
                                "%.2f× (%.1f vs %.1f µs)" % (r, med[("64 B", "xio")],
                                                             med[("64 B", "uds")]), r <= 0.5))
            if med.get(("64 B", "xio-spin0")) and med.get(("64 B", "uds")):
                r = med[("64 B", "xio-spin0")] / med[("64 B", "uds")]
                summary.append(("(same, X-IO with `--spin 0`: the wake-up path, no spinning)",
                                "%.2f× (%.1f vs %.1f µs)" % (r, med[("64 B", "xio-spin0")],
                                                             med[("64 B", "uds")]), r <= 0.5))
            if med.get(("64 B", "xio-spin")):
                v = med[("64 B", "xio-spin")]
                summary.append(("64 B ping-pong, spin mode: ≤ 1 µs RTT", "%.2f µs p50 RTT" % v,
                                v <= 1.0))
        if P("sockperf"):
            body, _ = self.table("sockperf", P("sockperf"), ["tcp", "xio", "xio-spin"], "p50_us",
                                 [("xio", "tcp")], "p50 half-RTT µs")
            body2, _ = self.table("sockperf", P("sockperf"), ["tcp", "xio", "xio-spin"], "p99_us",
                                  [("xio", "tcp")], "p99 half-RTT µs")
            sect("2b. Ping-pong cross-check: sockperf 64 B", "sockperf", body + [""] + body2)
        # 3 short connections
        if P("shortconn"):
            body, med = self.table("shortconn", P("shortconn"), ["tcp", "uds", "xio", "xio-spin"],
                                   "rate", [("xio", "tcp"), ("xio", "uds")], "connections/s")
            body2, _ = self.table("shortconn", P("shortconn"), ["tcp", "uds", "xio", "xio-spin"],
                                  "p50_us", [("xio", "tcp")], "p50 µs per connection")
            sect("3. Short connections: connect + 64 B request/response + close", "shortconn",
                 body + [""] + body2, "shortconn.png")
            plots.append(("shortconn", med))
            pt = "64 B"
            if med.get((pt, "xio")) and med.get((pt, "tcp")) and med.get((pt, "uds")):
                r1 = med[(pt, "xio")] / med[(pt, "tcp")]
                r2 = med[(pt, "xio")] / med[(pt, "uds")]
                summary.append(("short connections: X-IO ≥ 2× TCP and ≥ 1.1× Unix socket",
                                "%.2f× TCP, %.2f× UDS" % (r1, r2), r1 >= 2 and r2 >= 1.1))
        # 4 many connections
        if P("manyconn"):
            body, med = self.table("manyconn", P("manyconn"), ["tcp", "uds", "xio", "xio-spin0"],
                                   "rate", [("xio", "tcp"), ("xio", "uds"), ("xio-spin0", "tcp")],
                                   "round trips/s")
            body2, _ = self.table("manyconn", P("manyconn"), ["tcp", "uds", "xio", "xio-spin0"],
                                  "p99_us", [("xio", "tcp")], "p99 RTT µs")
            sect("4. Many persistent connections, 64 B ping-pong on epoll", "manyconn",
                 body + [""] + body2, "manyconn.png")
            plots.append(("manyconn", med))
        # 5 wrk + nginx
        if P("wrk"):
            body, med = self.table("wrk", P("wrk"), ["tcp", "xio", "xio-spin"], "rps",
                                   [("xio", "tcp"), ("xio-spin", "tcp")], "requests/s")
            body2, med99 = self.table("wrk", P("wrk"), ["tcp", "xio", "xio-spin"], "p99_us",
                                      [("xio", "tcp")], "p99 latency µs")
            sect("5. HTTP: wrk against nginx", "wrk", body + [""] + body2, "wrk.png")
            plots.append(("wrk", med))
            rs = [med[(p, "xio")] / med[(p, "tcp")] for p in P("wrk")
                  if med.get((p, "xio")) and med.get((p, "tcp"))]
            if rs:
                summary.append(("wrk+nginx: X-IO ≥ 1.5× TCP requests/s at every connection count",
                                "%.2f×–%.2f×" % (min(rs), max(rs)), min(rs) >= 1.5))
        # 6 redis
        if P("redis"):
            body = []
            meds = {}
            for op in ("get", "set"):
                b, med = self.table("redis", P("redis"), ["tcp", "uds", "xio", "xio-spin"],
                                    op + "_rps", [("xio", "tcp"), ("xio", "uds")],
                                    op.upper() + " requests/s")
                body += b + [""]
                meds[op] = med
            sect("6. redis-benchmark GET/SET", "redis", body, "redis.png")
            plots.append(("redis", meds))
            rs = [meds[op][(p, "xio")] / meds[op][(p, "tcp")] for op in meds for p in P("redis")
                  if meds[op].get((p, "xio")) and meds[op].get((p, "tcp"))]
            if rs:
                summary.append(("redis-benchmark: X-IO ≥ 1.4× TCP", "%.2f×–%.2f× (GET/SET, "
                                "-P 1 and 16)" % (min(rs), max(rs)), min(rs) >= 1.4))
        # 7 zero-copy
        zc_row = ("| native zero-copy RTT flat across sizes, ≥ 4× better than io_uring SQPOLL | "
                  "%s | not run |" % ("failed (see Failed runs)"
                                      if any(f.startswith("zerocopy") for f in self.failed)
                                      else "case zerocopy not in this run"))
        if P("zerocopy"):
            zmode = "xio-zc-standin" if any(r["case"] == "zerocopy" and
                                            r["mode"] == "xio-zc-standin"
                                            for r in self.records) else "xio-zc"
            cols = ["tcp", "uring", "uring-peer", "uring-spin", zmode]
            ratios = [(zmode, "uring"), (zmode, "tcp"), ("uring", "tcp")]
            b50, med = self.table("zerocopy", P("zerocopy"), cols, "p50_us", ratios,
                                  "p50 RTT µs")
            b99, _ = self.table("zerocopy", P("zerocopy"), cols, "p99_us", ratios, "p99 RTT µs")
            sect("7. Native zero-copy round trip vs io_uring SQPOLL vs TCP, 64 B … 64 KiB",
                 "zerocopy", ["p50:", ""] + b50 + ["", "p99:", ""] + b99, "zerocopy.png")
            plots.append(("zerocopy", med))
            pts = [p for p in P("zerocopy") if med.get((p, zmode)) and med.get((p, "uring"))]
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
                          len(pts) == len(P("zerocopy")))
                    zc_row = ("| native zero-copy RTT flat across sizes (64 KiB ≤ 2× 64 B), ≥ 4× "
                              "better than io_uring SQPOLL (≤ 0.25×) at every size | %s | %s |"
                              % (m, "met" if ok else "**missed**"))
                else:
                    zc_row = ("| native zero-copy RTT flat across sizes, ≥ 4× better than "
                              "io_uring SQPOLL | stand-in (X-IO socket path, no zc_pingpong): "
                              "%s | not run |" % m)
        # 8 preload
        if P("preload"):
            body = ["| cost of being preloaded | plain | LD_PRELOAD | xio-run | added by preload |",
                    "|---|---:|---:|---:|---:|"]
            m0, s0 = self.cell("preload", "start", "plain", "p50_us", 1e-3)
            m1, s1 = self.cell("preload", "start", "preload", "p50_us", 1e-3)
            m2, s2 = self.cell("preload", "start", "xio-run", "p50_us", 1e-3)
            added = (m1 - m0) if (m0 and m1) else None
            body.append("| start + exit of `/bin/true`, p50 ms, median (min–max) of %d | %s | %s "
                        "| %s | %s ms |" % (self.reps, s0, s1, s2,
                                            "%.3f" % added if added is not None else "—"))
            m0b, s0b = self.cell("preload", "start", "plain", "mean_us", 1e-3)
            m1b, s1b = self.cell("preload", "start", "preload", "mean_us", 1e-3)
            m2b, s2b = self.cell("preload", "start", "xio-run", "mean_us", 1e-3)
            body.append("| start + exit of `/bin/true`, mean ms | %s | %s | %s | %s ms |" % (
                s0b, s1b, s2b, "%.3f" % (m1b - m0b) if (m0b and m1b) else "—"))
            t0, _ = self.cell("preload", "threads", "plain", "threads")
            t1, _ = self.cell("preload", "threads", "preload", "threads")
            t2, _ = self.cell("preload", "threads", "xio-run", "threads")
            body.append("| threads of `sleep 30` | %s | %s | %s | %s |" % (
                "%d" % t0 if t0 is not None else "—", "%d" % t1 if t1 is not None else "—",
                "%d" % t2 if t2 is not None else "—",
                "%+d" % (t1 - t0) if t0 is not None and t1 is not None else "—"))
            body += ["", "| a fresh process's connections, µs, median (min–max) of %d | kernel TCP "
                     "| X-IO |" % self.reps, "|---|---:|---:|"]
            att = {}
            for key, label in (("first_us", "first connect cycle (X-IO: includes attach)"),
                               ("second_us", "second connect cycle")):
                cells = []
                for m in ("tcp", "xio"):
                    v, txt = self.cell("preload", "attach", m, key)
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
                    r = [x for x in self.records if x["case"] == "preload" and
                         x["point"] == "idle " + who and x["mode"] == m]
                    if r:
                        v = r[0]["vals"]
                        c = "%.0f ms CPU (%.2f %%), %d threads" % (v["cpu_ms"], v["cpu_pct"],
                                                                 v["threads"])
                        if r[0].get("carried") == "no":
                            c = "**NOT CARRIED**: " + c
                        if m == "xio":
                            idle_pct.append(v["cpu_pct"])
                        cells.append(c)
                    else:
                        cells.append("—")
                body.append("| %s process | %s | %s |" % (who, cells[0], cells[1]))
            sect("8. Cost of being preloaded", "preload", body)
            if added is not None:
                summary.append(("preloaded program that never networks: < 1 ms added start time",
                                "%.3f ms (p50)" % added, added < 1.0))
            if t0 is not None and t1 is not None:
                summary.append(("preloaded program that never networks: 0 extra threads",
                                "%+d" % (t1 - t0), t1 == t0))
            if idle_pct:
                summary.append(("1000 idle X-IO connections: 0 % CPU",
                                "%.2f %% (max of server, client)" % max(idle_pct),
                                max(idle_pct) < 0.5))

        bench_pods.report_pods(self, sect, summary)
        bench_chain.report_chain(self, sect, summary)

        # headline
        top = ["## Headline: targets of issue 4, from this run", "",
               "| target | measured | |", "|---|---|---|"]
        for t, m, ok in summary:
            top.append("| %s | %s | %s |" % (t, m, "met" if ok else "**missed**"))
        top += [zc_row, ""]
        tail = []
        if self.failed:
            tail += ["## Failed runs", ""] + ["- " + f for f in self.failed] + [""]
        if self.findings:
            tail += ["## Problems seen (details in raw/)", ""] + \
                ["- " + f for f in self.findings] + [""]
        text = "\n".join(head + top + md + tail)
        with open(os.path.join(self.out, "results.md"), "w") as f:
            f.write(text)
        with open(os.path.join(self.out, "results.json"), "w") as f:
            json.dump(dict(records=self.records, failed=self.failed, findings=self.findings,
                           placement=self.placement, reps=self.reps, notes=self.notes,
                           xval=self.xval, cmdline=cmdline, wall=wall,
                           meta=dict(load0=self.load0, load1=self.load1, domain=self.domain,
                                     manager_desc=self.manager_desc,
                                     commit=self.commit, build_time=self.build_time)), f, indent=1)
        self.plot(plots)
        return text

    def plot(self, plots):
        try:
            import matplotlib
            matplotlib.use("Agg")
            import matplotlib.pyplot as plt
            import matplotlib.ticker
        except Exception as e:
            self.say("no PNG plots: matplotlib unavailable (%s); install python3-matplotlib" % e)
            return
        colors = {"tcp": "tab:blue", "uds": "tab:green", "xio": "tab:red",
                  "xio-spin": "tab:orange", "xio-spin0": "tab:purple", "tcp-stream": "tab:cyan",
                  "uring": "tab:brown", "uring-peer": "tab:pink", "uring-spin": "tab:gray",
                  "xio-zc": "tab:red", "xio-zc-standin": "tab:orange"}
        sub = "placement: " + self.placement.replace("`", "")

        def lines(ax, med, pts, modes, xs):
            for m in modes:
                ys = [med.get((p, m)) for p in pts]
                if any(y is not None for y in ys):
                    ax.plot(xs, [y if y is not None else float("nan") for y in ys], "o-",
                            label=MODE_LABEL[m], color=colors[m])

        def bars(ax, groups, modes, get):
            w = 0.8 / len(modes)
            for i, m in enumerate(modes):
                ys = [get(g, m) or 0 for g in groups]
                ax.bar([k + i * w for k in range(len(groups))], ys, w, label=MODE_LABEL[m],
                       color=colors[m])
            ax.set_xticks([k + 0.4 - w / 2 for k in range(len(groups))])
            ax.set_xticklabels(groups)

        for case, med in plots:
            fig, ax = plt.subplots(figsize=(7, 4.2))
            if case == "iperf3":
                pts = self.points("iperf3")
                bars(ax, pts, ["tcp", "uds", "xio", "xio-spin", "tcp-stream"],
                     lambda g, m: med.get((g, m)))
                ax.set_ylabel("Gbit/s (median)")
                ax.set_title("iperf3 throughput")
                plt.setp(ax.get_xticklabels(), rotation=30, ha="right")
            elif case == "pingpong":
                pts = self.points("pingpong")
                xs = [self.xval[p] for p in pts]
                lines(ax, med, pts, ["tcp", "uds", "xio", "xio-spin", "xio-spin0"], xs)
                ax.set_xscale("log")
                ax.set_yscale("log")
                ax.yaxis.set_major_formatter(matplotlib.ticker.ScalarFormatter())
                ax.yaxis.set_minor_formatter(matplotlib.ticker.ScalarFormatter())
                ax.set_xticks(xs)
                ax.set_xticklabels(pts)
                ax.set_xlabel("message size (bytes)")
                ax.set_ylabel("p50 round trip (µs)")
                ax.set_title("ping-pong RTT, blocking")
            elif case == "zerocopy":
                pts = self.points("zerocopy")
                xs = [self.xval[p] for p in pts]
                # (not the busy-polled io_uring column: one point, thousands of times slower)
                lines(ax, med, pts, ["tcp", "uring", "uring-peer", "xio-zc", "xio-zc-standin"],
                      xs)
                ax.set_xscale("log")
                ax.set_yscale("log")
                ax.yaxis.set_major_formatter(matplotlib.ticker.ScalarFormatter())
                ax.yaxis.set_minor_formatter(matplotlib.ticker.ScalarFormatter())
                ax.set_xticks(xs)
                ax.set_xticklabels(pts)
                ax.set_xlabel("message size (bytes)")
                ax.set_ylabel("p50 round trip (µs)")
                ax.set_title("zero-copy round trip vs io_uring SQPOLL vs TCP")
            elif case == "shortconn":
                bars(ax, ["64 B"], ["tcp", "uds", "xio", "xio-spin"],
                     lambda g, m: med.get((g, m)))
                ax.set_ylabel("connections/s (median)")
                ax.set_title("short connections")
            elif case == "manyconn":
                pts = self.points("manyconn")
                xs = [int(p.split()[0]) for p in pts]
                lines(ax, med, pts, ["tcp", "uds", "xio", "xio-spin0"], xs)
                ax.set_xscale("log", base=2)
                ax.set_xlabel("connections")
                ax.set_ylabel("round trips/s (median)")
                ax.set_title("many connections, 64 B ping-pong on epoll")
            elif case == "wrk":
                pts = self.points("wrk")
                xs = [int(p.split()[0]) for p in pts]
                lines(ax, med, pts, ["tcp", "xio", "xio-spin"], xs)
                ax.set_xscale("log", base=2)
                ax.set_xlabel("connections")
                ax.set_ylabel("requests/s (median)")
                ax.set_title("wrk against nginx (2 workers), 1 KiB file")
            elif case == "redis":
                groups = ["%s %s" % (op.upper(), p) for op in ("get", "set")
                          for p in self.points("redis")]
                bars(ax, groups, ["tcp", "uds", "xio", "xio-spin"],
                     lambda g, m: med[g.split()[0].lower()].get((" ".join(g.split()[1:]), m)))
                ax.set_ylabel("requests/s (median)")
                ax.set_title("redis-benchmark, 50 clients")
            ax.legend(fontsize=8)
            ax.grid(True, alpha=0.3)
            fig.text(0.01, 0.01, sub, fontsize=7)
            fig.tight_layout(rect=(0, 0.03, 1, 1))
            fig.savefig(os.path.join(self.out, case + ".png"), dpi=110)
            plt.close(fig)

    # ---- setup and teardown -------------------------------------------------------
    def setup(self):
        self.xio_run = os.path.join(self.bin, "xio-run")
        self.xio_stat = os.path.join(self.bin, "xio-stat")
        self.xio_manager = os.path.join(self.bin, "xio-manager")
        for b in (self.xio_run, self.xio_stat, self.xio_manager):
            if not os.access(b, os.X_OK):
                raise Failure("%s missing: build first (cmake -S . -B build && cmake --build "
                              "build -j2) or set BUILD_DIR" % b)
        self.preload_lib = os.path.realpath(os.path.join(self.build_dir, "lib",
                                                         "libxio_preload.so"))
        self.bench_bin = self.a.bench_bin
        need = ["taskset", "iperf3", "sockperf", "wrk", "nginx", "redis-server",
                "redis-benchmark"]
        missing = [t for t in need if not shutil.which(t)]
        if missing:
            raise Failure("missing programs: %s (packaging/install-deps.sh)" % " ".join(missing))
        self.nginx_version = subprocess.run(["nginx", "-v"], capture_output=True,
                                            text=True).stderr.strip().split("/")[-1]
        self.redis_version = re.search(r"v=(\S+)", subprocess.run(
            ["redis-server", "--version"], capture_output=True, text=True).stdout).group(1)
        os.makedirs(self.raw, exist_ok=True)
        for f in os.listdir(self.raw):
            os.unlink(os.path.join(self.raw, f))
        self.tmp = tempfile.mkdtemp(prefix="xb.", dir="/tmp")
        self.load0 = open("/proc/loadavg").read().split()[0]
        self.commit = subprocess.run(["git", "-C", ROOT, "log", "--oneline", "-1"],
                                     capture_output=True, text=True).stdout.strip() or "unknown"
        if subprocess.run(["git", "-C", ROOT, "status", "--porcelain", "--untracked-files=no"],
                          capture_output=True, text=True).stdout.strip():
            self.commit += " + uncommitted changes"
        built = os.path.getmtime(self.preload_lib)
        self.build_time = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime(built))
        # the commit that was HEAD when the binaries were built (the work tree may have moved on)
        head_then = subprocess.run(["git", "-C", ROOT, "log", "-1", "--format=%h",
                                    "--before=@%d" % int(built)], capture_output=True,
                                   text=True).stdout.strip()
        if head_then and not self.commit.startswith(head_then):
            self.build_time += ", when HEAD was %s" % head_then
        if self.a.domain:
            self.domain = self.a.domain
            # the tools' own default run directory (xio-manager --help)
            self.rundir = os.environ.get("XIO_RUNDIR") or ""
            if not self.rundir:
                xdg = os.environ.get("XDG_RUNTIME_DIR")
                self.rundir = "/run/xio" if os.geteuid() == 0 else (
                    os.path.join(xdg, "xio") if xdg else "/tmp/xio-%d" % os.getuid())
        else:
            self.domain = "bench"
            self.rundir = os.path.join(self.tmp, "run")
            os.makedirs(self.rundir)
        self.idle_domain = "bench-idle"
        self.slots = 320  # 256 connections at once (cases 4 and 5) and some to spare
        self.managers = []
        self.manager_lines = {}
        self.managers.append(self.start_manager(self.domain, self.slots))
        self.idle_rundir = self.rundir
        self.managers.append(self.start_manager(self.idle_domain, 1100, ring_kb=16))
        st = self.xstat() or {}
        m = re.search(r"(hugepage memory|ordinary memory|[a-z]+ memory).*?(\d+ slots, \d+ [kKM]B rings)",
                      self.manager_lines.get(self.domain, ""))
        self.manager_desc = ("%s, %s" % (m.group(2), m.group(1)) if m else
                             "%s slots, hugepages: %s" % (st.get("slots"),
                                                          "yes" if st.get("hugepages") else "no"))

    def cleanup(self):
        for p in reversed(self.procs):
            if p.poll() is None:
                self.stop(p)
        # a manager some xio-run started on demand in our private run directory
        if not self.a.domain:
            for d in (self.domain, self.idle_domain):
                try:
                    pid = int(open(os.path.join(self.rundir, d, "manager.pid")).read().split()[0])
                except (OSError, ValueError, IndexError):
                    continue
                if pid not in [p.pid for p in self.procs]:
                    try:
                        os.kill(pid, signal.SIGTERM)
                        self.say("stopped a manager xio-run had started for %s (pid %d)" % (d, pid))
                    except ProcessLookupError:
                        pass
            shutil.rmtree(self.tmp, ignore_errors=True)
        elif hasattr(self, "tmp"):
            shutil.rmtree(self.tmp, ignore_errors=True)


CASES = ["iperf3", "pingpong", "sockperf", "shortconn", "manyconn", "wrk", "redis", "zerocopy",
         "preload", "pods", "chain"]

# One module per case from here on (the cases above predate it).
Bench.Failure = Failure
Bench.case_pods = bench_pods.case_pods
Bench.case_chain = bench_chain.case_chain


def main():
    ap = argparse.ArgumentParser(prog="benchmarks/run", description=__doc__.split("\n")[0])
    g = ap.add_mutually_exclusive_group()
    g.add_argument("--quick", action="store_true", help="reduced grid, 3 runs per point (< 3 min)")
    g.add_argument("--full", action="store_true", help="full grid, 5 runs per point (default)")
    ap.add_argument("--out", default="bench-out", help="output folder (default bench-out/)")
    ap.add_argument("--domain", help="use this domain (and its manager if one runs) instead of "
                    "a private one")
    ap.add_argument("--only", help="comma-separated cases: " + ",".join(CASES))
    ap.add_argument("--build-dir", default=os.environ.get("BUILD_DIR") or os.path.join(ROOT, "build"))
    ap.add_argument("--bench-bin", required=True, help=argparse.SUPPRESS)
    ap.add_argument("--report-only", action="store_true",
                    help="rewrite results.md and the PNGs from OUT/results.json")
    a = ap.parse_args()
    if a.report_only:
        b = Bench(a)
        d = json.load(open(os.path.join(b.out, "results.json")))
        b.records, b.failed, b.findings = d["records"], d["failed"], d["findings"]
        b.notes, b.xval, b.reps = d["notes"], d["xval"], d["reps"]
        b.quick = b.reps == 3
        for k, v in d["meta"].items():
            setattr(b, k, v)
        sys.stdout.write(b.report(d["cmdline"], d["wall"]))
        return 0
    cases = CASES if not a.only else [c.strip() for c in a.only.split(",")]
    for c in cases:
        if c not in CASES:
            ap.error("unknown case %s" % c)
    if a.quick and not a.only:
        cases.remove("sockperf")  # 3.5 s per sockperf run: the cross-check is in the full run only
    b = Bench(a)
    cmdline = os.environ.get("BENCH_CMDLINE") or " ".join(sys.argv)

    def on_signal(sig, _):
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, on_signal)
    t0 = time.monotonic()
    rc = 0
    try:
        b.setup()
        b.say("%s run: %d runs per point; %s; domain %s in %s; cases: %s" % (
            "quick" if a.quick else "full", b.reps, b.placement.replace("`", ""), b.domain,
            b.rundir, " ".join(cases)))
        for c in cases:
            b.say("== case %s" % c)
            try:
                getattr(b, "case_" + c)()
            except Failure as e:
                b.failed.append("%s: %s" % (c, e))
                b.say("case %s FAILED: %s" % (c, e))
        text = b.report(cmdline, time.monotonic() - t0)
        sys.stdout.write(text)
        b.say("done in %.0f s: %s/results.md and PNGs" % (time.monotonic() - t0, b.out))
        if b.failed or any(r.get("carried") in ("no", "partly") for r in b.records):
            rc = 1
    except Failure as e:
        b.say("error: %s" % e)
        rc = 1
    except KeyboardInterrupt:
        b.say("interrupted")
        rc = 130
    finally:
        b.cleanup()
    return rc


if __name__ == "__main__":
    sys.exit(main())
