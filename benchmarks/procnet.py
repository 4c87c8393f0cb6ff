"""Is a TCP port listening? Read from /proc, so it works for a server in any network namespace."""


def listening(port, pid=None):
    """Is @port in LISTEN in our network namespace, or in that of process @pid?"""
    want = ":%04X" % port
    base = "/proc/net" if pid is None else "/proc/%d/net" % pid
    for f in ("tcp", "tcp6"):
        try:
            for line in open("%s/%s" % (base, f)).readlines()[1:]:
                x = line.split()
                if x[1].endswith(want) and x[3] == "0A":
                    return True
        except OSError:
            pass
    return False


def published(port, rundir=None):
    """Has an X-IO listener on @port published its rendezvous entry in @rundir (default
    $XIO_RUNDIR)? A program's listen() publishes right after the kernel's listen, so a
    client started on the kernel's LISTEN alone may come too early and use TCP."""
    import glob
    import os
    rundir = rundir or os.environ.get("XIO_RUNDIR")
    if not rundir:
        return True  # nowhere to look: the kernel's LISTEN will do
    return bool(glob.glob("%s/*/rv/*/*_%d" % (glob.escape(rundir), port)))

