#!/usr/bin/env bash
# What happens in a pod whose image cannot load libxio_preload.so, as
# packaging/k8s/README.md states it (LD_PRELOAD set by the pod spec):
#   - the library file is missing (no manager installed on that node yet):
#     the loader prints one "ERROR: ld.so: object ... cannot be preloaded"
#     line and the program runs (on kernel TCP);
#   - glibc older than the library needs: the program does NOT start (the
#     loader exits 127 with "version `GLIBC_2.xx' not found");
#   - musl (Alpine): the program does NOT start either (exit 127, "Error
#     loading shared library ld-linux-x86-64.so.2 ... Error relocating").
# An older glibc is simulated by a copy of the library that asks for
# GLIBC_2.99 where it asked for its newest version. Also reports the newest
# GLIBC_ version the library needs, which the README names.
set -euo pipefail
SOURCE_DIR=${SOURCE_DIR:-$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)}
BUILD_DIR=${BUILD_DIR:-$SOURCE_DIR/build}
LIB=$BUILD_DIR/lib/libxio_preload.so
PY=/usr/bin/python3
fail() {
	echo "FAIL [k8s_preload_images]: $*" >&2
	exit 1
}
[[ -f $LIB ]] || fail "$LIB not built"
for p in musl-gcc objdump cc; do
	command -v "$p" >/dev/null || fail "$p is not installed (packaging/install-deps.sh installs it)"
done
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT

# the newest glibc symbol version the library needs
need=$(objdump -T "$LIB" | grep -o 'GLIBC_[0-9][0-9.]*' | sort -uV | tail -n 1)
[[ -n $need ]] || fail "no GLIBC_ version in $LIB"
echo "libxio_preload.so needs glibc >= ${need#GLIBC_} ($need)"
grep -qF "glibc ≥ ${need#GLIBC_}" "$SOURCE_DIR/packaging/k8s/README.md" ||
	fail "packaging/k8s/README.md does not say glibc ≥ ${need#GLIBC_}"

printf '#include <stdio.h>\nint main(void) { puts("main ran"); return 0; }\n' >"$WORK/hello.c"
cc -o "$WORK/hello-glibc" "$WORK/hello.c"
musl-gcc -o "$WORK/hello-musl" "$WORK/hello.c"

run() { # EXPECT-RC EXPECT-OUT EXPECT-ERR PRELOAD PROGRAM
	local rc=0 out err
	out=$(LD_PRELOAD=$4 "$5" 2>"$WORK/err") || rc=$?
	err=$(cat "$WORK/err")
	echo "LD_PRELOAD=$4 ${5##*/}: exit $rc, stdout '$out', stderr '$(head -c 300 <<<"$err" | tr '\n' ' ')'"
	((rc == $1)) || fail "${5##*/} with LD_PRELOAD=$4: exit $rc, expected $1"
	[[ $out == "$2" ]] || fail "${5##*/}: stdout '$out', expected '$2'"
	grep -qF -- "$3" <<<"$err" || fail "${5##*/}: stderr lacks '$3'"
}

# glibc, the library is there: loads, runs
run 0 "main ran" "" "$LIB" "$WORK/hello-glibc"
# glibc, no library at that path (the node has no X-IO yet): one line, runs
run 0 "main ran" "cannot be preloaded (cannot open shared object file): ignored." \
	"$WORK/none/libxio_preload.so" "$WORK/hello-glibc"
# glibc older than the library needs: does not start
"$PY" - "$LIB" "$WORK/old.so" "$need" <<'PYEOF'
import sys
src, dst, need = sys.argv[1], sys.argv[2], sys.argv[3].encode()
d = open(src, "rb").read()
fake = b"GLIBC_2.99"[: len(need)].ljust(len(need), b"9")
n = d.count(need + b"\0")
assert n > 0, "version string not found"
open(dst, "wb").write(d.replace(need + b"\0", fake + b"\0"))
PYEOF
run 1 "" "not found (required by $WORK/old.so)" "$WORK/old.so" "$WORK/hello-glibc"
# musl: does not start
run 127 "" "Error relocating $LIB" "$LIB" "$WORK/hello-musl"
# musl, no library at that path: runs
run 0 "main ran" "" "$WORK/none/libxio_preload.so" "$WORK/hello-musl"
echo "PASS: preload behaviour in images that cannot load the library"
