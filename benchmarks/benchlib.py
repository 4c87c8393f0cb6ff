"""What every benchmark case shares: processes, ports, the X-IO managers and the carriage
check, the measured loop, the output parsers, the tables and the plot helpers.

A case is a module bench_<case>.py beside this file (see bench.py for what it defines).
It gets one Bench object, `b`, and calls:

  b.prog_servers(case, prog, modes), b.server_group(case)
        servers, one per mode (mode -> endpoint), stopped when the `with` block ends
  b.sweep(case, points, modes, client, show, ...)
        the loop: for each point, REPS repetitions, each running every mode in turn
        (interleaved run by run); every run is measured, parsed and, for X-IO modes,
        checked with xio-stat (b.measure)
  b.notes[case], b.records, b.findings, b.failed, b.xval
        what the report shows

Every process is started pinned with taskset (b.prefix: server CPU or client CPU, and
xio-run for the X-IO modes) and killed only by its pid.
"""

import contextlib
import csv
import io
import json
import os
import re
import shlex
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time

import procnet

SRC = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(SRC)

# Columns: mode -> label. A case with a mode of its own adds it here (and to COLORS for a
# plot, XIO_MODES if X-IO must carry it, Bench.prefix if it runs under xio-run).
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
    "xio-zc-long": "X-IO zero-copy, long spin",
    "xio-zc-fixed": "X-IO zero-copy, no adaptive spin",
    "xio-zc-standin": "X-IO spin (stand-in)",
}
COLORS = {"tcp": "tab:blue", "uds": "tab:green", "xio": "tab:red",
          "xio-spin": "tab:orange", "xio-spin0": "tab:purple", "tcp-stream": "tab:cyan",
          "uring": "tab:brown", "uring-peer": "tab:pink", "uring-spin": "tab:gray",
          "xio-zc": "tab:red", "xio-zc-standin": "tab:orange", "xio-zc-long": "tab:olive",
          "xio-zc-fixed": "tab:brown"}
XIO_MODES = ("xio", "xio-spin", "xio-spin0", "xio-zc", "xio-zc-standin", "xio-zc-long",
             "xio-zc-fixed")
SPIN_US = 50
PORTS = (19000, 19999)  # default TCP port range of the servers (--ports)


class Failure(Exception):
    pass


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


def conns(n):
    """Row label of a connection count: "1 conn", "16 conns"."""
    return "%d conn%s" % (n, "" if n == 1 else "s")


def exit_status(rc, secs, timeout):
    """A run's end in words: Bench.run() gives -9 when it killed the run at its timeout."""
    if rc == 0:
        return "exit 0, but its output did not parse"
    if rc == -9 and secs >= timeout:
        return "timed out after %.0f s" % timeout
    if rc < 0:
        return "killed by signal %d (%s)" % (-rc, signal.Signals(-rc).name
                                             if -rc in signal.valid_signals() else "?")
    return "exit %d" % rc


# ---- output parsers -------------------------------------------------------------------
def kv(out):
    """The last line of KEY=VALUE tokens (the benchmark programs' result line)."""
    line = [l for l in out.splitlines() if "=" in l][-1]
    d = {}
    for tok in line.split():
        k, v = tok.split("=", 1)
        d[k] = float(v)
    return d


def iperf3(out):
    d = json.loads(out)
    if "error" in d:
        raise ValueError(d["error"])
    e = d["end"]
    return dict(gbps=e["sum_received"]["bits_per_second"] / 1e9,
                bytes=float(e["sum_sent"]["bytes"]))


def sockperf(out):
    t = re.sub(r"\x1b\[[0-9;]*m", "", out)
    p50 = float(re.search(r"percentile 50\.000 =\s*([0-9.]+)", t).group(1))
    p99 = float(re.search(r"percentile 99\.000 =\s*([0-9.]+)", t).group(1))
    obs = int(re.search(r"Total (\d+) observations", t).group(1))
    return dict(p50_us=p50, p99_us=p99, obs=float(obs))


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


def payload_bytes(v):
    """The payload of a program that reports bytes= (the benchmark programs)."""
    return v["bytes"]


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


class Client:
    """What sweep()'s client function returns when one mode needs more than an argv: a parser,
    a payload, a slot count or a timeout of its own (None: the sweep's)."""

    def __init__(self, argv, parse=None, payload=None, slots=None, timeout=None):
        self.argv, self.parse, self.payload = argv, parse, payload
        self.slots, self.timeout = slots, timeout


class Servers(dict):
    """A case's servers, one per mode: mode -> endpoint. A context manager that stops them."""

    def __init__(self, bench, case):
        super().__init__()
        self.b, self.case, self.procs = bench, case, {}

    def start(self, mode, argv, port=None, path=None, ep=None, name=None,
              stdout=subprocess.DEVNULL):
        """Start @argv (prefix included) as the server of @mode and wait until it listens on
        @port or has made @path; @ep is what clients get (default tcp:127.0.0.1:PORT)."""
        p = self.b.start(argv, name or "%s-server-%s" % (self.case, mode), stdout=stdout)
        self.procs[mode] = p
        self.b.wait_listen(p, port=port, path=path, xio=mode in XIO_MODES)
        self[mode] = ep if ep is not None else "tcp:127.0.0.1:%d" % port
        return p

    def check(self, mode):
        """Fail the case if the server of @mode has died."""
        p = self.procs.get(mode)
        if p is not None and p.poll() is not None:
            raise Failure("%s server %s died (raw/%s.log)" % (self.case, mode, p.bench_name))

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        for p in self.procs.values():
            self.b.stop(p)
        return False


class Bench:
    Failure = Failure  # cases written as methods (bench_pods.py once) raise self.Failure
    kv, iperf3, sockperf, wrk, redis = (staticmethod(kv), staticmethod(iperf3),
                                        staticmethod(sockperf), staticmethod(wrk),
                                        staticmethod(redis))

    def __init__(self, a):
        self.a = a
        self.t_start = time.monotonic()
        self.procs = []  # every Popen we started, for cleanup
        self.records = []
        self.xval = {}  # point label -> x value for the plots
        self.notes = {}  # case -> list of extra lines
        self.findings = []  # product misbehaviour seen during the run
        self.failed = []
        lo, hi = getattr(a, "ports", None) or PORTS
        self.port_range = (lo, hi)
        self.ports = iter(range(lo, hi + 1))
        self.quick = a.quick
        self.reps = 3 if a.quick else 5
        self.build_dir = os.path.abspath(a.build_dir)
        self.bin = os.path.join(self.build_dir, "bin")
        self.bench_bin = a.bench_bin
        self.out = os.path.abspath(a.out)
        self.raw = os.path.join(self.out, "raw")
        ncpu = os.cpu_count() or 1
        self.ncpu = ncpu
        self.srv_cpu, self.cli_cpu = (1, 0) if ncpu >= 2 else (0, 0)
        self.placement = "server `taskset -c %d`, client `taskset -c %d`" % (self.srv_cpu,
                                                                              self.cli_cpu)
        if ncpu < 2:
            self.placement += " (1 CPU: both ends share it)"

    # ---- output -------------------------------------------------------------------------
    def say(self, msg):
        el = time.monotonic() - self.t_start
        sys.stderr.write("[bench %4.0fs] %s\n" % (el, msg))
        sys.stderr.flush()

    # ---- processes ----------------------------------------------------------------------
    def env(self, extra=None):
        e = {k: v for k, v in os.environ.items()
             if k != "LD_PRELOAD" and not k.startswith("XIO_")}
        e["XIO_RUNDIR"] = self.rundir
        if extra:
            e.update(extra)
        return e

    def prefix(self, mode, cpu, domain=None):
        """taskset to @cpu, and xio-run with the mode's options for an X-IO mode."""
        p = ["taskset", "-c", str(cpu)]
        d = domain or self.domain
        if mode == "xio":
            p += [self.xio_run, "--domain", d]
        elif mode in ("xio-spin", "xio-zc", "xio-zc-standin"):
            p += [self.xio_run, "--domain", d, "--spin", str(SPIN_US)]
        elif mode == "xio-spin0":
            p += [self.xio_run, "--domain", d, "--spin", "0"]
        return p

    def srv(self, mode, domain=None):
        """The prefix of a server of @mode (on the server CPU)."""
        return self.prefix(mode, self.srv_cpu, domain)

    def cli(self, mode, domain=None):
        """The prefix of a client of @mode (on the client CPU)."""
        return self.prefix(mode, self.cli_cpu, domain)

    def prog(self, *names):
        """A benchmark program (benchmarks/*.c) by its name(s), from the benchmark build or
        the main build; None if it is not built."""
        for d in (self.bench_bin, self.bin):
            for n in names:
                f = os.path.join(d, n)
                if os.access(f, os.X_OK):
                    return f
        return None

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
        raise Failure("no free port in %d-%d" % self.port_range)

    def wait_listen(self, p, port=None, path=None, timeout=10.0, xio=False):
        """Wait until @p listens on TCP @port (in its own network namespace) or has made
        @path; with @xio also until its listener is published (a client that comes
        between the two would use TCP)."""
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            if p.poll() is not None:
                self.show_tail("command: " + shlex.join(str(a) for a in p.args),
                               os.path.join(self.raw, p.bench_name + ".log"))
                raise Failure("%s exited with %s before listening (raw/%s.log)"
                              % (p.bench_name, p.returncode, p.bench_name))
            if port is not None and procnet.listening(port, p.pid) and (
                    not xio or procnet.published(port, self.rundir)):
                return
            if path is not None and os.path.exists(path):
                return
            time.sleep(0.01)
        raise Failure("%s did not listen within %.0f s" % (p.bench_name, timeout))

    # ---- servers ------------------------------------------------------------------------
    def server_group(self, case):
        """An empty set of servers for @case: `with b.server_group(case) as srv: srv.start(...)`."""
        return Servers(self, case)

    def prog_servers(self, case, prog, modes):
        """One `PROG server ENDPOINT` per mode (the benchmark programs): a Unix socket in the
        scratch folder for "uds", else 127.0.0.1 on a free port ("tcp-stream": kernel TCP)."""
        srv = Servers(self, case)
        try:
            for mode in modes:
                if mode == "uds":
                    path = os.path.join(self.tmp, "%s.sock" % case)
                    srv.start(mode, self.srv("tcp") + [prog, "server", "unix:" + path],
                              path=path, ep="unix:" + path)
                else:
                    port = self.port()
                    srv.start(mode, self.srv("tcp" if mode == "tcp-stream" else mode) +
                              [prog, "server", "tcp:127.0.0.1:%d" % port], port=port)
        except BaseException:
            srv.__exit__(None, None, None)
            raise
        return srv

    def servers(self, prog, modes, case):
        """{mode: (process, endpoint)}: prog_servers() as a case written against the one-class
        bench.py calls it (the caller stops them)."""
        s = self.prog_servers(case, prog, modes)
        return {m: (s.procs[m], s[m]) for m in s}

    @contextlib.contextmanager
    def server_once(self, case, mode, argv, port, wait_exit=False):
        """A server for one measured run (iperf3 -1, sockperf sr), as sweep()'s server():
        started, awaited on @port (what it yields), then stopped, or with @wait_exit given 5 s
        to exit by itself first."""
        p = self.start(argv, "%s-server-%s-%d" % (case, mode, port))
        try:
            self.wait_listen(p, port=port)
            yield port
        finally:
            if wait_exit:
                try:
                    p.wait(timeout=5)
                except subprocess.TimeoutExpired:
                    pass
            self.stop(p)

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
            f.write(NGINX_CONF % dict(d=d, port=port, www=www, addr=addr))
        return d, conf

    def nginx(self, srv, mode, prefix, addr="127.0.0.1", name=None):
        """Start nginx (2 workers, a 1 KiB file) as @srv's server of @mode under @prefix;
        its endpoint is the file's URL."""
        port = self.port()
        d, conf = self.nginx_site(name or "nginx-" + mode, addr, port)
        srv.start(mode, prefix + ["nginx", "-p", d, "-c", conf, "-e",
                                  os.path.join(d, "error.log")],
                  port=port, ep="http://%s:%d/1k.bin" % (addr, port), stdout=None,
                  name="%s-nginx-%s" % (srv.case, mode))

    # ---- X-IO ---------------------------------------------------------------------------
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

    # ---- one measured client run --------------------------------------------------------
    def measure(self, case, point, mode, rep, argv, timeout, parse, payload, domain=None,
                slots=1, carried_by="bytes"):
        """Run one client, parse its output, check X-IO carriage; record and return the run.
        carried_by="conns": carried when xio-stat counts @slots connections (a demoted
        connection's bytes pass no X-IO code: programs under the seccomp supervisor)."""
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
                if carried_by == "conns":
                    rec["carried"] = ("no" if dc < slots else "partly" if df > 0 else "yes")
                elif db <= 0 or (want and db < 0.9 * want):
                    rec["carried"] = "no"
                elif df > 0:
                    rec["carried"] = "partly"
                else:
                    rec["carried"] = "yes"
            else:
                rec["carried"] = "unknown"
        self.records.append(rec)
        if rc != 0 or vals is None:
            why = exit_status(rc, secs, timeout)
            self.failed.append("%s %s %s rep %d: %s (raw/%s.err)" % (
                case, point, MODE_LABEL[mode], rep, why, name))
            self.say("%s %s %s rep %d: FAILED (%s)" % (case, point, MODE_LABEL[mode], rep, why))
            self.explain(name, argv, why, out)
        if rec["carried"] in ("no", "partly", "unknown"):
            self.findings.append("%s %s %s rep %d: carried=%s, xio-stat %s (raw/%s.*)" % (
                case, point, MODE_LABEL[mode], rep, rec["carried"], rec.get("xio"), name))
        return rec

    def explain(self, name, argv, why, out):
        """Under a failed run's FAILED line: its command, its exit status and the tail of its
        stderr (raw/NAME.err), and of its output when that is what did not parse or stderr is
        empty. Indented, so that a reader of the progress log (benchmarks/run's stderr, all a
        test keeps once its scratch folder with raw/ is gone) can take the block whole."""
        err = self.show_tail("command: " + shlex.join(str(a) for a in argv) + "\nstatus: " + why,
                             os.path.join(self.raw, name + ".err"))
        if why.startswith("exit 0") or not err:
            self.show_tail(None, os.path.join(self.raw, name + ".out"), out)

    def show_tail(self, head, path, text=None, lines=20):
        """@head, then the last @lines lines of @path (or of @text, saved there), each
        indented, on stderr; returns whether there was any."""
        if text is None:
            try:
                with open(path, errors="replace") as f:
                    text = f.read()
            except OSError as e:
                text = "(cannot read it: %s)" % e
        tail = text.rstrip("\n").splitlines()
        out = ["    " + l for l in head.splitlines()] if head else []
        name = os.path.relpath(path, self.out)
        if tail:
            out.append("    %s, last %d of %d lines:" % (name, min(lines, len(tail)), len(tail)))
            out += ["    | " + l for l in tail[-lines:]]
        else:
            out.append("    %s: empty" % name)
        sys.stderr.write("\n".join(out) + "\n")
        sys.stderr.flush()
        return bool(tail)

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

    # ---- the loop every case shares -----------------------------------------------------
    def sweep(self, case, points, modes, client, show, parse=kv, payload=payload_bytes,
              timeout=60, slots=1, servers=None, server=None, skip=None, after=None,
              domain=None, probe=None):
        """Measure @case: for each of @points, self.reps repetitions, each running every one
        of @modes in turn (modes interleaved run by run, so a noisy machine's drift hits
        them alike). Every run goes through measure() (X-IO carriage checked) and progress().

        points   [(row label, x)]: x is what the other functions get
        client   client(x, mode, endpoint) -> the measured client's argv (prefix included),
                 or a Client for a mode with its own parser, payload, slots or timeout
        show     values -> the progress line's text
        parse    client output -> dict of values (default: kv, the programs' KEY=VALUE line)
        payload  values -> bytes X-IO must have carried (default: values["bytes"]; 0: any)
        slots    X-IO connections open at once: a number or slots(x)
        servers  a Servers: endpoint = servers[mode]; a dead server fails the case
        server   server(x, mode) -> a context manager yielding the endpoint (a server per run,
                 e.g. server_once()), or None for servers[mode]
        skip     skip(x, mode) -> True to leave that cell out
        after    after(rec, x) after each run (findings of the case's own)
        domain   the X-IO domain to check (default: the run's)
        probe    (key, fn): record fn() after minus fn() before each run in rec[key]
        """
        for label, x in points:
            for rep in range(1, self.reps + 1):
                for mode in modes:
                    if skip and skip(x, mode):
                        continue
                    ctx = server(x, mode) if server else None
                    if ctx is None:
                        ctx = contextlib.nullcontext(servers.get(mode) if servers else None)
                    with ctx as ep:
                        c = client(x, mode, ep)
                        if not isinstance(c, Client):
                            c = Client(c)
                        n = c.slots if c.slots is not None else (
                            slots(x) if callable(slots) else slots)
                        v0 = probe[1]() if probe else None
                        rec = self.measure(case, label, mode, rep, c.argv,
                                           c.timeout or timeout, c.parse or parse,
                                           c.payload or payload, domain=domain, slots=n)
                        if probe:
                            rec[probe[0]] = probe[1]() - v0
                    self.progress(rec, show)
                    if after:
                        after(rec, x)
                    if servers is not None:
                        servers.check(mode)

    # ---- setup and teardown -------------------------------------------------------------
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
        self.idle_domain = self.domain + "-idle"
        self.slots = 320  # 256 connections at once (cases 4 and 5) and some to spare
        self.managers = []
        self.manager_lines = {}
        self.managers.append(self.start_manager(self.domain, self.slots))
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

    # ---- report -------------------------------------------------------------------------
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

    def tables(self, case, cols, ratios, rows):
        """One table() per row (prefix, key, unit) over @case's points whose name starts with
        prefix, rows without points left out: (the Markdown lines, {key: medians})."""
        body, med = [], {}
        P = self.points(case)
        for prefix, key, unit in rows:
            pts = [p for p in P if p.startswith(prefix)]
            if not pts:
                continue
            t, med[key] = self.table(case, pts, cols, key, ratios, unit)
            body += t + [""]
        return body, med

    def points(self, case):
        seen = []
        for r in self.records:
            if r["case"] == case and r["point"] not in seen:
                seen.append(r["point"])
        return seen


class Report:
    """The Markdown a report is made of: sections, headline targets, and the plots to draw."""

    def __init__(self, bench):
        self.b = bench
        self.md = []
        self.targets = []  # (target, measured, met)
        self.rows = []  # headline rows of their own, after the targets
        self.plots = []  # (case, medians)

    def section(self, title, case, body, plot=None):
        """A "## title" section: the case's notes, @body, the placement; with @plot (the
        medians a case's plot() draws) a link to CASE.png, which is drawn."""
        md = self.md
        md.append("## " + title)
        md.append("")
        for n in self.b.notes.get(case, []):
            md.append(n)
            md.append("")
        md.extend(body)
        md.append("")
        md.append("Placement: %s." % self.b.placement)
        if plot is not None:
            md.append("")
            md.append("![%s](%s)" % (case, case + ".png"))
            self.plots.append((case, plot))
        md.append("")

    def target(self, what, measured, met):
        self.targets.append((what, measured, met))


# ---- plot helpers (a case's plot(b, ax, med) draws on one matplotlib Axes) ----------------
def plot_lines(ax, med, pts, modes, xs):
    for m in modes:
        ys = [med.get((p, m)) for p in pts]
        if any(y is not None for y in ys):
            ax.plot(xs, [y if y is not None else float("nan") for y in ys], "o-",
                    label=MODE_LABEL[m], color=COLORS[m])


def plot_bars(ax, groups, modes, get):
    w = 0.8 / len(modes)
    for i, m in enumerate(modes):
        ys = [get(g, m) or 0 for g in groups]
        ax.bar([k + i * w for k in range(len(groups))], ys, w, label=MODE_LABEL[m],
               color=COLORS[m])
    ax.set_xticks([k + 0.4 - w / 2 for k in range(len(groups))])
    ax.set_xticklabels(groups)


def plot_sizes(ax, xs, pts):
    """Log-log axes over message sizes, ticks labelled with the rows' sizes."""
    import matplotlib.ticker
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.yaxis.set_major_formatter(matplotlib.ticker.ScalarFormatter())
    ax.yaxis.set_minor_formatter(matplotlib.ticker.ScalarFormatter())
    ax.set_xticks(xs)
    ax.set_xticklabels(pts)
    ax.set_xlabel("message size (bytes)")
