#!/usr/bin/env bash
# Reserve 2 MiB hugepages for xio-manager: packaging/hugepages.sh [N] (default 512).
# Never fails: when the kernel gives fewer pages (or none, or we are not
# root), it warns; the manager then runs on ordinary memory.
set -uo pipefail

want=${1:-512}
nr=/proc/sys/vm/nr_hugepages
have=$(cat "$nr" 2>/dev/null || echo 0)
if ((have < want)); then
	if ! echo "$want" 2>/dev/null >"$nr"; then
		echo "hugepages: warning: cannot write $nr (not root or read-only /proc/sys)" >&2
	fi
fi
total=$(awk '/^HugePages_Total:/ {print $2}' /proc/meminfo)
free=$(awk '/^HugePages_Free:/ {print $2}' /proc/meminfo)
echo "hugepages: HugePages_Total=${total:-0} HugePages_Free=${free:-0} (wanted $want)"
if ((${free:-0} < want)); then
	echo "hugepages: warning: only ${free:-0} free hugepages (wanted $want); a manager that finds too few runs on ordinary memory" >&2
fi
exit 0
