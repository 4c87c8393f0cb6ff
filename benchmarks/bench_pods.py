"""Benchmark case `pods`: two network namespaces on one node, kernel TCP over veth vs X-IO.

The node is a namespace of its own with a routed veth pair per pod (Calico's
shape: the pod has a /32 and a default route to a link-local gateway that the
node answers by proxy ARP). The manager runs in the root namespace, as a node
agent would, and proves each pairing from the sockets' sequence numbers. The
server runs in pod B, the client in pod A; modes are interleaved run by run.
Each X-IO run is checked as everywhere (xio-stat bytes), and the pod's veth
counters are recorded beside it: a carried run moves almost nothing over veth.
"""

import functools
import os
import subprocess
import time

import benchlib
from benchlib import conns

ORDER = 90
CASE = "pods"
MODES = ["tcp", "xio"]
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


def run(b):
    case = CASE
    secs = 1 if b.quick else 3
    b.notes[case] = [
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
    pods = Pods(b)
    domain = b.domain + "-pods"
    try:
        pods.setup()
        b.managers.append(b.start_manager(domain, b.slots, group="nogroup"))

        def srv(mode):  # server prefix: in pod B
            return ["ip", "netns", "exec", pods.bb] + b.srv(mode, domain)

        def cli(mode):  # client prefix: in pod A
            return ["ip", "netns", "exec", pods.a] + b.cli(mode, domain)

        # every run in this domain, with the bytes over pod A's veth beside it
        sweep = functools.partial(b.sweep, case, modes=MODES, domain=domain,
                                  probe=("veth_bytes", pods.veth_bytes), timeout=secs + 60)

        # iperf3, 1 and 4 streams: a server per run
        def iperf3_server(streams, mode):
            port = b.port()
            return b.server_once(case, mode, srv(mode) + ["iperf3", "-s", "-B", POD_B, "-p",
                                                          str(port), "-1"], port, wait_exit=True)

        sweep([("iperf3 P=%d" % n, n) for n in (1, 4)],
              client=lambda streams, mode, port: cli(mode) + [
                  "iperf3", "-c", POD_B, "-p", str(port), "-t", str(secs), "-l", "128K",
                  "-P", str(streams), "-J"],
              show=lambda v: "%.2f Gbit/s" % v["gbps"], parse=benchlib.iperf3,
              server=iperf3_server, slots=lambda streams: streams + 1)
        # ping-pong and short connections: one server per mode
        for prog_name, point, key, args, show in (
                ("xio-bench-pingpong", "ping-pong 64 B", "pp", ["64", str(min(secs, 1))],
                 lambda v: "p50 %.2f µs, p99 %.2f µs" % (v["p50_us"], v["p99_us"])),
                ("xio-bench-shortconn", "short connections", "sc", [str(min(secs, 2))],
                 lambda v: "%.0f conn/s" % v["rate"])):
            prog = os.path.join(b.bench_bin, prog_name)
            with b.server_group("%s-%s" % (case, key)) as s:
                for mode in MODES:
                    port = b.port()
                    ep = "tcp:%s:%d" % (POD_B, port)
                    s.start(mode, srv(mode) + [prog, "server", ep], port=port, ep=ep)
                sweep([(point, None)], servers=s, show=show,
                      client=lambda x, mode, ep: cli(mode) + [prog, "client", ep] + args)
        # wrk -> nginx
        with b.server_group(case) as s:
            for mode in MODES:
                b.nginx(s, mode, srv(mode), addr=POD_B, name="nginx-pods-" + mode)
            time.sleep(0.2)
            sweep([("wrk " + conns(n), n) for n in (1, 16, 64)], servers=s,
                  client=lambda n, mode, url: cli(mode) + [
                      "wrk", "-t", "1", "-c", str(n), "-d", "%ds" % secs, "--latency", url],
                  show=lambda v: "%.0f req/s" % v["rps"], parse=benchlib.wrk,
                  payload=lambda v: v["requests"] * 1024, slots=lambda n: n)
    finally:
        pods.cleanup()


def report(b, r):
    P = b.points(CASE)
    if not P:
        return
    body, med = b.tables(CASE, MODES, [("xio", "tcp")], [
        ("iperf3", "gbps", "Gbit/s"), ("ping", "p50_us", "p50 RTT µs"),
        ("ping", "p99_us", "p99 RTT µs"), ("short", "rate", "connections/s"),
        ("wrk", "rps", "requests/s")])
    veth = [x["veth_bytes"] for x in b.records
            if x["case"] == CASE and x["mode"] == "xio" and "veth_bytes" in x]
    if veth:
        body.append("Bytes over pod A's veth during X-IO runs: at most %d per run (the kernel's "
                    "TCP handshakes and FINs only)." % max(veth))
    r.section("9. Pods: two network namespaces over veth", CASE, body)

    def ratio_of(key, pt):
        m = med.get(key, {})
        x, t = m.get((pt, "xio")), m.get((pt, "tcp"))
        return x / t if x and t else None
    for pt in [p for p in P if p.startswith("iperf3")]:
        x = ratio_of("gbps", pt)
        if x:
            r.target("pods: %s ≥ 5× veth TCP" % pt, "%.2f×" % x, x >= 5)
    for key, lim in (("p50_us", 0.1),):
        pt = "ping-pong 64 B"
        x = ratio_of(key, pt)
        if x:
            r.target("pods: 64 B ping-pong p50 ≤ 0.1× veth TCP", "%.2f×" % x, x <= lim)
    pt = "short connections"
    x = ratio_of("rate", pt)
    if x:
        r.target("pods: short connections ≥ 1.0× veth TCP", "%.2f×" % x, x >= 1.0)
    for pt in [p for p in P if p.startswith("wrk")]:
        x = ratio_of("rps", pt)
        if x:
            r.target("pods: %s ≥ 2× veth TCP" % pt, "%.2f×" % x, x >= 2)
