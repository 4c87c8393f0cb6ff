#!/usr/bin/env bash
# Install the Debian 12 packages X-IO needs to build, test and benchmark.
# Used by .ci/run and ./xio-demo. Idempotent, needs no stdin; run as root.
#
#   packaging/install-deps.sh          install what is missing
#   packaging/install-deps.sh --list   print the package list and exit
#
# While apt-get runs, a policy-rc.d that returns 101 stops packages from
# starting their own daemons (no systemd is assumed); it is removed again
# afterwards unless it was there before. A server the installation started
# anyway (apache2, pgbouncer, postgres, haproxy, mariadbd, ...) is stopped afterwards.
set -euo pipefail

PACKAGES=(
	# build
	build-essential cmake pkg-config
	# DPDK: the manager's EAL and memzones, rte_ring's inline code
	dpdk-dev libdpdk-dev libnuma-dev libbsd-dev
	# libevent: the manager's event loop
	libevent-dev
	# Check: unit tests
	check libsubunit-dev
	# code style
	clang-format
	# integration tests and benchmarks: real, unmodified programs
	iperf3 sockperf curl socat python3
	# tools the test scripts use (ss, ip, pgrep, fuser, taskset, flock)
	iproute2 procps psmisc util-linux
	# network-namespace tests (test/netns): iptables in the namespaces they create
	iptables
	# compatibility tests (test/compat): servers and clients people run every day
	nginx-light wrk apache2-utils redis-server redis-tools memcached libmemcached-tools
	# ... and servers whose listeners set TCP_DEFER_ACCEPT: apache2 (its default
	# AcceptFilter), pgbouncer in front of PostgreSQL (initdb, postgres, pgbench)
	apache2 pgbouncer postgresql
	# ... and servers that hand connections to children through stdio and sandboxes
	git openssh-server openssh-client
	# ... and a proxy in front of nginx (master-worker, splice), and a database
	# with a thread per connection (compat_haproxy, compat_mariadb)
	haproxy mariadb-server mariadb-client
	# benchmarks/run: PNG plots with Debian's /usr/bin/python3
	python3-matplotlib
	# benchmarks/uring_pingpong.c: the io_uring SQPOLL baseline of benchmark case 7
	liburing-dev
	# fault, fuzz, sanitizer and model-checking tests (test/fault, test/fuzz, .ci/sanitizers)
	clang libclang-rt-14-dev spin valgrind
	# the .deb (test/packaging): lintian checks it, man finds its pages,
	# systemd-analyze verifies its unit (dpkg-shlibdeps: build-essential's dpkg-dev)
	lintian man-db systemd
	# test/k8s: parse packaging/k8s's manifests (Debian's /usr/bin/python3);
	# a musl program, to show what LD_PRELOAD does in an Alpine image
	python3-yaml musl-tools
	# Go and static programs under xio-run's seccomp supervisor (test/go,
	# benchmarks/bench_go.py): the Go toolchain, and real Go servers and clients
	golang-go caddy etcd-server etcd-client
)
# test/k8s/manifests.sh: kubectl decodes the manifests offline. Debian's
# kubernetes-client, unless another package already owns /usr/bin/kubectl
# (e.g. Google Cloud SDK's "kubectl"): the two conflict, and either will do.
kubectl_owner=$(dpkg-query -S /usr/bin/kubectl 2>/dev/null | cut -d: -f1 || true)
if [[ -z $kubectl_owner || $kubectl_owner == kubernetes-client ]]; then
	PACKAGES+=(kubernetes-client)
fi

if [[ ${1:-} == --list ]]; then
	printf '%s\n' "${PACKAGES[@]}"
	exit 0
fi

missing=()
for p in "${PACKAGES[@]}"; do
	if ! dpkg-query -W -f '${Status}' "$p" 2>/dev/null | grep -q 'install ok installed'; then
		missing+=("$p")
	fi
done
if ((${#missing[@]} == 0)); then
	echo "install-deps: all ${#PACKAGES[@]} packages already installed"
	exit 0
fi
echo "install-deps: installing ${missing[*]}"

if ((EUID != 0)); then
	echo "install-deps: must run as root to install packages (missing: ${missing[*]})" >&2
	exit 1
fi

policy=/usr/sbin/policy-rc.d
created_policy=0
if [[ ! -e $policy ]]; then
	printf '#!/bin/sh\n# installed by X-IO packaging/install-deps.sh while apt-get runs\nexit 101\n' >"$policy"
	chmod 755 "$policy"
	created_policy=1
elif ! grep -q 'exit 101' "$policy"; then
	echo "install-deps: warning: $policy exists and does not return 101; packages may start daemons" >&2
fi
cleanup() { if ((created_policy)); then rm -f "$policy"; fi; }
trap cleanup EXIT

# Daemons of the packages above that a maintainer script might start anyway
# (a policy-rc.d that was there and does not return 101, a script that
# starts its server without invoke-rc.d): those running before are left alone.
DAEMONS=(apache2 pgbouncer postgres redis-server memcached nginx sshd haproxy mariadbd)
daemons_before=" $(pgrep -d ' ' -x "$(IFS='|'; echo "${DAEMONS[*]}")" || true) "

export DEBIAN_FRONTEND=noninteractive
apt_opts=(-y -q -o Dpkg::Options::=--force-confdef -o Dpkg::Options::=--force-confold)
apt-get update -q </dev/null
apt-get install "${apt_opts[@]}" --no-install-recommends "${PACKAGES[@]}" </dev/null

# New daemons (detached: parent init) were started by the installation: stop them.
for pid in $(pgrep -x -P 1 "$(IFS='|'; echo "${DAEMONS[*]}")" || true); do
	[[ $daemons_before == *" $pid "* ]] && continue
	echo "install-deps: stopping $(cat "/proc/$pid/comm" 2>/dev/null) (pid $pid), started by the installation" >&2
	kill -TERM "$pid" 2>/dev/null || true
done
echo "install-deps: done"
