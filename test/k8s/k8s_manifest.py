#!/usr/bin/python3
"""Read packaging/k8s's manifests for the k8s tests (Debian's python3-yaml).

  k8s_manifest.py check DIR          assert what matters in the manifests
  k8s_manifest.py box DIR BOX BUILD  print bash assignments: what the DaemonSet
                                     and the example pod run, with host paths
                                     moved under BOX and the image's /opt/xio
                                     replaced by the build tree BUILD

Both fail (exit 1, one line per problem) rather than guess.
"""
import re
import shlex
import subprocess
import sys

import yaml

DS_FILE = "xio-manager-team-a.yaml"
DS_B_FILE = "xio-manager-team-b.yaml"
POD_FILE = "example-team-a.yaml"
IMAGE_PREFIX = "/opt/xio"  # where the image installs X-IO (Dockerfile)
LIB = "lib/libxio_preload.so"
CAPS_ALLOWED = {"NET_ADMIN", "SYS_ADMIN", "SYS_PTRACE"}
WORKLOADS = {"DaemonSet", "Deployment", "StatefulSet", "Pod", "Job"}
API = {"Namespace": "v1", "Service": "v1", "DaemonSet": "apps/v1", "Deployment": "apps/v1"}

problems = []


def bad(msg):
    problems.append(msg)


def load(path):
    with open(path) as f:
        return [d for d in yaml.safe_load_all(f) if d is not None]


def pod_spec(doc):
    return doc["spec"]["template"]["spec"] if doc["kind"] != "Pod" else doc["spec"]


def one(docs, kind, what):
    found = [d for d in docs if d["kind"] == kind]
    if len(found) != 1:
        raise SystemExit(f"FAIL: expected one {kind} in {what}, found {len(found)}")
    return found[0]


def container(spec, name, init=False):
    for c in spec.get("initContainers" if init else "containers", []):
        if c["name"] == name:
            return c
    raise SystemExit(f"FAIL: no {'init ' if init else ''}container {name}")


def env_of(c):
    return {e["name"]: e["value"] for e in c.get("env", [])}


def arg_after(argv, flag):
    if flag not in argv or argv.index(flag) + 1 >= len(argv):
        raise SystemExit(f"FAIL: {flag} missing in {argv}")
    return argv[argv.index(flag) + 1]


def host_paths(spec):
    """volume name -> hostPath path"""
    return {v["name"]: v["hostPath"]["path"] for v in spec.get("volumes", []) if "hostPath" in v}


def mounts(spec, c):
    """mountPath -> (volume name, hostPath or None, readOnly)"""
    hp = host_paths(spec)
    return {m["mountPath"]: (m["name"], hp.get(m["name"]), m.get("readOnly", False))
            for m in c.get("volumeMounts", [])}


# ---- check ---------------------------------------------------------------------


def check_security(what, c, spec):
    sc = c.get("securityContext", {})
    if sc.get("privileged", False):
        bad(f"{what}: privileged")
    if sc.get("allowPrivilegeEscalation", True):
        bad(f"{what}: allowPrivilegeEscalation is not false")
    if not sc.get("readOnlyRootFilesystem", False):
        bad(f"{what}: readOnlyRootFilesystem is not true")
    if sc.get("capabilities", {}).get("drop") != ["ALL"]:
        bad(f"{what}: capabilities.drop is not [ALL]")
    seccomp = sc.get("seccompProfile") or spec.get("securityContext", {}).get("seccompProfile")
    if not seccomp or seccomp.get("type") != "RuntimeDefault":
        bad(f"{what}: seccompProfile is not RuntimeDefault")


def check_cap_comments(path, caps):
    """Each added capability: its line, preceded by a comment that names it and says why."""
    lines = open(path).read().splitlines()
    for cap in caps:
        idx = [i for i, line in enumerate(lines) if re.fullmatch(rf"\s*- {cap}\s*", line)]
        if len(idx) != 1:
            bad(f"{path}: capability {cap} is listed {len(idx)} times in the raw text")
            continue
        comment = []
        i = idx[0] - 1
        while i >= 0 and lines[i].strip().startswith("#"):
            comment.insert(0, lines[i].strip().lstrip("#").strip())
            i -= 1
        text = " ".join(comment)
        if f"CAP_{cap}" not in text or len(text) < 120:
            bad(f"{path}: capability {cap} has no comment that names CAP_{cap} and explains it: {text!r}")
    # hostPID likewise
    i = [n for n, line in enumerate(lines) if re.fullmatch(r"\s*hostPID: true\s*", line)]
    if i and not lines[i[0] - 1].strip().startswith("#"):
        bad(f"{path}: hostPID: true has no comment")


def check_daemonset(d, docs, path):
    if d["apiVersion"] != "apps/v1":
        bad(f"DaemonSet apiVersion {d['apiVersion']}")
    ns = d["metadata"].get("namespace")
    nss = [x["metadata"]["name"] for x in docs if x["kind"] == "Namespace"]
    if ns not in nss:
        bad(f"DaemonSet namespace {ns} is not created in {path} ({nss})")
    spec = pod_spec(d)
    if spec.get("hostNetwork", False):
        bad("the manager must not need hostNetwork")
    if spec.get("securityContext", {}).get("seccompProfile", {}).get("type") != "RuntimeDefault":
        bad("DaemonSet pod: seccompProfile is not RuntimeDefault")
    mgr = container(spec, "manager")
    argv = mgr["command"] + mgr.get("args", [])
    if argv[0] != f"{IMAGE_PREFIX}/bin/xio-manager" or "--foreground" not in argv:
        bad(f"manager does not run {IMAGE_PREFIX}/bin/xio-manager --foreground: {argv}")
    domain, rundir, group = arg_after(argv, "--domain"), arg_after(argv, "--rundir"), arg_after(argv, "--group")
    if group not in [str(g) for g in spec.get("securityContext", {}).get("supplementalGroups", [])]:
        bad(f"the manager pod is not in its domain's group {group} (chgrp without CAP_CHOWN)")
    res = mgr.get("resources", {})
    for k in ("requests", "limits"):
        r = res.get(k, {})
        if "hugepages-2Mi" not in r or "memory" not in r:
            bad(f"manager resources.{k} lacks hugepages-2Mi or memory: {r}")
    if res.get("requests", {}).get("hugepages-2Mi") != res.get("limits", {}).get("hugepages-2Mi"):
        bad("hugepages requests and limits differ (Kubernetes requires them equal)")
    m = mounts(spec, mgr)
    dom_dir = f"{rundir}/{domain}"
    if m.get(dom_dir, (None, None))[1] != dom_dir:
        bad(f"manager: hostPath {dom_dir} not mounted at {dom_dir}: {m}")
    if "/var/run/dpdk" not in m:
        bad("manager: no writable /var/run/dpdk (EAL makes its runtime dir there)")
    sc = mgr["securityContext"]
    check_security("manager", mgr, spec)
    caps = sc.get("capabilities", {}).get("add", [])
    extra = set(caps) - CAPS_ALLOWED
    if extra:
        bad(f"manager adds capabilities nobody explained in this test: {sorted(extra)}")
    check_cap_comments(path, caps)
    for probe in ("livenessProbe", "readinessProbe"):
        cmd = mgr.get(probe, {}).get("exec", {}).get("command", [])
        if not cmd or cmd[0] != f"{IMAGE_PREFIX}/bin/xio-stat" or arg_after(cmd, "--domain") != domain:
            bad(f"manager {probe} is not xio-stat of domain {domain}: {cmd}")
    # the init container installs the host files
    init = container(spec, "install-host-files", init=True)
    check_security("install-host-files", init, spec)
    if init["securityContext"].get("capabilities", {}).get("add"):
        bad("install-host-files adds capabilities")
    ienv = env_of(init)
    if ienv.get("XIO_SRC") != IMAGE_PREFIX:
        bad(f"install-host-files copies from {ienv.get('XIO_SRC')}, not the image's {IMAGE_PREFIX}")
    im = mounts(spec, init)
    if ienv.get("XIO_DST") not in im or im[ienv["XIO_DST"]][1] is None:
        bad("install-host-files: XIO_DST is not a hostPath mount")
    script = " ".join(init["command"])
    for f in (LIB, "bin/xio-run"):
        if f not in script:
            bad(f"install-host-files does not install {f}")
    # the metrics sidecar
    met = container(spec, "metrics")
    check_security("metrics", met, spec)
    msc = met["securityContext"]
    if not msc.get("runAsNonRoot") or msc.get("runAsUser", 0) == 0 or msc.get("capabilities", {}).get("add"):
        bad("metrics sidecar must run as non-root without capabilities")
    menv = env_of(met)
    if "--prometheus" not in menv.get("XIO_SCRAPE", "") or menv.get("XIO_DOMAIN") != domain:
        bad("metrics sidecar does not serve xio-stat --prometheus of its domain")
    ports = [p["containerPort"] for p in met.get("ports", [])]
    if int(menv.get("XIO_METRICS_PORT", 0)) not in ports:
        bad(f"metrics port {menv.get('XIO_METRICS_PORT')} not in containerPorts {ports}")
    return domain, rundir, group, host_paths(spec)[im[ienv["XIO_DST"]][0]]


def check_pod(doc, domain, rundir, group, lib_host_dir):
    spec = pod_spec(doc)
    name = doc["metadata"]["name"]
    psc = spec.get("securityContext", {})
    if not psc.get("runAsNonRoot") or psc.get("runAsUser", 0) == 0:
        bad(f"{name}: opted-in pod runs as root")
    if group not in [str(g) for g in psc.get("supplementalGroups", [])]:
        bad(f"{name}: not in the domain's group {group}")
    for c in spec["containers"]:
        what = f"{name}/{c['name']}"
        check_security(what, c, spec)
        if c["securityContext"].get("capabilities", {}).get("add"):
            bad(f"{what}: adds capabilities")
        env = env_of(c)
        m = mounts(spec, c)
        dom_dir = f"{rundir}/{domain}"
        if m.get(dom_dir, (None, None, None))[1:] != (dom_dir, True):
            bad(f"{what}: does not mount hostPath {dom_dir} read-only at {dom_dir}")
        lib_mount = [mp for mp, (_, hp, ro) in m.items() if hp == lib_host_dir and ro]
        if len(lib_mount) != 1:
            bad(f"{what}: does not mount the host files {lib_host_dir} read-only")
            continue
        lib_path = f"{lib_mount[0]}/{LIB}"
        if env.get("XIO_RUNDIR") != rundir:
            bad(f"{what}: XIO_RUNDIR is {env.get('XIO_RUNDIR')}, not {rundir}")
        argv = c["command"]
        if "LD_PRELOAD" in env:
            if env["LD_PRELOAD"] != lib_path:
                bad(f"{what}: LD_PRELOAD={env['LD_PRELOAD']} is not where the init container installs it ({lib_path})")
            if env.get("XIO_DOMAIN") != domain:
                bad(f"{what}: XIO_DOMAIN is not {domain}")
        elif argv[0] == f"{lib_mount[0]}/bin/xio-run":
            if arg_after(argv, "--domain") != domain:
                bad(f"{what}: xio-run --domain is not {domain}")
        else:
            bad(f"{what}: neither LD_PRELOAD nor xio-run")


def kubectl_decode(path, docs):
    """kubectl's client-side decode into its typed objects, offline (--local)."""
    p = subprocess.run(["kubectl", "set", "resources", "--local", "-f", path, "--limits=cpu=1", "-o", "name"],
                       capture_output=True, text=True, timeout=60)
    names = set(p.stdout.split())
    not_pods = re.compile(r"error: (\S+) the object is not a pod or does not have a pod template: \S+")
    for line in p.stderr.splitlines():
        if not line.strip():
            continue
        mt = not_pods.fullmatch(line.strip())
        if mt:
            names.add(mt.group(1))
        else:
            bad(f"kubectl on {path}: {line}")
    for d in docs:
        kind = d["kind"].lower()
        group = d["apiVersion"].split("/")[0] + "." if "/" in d["apiVersion"] else ""
        want = f"{kind}.{group}".rstrip(".") + f"/{d['metadata']['name']}"
        if want not in names:
            bad(f"kubectl did not decode {want} from {path} (got {sorted(names)})")


def check(d):
    ds_docs = load(f"{d}/{DS_FILE}")
    for path, docs in ((DS_FILE, ds_docs), (POD_FILE, load(f"{d}/{POD_FILE}")), (DS_B_FILE, load(f"{d}/{DS_B_FILE}"))):
        for doc in docs:
            if API.get(doc["kind"]) != doc["apiVersion"]:
                bad(f"{path}: {doc['kind']} with apiVersion {doc['apiVersion']}")
        kubectl_decode(f"{d}/{path}", docs)
    ds = one(ds_docs, "DaemonSet", DS_FILE)
    domain, rundir, group, lib_host_dir = check_daemonset(ds, ds_docs, f"{d}/{DS_FILE}")
    # the second trust zone: the same file with its own domain and group
    raw_a = open(f"{d}/{DS_FILE}").read()
    raw_b = open(f"{d}/{DS_B_FILE}").read()
    body_a = raw_a[raw_a.index("apiVersion:"):]
    body_b = raw_b[raw_b.index("apiVersion:"):]
    if body_b != body_a.replace("team-a", "team-b").replace("5000", "5001"):
        bad(f"{DS_B_FILE} is not {DS_FILE} with team-a -> team-b, 5000 -> 5001 (regenerate it)")
    ds_b = one(load(f"{d}/{DS_B_FILE}"), "DaemonSet", DS_B_FILE)
    dom_b, _, group_b, _ = check_daemonset(ds_b, load(f"{d}/{DS_B_FILE}"), f"{d}/{DS_B_FILE}")
    if dom_b == domain or group_b == group or ds_b["metadata"]["name"] == ds["metadata"]["name"]:
        bad("the two trust zones share a domain, a group or a DaemonSet name")
    pods = [x for x in load(f"{d}/{POD_FILE}") if x["kind"] in WORKLOADS]
    if not pods:
        bad(f"{POD_FILE} has no workload")
    for p in pods:
        check_pod(p, domain, rundir, group, lib_host_dir)
    for p in problems:
        print(f"FAIL: {p}")
    if problems:
        return 1
    print(f"manifests OK: domain {domain}/{dom_b}, groups {group}/{group_b}, "
          f"{len(pods)} opted-in workloads, kubectl decoded every object")
    return 0


# ---- box -------------------------------------------------------------------------


def box(d, boxdir, build):
    ds = one(load(f"{d}/{DS_FILE}"), "DaemonSet", DS_FILE)
    spec = pod_spec(ds)
    pods = {x["metadata"]["name"]: x for x in load(f"{d}/{POD_FILE}") if x["kind"] == "Deployment"}

    def host(p):  # a host path of the node -> under the box
        return boxdir + p

    def image(p):  # a path in the image -> the build tree (same bin/, lib/ layout)
        return build + p[len(IMAGE_PREFIX):] if p.startswith(IMAGE_PREFIX + "/") or p == IMAGE_PREFIX else p

    def in_container(spec, c, p):
        """A path as the container sees it -> where it is in the box."""
        best = None
        for mp, (_, hp, _) in mounts(spec, c).items():
            if hp and (p == mp or p.startswith(mp + "/")) and (best is None or len(mp) > len(best[0])):
                best = (mp, hp)
        if best:
            return host(best[1]) + p[len(best[0]):]
        # a parent of a hostPath mounted at its own path (the run dir /run/xio)
        for mp, (_, hp, _) in mounts(spec, c).items():
            if hp == mp and mp.startswith(p.rstrip("/") + "/"):
                return host(p)
        return image(p)

    def rew(spec, c, s):
        return re.sub(r"(?<![\w.])/[\w./-]+", lambda m: in_container(spec, c, m.group(0)), s)

    out = {}
    mgr = container(spec, "manager")
    argv = mgr["command"] + mgr.get("args", [])
    out["MGR_CMD"] = [rew(spec, mgr, a) for a in argv]
    out["DOMAIN"] = arg_after(argv, "--domain")
    out["RUNDIR"] = rew(spec, mgr, arg_after(argv, "--rundir"))
    out["MGR_CAPS"] = ",".join(["-all"] + ["+" + c.lower() for c in mgr["securityContext"]["capabilities"].get("add", [])])
    out["MGR_UID"] = str(mgr["securityContext"].get("runAsUser", 0))
    out["MGR_GROUPS"] = ",".join(str(g) for g in spec["securityContext"].get("supplementalGroups", []))
    out["MGR_HOSTPID"] = "1" if spec.get("hostPID") else "0"
    out["MGR_RW"] = [host(hp) for mp, (_, hp, ro) in mounts(spec, mgr).items() if hp and not ro]
    out["MGR_EMPTYDIRS"] = [mp for mp, (_, hp, _) in mounts(spec, mgr).items() if hp is None]
    out["LIVENESS"] = [rew(spec, mgr, a) for a in mgr["livenessProbe"]["exec"]["command"]]
    init = container(spec, "install-host-files", init=True)
    ienv = env_of(init)
    out["INIT_SCRIPT"] = init["command"][-1]
    out["INIT_SH"] = init["command"][:-1]
    out["INIT_ENV"] = [f"XIO_SRC={image(ienv['XIO_SRC'])}", f"XIO_DST={in_container(spec, init, ienv['XIO_DST'])}"]
    met = container(spec, "metrics")
    menv = env_of(met)
    out["MET_ENV"] = [f"{k}={rew(spec, met, v) if k != 'XIO_SCRAPE' else rew(spec, met, v)}" for k, v in menv.items()]
    out["MET_CMD"] = met["command"]
    out["MET_PORT"] = menv["XIO_METRICS_PORT"]
    out["MET_UID"] = str(met["securityContext"]["runAsUser"])
    out["MET_GID"] = str(met["securityContext"].get("runAsGroup", met["securityContext"]["runAsUser"]))

    def pod(prefix, dep, cname):
        pspec = pod_spec(dep)
        c = container(pspec, cname)
        psc = pspec["securityContext"]
        out[prefix + "_UID"] = str(psc["runAsUser"])
        out[prefix + "_GID"] = str(psc.get("runAsGroup", psc["runAsUser"]))
        out[prefix + "_GROUPS"] = ",".join(str(g) for g in psc.get("supplementalGroups", []))
        out[prefix + "_ENV"] = [f"{k}={rew(pspec, c, v)}" for k, v in env_of(c).items()]
        out[prefix + "_RO"] = [host(hp) for mp, (_, hp, ro) in mounts(pspec, c).items() if hp and ro]
        argv = [rew(pspec, c, a) for a in c["command"]]
        if "/bin/sh" in argv:  # the wrapper before the shell loop: xio-run --domain D
            argv = argv[: argv.index("/bin/sh")]
        out[prefix + "_CMD"] = argv

    pod("SRV", pods["iperf3-pair"], "server")
    pod("CLI", pods["iperf3-pair"], "client")
    pod("XSRV", pods["iperf3-server"], "server")
    pod("XCLI", pods["iperf3-client"], "client")
    for k, v in out.items():
        if isinstance(v, list):
            print(f"{k}=({' '.join(shlex.quote(x) for x in v)})")
        else:
            print(f"{k}={shlex.quote(v)}")
    return 0


if __name__ == "__main__":
    if len(sys.argv) == 3 and sys.argv[1] == "check":
        sys.exit(check(sys.argv[2]))
    if len(sys.argv) == 5 and sys.argv[1] == "box":
        sys.exit(box(sys.argv[2], sys.argv[3], sys.argv[4]))
    print(__doc__, file=sys.stderr)
    sys.exit(2)
