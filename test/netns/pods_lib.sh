# shellcheck shell=bash
# pods_lib.sh: "a node in a box" for the network-namespace tests (issue 9).
#
# A test builds, in namespaces it creates and removes itself, what a
# Kubernetes node looks like from the network: a *node* namespace (stands for
# the host's namespace: routes, ip_forward, iptables; nothing of the real
# host is touched) and *pod* namespaces connected to it by veth pairs, routed
# the way Calico does it or through a bridge. All pods share one X-IO run dir
# (a directory: its AF_UNIX path sockets work across namespaces) and one
# private domain with its own xio-manager.
#
#   source "$(dirname "${BASH_SOURCE[0]}")/pods_lib.sh"
#   pods_init NAME                   work dir, domain ns_NAME, run dir, manager,
#                                    traps (EXIT, INT, TERM) that end the test's
#                                    processes and delete its namespaces
#   pods_routed N [NODE]             N more pods on NODE (default "node"),
#                                    Calico-style: pod eth0 10.77.<i>.2/32,
#                                    default via 169.254.1.1; node side cali<i>,
#                                    proxy_arp=1, a /32 route to the pod
#   pods_bridge N [NODE]             N more pods on a bridge br0 of NODE:
#                                    10.77.100.<i+1>/24, default via
#                                    10.77.100.1 (the bridge); bridged traffic
#                                    goes through iptables (br_netfilter), as
#                                    kube-proxy requires
#   Pods are named p1, p2, ... on the default node and NODE-p1, ... on another
#   (numbered per node, across pods_routed/pods_bridge calls). For each pod:
#   ${POD_IP[pod]} its address, ${POD_NS[pod]} its netns, ${POD_HOSTIF[pod]}
#   the node-side interface, ${POD_NODE[pod]} its node. ${NODE_NS[node]} the
#   node's netns. Every node has the address 10.77.0.1 (NODE_ADDR) on lo.
#
#   pod_addr_add POD IP              one more /32 address on the pod's eth0
#                                    (not routed to by the node)
#   service_dnat VIP PORT POD_IP TARGETPORT [NODE]
#                                    a Service (VIP in SVC_CIDR, 10.77.250.0/24,
#                                    which the manager gets as --service-cidr):
#                                    nat KUBE-SERVICES (from
#                                    PREROUTING and OUTPUT) -> KUBE-SVC-* ->
#                                    KUBE-SEP-* DNAT, as kube-proxy's iptables
#                                    mode shapes it (loosely)
#   policy_reject FROM TO PORT [REJECT-WITH]
#   policy_drop FROM TO PORT         a filter FORWARD rule in the node of FROM
#                                    for TCP from pod FROM to pod TO's PORT
#                                    (pod names or addresses); REJECT-WITH
#                                    default icmp-port-unreachable
#   policy_clear [NODE]              flush the node's FORWARD chain
#   snat_masquerade DST [NODE]       nat POSTROUTING -d DST -j MASQUERADE: the
#                                    destination sees the node's 10.77.0.1
#   veth_bytes POD|NODE|NETNS [IF]   rx+tx bytes of IF (default eth0)
#   pod_exec POD CMD...              CMD in the pod's netns, nothing else
#   pod_xio POD CMD...               CMD in the pod under X-IO (xio-run, the
#                                    test's domain and run dir)
#   pod_plain POD CMD...             CMD in the pod without X-IO
#   pod_xio_bg / pod_plain_bg ...    the same in the background; BG_PID is the
#                                    program's own pid
#   pod_server POD xio|plain PORT ID [IP]
#                                    nspeer server on IP:PORT (default
#                                    0.0.0.0) in the background, its log
#                                    $WORK/srv-ID.log; waits until it listens;
#                                    BG_PID
#   server_count ID                  connections server ID has answered
#   pod_client POD xio|plain IP PORT [nspeer client options]
#                                    one nspeer client run; sets CLIENT_RC,
#                                    CLIENT_OUT (its line without the peer's
#                                    port and xio=) and CLIENT_XIO (none: no
#                                    X-IO library, tcp, carried)
#   expect_same WHAT POD IP PORT WANT [nspeer client options]
#                                    the client plain and under X-IO: both
#                                    must give result WANT (ok, refused,
#                                    timeout) and the very same line, the
#                                    X-IO run with the library loaded; sets
#                                    SAME_OUT, and SAME_XIO (CLIENT_XIO of the
#                                    X-IO run)
#   expect_carried WHAT              with XIO_NETNS_EXPECT_CARRIED=1 (default):
#                                    the X-IO run of the last expect_same was
#                                    carried by X-IO (SAME_XIO=carried); with 0
#                                    only logged
#   fallback_count NAME              xio-stat --json fallback.NAME (-1 if the
#                                    manager has no such counter)
#   pods_netns_list                  the namespaces this test created
#
# Namespaces are named xiot-<test pid>-<node or pod>; pods_init also deletes
# those of earlier tests whose pid is gone (a test killed by SIGKILL), with
# their processes and work dirs.
# Addresses: 10.77.0.0/16 only, only inside these namespaces. Ports: pick them
# from 46700-46799 (NS_PORT is 46700).
#
# Environment: everything test/integration/lib.sh takes, plus NETNS_BIN (the
# directory of nspeer, default $BUILD_DIR/test/netns), PODS_MANAGER_IN=NODE to
# run the manager in NODE's namespace (default: the test's own namespace, a
# private one that lib.sh creates; the manager is reached through the run dir
# either way).

# shellcheck source=test/integration/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/../integration/lib.sh"

NETNS_BIN=${NETNS_BIN:-$BUILD_DIR/test/netns}
NSPEER=$NETNS_BIN/nspeer
NS_PFX=xiot-$$
# shellcheck disable=SC2034 # for the tests that source this file
NS_PORT=46700
NODE_ADDR=10.77.0.1
GW_ADDR=169.254.1.1
BRIDGE_NET=10.77.100
# Service VIPs (service_dnat) come from this range; the manager is told, as
# a node's manager is told the cluster's Service range
SVC_CIDR=10.77.250.0/24
# small domain: these tests hold a few connections at a time
MANAGER_ARGS=(--slots 16 --bufs 16 --service-cidr "$SVC_CIDR")

declare -A POD_NS=() POD_IP=() POD_HOSTIF=() POD_NODE=() NODE_NS=() NODE_NPODS=()
PODS_NETNS=()
# connections between pods are carried by X-IO (issue 9); 0 checks only that
# the results are the same
EXPECT_CARRIED=${XIO_NETNS_EXPECT_CARRIED:-1}
BG_PID=
CLIENT_RC=
CLIENT_OUT=
CLIENT_XIO=
SAME_OUT=
SAME_XIO=

# ---- failure report -------------------------------------------------------------

# pods_diag: why X-IO declined what it declined, for a failing test: the
# fallback counters of xio-stat that are not 0 (by reason), the manager's
# last log lines and the last lines of the programs' stderr (the library
# logs there at XIO_LOG=2: a client's "no proof", a server's "no client
# announced port N" or "pairing with slot N refused").
pods_diag() {
	local js
	[[ -n ${DOMAIN:-} && -n ${RUNDIR:-} && -n ${WORK:-} ]] || return 0
	if js=$("$XIO_BIN/xio-stat" --domain "$DOMAIN" --rundir "$RUNDIR" --json 2>&1); then
		"$PY" -c '
import json, sys
s = json.loads(sys.argv[1])
fb = {k: v for k, v in s.get("fallback", {}).items() if v}
print("[%s] fallbacks by reason: %s (connections %s, bytes %s)" % (sys.argv[2],
      " ".join("%s=%s" % kv for kv in sorted(fb.items())) or "none",
      s.get("conns_total", "?"), s.get("bytes", "?")))' "$js" "$TEST_NAME" ||
			echo "[$TEST_NAME] xio-stat --json: $js"
	else
		echo "[$TEST_NAME] xio-stat --json failed: $js"
	fi
	[[ -s $WORK/manager.log ]] && sed "s/^/[$TEST_NAME] manager: /" <(tail -n 5 "$WORK/manager.log")
	local f
	for f in "$WORK"/*.err; do
		[[ -s $f ]] || continue
		grep -v ': attached to domain\|: published ' "$f" | tail -n 5 |
			sed "s|^|[$TEST_NAME] ${f##*/}: |"
	done
	return 0
}

# fail (test/integration/lib.sh), plus the report above.
fail() {
	echo "FAIL [$TEST_NAME]: $*" >&2
	pods_diag >&2
	exit 1
}

# ---- setup and cleanup ---------------------------------------------------------

# What a netns test killed by SIGKILL (e.g. at ctest's timeout; its trap
# never ran) left behind: namespaces xiot-<pid>-*, processes tagged
# XIO_TEST_TAG=xio-ns-<pid>-<work dir> (the daemonized manager survives its
# test) and the work dir, for every <pid> that no longer runs.
pods_sweep_stale() {
	local f n pid d tag
	for d in /proc/[0-9]*; do
		tag=$(tr '\0' '\n' 2>/dev/null <"$d/environ" | sed -n 's/^XIO_TEST_TAG=xio-ns-//p') || continue
		[[ $tag =~ ^([0-9]+)-(xns\.[A-Za-z0-9]+)$ ]] || continue
		pid=${BASH_REMATCH[1]}
		kill -0 "$pid" 2>/dev/null && continue
		log "ending pid ${d#/proc/} left by netns test $pid (gone)"
		kill -KILL "${d#/proc/}" 2>/dev/null || true
		rm -rf "/tmp/${BASH_REMATCH[2]}"
	done
	for f in /run/netns/xiot-*; do
		[[ -e $f ]] || continue
		n=${f##*/}
		pid=${n#xiot-}
		pid=${pid%%-*}
		[[ $pid =~ ^[0-9]+$ ]] || continue
		if ! kill -0 "$pid" 2>/dev/null; then
			log "deleting namespace $n left by netns test $pid (gone)"
			ip netns del "$n" 2>/dev/null || true
		fi
	done
}

pods_netns_list() {
	local f
	for f in /run/netns/"$NS_PFX"-*; do
		[[ -e $f ]] && echo "${f##*/}"
	done
	return 0
}

pods_cleanup() {
	local rc=$? n i
	set +e
	trap - EXIT INT TERM
	kill_tagged
	for ((i = ${#PODS_NETNS[@]} - 1; i >= 0; i--)); do
		ip netns del "${PODS_NETNS[i]}" 2>/dev/null
	done
	# anything this test created under its prefix, registered or not
	for n in $(pods_netns_list); do
		ip netns del "$n" 2>/dev/null
	done
	if [[ -n $(pods_netns_list) ]]; then
		echo "[$TEST_NAME] warning: namespaces left: $(pods_netns_list | tr '\n' ' ')" >&2
		((rc == 0)) && rc=1
	fi
	(exit "$rc")
	xio_cleanup
}

# pods_init NAME: like xio_test_init (test/integration/lib.sh) with a domain
# named ns_NAME and namespaces removed on exit.
pods_init() {
	local name=$1 b
	((EUID == 0)) || fail "netns tests need root (ip netns, iptables)"
	for b in xio-manager xio-run xio-stat; do
		[[ -x $XIO_BIN/$b ]] || fail "$XIO_BIN/$b not built (BUILD_DIR=$BUILD_DIR)"
	done
	[[ -x $NSPEER ]] || fail "$NSPEER not built (NETNS_BIN=$NETNS_BIN)"
	[[ -x $PY ]] || fail "$PY missing (Debian package python3)"
	need_prog ip iptables ss awk timeout sha256sum
	WORK=$(mktemp -d /tmp/xns.XXXXXX)
	chmod 755 "$WORK"
	TAG=xio-ns-$$-${WORK##*/}
	DOMAIN="ns_${name//[^A-Za-z0-9_]/_}"
	DOMAIN=${DOMAIN:0:14}
	RUNDIR=$WORK/r
	# XIO_LOG=2: the library says on stderr (the .err files) why a pairing
	# did not happen, which pods_diag shows when a test fails
	XRUN=(env XIO_TEST_TAG="$TAG" XIO_RUNDIR="$RUNDIR" XIO_LOG="${XIO_LOG:-2}"
		"$XIO_BIN/xio-run" --domain "$DOMAIN")
	PLAIN=(env -u LD_PRELOAD -u XIO_DOMAIN -u XIO_RUNDIR XIO_TEST_TAG="$TAG")
	trap pods_cleanup EXIT
	trap 'exit 130' INT
	trap 'exit 143' TERM
	pods_sweep_stale
	# iptables here is Debian's (nft backend); it must work in a namespace
	if [[ -n ${PODS_MANAGER_IN:-} ]]; then
		node_add "$PODS_MANAGER_IN"
		pods_start_manager "${NODE_NS[$PODS_MANAGER_IN]}"
	else
		start_manager
	fi
}

# pods_start_manager NETNS: start_manager (lib.sh), inside NETNS.
pods_start_manager() {
	local ns=$1 i rc=0
	ip netns exec "$ns" env XIO_TEST_TAG="$TAG" "$XIO_BIN/xio-manager" --domain "$DOMAIN" \
		--rundir "$RUNDIR" --daemon "${MANAGER_ARGS[@]}" >>"$WORK/manager.log" 2>&1 || rc=$?
	((rc == 0)) || fail "xio-manager --daemon in $ns exited $rc: $(tail -n 5 "$WORK/manager.log")"
	for ((i = 0; i < 500; i++)); do
		if xio_stat_json >/dev/null 2>&1; then
			log "manager for domain $DOMAIN up in netns $ns, run dir $RUNDIR"
			return 0
		fi
		sleep 0.02
	done
	fail "xio-stat cannot reach the manager of domain $DOMAIN after 10 s"
}

# in NETNS CMD...: run CMD in NETNS (quietly failing setup commands fail the test).
in_ns() {
	local ns=$1
	shift
	ip netns exec "$ns" "$@"
}

netns_new() {
	local ns=$1
	ip netns add "$ns" || fail "ip netns add $ns failed"
	PODS_NETNS+=("$ns")
	ip -n "$ns" link set lo up
}

# node_add NODE: the node's namespace (once): lo up with the node's address
# and the pods' gateway address, forwarding on.
node_add() {
	local node=$1 ns
	[[ -n ${NODE_NS[$node]:-} ]] && return 0
	ns=$NS_PFX-$node
	netns_new "$ns"
	NODE_NS[$node]=$ns
	NODE_NPODS[$node]=0
	ip -n "$ns" addr add "$NODE_ADDR/32" dev lo
	# The pods' gateway (Calico's 169.254.1.1): proxy ARP answers for it only
	# if the node has a route to it through another interface. A real node
	# has a default route; this one has nothing to route to, so the address
	# is the node's own (scope link, so it is never a source address).
	ip -n "$ns" addr add "$GW_ADDR/32" dev lo scope link
	in_ns "$ns" sysctl -qw net.ipv4.ip_forward=1
	# REJECT answers with ICMP errors; the default per-destination limit (one
	# a second after a burst of a few) would make a refused connect wait for
	# a SYN retransmit, and its timing would depend on earlier test cases
	in_ns "$ns" sysctl -qw net.ipv4.icmp_ratelimit=0
	# iptables must work here (Debian's iptables, nft backend)
	in_ns "$ns" iptables -S FORWARD >/dev/null 2>&1 ||
		fail "iptables does not work in namespace $ns: $(in_ns "$ns" iptables -S FORWARD 2>&1 | head -n 2)"
}

# pod_new NODE: the next pod's name, netns created; prints nothing, sets NEW_POD.
pod_new() {
	local node=$1 i pod
	node_add "$node"
	i=$((NODE_NPODS[$node] + 1))
	NODE_NPODS[$node]=$i
	if [[ $node == node ]]; then pod=p$i; else pod=$node-p$i; fi
	POD_NS[$pod]=$NS_PFX-$pod
	POD_NODE[$pod]=$node
	netns_new "${POD_NS[$pod]}"
	NEW_POD=$pod
	NEW_IDX=$i
}

pods_routed() {
	local n=$1 node=${2:-node} k pod i ns nns hostif ip
	for ((k = 0; k < n; k++)); do
		pod_new "$node"
		pod=$NEW_POD i=$NEW_IDX
		ns=${POD_NS[$pod]} nns=${NODE_NS[$node]}
		hostif=cali$i ip=10.77.$i.2
		ip -n "$nns" link add "$hostif" type veth peer name eth0 netns "$ns" ||
			fail "veth $hostif/$pod failed"
		ip -n "$ns" addr add "$ip/32" dev eth0
		ip -n "$ns" link set eth0 up
		ip -n "$ns" route add "$GW_ADDR" dev eth0 scope link
		ip -n "$ns" route add default via "$GW_ADDR" dev eth0
		in_ns "$nns" sysctl -qw "net.ipv4.conf.$hostif.proxy_arp=1"
		ip -n "$nns" link set "$hostif" up
		ip -n "$nns" route add "$ip/32" dev "$hostif"
		POD_IP[$pod]=$ip
		# shellcheck disable=SC2034 # for the tests that source this file
		POD_HOSTIF[$pod]=$hostif
		log "pod $pod: $ip in netns $ns, routed via $hostif of ${NODE_NS[$node]}"
	done
}

pods_bridge() {
	local n=$1 node=${2:-node} k pod i ns nns hostif ip
	node_add "$node"
	nns=${NODE_NS[$node]}
	if ! ip -n "$nns" link show br0 >/dev/null 2>&1; then
		ip -n "$nns" link add br0 type bridge || fail "bridge br0 in $nns failed"
		ip -n "$nns" addr add "$BRIDGE_NET.1/24" dev br0
		ip -n "$nns" link set br0 up
		# bridged pod-to-pod traffic through iptables, as kube-proxy requires
		in_ns "$nns" sysctl -qw net.bridge.bridge-nf-call-iptables=1 ||
			fail "net.bridge.bridge-nf-call-iptables cannot be set in $nns"
	fi
	for ((k = 0; k < n; k++)); do
		pod_new "$node"
		pod=$NEW_POD i=$NEW_IDX
		ns=${POD_NS[$pod]}
		hostif=veth$i ip=$BRIDGE_NET.$((i + 1))
		ip -n "$nns" link add "$hostif" type veth peer name eth0 netns "$ns" ||
			fail "veth $hostif/$pod failed"
		ip -n "$nns" link set "$hostif" master br0
		ip -n "$nns" link set "$hostif" up
		ip -n "$ns" addr add "$ip/24" dev eth0
		ip -n "$ns" link set eth0 up
		ip -n "$ns" route add default via "$BRIDGE_NET.1" dev eth0
		POD_IP[$pod]=$ip
		# shellcheck disable=SC2034 # for the tests that source this file
		POD_HOSTIF[$pod]=$hostif
		log "pod $pod: $ip/24 in netns $ns, on br0 of $nns"
	done
}

pod_addr_add() {
	ip -n "${POD_NS[$1]}" addr add "$2/32" dev eth0 || fail "cannot add $2 to pod $1"
}

# ---- iptables in the node ----------------------------------------------------------

# pod name or address -> address
addr_of() {
	if [[ -n ${POD_IP[$1]:-} ]]; then echo "${POD_IP[$1]}"; else echo "$1"; fi
}

node_of() {
	if [[ -n ${POD_NODE[$1]:-} ]]; then echo "${POD_NODE[$1]}"; else echo node; fi
}

node_ipt() {
	local node=$1
	shift
	in_ns "${NODE_NS[$node]}" iptables -w "$@" || fail "iptables $* in node $node failed"
}

# kube-proxy's chain names: a hash of what the chain stands for
kube_chain() {
	echo "$1-$(printf '%s' "$2" | sha256sum | cut -c1-16 | tr a-f A-F)"
}

service_dnat() {
	local vip=$1 port=$2 pip=$3 tport=$4 node=${5:-node} svc sep
	node_add "$node"
	[[ $vip == "${SVC_CIDR%.0/24}".* ]] || fail "service_dnat: VIP $vip is not in $SVC_CIDR (the manager's --service-cidr)"
	svc=$(kube_chain KUBE-SVC "$vip:$port")
	sep=$(kube_chain KUBE-SEP "$svc/$pip:$tport")
	if ! in_ns "${NODE_NS[$node]}" iptables -w -t nat -S KUBE-SERVICES >/dev/null 2>&1; then
		node_ipt "$node" -t nat -N KUBE-SERVICES
		node_ipt "$node" -t nat -A PREROUTING -m comment --comment "kubernetes service portals" -j KUBE-SERVICES
		node_ipt "$node" -t nat -A OUTPUT -m comment --comment "kubernetes service portals" -j KUBE-SERVICES
		# hairpin: a pod that reaches itself through its Service is masqueraded
		node_ipt "$node" -t nat -N KUBE-MARK-MASQ
		node_ipt "$node" -t nat -A KUBE-MARK-MASQ -j MARK --set-xmark 0x4000/0x4000
		node_ipt "$node" -t nat -N KUBE-POSTROUTING
		node_ipt "$node" -t nat -A POSTROUTING -j KUBE-POSTROUTING
		node_ipt "$node" -t nat -A KUBE-POSTROUTING -m mark ! --mark 0x4000/0x4000 -j RETURN
		node_ipt "$node" -t nat -A KUBE-POSTROUTING -j MARK --set-xmark 0x4000/0
		node_ipt "$node" -t nat -A KUBE-POSTROUTING -j MASQUERADE
	fi
	node_ipt "$node" -t nat -N "$svc"
	node_ipt "$node" -t nat -N "$sep"
	node_ipt "$node" -t nat -A KUBE-SERVICES -d "$vip/32" -p tcp --dport "$port" \
		-m comment --comment "svc $vip:$port" -j "$svc"
	node_ipt "$node" -t nat -A "$svc" -j "$sep"
	node_ipt "$node" -t nat -A "$sep" -s "$pip/32" -j KUBE-MARK-MASQ
	node_ipt "$node" -t nat -A "$sep" -p tcp -j DNAT --to-destination "$pip:$tport"
	log "service $vip:$port -> $pip:$tport in node $node ($svc -> $sep)"
}

policy_reject() {
	local from=$1 to=$2 port=$3 with=${4:-icmp-port-unreachable}
	node_ipt "$(node_of "$from")" -I FORWARD -s "$(addr_of "$from")/32" -d "$(addr_of "$to")/32" \
		-p tcp --dport "$port" -j REJECT --reject-with "$with"
	log "policy: REJECT ($with) tcp $from -> $to:$port in node $(node_of "$from")"
}

policy_drop() {
	local from=$1 to=$2 port=$3
	node_ipt "$(node_of "$from")" -I FORWARD -s "$(addr_of "$from")/32" -d "$(addr_of "$to")/32" \
		-p tcp --dport "$port" -j DROP
	log "policy: DROP tcp $from -> $to:$port in node $(node_of "$from")"
}

policy_clear() {
	node_ipt "${1:-node}" -F FORWARD
	log "policy: FORWARD of node ${1:-node} flushed"
}

snat_masquerade() {
	local dst=$1 node=${2:-node}
	node_ipt "$node" -t nat -A POSTROUTING -d "$(addr_of "$dst")/32" -j MASQUERADE
	log "masquerade: traffic to $dst leaves node $node from $NODE_ADDR"
}

# ---- counters -------------------------------------------------------------------

veth_bytes() {
	local who=$1 dev=${2:-eth0} ns
	if [[ -n ${POD_NS[$who]:-} ]]; then
		ns=${POD_NS[$who]}
	elif [[ -n ${NODE_NS[$who]:-} ]]; then
		ns=${NODE_NS[$who]}
	else
		ns=$who
	fi
	in_ns "$ns" cat "/sys/class/net/$dev/statistics/rx_bytes" \
		"/sys/class/net/$dev/statistics/tx_bytes" | awk '{ s += $1 } END { print s + 0 }'
}

# ---- programs in pods -----------------------------------------------------------

pod_exec() {
	local pod=$1
	shift
	ip netns exec "${POD_NS[$pod]:?no pod $pod}" "$@"
}

pod_xio() {
	local pod=$1
	shift
	env XIO_TEST_TAG="$TAG" ip netns exec "${POD_NS[$pod]:?no pod $pod}" "${XRUN[@]}" "$@"
}

pod_plain() {
	local pod=$1
	shift
	env XIO_TEST_TAG="$TAG" ip netns exec "${POD_NS[$pod]:?no pod $pod}" "${PLAIN[@]}" "$@"
}

# ip netns exec, env and xio-run each exec the next: $! is the program's pid
# (a simple command, not a function, in the background: no subshell between).
pod_xio_bg() {
	local pod=$1
	shift
	env XIO_TEST_TAG="$TAG" ip netns exec "${POD_NS[$pod]:?no pod $pod}" "${XRUN[@]}" "$@" &
	BG_PID=$!
}

pod_plain_bg() {
	local pod=$1
	shift
	env XIO_TEST_TAG="$TAG" ip netns exec "${POD_NS[$pod]:?no pod $pod}" "${PLAIN[@]}" "$@" &
	BG_PID=$!
}

pod_server() {
	local pod=$1 mode=$2 port=$3 id=$4 ip=${5:-0.0.0.0} ready i
	ready=$WORK/srv-$id.ready
	rm -f "$ready"
	case $mode in
	xio) pod_xio_bg "$pod" "$NSPEER" server "$ip" "$port" --id "$id" --ready "$ready" \
		>>"$WORK/srv-$id.log" 2>"$WORK/srv-$id.err" ;;
	plain) pod_plain_bg "$pod" "$NSPEER" server "$ip" "$port" --id "$id" --ready "$ready" \
		>>"$WORK/srv-$id.log" 2>"$WORK/srv-$id.err" ;;
	*) fail "pod_server: mode $mode is neither xio nor plain" ;;
	esac
	for ((i = 0; i < 1000; i++)); do
		[[ -e $ready ]] && {
			log "server $id ($mode) listens on $ip:$port in pod $pod, pid $BG_PID"
			return 0
		}
		proc_alive "$BG_PID" || fail "server $id in pod $pod exited: $(cat "$WORK/srv-$id.err")"
		sleep 0.01
	done
	fail "server $id in pod $pod not listening after 10 s"
}

server_count() {
	local n
	n=$(grep -c '^id=' "$WORK/srv-$1.log" 2>/dev/null) || true
	echo "${n:-0}"
}

pod_client() {
	local pod=$1 mode=$2 ip=$3 port=$4 out
	shift 4
	CLIENT_RC=0
	case $mode in
	xio) out=$(pod_xio "$pod" "$NSPEER" client "$ip" "$port" "$@" 2>>"$WORK/client.err") ||
		CLIENT_RC=$? ;;
	plain) out=$(pod_plain "$pod" "$NSPEER" client "$ip" "$port" "$@" 2>>"$WORK/client.err") ||
		CLIENT_RC=$? ;;
	*) fail "pod_client: mode $mode is neither xio nor plain" ;;
	esac
	# how X-IO saw the socket (none: library not loaded) is kept apart
	CLIENT_XIO=$(sed -n 's/.* xio=\([a-z]*\)$/\1/p' <<<"$out")
	# the client's port differs from run to run: drop it from peer=ADDR:PORT
	CLIENT_OUT=$(sed -E 's/(peer=[0-9.]+):[0-9]+/\1/; s/ xio=[a-z]*$//' <<<"$out")
	echo "$mode $pod -> $ip:$port $*: rc=$CLIENT_RC $out" >>"$WORK/clients.log"
}

expect_same() {
	local what=$1 pod=$2 ip=$3 port=$4 want=$5 plain_out plain_rc
	shift 5
	pod_client "$pod" plain "$ip" "$port" "$@"
	plain_out=$CLIENT_OUT plain_rc=$CLIENT_RC
	[[ $CLIENT_XIO == none ]] || fail "$what: the plain client has the X-IO library loaded (xio=$CLIENT_XIO)"
	pod_client "$pod" xio "$ip" "$port" "$@"
	log "$what: plain rc=$plain_rc '$plain_out' | X-IO rc=$CLIENT_RC '$CLIENT_OUT' (xio=$CLIENT_XIO)"
	[[ -n $CLIENT_XIO && $CLIENT_XIO != none ]] ||
		fail "$what: the X-IO client ran without the X-IO library (xio=${CLIENT_XIO:-?}): '$CLIENT_OUT'"
	[[ $plain_out == "result=$want"* ]] ||
		fail "$what: without X-IO the client gave '$plain_out' (rc $plain_rc), the test expects result=$want: the box is not built as intended"
	[[ $CLIENT_OUT == "$plain_out" && $CLIENT_RC == "$plain_rc" ]] ||
		fail "$what: under X-IO the client gave '$CLIENT_OUT' (rc $CLIENT_RC), without X-IO '$plain_out' (rc $plain_rc)"
	# shellcheck disable=SC2034 # for the tests that source this file
	SAME_OUT=$plain_out SAME_XIO=$CLIENT_XIO
}

expect_carried() {
	if [[ $EXPECT_CARRIED == 1 ]]; then
		[[ $SAME_XIO == carried ]] ||
			fail "$1: X-IO did not carry a connection between pods (xio=$SAME_XIO; XIO_NETNS_EXPECT_CARRIED=0 checks only the results)"
	elif [[ $SAME_XIO != carried ]]; then
		log "$1: not carried by X-IO (xio=$SAME_XIO), XIO_NETNS_EXPECT_CARRIED=$EXPECT_CARRIED"
	fi
}

fallback_count() {
	local js
	js=$(xio_stat_json) || fail "xio-stat --json failed"
	"$PY" -c 'import json, sys; print(json.loads(sys.argv[1])["fallback"].get(sys.argv[2], -1))' "$js" "$1"
}
