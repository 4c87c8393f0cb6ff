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
