#!/usr/bin/env bash
# The Debian package as an operator gets it (issue 9, item 4), run as root:
#   1. configure a fresh build with -DCMAKE_INSTALL_PREFIX=/usr, build,
#      `cpack -G DEB`; check what the .deb holds (programs, the library in the
#      multiarch directory, xio.h, xio.pc, man pages, the systemd template
#      unit, no maintainer script that could enable or start anything);
#   2. lintian: any error or warning that packaging/deb/lintian-overrides.in
#      does not explain fails the test;
#   3. delete that build tree, `dpkg -i` the package; check the installed
#      files (pkg-config compiles and runs a program against xio.h and the
#      library, man finds the pages, systemd-analyze accepts the unit);
#   4. in a network namespace of its own (`ip netns add`), with PATH holding
#      only system directories: a manager started with /usr/bin/xio-manager,
#      an iperf3 pair under /usr/bin/xio-run for a few seconds; xio-stat bytes
#      must reach the payload, lo must grow by less than 5 % of it, and the
#      programs must have mapped the library from the multiarch directory;
#   5. `dpkg -r xio` then `dpkg --purge xio`: every path the package installed
#      (dpkg -L, taken before removal) is gone, except directories that
#      existed before the install.
# The trap kills what runs in the namespace, deletes it, purges the package
# if it is still installed, and removes the work directory (XIO_KEEP=1 keeps
# it). Step 4 is this script again (--carry) inside the namespace, using
# test/integration/lib.sh with XIO_BIN_DIR=/usr/bin.
set -euo pipefail

SOURCE_DIR=${SOURCE_DIR:-$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)}
TEST_NAME=${TEST_NAME:-packaging_deb}
SELF=$(readlink -f "${BASH_SOURCE[0]}")
PORT=46001          # the iperf3 pair's port, in the test's own namespace
SECS=3              # iperf3 -t

# ---- step 4, inside the namespace ------------------------------------------------
if [[ ${1:-} == --carry ]]; then
	# lib.sh: tagged processes, logs on failure, xio-stat and lo helpers.
	# XIO_BIN_DIR=/usr/bin: the manager, xio-run and xio-stat it uses are
	# the installed ones.
	export XIO_IT_IN_NETNS=1 XIO_BIN_DIR=/usr/bin
	# shellcheck source=test/integration/lib.sh
	source "$SOURCE_DIR/test/integration/lib.sh"
	need_prog iperf3
	multiarch_lib=$2
	[[ -x $PY ]] || fail "$PY missing (Debian package python3)"
	need_prog ss awk timeout
	# lib.sh's xio_test_init, with this test's own domain name and
	# /usr/bin/xio-run spelled out.
	WORK=$(mktemp -d /tmp/xpkg-ns.XXXXXX)
	chmod 755 "$WORK"
	TAG=xio-pkg-${WORK##*/}
	DOMAIN=pkgdeb
	RUNDIR=$WORK/r
	XRUN=(env XIO_TEST_TAG="$TAG" XIO_RUNDIR="$RUNDIR" /usr/bin/xio-run --domain "$DOMAIN")
	trap xio_cleanup EXIT
	trap 'exit 130' INT
	trap 'exit 143' TERM
	MANAGER_ARGS=(--slots 16 --bufs 0) # a small domain: the machine is shared
	start_manager                      # $XIO_BIN/xio-manager --daemon

	mpid=$(cat "$RUNDIR/$DOMAIN/manager.pid")
	[[ $(readlink "/proc/$mpid/exe") == /usr/bin/xio-manager ]] ||
		fail "the manager (pid $mpid) runs $(readlink "/proc/$mpid/exe"), not /usr/bin/xio-manager"

	"${XRUN[@]}" iperf3 -s -p "$PORT" -1 -J >"$WORK/server.json" 2>"$WORK/server.err" &
	spid=$!
	wait_port "$PORT" 10 "$spid"
	grep -qF " $multiarch_lib" "/proc/$spid/maps" ||
		fail "iperf3 under /usr/bin/xio-run did not map $multiarch_lib: $(grep -F xio "/proc/$spid/maps" | head -n 3)"
	x0=$(xio_bytes)
	l0=$(lo_bytes)
	rc=0
	timeout -k 5 60 "${XRUN[@]}" iperf3 -c 127.0.0.1 -p "$PORT" -t "$SECS" -l 128K -J \
		>"$WORK/client.json" 2>"$WORK/client.err" || rc=$?
	((rc == 0)) || fail "iperf3 client exited $rc: $(head -c 500 "$WORK/client.err")"
	wait_exit "$spid" 10000 >/dev/null || fail "iperf3 -s -1 did not exit after the test"
	rc=$(job_status "$spid")
	((rc == 0)) || fail "iperf3 server exited $rc: $(head -c 500 "$WORK/server.err")"
	x1=$(xio_bytes)
	l1=$(lo_bytes)
	sent=$(json_get "$WORK/client.json" end.sum_sent.bytes)
	log "iperf3 -t $SECS: sent $sent bytes" \
		"($(json_get "$WORK/client.json" end.sum_received.bits_per_second | awk '{printf "%.2f", $1 / 1e9}') Gbit/s)"
	((sent > 0)) || fail "iperf3 sent nothing"
	assert_carried "iperf3 with the installed files" "$sent" $((x1 - x0)) $((l1 - l0))
	exit 0
fi

# ---- steps 1-3 and 5, in the node's namespace ---------------------------------------
log() { echo "[$TEST_NAME] $*"; }
fail() {
	echo "FAIL [$TEST_NAME]: $*" >&2
	exit 1
}

((EUID == 0)) || fail "must run as root (dpkg -i, ip netns)"
for p in cmake cpack dpkg dpkg-deb dpkg-query lintian ip iperf3 pkg-config cc man systemd-analyze gzip; do
	command -v "$p" >/dev/null 2>&1 || fail "$p is not installed (packaging/install-deps.sh installs it)"
done

pkg_status() { dpkg-query -W -f '${db:Status-Abbrev}' xio 2>/dev/null || true; }
if [[ -n $(pkg_status) && $(pkg_status) != un* ]]; then
	fail "package xio is already installed ($(pkg_status)); this test installs and removes it: dpkg --purge xio first"
fi

WORK=$(mktemp -d /tmp/xpkg.XXXXXX)
NS=pkg${WORK##*.}
installed=0

cleanup() {
	local rc=$? pids f
	set +e
	trap - EXIT
	if ip netns list 2>/dev/null | grep -qw "^$NS"; then
		mapfile -t pids < <(ip netns pids "$NS" 2>/dev/null)
		if ((${#pids[@]})); then
			echo "[$TEST_NAME] killing what still runs in $NS: ${pids[*]}" >&2
			kill -KILL "${pids[@]}" 2>/dev/null
		fi
		ip netns del "$NS"
	fi
	if ((installed)) && [[ -n $(pkg_status) && $(pkg_status) != un* ]]; then
		echo "[$TEST_NAME] purging the package left installed" >&2
		dpkg_retry --purge xio >/dev/null 2>&1
	fi
	if ((rc != 0)); then
		for f in "$WORK"/*.log; do
			[[ -s $f ]] || continue
			echo "---- $f (last 30 lines)" >&2
			tail -n 30 "$f" >&2
		done
	fi
	[[ ${XIO_KEEP:-0} == 1 ]] || rm -rf "$WORK"
	exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# dpkg ARGS...: other administrators (apt) may hold dpkg's lock for a while.
dpkg_retry() {
	local i rc out
	for ((i = 0; i < 180; i++)); do
		rc=0
		out=$(dpkg "$@" 2>&1) || rc=$?
		if ((rc != 0)) && grep -qi 'lock' <<<"$out"; then
			sleep 1
			continue
		fi
		printf '%s\n' "$out"
		return "$rc"
	done
	printf '%s\n' "$out"
	return 1
}

# ---- 1. build the package ------------------------------------------------------------
t0=$(date +%s)
log "configure, build and cpack in $WORK/build"
cmake -S "$SOURCE_DIR" -B "$WORK/build" -DCMAKE_INSTALL_PREFIX=/usr -DBUILD_TESTING=OFF \
	>"$WORK/configure.log" 2>&1 || fail "cmake configure failed"
cmake --build "$WORK/build" -j2 >"$WORK/build.log" 2>&1 || fail "build failed"
(cd "$WORK/build" && cpack -G DEB) >"$WORK/cpack.log" 2>&1 || fail "cpack -G DEB failed"
debs=("$WORK"/build/xio_*.deb)
if ((${#debs[@]} != 1)) || [[ ! -f ${debs[0]} ]]; then
	fail "cpack made no single xio_*.deb: ${debs[*]}"
fi
DEB=$WORK/${debs[0]##*/}
mv "${debs[0]}" "$DEB"
log "built ${DEB##*/} in $(($(date +%s) - t0)) s"

version=$(dpkg-deb -f "$DEB" Version)
arch=$(dpkg-deb -f "$DEB" Architecture)
[[ $arch == "$(dpkg --print-architecture)" ]] || fail "Architecture $arch, this machine is $(dpkg --print-architecture)"
multiarch=$(dpkg-architecture -qDEB_HOST_MULTIARCH 2>/dev/null || cc -print-multiarch)
[[ -n $multiarch ]] || fail "cannot tell the multiarch directory"
LIB=/usr/lib/$multiarch/libxio_preload.so

mapfile -t content < <(dpkg-deb --fsys-tarfile "$DEB" | tar -t | sed -e 's|^\./|/|' -e 's|/$||' | grep -v '^$')
expect=(/usr/bin/xio-run /usr/bin/xio-manager /usr/bin/xio-stat "$LIB" /usr/include/xio.h
	"/usr/lib/$multiarch/pkgconfig/xio.pc" /usr/share/man/man1/xio-run.1.gz
	/usr/share/man/man1/xio-stat.1.gz /usr/share/man/man8/xio-manager.8.gz /usr/share/man/man3/xio.3.gz
	"/usr/lib/systemd/system/xio-manager@.service" /usr/share/doc/xio/copyright
	/usr/share/doc/xio/changelog.gz)
for f in "${expect[@]}"; do
	printf '%s\n' "${content[@]}" | grep -qxF "$f" || fail "the package lacks $f"
done
# Installed, never enabled nor started: no maintainer script, no link in /etc.
scripts=$(dpkg-deb --ctrl-tarfile "$DEB" | tar -t | grep -E 'preinst|postinst|prerm|postrm' || true)
[[ -z $scripts ]] || fail "the package has maintainer scripts ($scripts); the unit must not be enabled or started"
if printf '%s\n' "${content[@]}" | grep -q '^/etc/'; then
	fail "the package installs into /etc: $(printf '%s\n' "${content[@]}" | grep '^/etc/')"
fi
depends=$(dpkg-deb -f "$DEB" Depends)
for d in libc6 libevent-core libnuma1; do
	[[ $depends == *"$d"* ]] || fail "Depends ($depends) lacks $d"
done
log "content: ${#content[@]} paths, Depends: $depends"

# ---- 2. lintian ------------------------------------------------------------------------
# Overridden tags (O:, each with its reason as N: lines) are the explained
# ones; any other error (E:) or warning (W:) fails. Parsed from the output:
# with --show-overrides, lintian's own --fail-on counts overridden tags too.
rc=0
lintian --fail-on none --show-overrides --display-info --pedantic --tag-display-limit 0 "$DEB" \
	>"$WORK/lintian.log" 2>&1 || rc=$?
grep -v 'running with root privileges' "$WORK/lintian.log" | sed "s/^/[$TEST_NAME] lintian: /" || true
((rc == 0)) || fail "lintian could not check the package (exit $rc)"
bad=$(grep -E '^[EW]: ' "$WORK/lintian.log" || true)
[[ -z $bad ]] || fail "lintian errors or warnings that packaging/deb/lintian-overrides.in does not explain: $bad"

# ---- 3. install ------------------------------------------------------------------------
rm -rf "$WORK/build" # nothing below may come from a build tree
mapfile -t existed < <(for f in "${content[@]}"; do [[ -e $f || -L $f ]] && echo "$f"; done)
installed=1
dpkg_retry -i "$DEB" >"$WORK/dpkg-install.log" 2>&1 || fail "dpkg -i failed: $(tail -n 5 "$WORK/dpkg-install.log")"
[[ $(pkg_status) == ii* ]] || fail "after dpkg -i the package is '$(pkg_status)', not installed"
mapfile -t listed < <(dpkg -L xio | grep -vx '/\.')
((${#listed[@]} > 0)) || fail "dpkg -L xio lists nothing"
for f in "${expect[@]}"; do
	[[ -e $f ]] || fail "$f is not on disk after dpkg -i"
done
log "installed $version: ${#listed[@]} paths (dpkg -L)"

# The library is found by the dynamic linker and through pkg-config.
[[ $(pkg-config --modversion xio) == "$version" ]] || fail "pkg-config --modversion xio: $(pkg-config --modversion xio 2>&1)"
printf '#include <stdio.h>\n#include <string.h>\n#include <xio.h>\nint main(void) { puts(xio_version()); return 0; }\n' >"$WORK/api.c"
# shellcheck disable=SC2046 # pkg-config's output is a list of flags
cc -o "$WORK/api" "$WORK/api.c" $(pkg-config --cflags --libs xio) >"$WORK/cc.log" 2>&1 ||
	fail "a program with xio.h and \$(pkg-config --libs xio) does not build: $(head -n 5 "$WORK/cc.log")"
out=$(env -u LD_LIBRARY_PATH -u LD_PRELOAD "$WORK/api") || fail "the program linked with -lxio_preload did not run"
[[ $out == "$version" ]] || fail "xio_version() says '$out', the package is $version"
# (/lib is /usr/lib on a merged-/usr system: compare real paths)
got=$(ldd "$WORK/api" | awk '$1 == "libxio_preload.so" { print $3 }')
[[ -n $got && $(readlink -f "$got") == "$(readlink -f "$LIB")" ]] ||
	fail "the dynamic linker does not take $LIB: $(ldd "$WORK/api" | grep xio)"
[[ $(/usr/bin/xio-run --version) == *"$version"* ]] || fail "xio-run --version: $(/usr/bin/xio-run --version 2>&1)"
for page in xio-run xio-stat xio-manager xio; do
	[[ $(man -w "$page" 2>/dev/null) == /usr/share/man/* ]] || fail "man -w $page: $(man -w "$page" 2>&1)"
done
unitdir=$WORK/unit
mkdir -p "$unitdir"
cp "/usr/lib/systemd/system/xio-manager@.service" "$unitdir/xio-manager@pkgcheck.service"
systemd-analyze verify --man=no "$unitdir/xio-manager@pkgcheck.service" >"$WORK/systemd-analyze.log" 2>&1 ||
	fail "systemd-analyze verify xio-manager@.service: $(cat "$WORK/systemd-analyze.log")"
grep -q -- '--domain %i' "/usr/lib/systemd/system/xio-manager@.service" || fail "the unit does not take the domain from its instance"
if compgen -G '/etc/systemd/system/*/xio-manager*' >/dev/null; then
	fail "xio-manager is enabled after dpkg -i: $(compgen -G '/etc/systemd/system/*/xio-manager*')"
fi

# ---- 4. iperf3 with the installed files, in a namespace of our own -------------------
ip netns add "$NS"
ip netns exec "$NS" ip link set lo up
log "network namespace $NS: iperf3 pair under /usr/bin/xio-run"
ip netns exec "$NS" env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin HOME=/root LANG=C.UTF-8 \
	SOURCE_DIR="$SOURCE_DIR" BUILD_DIR=/nonexistent TEST_NAME="$TEST_NAME" XIO_KEEP="${XIO_KEEP:-0}" \
	bash "$SELF" --carry "$LIB" || fail "iperf3 with the installed files failed (above)"
ip netns del "$NS"

# ---- 5. remove and purge: nothing left behind ----------------------------------------
dpkg_retry -r xio >"$WORK/dpkg-remove.log" 2>&1 || fail "dpkg -r xio failed: $(tail -n 5 "$WORK/dpkg-remove.log")"
left=()
for f in "${listed[@]}"; do
	printf '%s\n' "${existed[@]}" | grep -qxF "$f" && continue # a directory others own too
	[[ -e $f || -L $f ]] && left+=("$f")
done
((${#left[@]} == 0)) || fail "dpkg -r xio left behind: ${left[*]}"
for f in "${existed[@]}"; do
	[[ -d $f ]] || fail "$f existed before the install and is gone (or no directory) after dpkg -r"
done
dpkg_retry --purge xio >"$WORK/dpkg-purge.log" 2>&1 || fail "dpkg --purge xio failed: $(tail -n 5 "$WORK/dpkg-purge.log")"
[[ -z $(pkg_status) || $(pkg_status) == un* ]] || fail "after dpkg --purge the package is '$(pkg_status)'"
installed=0
if compgen -G '/var/lib/dpkg/info/xio.*' >/dev/null; then
	fail "dpkg's database keeps $(compgen -G '/var/lib/dpkg/info/xio.*')"
fi
log "PASS: built, linted, installed, carried iperf3 with the installed files, removed without a trace ($(($(date +%s) - t0)) s)"
