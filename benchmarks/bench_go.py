"""Benchmark case `go`: programs without libc under xio-run's seccomp supervisor.

Go makes its socket calls as raw system calls: the preload never sees them, so
xio-run supervises the set-up calls (supervise/) and hands the program an
AF_UNIX end in the in-band mode of demotion. Rows, kernel TCP vs X-IO side by
side: wrk (preloaded) -> caddy serving a 1 KiB file (1/16/64 connections); a
Go 64 B ping-pong (test/go/xiogo, both ends Go); a Go io.Copy stream. The bytes
of a demoted connection pass no X-IO code, so a run counts as carried when
xio-stat counts its connections (not its bytes).
"""

import os
import shutil
import signal
import subprocess
import time

import procnet

ORDER = 110  # after chain: "11. Go and static programs"


def build_xiogo(self):
    """test/go/xiogo built with Debian's Go, offline, its cache in the run's temporary folder."""
    if not shutil.which("go"):
        raise self.Failure("go is not installed (packaging/install-deps.sh installs golang-go)")
    src = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "test", "go",
                       "xiogo")
    out = os.path.join(self.tmp, "xiogo")
    env = dict(os.environ, GOFLAGS="-mod=mod", GOPROXY="off", GOTOOLCHAIN="local",
               GOCACHE=os.path.join(self.tmp, "gocache"), GOPATH=os.path.join(self.tmp, "gopath"))
    r = subprocess.run(["go", "build", "-o", out, "."], cwd=src, env=env, capture_output=True,
                       text=True)
    if r.returncode != 0:
        raise self.Failure("go build of test/go/xiogo: %s" % r.stderr[-300:])
    return out


def case_go(self):
    Failure = self.Failure
    case = "go"
    secs = 1 if self.quick else 3
    modes = ["tcp", "xio"]
    self.notes[case] = [
        "Go programs (no libc: raw system calls) under `xio-run`'s seccomp supervisor, which "
        "carries only the set-up calls and hands the program an AF_UNIX end in demotion's in-band "
        "mode: the data calls are plain kernel calls on a Unix socket. Rows: wrk (preloaded, "
        "`-t 1`) → Debian's caddy `file_server` with a 1 KiB file, 1/16/64 connections, %d s "
        "(requests/s); `xiogo pingpong` 64 B round trips between two Go programs (p50 µs, 20 000 "
        "round trips after 2 000 of warm-up); `xiogo stream`, Go's `Write` of 64 KiB into a Go "
        "server's `io.Copy(io.Discard, conn)`, %d s (Gbit/s); both also as the same Go "
        "programs over a Unix socket (`unix:PATH`), the floor of the in-band design. A run "
        "counts as carried when "
        "xio-stat counts its connections: the bytes of a demoted connection pass no X-IO code." %
        (secs, secs)]
    xiogo = build_xiogo(self)
    www = os.path.join(self.tmp, "go-www")
    os.makedirs(www, exist_ok=True)
    with open(os.path.join(www, "1k.bin"), "wb") as f:
        f.write(b"x" * 1024)

    def wait_port(p, port):
        end = time.monotonic() + 15
        while time.monotonic() < end:
            if p.poll() is not None:
                raise Failure("%s exited before listening" % p.bench_name)
            if procnet.listening(port, None):
                return
            time.sleep(0.01)
        raise Failure("%s did not listen" % p.bench_name)

    def wait_path(p, path):
        end = time.monotonic() + 15
        while time.monotonic() < end:
            if p.poll() is not None:
                raise Failure("%s exited before listening" % p.bench_name)
            if os.path.exists(path):
                return
            time.sleep(0.01)
        raise Failure("%s did not listen" % p.bench_name)

    def run(point, mode, rep, argv, parse, conns):
        rec = self.measure(case, point, mode, rep, argv, secs + 60, parse, lambda v: 0,
                           slots=conns, carried_by="conns")
        return rec

    srv = {}
    try:
        # wrk -> caddy
        for mode in modes:
            port = self.port()
            d = os.path.join(self.tmp, "caddy-" + mode)
            os.makedirs(d, exist_ok=True)
            conf = os.path.join(d, "Caddyfile")
            with open(conf, "w") as f:
                f.write("{\n\tadmin off\n\tauto_https off\n}\nhttp://127.0.0.1:%d {\n"
                        "\troot * %s\n\tfile_server\n}\n" % (port, www))
            env = self.env(dict(HOME=d, XDG_DATA_HOME=d, XDG_CONFIG_HOME=d))
            p = subprocess.Popen(self.prefix(mode, self.srv_cpu) +
                                 ["caddy", "run", "--config", conf, "--adapter", "caddyfile"],
                                 stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                 stderr=open(os.path.join(self.raw, "go-caddy-%s.log" % mode), "w"),
                                 env=env)
            p.bench_name = "go-caddy-" + mode
            self.procs.append(p)
            wait_port(p, port)
            srv[mode] = (p, "http://127.0.0.1:%d/1k.bin" % port)
        for n in (1, 16, 64):
            point = "wrk → caddy %d conn%s" % (n, "" if n == 1 else "s")
            for rep in range(1, self.reps + 1):
                for mode in modes:
                    argv = self.prefix(mode, self.cli_cpu) + [
                        "wrk", "-t", "1", "-c", str(n), "-d", "%ds" % secs, "--latency",
                        srv[mode][1]]
                    rec = run(point, mode, rep, argv, self.wrk, n)
                    self.progress(rec, lambda v: "%.0f req/s" % v["rps"])
        for p, _ in srv.values():
            self.stop(p, signal.SIGTERM)
        srv = {}
        # Go ping-pong and Go stream: one Go server per mode and kind; the Unix-socket
        # column is the same Go program over AF_UNIX, the floor of the in-band design
        for kind, point in (("echo-server", "Go ping-pong 64 B"), ("sink-server", "Go stream")):
            for mode in modes + ["uds"]:
                if mode == "uds":
                    addr = "unix:" + os.path.join(self.tmp, "go-%s.sock" % kind)
                    p = self.start(self.prefix(mode, self.srv_cpu) + [xiogo, kind, addr],
                                   "go-%s-%s" % (kind, mode), stdout=subprocess.DEVNULL)
                    wait_path(p, addr[len("unix:"):])
                    srv[mode] = (p, addr)
                    continue
                port = self.port()
                p = self.start(self.prefix(mode, self.srv_cpu) +
                               [xiogo, kind, "127.0.0.1:%d" % port],
                               "go-%s-%s" % (kind, mode), stdout=subprocess.DEVNULL)
                wait_port(p, port)
                srv[mode] = (p, "127.0.0.1:%d" % port)
            for rep in range(1, self.reps + 1):
                for mode in modes + ["uds"]:
                    if kind == "echo-server":
                        argv = self.prefix(mode, self.cli_cpu) + [
                            xiogo, "pingpong", srv[mode][1], "20000"]
                        rec = run(point, mode, rep, argv, parse_pingpong, 1)
                        self.progress(rec, lambda v: "p50 %.2f µs, p99 %.2f µs" %
                                      (v["p50_us"], v["p99_us"]))
                    else:
                        argv = self.prefix(mode, self.cli_cpu) + [
                            xiogo, "stream", srv[mode][1], str(secs)]
                        rec = run(point, mode, rep, argv, parse_stream, 1)
                        self.progress(rec, lambda v: "%.2f Gbit/s" % v["gbps"])
            for p, _ in srv.values():
                self.stop(p, signal.SIGTERM)
            srv = {}
    finally:
        for p, _ in srv.values():
            self.stop(p, signal.SIGTERM)


def parse_pingpong(out):
    w = [l for l in out.splitlines() if l.startswith("pingpong ")][-1].split()
    return dict(p50_us=float(w[2]), p99_us=float(w[5]))


def parse_stream(out):
    w = [l for l in out.splitlines() if l.startswith("stream ")][-1].split()
    return dict(gbps=float(w[1]))


def report_go(self, sect, summary):
    P = self.points("go")
    if not P:
        return
    body = []
    med = {}
    for pts, key, unit in (([p for p in P if p.startswith("wrk")], "rps", "requests/s"),
                           ([p for p in P if "ping-pong" in p], "p50_us", "p50 RTT µs"),
                           ([p for p in P if "ping-pong" in p], "p99_us", "p99 RTT µs"),
                           ([p for p in P if "stream" in p], "gbps", "Gbit/s")):
        if not pts:
            continue
        uds = key != "rps"  # the Unix-socket floor: Go's own rows only (wrk has no AF_UNIX)
        ratio = [("xio", "tcp")] + ([("uds", "tcp")] if uds else [])
        b, m = self.table("go", pts, ["tcp", "uds", "xio"] if uds else ["tcp", "xio"], key,
                          ratio, unit)
        med[key] = m
        body += b + [""]
    sect("11. Go programs under the seccomp supervisor", "go", body)

    def r(key, pt):
        m = med.get(key, {})
        a, b = m.get((pt, "xio")), m.get((pt, "tcp"))
        return a / b if a and b else None
    for pt in [p for p in P if p.startswith("wrk")]:
        x = r("rps", pt)
        if x:
            summary.append(("go: %s ≥ 1.3× kernel TCP" % pt, "%.2f×" % x, x >= 1.3))
    x = r("p50_us", "Go ping-pong 64 B")
    if x:
        summary.append(("go: Go 64 B ping-pong p50 ≤ 0.8× kernel TCP", "%.2f×" % x, x <= 0.8))
    x = r("gbps", "Go stream")
    if x:
        summary.append(("go: Go io.Copy stream ≥ 1.5× kernel TCP", "%.2f×" % x, x >= 1.5))
