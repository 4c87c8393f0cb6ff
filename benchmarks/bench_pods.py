"""Benchmark case `pods`: two network namespaces on one node, kernel TCP over veth vs X-IO.

The node is a namespace of its own with a routed veth pair per pod (Calico's
shape: the pod has a /32 and a default route to a link-local gateway that the
node answers by proxy ARP). The manager runs in the root namespace, as a node
agent would, and proves each pairing from the sockets' sequence numbers. The
server runs in pod B, the client in pod A; modes are interleaved run by run.
Each X-IO run is checked as everywhere (xio-stat bytes), and the pod's veth
counters are recorded beside it: a carried run moves almost nothing over veth.
"""

import os
import signal
import subprocess
import time

import procnet

ORDER = 90
POD_A, POD_B = "10.78.1.2", "10.78.2.2"


class Pods:
    def __init__(self, bench):
        self.b = bench
        tag = "xiob%d" % os.getpid()
        self.node, self.a, self.bb = tag + "n", tag + "a", tag + "b"
        self.made = []

    def ip(self, *args):
        subprocess.run(["ip"] + list(args), check=True, capture_output=True)

    def setup(self):
        for ns in (self.node, self.a, self.bb):
            self.ip("netns", "add", ns)
            self.made.append(ns)
        n = self.node
        self.ip("-n", n, "link", "set", "lo", "up")
        self.ip("-n", n, "addr", "add", "169.254.1.1/32", "dev", "lo")
        subprocess.run(["ip", "netns", "exec", n, "sysctl", "-qw", "net.ipv4.ip_forward=1"],
                       check=True)
        for i, (pod, addr) in enumerate(((self.a, POD_A), (self.bb, POD_B)), 1):
            host, peer = "cali%s%d" % (n[-6:], i), "eth%s%d" % (n[-6:], i)
            self.ip("link", "add", peer, "type", "veth", "peer", "name", host)
            self.ip("link", "set", peer, "netns", pod)
            self.ip("link", "set", host, "netns", n)
            self.ip("-n", pod, "link", "set", peer, "name", "eth0")
            self.ip("-n", pod, "link", "set", "lo", "up")
            self.ip("-n", pod, "link", "set", "eth0", "up")
            self.ip("-n", pod, "addr", "add", addr + "/32", "dev", "eth0")
            self.ip("-n", pod, "route", "add", "169.254.1.1", "dev", "eth0", "scope", "link")
            self.ip("-n", pod, "route", "add", "default", "via", "169.254.1.1", "dev", "eth0")
            self.ip("-n", n, "link", "set", host, "up")
            subprocess.run(["ip", "netns", "exec", n, "sysctl", "-qw",
                            "net.ipv4.conf.%s.proxy_arp=1" % host], check=True)
            self.ip("-n", n, "route", "add", addr + "/32", "dev", host)
            # thousands of short connections a second: TIME-WAIT ports are reused, as the
            # kernel does by itself only on loopback (both modes alike)
            subprocess.run(["ip", "netns", "exec", pod, "sysctl", "-qw",
                            "net.ipv4.tcp_tw_reuse=1"], check=True)

    def cleanup(self):
        for ns in reversed(self.made):
            subprocess.run(["ip", "netns", "del", ns], capture_output=True)

    def veth_bytes(self):
        """Bytes sent and received on pod A's eth0."""
        r = subprocess.run(["ip", "netns", "exec", self.a, "cat", "/sys/class/net/eth0/statistics/tx_bytes",
                            "/sys/class/net/eth0/statistics/rx_bytes"], capture_output=True, text=True)
        v = r.stdout.split()
        return int(v[0]) + int(v[1]) if len(v) == 2 else 0


def case_pods(self):
    Failure = self.Failure
    case = "pods"
    secs = 1 if self.quick else 3
    modes = ["tcp", "xio"]
    self.notes[case] = [
        "Two pods on one node: network namespaces with a routed veth pair each (a /32, proxy "
        "ARP on the node side, as Calico does), server in pod B, client in pod A. \"kernel TCP\" "
        "is the pods' real path over veth and the node's routing; \"X-IO\" runs both ends under "
        "xio-run: the kernel still makes every TCP connection (so policy applies), then the "
        "manager proves the pairing from the sockets' sequence numbers and the bytes move over "
        "shared memory. Rows: iperf3 %d s (`-l 128K`, 1 and 4 streams, Gbit/s); "
        "`xio-bench-pingpong` 64 B round trips (µs); `xio-bench-shortconn` (connect + 64 B each "
        "way + close, connections/s); wrk → nginx (1 KiB file, 1/16/64 connections, requests/s; "
        "nginx's workers run as nobody, so this run's manager has `--group nogroup`). Both pods "
        "have `net.ipv4.tcp_tw_reuse=1` (loopback has it by default), or the short connections "
        "of kernel TCP and X-IO alike run out of ports." % secs]
    pods = Pods(self)
    domain = self.domain + "-pods"
    try:
        pods.setup()
        self.managers.append(self.start_manager(domain, self.slots, group="nogroup"))

        def pre(mode, cpu, ns):
            return ["ip", "netns", "exec", ns] + self.prefix(mode, cpu, domain)

        def wait_port(p, port):
            end = time.monotonic() + 10
            while time.monotonic() < end:
                if p.poll() is not None:
                    raise Failure("%s exited before listening" % p.bench_name)
                if procnet.listening(port, p.pid):
                    return
                time.sleep(0.01)
            raise Failure("%s did not listen" % p.bench_name)

        def run(point, mode, rep, argv, parse, payload, slots=1):
            v0 = pods.veth_bytes()
            rec = self.measure(case, point, mode, rep, argv, secs + 60, parse, payload,
                               domain=domain, slots=slots)
            rec["veth_bytes"] = pods.veth_bytes() - v0
            return rec

        # iperf3, 1 and 4 streams
        for streams in (1, 4):
            point = "iperf3 P=%d" % streams
            for rep in range(1, self.reps + 1):
                for mode in modes:
                    port = self.port()
                    sp = self.start(pre(mode, self.srv_cpu, pods.bb) +
                                    ["iperf3", "-s", "-B", POD_B, "-p", str(port), "-1"],
                                    "%s-iperf3-server-%s-%d" % (case, mode, port))
                    try:
                        wait_port(sp, port)
                        argv = pre(mode, self.cli_cpu, pods.a) + [
                            "iperf3", "-c", POD_B, "-p", str(port), "-t", str(secs), "-l", "128K",
                            "-P", str(streams), "-J"]
                        rec = run(point, mode, rep, argv, self.iperf3, lambda v: v["bytes"],
                                  slots=streams + 1)
                        self.progress(rec, lambda v: "%.2f Gbit/s" % v["gbps"])
                    finally:
                        try:
                            sp.wait(timeout=5)
                        except subprocess.TimeoutExpired:
                            self.stop(sp)
        # ping-pong and short connections: one server per mode
        for prog_name, point, key in (("xio-bench-pingpong", "ping-pong 64 B", "pp"),
                                      ("xio-bench-shortconn", "short connections", "sc")):
            prog = os.path.join(self.bench_bin, prog_name)
            srv = {}
            try:
                for mode in modes:
                    port = self.port()
                    ep = "tcp:%s:%d" % (POD_B, port)
                    p = self.start(pre(mode, self.srv_cpu, pods.bb) + [prog, "server", ep],
                                   "%s-%s-server-%s" % (case, key, mode),
                                   stdout=subprocess.DEVNULL)
                    wait_port(p, port)
                    srv[mode] = ep
                for rep in range(1, self.reps + 1):
                    for mode in modes:
                        if key == "pp":
                            argv = pre(mode, self.cli_cpu, pods.a) + [
                                prog, "client", srv[mode], "64", str(min(secs, 1))]
                            rec = run(point, mode, rep, argv, self.kv, lambda v: v["bytes"])
                            self.progress(rec, lambda v: "p50 %.2f µs, p99 %.2f µs" %
                                          (v["p50_us"], v["p99_us"]))
                        else:
                            argv = pre(mode, self.cli_cpu, pods.a) + [
                                prog, "client", srv[mode], str(min(secs, 2))]
                            rec = run(point, mode, rep, argv, self.kv, lambda v: v["bytes"])
                            self.progress(rec, lambda v: "%.0f conn/s" % v["rate"])
            finally:
                for p in list(self.procs):
                    if getattr(p, "bench_name", "").startswith("%s-%s-server" % (case, key)):
                        self.stop(p)
        # wrk -> nginx
        srv = {}
        try:
            for mode in modes:
                port = self.port()
                d, conf = self.nginx_site("nginx-pods-" + mode, POD_B, port)
                p = self.start(pre(mode, self.srv_cpu, pods.bb) +
                               ["nginx", "-p", d, "-c", conf, "-e", os.path.join(d, "error.log")],
                               "%s-nginx-%s" % (case, mode))
                wait_port(p, port)
                srv[mode] = (p, "http://%s:%d/1k.bin" % (POD_B, port))
            time.sleep(0.2)
            for n in (1, 16, 64):
                point = "wrk %d conn%s" % (n, "" if n == 1 else "s")
                for rep in range(1, self.reps + 1):
                    for mode in modes:
                        argv = pre(mode, self.cli_cpu, pods.a) + [
                            "wrk", "-t", "1", "-c", str(n), "-d", "%ds" % secs, "--latency",
                            srv[mode][1]]
                        rec = run(point, mode, rep, argv, self.wrk,
                                  lambda v: v["requests"] * 1024, slots=n)
                        self.progress(rec, lambda v: "%.0f req/s" % v["rps"])
        finally:
            for p, _ in srv.values():
                self.stop(p, signal.SIGTERM)
    finally:
        pods.cleanup()


def report_pods(self, sect, summary):
    P = [p for p in self.points("pods")]
    if not P:
        return
    ratio = [("xio", "tcp")]
    body = []
    rows = [([p for p in P if p.startswith("iperf3")], "gbps", "Gbit/s"),
            ([p for p in P if p.startswith("ping")], "p50_us", "p50 RTT µs"),
            ([p for p in P if p.startswith("ping")], "p99_us", "p99 RTT µs"),
            ([p for p in P if p.startswith("short")], "rate", "connections/s"),
            ([p for p in P if p.startswith("wrk")], "rps", "requests/s")]
    med = {}
    for pts, key, unit in rows:
        if not pts:
            continue
        b, m = self.table("pods", pts, ["tcp", "xio"], key, ratio, unit)
        med[key] = m
        body += b + [""]
    veth = [r["veth_bytes"] for r in self.records
            if r["case"] == "pods" and r["mode"] == "xio" and "veth_bytes" in r]
    if veth:
        body.append("Bytes over pod A's veth during X-IO runs: at most %d per run (the kernel's "
                    "TCP handshakes and FINs only)." % max(veth))
    sect("9. Pods: two network namespaces over veth", "pods", body)

    def r(key, pt):
        m = med.get(key, {})
        a, b = m.get((pt, "xio")), m.get((pt, "tcp"))
        return a / b if a and b else None
    for pt in [p for p in P if p.startswith("iperf3")]:
        x = r("gbps", pt)
        if x:
            summary.append(("pods: %s ≥ 5× veth TCP" % pt, "%.2f×" % x, x >= 5))
    for key, lim in (("p50_us", 0.1),):
        pt = "ping-pong 64 B"
        x = r(key, pt)
        if x:
            summary.append(("pods: 64 B ping-pong p50 ≤ 0.1× veth TCP", "%.2f×" % x, x <= lim))
    pt = "short connections"
    x = r("rate", pt)
    if x:
        summary.append(("pods: short connections ≥ 1.0× veth TCP", "%.2f×" % x, x >= 1.0))
    for pt in [p for p in P if p.startswith("wrk")]:
        x = r("rps", pt)
        if x:
            summary.append(("pods: %s ≥ 2× veth TCP" % pt, "%.2f×" % x, x >= 2))
