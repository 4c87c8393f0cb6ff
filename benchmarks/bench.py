#!/usr/bin/python3
"""X-IO benchmark suite: kernel TCP vs Unix domain socket vs X-IO, side by side.

Run through benchmarks/run (which finds the build and Debian's python3); see
`benchmarks/run --help`. Standard library only, plus matplotlib for the PNGs
(skipped, with a note, when it is missing).

This file is the driver: it sets the run up, runs the cases and writes the
report. Each case is a module of its own, benchmarks/bench_<case>.py, found by
its name; what the cases share (processes, the X-IO checks, the measured loop,
tables, plots) is benchlib.py. A case module defines:

  ORDER           where the case comes in the run and in results.md (sections
                  are numbered in their titles: 1 iperf3 = 10, ..., 10 chain = 100)
  QUICK = False   (optional) leave the case out of --quick unless --only names it
  run(b)          measure, with b (a benchlib.Bench): b.sweep(...) is the shared
                  loop; raise benchlib.Failure to fail the case
  report(b, r)    called for every report, run or not (return if b.points(case)
                  is empty): r.section(title, case, body, plot=medians) adds a
                  section, r.target(target, measured, met) a headline row
  plot(b, ax, m)  (optional) draw CASE.png from the medians given to r.section

Every case starts its own servers, pins them with taskset to the server CPU
and the clients to the client CPU, interleaves the modes rep by rep, and kills
only the processes it started (by pid). Every X-IO run is checked against
xio-stat: the domain's byte counter must have grown by the payload the
program reports, with no fallback to kernel TCP, else the cell says so.
"""

import argparse
import glob
import importlib
import json
import os
import signal
import sys
import time

import benchlib
from benchlib import ROOT, SPIN_US, SRC, Bench, Failure, Report


def load_cases():
    """The case modules bench_<case>.py beside this file, in their ORDER: {name: module}."""
    mods = []
    for f in glob.glob(os.path.join(SRC, "bench_*.py")):
        name = os.path.basename(f)[len("bench_"):-len(".py")]
        m = importlib.import_module("bench_" + name)
        m.NAME = name
        # a case written as bench_pods.py once was: case_<name>(self), report_<name>(self,
        # sect, summary)
        if not hasattr(m, "run"):
            m.run = getattr(m, "case_" + name)
        if not hasattr(m, "report") and hasattr(m, "report_" + name):
            old = getattr(m, "report_" + name)
            m.report = lambda b, r, old=old: old(
                b, lambda title, case, body, plot=None: r.section(title, case, body), r.targets)
        mods.append(m)
    mods.sort(key=lambda m: (getattr(m, "ORDER", 1000), m.NAME))
    return {m.NAME: m for m in mods}


CASES = load_cases()


def report(b, cmdline, wall):
    if not getattr(b, "load1", None):
        b.load1 = open("/proc/loadavg").read().split()[0]
    cpu_model = ""
    for line in open("/proc/cpuinfo"):
        if line.startswith("model name"):
            cpu_model = line.split(":", 1)[1].strip()
            break
    head = [
        "# X-IO benchmarks: kernel TCP vs Unix socket vs X-IO (%s run)" % (
            "quick" if b.quick else "full"),
        "",
        "- Command: `%s`" % cmdline,
        "- Date: %s; wall time of the run: %.0f s" % (time.strftime("%Y-%m-%d %H:%M UTC",
                                                                     time.gmtime()), wall),
        "- Commit: `%s` (at the start of the run; binaries from %s, built %s)" % (
            b.commit, os.path.relpath(b.build_dir, ROOT)
            if b.build_dir.startswith(ROOT) else b.build_dir, b.build_time),
        "- Machine: %s, nproc %d, Linux %s; 1-minute load average at start %s, at end %s "
        "(other work on the machine adds noise)" % (
            cpu_model, b.ncpu, os.uname().release, b.load0, b.load1),
        "- Placement (every table): %s; X-IO: both ends under `xio-run --domain %s` "
        "(manager: %s)" % (b.placement, b.domain, b.manager_desc),
        "- Columns: \"X-IO\" runs with X-IO's defaults (a bounded spin of 20 µs before "
        "blocking on a machine with two or more CPUs: stack/config.c); \"X-IO spin\" runs "
        "both ends under `xio-run --spin %d`." % SPIN_US,
        "- Each point: %d runs, modes interleaved run by run; cells are median (min–max). "
        "An X-IO cell is marked **NOT CARRIED** when xio-stat's byte counter did not grow by "
        "the payload the program reports, **partly TCP** when connections fell back." %
        b.reps,
        "",
    ]
    r = Report(b)
    for m in CASES.values():
        if hasattr(m, "report"):
            m.report(b, r)
    top = ["## Headline: targets of issue 4, from this run", "",
           "| target | measured | |", "|---|---|---|"]
    for t, m, ok in r.targets:
        top.append("| %s | %s | %s |" % (t, m, "met" if ok else "**missed**"))
    top += r.rows + [""]
    tail = []
    if b.failed:
        tail += ["## Failed runs", ""] + ["- " + f for f in b.failed] + [""]
    if b.findings:
        tail += ["## Problems seen (details in raw/)", ""] + \
            ["- " + f for f in b.findings] + [""]
    text = "\n".join(head + top + r.md + tail)
    with open(os.path.join(b.out, "results.md"), "w") as f:
        f.write(text)
    with open(os.path.join(b.out, "results.json"), "w") as f:
        json.dump(dict(records=b.records, failed=b.failed, findings=b.findings,
                       placement=b.placement, reps=b.reps, notes=b.notes,
                       xval=b.xval, cmdline=cmdline, wall=wall,
                       meta=dict(load0=b.load0, load1=b.load1, domain=b.domain,
                                 manager_desc=b.manager_desc,
                                 commit=b.commit, build_time=b.build_time)), f, indent=1)
    plot(b, r.plots)
    return text


def plot(b, plots):
    """CASE.png for each (case, medians) a section asked for, drawn by the case's plot()."""
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except Exception as e:
        b.say("no PNG plots: matplotlib unavailable (%s); install python3-matplotlib" % e)
        return
    sub = "placement: " + b.placement.replace("`", "")
    for case, med in plots:
        if not hasattr(CASES[case], "plot"):
            continue
        fig, ax = plt.subplots(figsize=(7, 4.2))
        CASES[case].plot(b, ax, med)
        ax.legend(fontsize=8)
        ax.grid(True, alpha=0.3)
        fig.text(0.01, 0.01, sub, fontsize=7)
        fig.tight_layout(rect=(0, 0.03, 1, 1))
        fig.savefig(os.path.join(b.out, case + ".png"), dpi=110)
        plt.close(fig)


def port_range(s):
    lo, _, hi = s.partition("-")
    if not (lo.isdigit() and hi.isdigit() and 0 < int(lo) <= int(hi) < 65536):
        raise argparse.ArgumentTypeError("not a port range LO-HI: %r" % s)
    return int(lo), int(hi)


def main():
    ap = argparse.ArgumentParser(prog="benchmarks/run", description=__doc__.split("\n")[0])
    g = ap.add_mutually_exclusive_group()
    g.add_argument("--quick", action="store_true", help="reduced grid, 3 runs per point (< 3 min)")
    g.add_argument("--full", action="store_true", help="full grid, 5 runs per point (default)")
    ap.add_argument("--out", default="bench-out", help="output folder (default bench-out/)")
    ap.add_argument("--domain", help="use this domain (and its manager if one runs) instead of "
                    "a private one")
    ap.add_argument("--only", help="comma-separated cases: " + ",".join(CASES))
    ap.add_argument("--ports", type=port_range, default=benchlib.PORTS,
                    help="TCP ports of the servers, LO-HI (default %d-%d)" % benchlib.PORTS)
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
        sys.stdout.write(report(b, d["cmdline"], d["wall"]))
        return 0
    if a.only:
        cases = [c.strip() for c in a.only.split(",")]
        for c in cases:
            if c not in CASES:
                ap.error("unknown case %s" % c)
    else:
        cases = [c for c, m in CASES.items() if not a.quick or getattr(m, "QUICK", True)]
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
                CASES[c].run(b)
            except Failure as e:
                b.failed.append("%s: %s" % (c, e))
                b.say("case %s FAILED: %s" % (c, e))
        text = report(b, cmdline, time.monotonic() - t0)
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
