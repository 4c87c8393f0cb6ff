#!/usr/bin/env bash
# A Kubernetes node in a box: run on this machine exactly what
# packaging/k8s/xio-manager-team-a.yaml and the opted-in pods of
# packaging/k8s/example-team-a.yaml run, each "pod" in a network namespace
# of its own, the node's namespace a private one too.
#
# Read from the manifests (test/k8s/k8s_manifest.py), so they cannot drift:
# the manager's command and arguments, its capabilities (every other one
# dropped from the bounding set), uid and supplementalGroups, hostPID; its
# read-only root filesystem with the hostPath run dir and the emptyDir
# /var/run/dpdk as the only writable places; the init container's install
# script; the metrics sidecar (uid, env, socat command); the liveness probe;
# the pods' uid, groups, env (LD_PRELOAD, XIO_*), xio-run wrapper, read-only
# mounts and server command. Host paths move under a temporary directory,
# the image's /opt/xio is the build tree (same bin/, lib/ layout).
#
# Scenario 1 (always): a server and its sidecar client in ONE pod over
# loopback: xio-stat bytes >= payload, that pod's lo < 5 % of it.
# Scenario 2, two pods over a Calico-style routed veth (a /32 route and
# proxy ARP per pod in the node's namespace), pod A's client to pod B's
# address: xio-stat bytes >= payload and the veth grows by < 5 % of it.
# XIO_K8S_CROSS_POD=0 requires kernel TCP there instead (0 X-IO bytes, the
# veth carries the payload): for a manifest without CAP_NET_ADMIN or
# CAP_SYS_ADMIN, which is what it then gets.
#
# Environment: BUILD_DIR, SOURCE_DIR (ctest sets them), XIO_K8S_CROSS_POD
# (default 1), XIO_KEEP=1 keeps the box directory.
# shellcheck disable=SC2153 # MGR_UID and friends come from an eval of the manifests
set -euo pipefail

# The node's own network namespace: a private one, so that veths, routes and
# sysctls never touch the machine's.
if [[ -z ${XIO_K8S_IN_NODE:-} ]]; then
	export XIO_K8S_IN_NODE=1
	exec unshare -n -- bash "$0" "$@"
fi

SOURCE_DIR=${SOURCE_DIR:-$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)}
BUILD_DIR=${BUILD_DIR:-$SOURCE_DIR/build}
PY=/usr/bin/python3
K8S=$SOURCE_DIR/packaging/k8s
CROSS=${XIO_K8S_CROSS_POD:-1}

log() { echo "[node_in_a_box] $*"; }
fail() {
	echo "FAIL [node_in_a_box]: $*" >&2
	exit 1
}
for p in ip setpriv unshare mount iperf3 socat curl awk; do
	command -v "$p" >/dev/null || fail "$p is not installed (packaging/install-deps.sh installs it)"
done
for b in xio-manager xio-run xio-stat; do
	[[ -x $BUILD_DIR/bin/$b ]] || fail "$BUILD_DIR/bin/$b not built"
done
[[ -f $BUILD_DIR/lib/libxio_preload.so ]] || fail "$BUILD_DIR/lib/libxio_preload.so not built"

# Short: rendezvous sockets live under the run dir (sun_path is 108 bytes).
# not under /tmp: the pods get an emptyDir there
BOX=$(mktemp -d /var/tmp/knb.XXXXXX)
chmod 755 "$BOX"
ID=${BOX##*.}
NS_MGR=k8snb-$ID-mgr NS_A=k8snb-$ID-a NS_B=k8snb-$ID-b
PIDS=()
cleanup() {
	local rc=$? p
	set +e
	trap - EXIT
	# a pod's program first (pid 1 of its PID namespace: the kernel ends the
	# rest), then what we started; setpriv's credential change clears
	# unshare --kill-child's parent-death signal
	for p in "${PIDS[@]}"; do
		# shellcheck disable=SC2046 # a list of pids
		kill -TERM $(ps -o pid= --ppid "$p") "$p" 2>/dev/null
	done
	for p in "${PIDS[@]}"; do
		for _ in $(seq 100); do kill -0 "$p" 2>/dev/null || break; sleep 0.02; done
		kill -KILL "$p" 2>/dev/null
	done
	wait 2>/dev/null
	if ((rc != 0)); then
		for f in "$BOX"/*.log; do
			[[ -s $f ]] && { echo "---- $f" >&2; tail -n 30 "$f" >&2; }
		done
	fi
	for n in "$NS_MGR" "$NS_A" "$NS_B"; do ip netns del "$n" 2>/dev/null; done
	[[ ${XIO_KEEP:-0} == 1 ]] || rm -rf "$BOX"
	exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# ---- what the manifests say -------------------------------------------------
# MGR_*, SRV_*, CLI_*, ... are assigned by this eval
eval "$("$PY" "$SOURCE_DIR/test/k8s/k8s_manifest.py" box "$K8S" "$BOX" "$BUILD_DIR")" ||
	fail "cannot read the manifests"
log "manager: ${MGR_CMD[*]} (uid $MGR_UID, groups $MGR_GROUPS, caps $MGR_CAPS, hostPID $MGR_HOSTPID)"
((MGR_HOSTPID == 1)) || fail "the box runs the manager in the node's PID namespace; the DaemonSet no longer asks for hostPID: update this test"

for n in "$NS_MGR" "$NS_A" "$NS_B"; do
	ip netns add "$n"
	ip -n "$n" link set lo up
done

# ---- the DaemonSet ------------------------------------------------------------
# hostPath directories, as the kubelet makes them (DirectoryOrCreate: 0755 root)
mkdir -p "$BOX/opt/xio" "${MGR_RW[@]}"
# the init container: its script, run as root with no capability
env -i PATH=/usr/bin:/bin "${INIT_ENV[@]}" setpriv --bounding-set=-all --inh-caps=-all --no-new-privs \
	"${INIT_SH[@]}" "$INIT_SCRIPT" >"$BOX/init.log" 2>&1 || fail "install-host-files failed: $(cat "$BOX/init.log")"
for f in lib/libxio_preload.so bin/xio-run bin/xio-stat; do
	cmp -s "$BUILD_DIR/$f" "$BOX/opt/xio/$f" || fail "install-host-files did not install $f"
done
[[ -z $(find "$BOX/opt/xio" -name '*.??????') ]] || fail "install-host-files left temporary files"
log "install-host-files: $(tail -n 1 "$BOX/init.log")"

# A container: its own mount namespace (ip netns exec makes one), the root
# filesystem read-only but for the mounts the pod spec gives it (emptyDirs
# are tmpfs, mode 0777 as the kubelet makes them).
#   container NETNS "RW dirs" "RO dirs" "tmpfs dirs" CMD...
container() {
	local ns=$1 rw=$2 ro=$3 tmp=$4
	shift 4
	# exec: "container ... &" leaves $! the program's own pid (every step execs)
	# shellcheck disable=SC2016 # the inner script expands its own arguments
	exec ip netns exec "$ns" bash -c '
		set -e
		for d in $1; do mount --bind "$d" "$d"; done
		for d in $2; do mount --bind "$d" "$d"; mount -o remount,bind,ro "$d"; done
		for d in $3; do mkdir -p "$d"; mount -t tmpfs -o size=4m,mode=0777 none "$d"; done
		mount -o remount,bind,ro /
		shift 3
		exec "$@"' bash "$rw" "$ro" "$tmp" "$@"
}

# the manager container: root, the DaemonSet's capabilities only, its groups
container "$NS_MGR" "${MGR_RW[*]}" "" "${MGR_EMPTYDIRS[*]}" \
	env -i PATH=/usr/bin:/bin setpriv --reuid "$MGR_UID" --regid "$MGR_UID" --groups "$MGR_GROUPS" \
	--bounding-set="$MGR_CAPS" --inh-caps=-all --no-new-privs "${MGR_CMD[@]}" >"$BOX/manager.log" 2>&1 &
MGR_PID=$!
PIDS+=("$MGR_PID")
up=0
for _ in $(seq 250); do
	if ip netns exec "$NS_MGR" "${LIVENESS[@]}" >/dev/null 2>&1; then
		up=1
		break
	fi
	kill -0 "$MGR_PID" 2>/dev/null || fail "the manager exited: $(cat "$BOX/manager.log")"
	sleep 0.04
done
((up)) || fail "the liveness probe (${LIVENESS[*]}) never passed"
log "manager up, liveness probe passes: $(ip netns exec "$NS_MGR" "${LIVENESS[@]}" | head -n 3 | tr '\n' ' ')"

xio_bytes() {
	"$BUILD_DIR/bin/xio-stat" --domain "$DOMAIN" --rundir "$RUNDIR" --json |
		"$PY" -c 'import json, sys; print(json.load(sys.stdin)["bytes"])'
}

# the metrics sidecar: nobody in the domain's group, no capability
container "$NS_MGR" "" "${MGR_RW[*]}" "" \
	env -i PATH=/usr/bin:/bin "${MET_ENV[@]}" setpriv --reuid "$MET_UID" --regid "$MET_GID" --groups "$MGR_GROUPS" \
	--bounding-set=-all --inh-caps=-all --no-new-privs "${MET_CMD[@]}" >"$BOX/metrics.log" 2>&1 &
PIDS+=("$!")
for _ in $(seq 100); do
	ip netns exec "$NS_MGR" curl -s -o /dev/null "http://127.0.0.1:$MET_PORT/metrics" && break
	sleep 0.05
done
scrape=$(ip netns exec "$NS_MGR" curl -s -i --max-time 10 "http://127.0.0.1:$MET_PORT/metrics") ||
	fail "the metrics sidecar does not answer on port $MET_PORT"
status=$(head -n 1 <<<"$scrape" | tr -d '\r')
[[ $status == "HTTP/1.0 200 OK" ]] || fail "metrics: $status: $(head -c 400 <<<"$scrape")"
grep -q "^xio_up{domain=\"$DOMAIN\"} 1" <<<"$scrape" || fail "metrics: no xio_up 1 in: $(head -c 400 <<<"$scrape")"
log "metrics sidecar: $status, $(grep -c '^xio_' <<<"$scrape") samples"

# ---- the pods -----------------------------------------------------------------
# pod PREFIX NETNS CMD...: a container of a pod (run it in a subshell or with &,
# it execs): its own PID namespace (unshare --kill-child: ending unshare ends
# the program), the
# pod's uid/gid/supplementalGroups, no capability, the pod's env, its
# read-only hostPath mounts, a read-only root.
pod() {
	local pfx=$1 ns=$2 uid gid groups
	shift 2
	local -n env_ref=${pfx}_ENV ro_ref=${pfx}_RO
	uid=${pfx}_UID gid=${pfx}_GID groups=${pfx}_GROUPS
	container "$ns" "" "${ro_ref[*]}" "/tmp" \
		unshare -p -f --kill-child --mount-proc \
		env -i PATH=/usr/bin:/bin HOME=/tmp "${env_ref[@]}" \
		setpriv --reuid "${!uid}" --regid "${!gid}" --groups "${!groups}" \
		--bounding-set=-all --inh-caps=-all --no-new-privs "$@"
}

iface_bytes() { # NETNS IFACE: rx + tx bytes (ip netns exec mounts that namespace's /sys)
	ip netns exec "$1" cat "/sys/class/net/$2/statistics/rx_bytes" "/sys/class/net/$2/statistics/tx_bytes" |
		awk '{ s += $1 } END { print s + 0 }'
}
node_iface_bytes() { # IFACE of the node's namespace (its /sys is the machine's: /proc/net/dev)
	sed 's/:/: /' /proc/net/dev | awk -v i="$1:" '$1 == i { print $2 + $10; f = 1 } END { if (!f) print "none" }'
}

wait_listen() { # NETNS PORT PID
	for _ in $(seq 500); do
		[[ -n $(ip netns exec "$1" ss -Hltn "sport = :$2") ]] && return 0
		kill -0 "$3" 2>/dev/null || fail "the server exited before listening: $(cat "$BOX"/srv*.log)"
		sleep 0.02
	done
	fail "nothing listens on port $2 in $1"
}

port_of() { # the -p argument of a server command
	local a prev=
	for a in "$@"; do
		[[ $prev == -p ]] && { echo "$a"; return; }
		prev=$a
	done
	fail "no -p in: $*"
}

# Scenario 1: iperf3-pair, server and sidecar client in one pod, loopback.
PAYLOAD=$((512 * 1024 * 1024))
PORT=$(port_of "${SRV_CMD[@]}")
pod SRV "$NS_A" "${SRV_CMD[@]}" >"$BOX/srv1.log" 2>&1 &
PIDS+=("$!")
wait_listen "$NS_A" "$PORT" "$!"
x0=$(xio_bytes)
l0=$(iface_bytes "$NS_A" lo)
(pod CLI "$NS_A" "${CLI_CMD[@]}" iperf3 -c 127.0.0.1 -p "$PORT" -n "$PAYLOAD" -l 128K) \
	>"$BOX/cli1.log" 2>&1 || fail "scenario 1: the client failed: $(tail -n 5 "$BOX/cli1.log")"
x1=$(xio_bytes)
l1=$(iface_bytes "$NS_A" lo)
log "scenario 1 (one pod, loopback): payload $PAYLOAD B, xio-stat bytes +$((x1 - x0)), pod lo +$((l1 - l0))"
((x1 - x0 >= PAYLOAD)) || fail "scenario 1: X-IO did not carry the payload (xio-stat +$((x1 - x0)))"
(((l1 - l0) * 100 < PAYLOAD * 5)) || fail "scenario 1: the pod's lo moved $((l1 - l0)) bytes (>= 5 %)"

# Scenario 2: iperf3-client in pod A -> iperf3-server in pod B, same node,
# routed like Calico: each pod has eth0 with a /32 and a default route via
# 169.254.1.1; the node side of its veth answers ARP for it (proxy_arp) and
# holds a /32 route to the pod. Private addresses, only in these namespaces.
A_IP=10.244.7.10 B_IP=10.244.7.11
sysctl -qw net.ipv4.ip_forward=1 # the node's namespace is our own
# The node's default route (its uplink: a veth whose other end stays down,
# so nothing leaves the box). Proxy ARP answers for 169.254.1.1 because the
# node routes it out of another interface.
ip link add "nbup$ID" type veth peer name "nbdn$ID"
ip link set "nbup$ID" up
ip route add default dev "nbup$ID"
# and an address of its own (the source of its ARP requests to the pods)
ip link set lo up
ip addr add 10.244.7.1/32 dev lo
for x in A:$NS_A:$A_IP B:$NS_B:$B_IP; do
	IFS=: read -r tag ns ip <<<"$x"
	host_if=cali$ID$tag
	ip link add "$host_if" type veth peer name eth0 netns "$ns"
	ip link set "$host_if" up
	sysctl -qw "net.ipv4.conf.$host_if.proxy_arp=1" "net.ipv4.neigh.$host_if.proxy_delay=0"
	ip route add "$ip/32" dev "$host_if"
	ip -n "$ns" addr add "$ip/32" dev eth0
	ip -n "$ns" link set eth0 up
	ip -n "$ns" route add 169.254.1.1 dev eth0 scope link
	ip -n "$ns" route add default via 169.254.1.1 dev eth0
done
PORT2=$(port_of "${XSRV_CMD[@]}")
pod XSRV "$NS_B" "${XSRV_CMD[@]}" >"$BOX/srv2.log" 2>&1 &
PIDS+=("$!")
wait_listen "$NS_B" "$PORT2" "$!"
PAYLOAD2=$((256 * 1024 * 1024))
x0=$(xio_bytes)
v0=$(node_iface_bytes "cali${ID}A")
(pod XCLI "$NS_A" "${XCLI_CMD[@]}" iperf3 -c "$B_IP" -p "$PORT2" -n "$PAYLOAD2" -l 128K) \
	>"$BOX/cli2.log" 2>&1 || fail "scenario 2: the client failed: $(tail -n 5 "$BOX/cli2.log")
$(ip route; ip neigh; ip -n "$NS_A" route; ip -n "$NS_A" neigh; ip -n "$NS_B" addr; grep -E "cali|nb" /proc/net/dev)"
x1=$(xio_bytes)
v1=$(node_iface_bytes "cali${ID}A")
log "scenario 2 (pod A -> pod B over routed veth): payload $PAYLOAD2 B, xio-stat bytes +$((x1 - x0)), pod A's veth +$((v1 - v0))"
if [[ $CROSS == 1 ]]; then
	((x1 - x0 >= PAYLOAD2)) || fail "scenario 2: X-IO did not carry the payload (xio-stat +$((x1 - x0)))"
	(((v1 - v0) * 100 < PAYLOAD2 * 5)) || fail "scenario 2: the veth moved $((v1 - v0)) bytes (>= 5 %)"
else
	# kernel TCP, and nothing counted as carried
	((x1 - x0 == 0)) || fail "scenario 2: X-IO carried $((x1 - x0)) bytes between pods (XIO_K8S_CROSS_POD=0)"
	# (>= 95 %: the last bytes may still be in flight when iperf3 -c exits)
	(((v1 - v0) * 100 >= PAYLOAD2 * 95)) || fail "scenario 2: the veth moved only $((v1 - v0)) bytes"
fi

kill -0 "$MGR_PID" 2>/dev/null || fail "the manager died: $(cat "$BOX/manager.log")"

# The manager gone (SIGTERM, as the kubelet stops it): the liveness probe
# fails and the metrics port says xio_up 0.
kill -TERM "$MGR_PID"
for _ in $(seq 250); do kill -0 "$MGR_PID" 2>/dev/null || break; sleep 0.02; done
kill -0 "$MGR_PID" 2>/dev/null && fail "the manager ignored SIGTERM for 5 s"
if ip netns exec "$NS_MGR" "${LIVENESS[@]}" >/dev/null 2>&1; then
	fail "the liveness probe passes without a manager"
fi
scrape=$(ip netns exec "$NS_MGR" curl -s -i --max-time 10 "http://127.0.0.1:$MET_PORT/metrics") ||
	fail "the metrics sidecar does not answer without a manager"
status=$(head -n 1 <<<"$scrape" | tr -d '\r')
[[ $status == "HTTP/1.0 200 OK" ]] || fail "metrics without a manager: '$status'"
grep -q "^xio_up{domain=\"$DOMAIN\"} 0" <<<"$scrape" || fail "metrics without a manager: no xio_up 0 in: $(head -c 400 <<<"$scrape")"
grep -q "no manager" <<<"$scrape" && fail "metrics: xio-stat's message leaked into the scrape"
log "manager stopped: liveness probe fails, metrics sidecar: $status, xio_up 0"
echo "PASS: node in a box (scenario 2 $([[ $CROSS == 1 ]] && echo carried || echo on kernel TCP))"
